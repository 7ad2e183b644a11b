//! Who the members are by name and address, in the driver: the roll the
//! seat began with (`crate::seat`), overlaid by the state machine's member
//! directory (`paxon_kv::MemberAttrs`, set by `member add|update` and by a
//! new member publishing its name). From it the transport learns whom to
//! dial, a newcomer learns its seat (`crate::join`), and `member list`
//! what to show.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use paxon_core::NodeId;
use tokio::sync::oneshot;

use crate::config::Url;
use crate::grpc::MemberInfo;
use crate::join::JoinReply;
use crate::member::{ClientOp, Member};
use crate::reconfig::normalized;
use crate::seat::Seat;

/// How long a member waits for its published name to be applied before
/// it publishes again.
const PUBLISH_RETRY: Duration = Duration::from_secs(3);

/// What the driver knows of the members besides the configuration.
pub struct Roster {
    /// The cluster.
    cluster_id: u64,
    /// This member's `--name`.
    name: String,
    /// The members known when the seat was taken.
    roll: BTreeMap<NodeId, MemberInfo>,
    /// Whether the configuration or the directory changed since the
    /// transport's peers were set.
    stale: bool,
    /// When this member last published its name.
    published_at: Option<Instant>,
}

impl Roster {
    /// The roster of `seat`, for the member called `name`.
    pub fn new(seat: &Seat, name: &str) -> Roster {
        Roster {
            cluster_id: seat.cluster_id,
            name: name.to_string(),
            roll: seat.roll.iter().map(|m| (m.id, m.clone())).collect(),
            stale: true,
            published_at: None,
        }
    }

    /// The peers must be set again (after a configuration or directory
    /// change, or a snapshot installed).
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }
}

impl Member {
    /// What is known of `id`: the directory's entry, else the roll's.
    pub(crate) fn member_info(&self, id: NodeId) -> Option<MemberInfo> {
        match self.machine.store().members().get(&id.0) {
            Some(attrs) => Some(MemberInfo {
                id,
                name: attrs.name.clone(),
                peer_urls: attrs.peer_urls.clone(),
            }),
            None => self.roster.roll.get(&id).cloned(),
        }
    }

    /// Every member of a known configuration, by id, as far as known.
    pub(crate) fn directory(&self) -> BTreeMap<NodeId, MemberInfo> {
        let mut directory = BTreeMap::new();
        for (_, membership) in self.replica.memberships().entries() {
            for id in membership.all() {
                if let Some(info) = self.member_info(id) {
                    directory.insert(id, info);
                }
            }
        }
        directory
    }

    /// Points the transport at every member of a known configuration
    /// (a retiring one included: it may still need to hear or tell the
    /// last decrees), if anything changed; connections from every member
    /// ever known are accepted.
    pub(crate) fn refresh_peers(&mut self) {
        if !std::mem::take(&mut self.roster.stale) {
            return;
        }
        let peers: BTreeMap<NodeId, Url> = self
            .directory()
            .into_values()
            .filter(|info| info.id != self.me)
            .filter_map(|info| Some((info.id, first_url(&info)?)))
            .collect();
        let known = self.machine.store().members().keys().map(|id| NodeId(*id));
        let admitted = known.chain(self.roster.roll.keys().copied()).collect();
        self.metrics.watch_peers(peers.keys().copied());
        self.transport.set_peers(peers, admitted);
    }

    /// Makes sure the transport talks to `to`, a peer outside the known
    /// configurations included, when its address is known (the core
    /// teaches strangers, and a retiring member asks its successors).
    pub(crate) fn reach(&mut self, to: NodeId) {
        if self.transport.talks_to(to) {
            return;
        }
        if let Some(url) = self.member_info(to).as_ref().and_then(first_url) {
            self.transport.dial(to, &url);
        }
    }

    /// A newcomer with `peer_urls` asks for its seat: the member of the
    /// newest configuration with exactly those peer URLs.
    pub(crate) fn answer_join(&self, peer_urls: Vec<String>, reply: JoinReply) {
        let _ = reply.send(self.seat_for(&peer_urls));
    }

    fn seat_for(&self, peer_urls: &[String]) -> Result<Seat, String> {
        let sorted = |urls: &[String]| {
            let mut urls = normalized(urls).ok()?;
            urls.sort();
            Some(urls)
        };
        let wanted = sorted(peer_urls);
        let memberships = self.replica.memberships();
        let (_, latest) = memberships.latest();
        let roll: Vec<MemberInfo> = latest.all().filter_map(|id| self.member_info(id)).collect();
        let Some(me) = roll
            .iter()
            .find(|info| wanted.is_some() && sorted(&info.peer_urls) == wanted)
        else {
            return Err(format!(
                "no member has the peer URLs {}: add it first (etcdctl member add)",
                peer_urls.join(",")
            ));
        };
        let (_, genesis) = memberships
            .entries()
            .next()
            .expect("a configuration governs slot 1");
        Ok(Seat {
            me: me.id,
            cluster_id: self.roster.cluster_id,
            genesis: genesis.clone(),
            roll,
        })
    }

    /// Proposes the directory entry of `id` (leader only; nobody waits).
    pub(crate) fn publish_member(&mut self, id: NodeId, name: String, peer_urls: Vec<String>) {
        let attrs = paxon_kv::MemberAttrs { name, peer_urls };
        self.propose_own(&paxon_kv::Command::MemberAttrs { id: id.0, attrs });
    }

    /// A member added at run time publishes its `--name` once it has
    /// learned of its own addition (etcd's `publish`): until then `member
    /// list` shows it unstarted.
    pub(crate) fn maybe_publish_name(&mut self, now: Instant) {
        let Some(attrs) = self.machine.store().members().get(&self.me.0) else {
            return;
        };
        if attrs.name == self.roster.name
            || self
                .roster
                .published_at
                .is_some_and(|at| now.duration_since(at) < PUBLISH_RETRY)
        {
            return;
        }
        self.roster.published_at = Some(now);
        let attrs = paxon_kv::MemberAttrs {
            name: self.roster.name.clone(),
            peer_urls: attrs.peer_urls.clone(),
        };
        let command = paxon_kv::Command::MemberAttrs {
            id: self.me.0,
            attrs,
        };
        let (reply, _) = oneshot::channel();
        self.handle_client(ClientOp::Write { command, reply });
    }
}

/// The first peer URL of a member, parsed.
fn first_url(info: &MemberInfo) -> Option<Url> {
    Url::parse(info.peer_urls.first()?).ok()
}
