//! The `Watch` service: one task per bidirectional stream, between the
//! client and the driver's watch hub (`crate::watch`). Served by every
//! member from its own applied state, as etcd serves watches on followers.
//!
//! The task is the only writer of the client's stream: a create or cancel
//! is answered before the hub's later messages are read, so a client sees
//! `created` before its watcher's events, and nothing of a watcher after
//! `canceled`.

use std::collections::BTreeMap;
use std::pin::Pin;

use paxon_kv::Event;
use paxon_proto::etcdserverpb as pb;
use paxon_proto::mvccpb;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::{convert, Handle};
use crate::error::ServeError;
use crate::member::ClientOp;
use crate::watch::{StreamId, WatchMsg, WatchOp, WatchSpec};
use paxon_kv::PermissionKind::Read;
use tonic::metadata::MetadataMap;

/// Hub messages a stream may hold before its watchers start lagging.
pub const WATCH_STREAM_MESSAGES_MAX: usize = 64;
/// Responses queued for the client before the task waits.
const OUT_MESSAGES_MAX: usize = 16;

/// What the stream task remembers of each of its watchers.
#[derive(Clone, Copy)]
struct Options {
    prev_kv: bool,
    fragment: bool,
}

type Out = mpsc::Sender<Result<pb::WatchResponse, Status>>;

/// The client end of a stream: its metadata (its auth token) and where
/// its responses go.
struct Client {
    metadata: MetadataMap,
    out: Out,
}

#[tonic::async_trait]
impl pb::watch_server::Watch for Handle {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (metadata, _, inbound) = request.into_parts();
        if self
            .caller(&metadata)
            .await
            .is_err_and(|e| e.code() == tonic::Code::Unauthenticated)
        {
            return Err(ServeError::Kv(paxon_kv::KvError::InvalidAuthToken).into());
        }
        let (hub_tx, hub_rx) = mpsc::channel(WATCH_STREAM_MESSAGES_MAX);
        let stream = self.open_watch_stream(hub_tx).await?;
        let (out_tx, out_rx) = mpsc::channel(OUT_MESSAGES_MAX);
        let handle = self.clone();
        tokio::spawn(async move {
            let client = Client {
                metadata,
                out: out_tx,
            };
            handle.run_stream(stream, inbound, hub_rx, client).await;
            handle.close_watch_stream(stream);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

impl Handle {
    /// Opens a stream in the hub whose messages go to `tx`.
    pub(super) async fn open_watch_stream(
        &self,
        tx: mpsc::Sender<WatchMsg>,
    ) -> Result<StreamId, Status> {
        Ok(self
            .ask(|reply| ClientOp::Watch(WatchOp::Open { tx, reply }))
            .await?)
    }

    /// Tells the hub a stream is gone (without waiting).
    pub(super) fn close_watch_stream(&self, stream: StreamId) {
        let op = ClientOp::Watch(WatchOp::Close { stream });
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            let _ = inbox.send(crate::member::Input::Client(op)).await;
        });
    }

    /// Adds a watcher to `stream`.
    pub(super) async fn create_watcher(
        &self,
        stream: StreamId,
        spec: WatchSpec,
    ) -> Result<crate::watch::Created, Status> {
        Ok(self
            .ask(|reply| {
                ClientOp::Watch(WatchOp::Create {
                    stream,
                    spec,
                    reply,
                })
            })
            .await?)
    }

    async fn run_stream(
        &self,
        stream: StreamId,
        mut inbound: Streaming<pb::WatchRequest>,
        mut hub: mpsc::Receiver<WatchMsg>,
        client: Client,
    ) {
        let mut watchers: BTreeMap<i64, Options> = BTreeMap::new();
        let out = &client.out;
        loop {
            let sent = tokio::select! {
                request = inbound.message() => match request {
                    Ok(Some(request)) => self.handle_request(stream, request, &mut watchers, &client).await,
                    Ok(None) | Err(_) => return,
                },
                msg = hub.recv() => match msg {
                    Some(msg) => self.forward(msg, &mut watchers, out).await,
                    None => return,
                },
                _ = out.closed() => return,
            };
            if !sent {
                return;
            }
        }
    }

    /// One client request; false once the client is gone.
    async fn handle_request(
        &self,
        stream: StreamId,
        request: pb::WatchRequest,
        watchers: &mut BTreeMap<i64, Options>,
        client: &Client,
    ) -> bool {
        use pb::watch_request::RequestUnion;
        let out = &client.out;
        let response = match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => {
                let read = (create.key.clone(), create.range_end.clone(), Read);
                if let Err(status) = self.check_access(&client.metadata, &[read]).await {
                    // etcd: a watch the user may not read is created
                    // canceled, with the reason.
                    let refused = pb::WatchResponse {
                        header: Some(self.header(0, 0)),
                        watch_id: -1,
                        created: true,
                        canceled: true,
                        cancel_reason: status.message().to_string(),
                        ..Default::default()
                    };
                    return out.send(Ok(refused)).await.is_ok();
                }
                let options = Options {
                    prev_kv: create.prev_kv,
                    fragment: create.fragment,
                };
                let created = match self.create_watcher(stream, watch_spec(create)).await {
                    Ok(created) => created,
                    Err(status) => return out.send(Err(status)).await.is_ok(),
                };
                match created {
                    Ok((id, revision, term)) => {
                        watchers.insert(id, options);
                        pb::WatchResponse {
                            header: Some(self.header(revision, term)),
                            watch_id: id,
                            created: true,
                            ..Default::default()
                        }
                    }
                    Err(reason) => pb::WatchResponse {
                        header: Some(self.header(0, 0)),
                        watch_id: -1,
                        created: true,
                        canceled: true,
                        cancel_reason: reason,
                        ..Default::default()
                    },
                }
            }
            Some(RequestUnion::CancelRequest(cancel)) => {
                let watch_id = cancel.watch_id;
                let answer = self
                    .ask(|reply| {
                        ClientOp::Watch(WatchOp::Cancel {
                            stream,
                            watch_id,
                            reply,
                        })
                    })
                    .await;
                watchers.remove(&watch_id);
                match answer {
                    Ok(Some((revision, term))) => pb::WatchResponse {
                        header: Some(self.header(revision, term)),
                        watch_id,
                        canceled: true,
                        ..Default::default()
                    },
                    Ok(None) => return true,
                    Err(error) => return out.send(Err(error.into())).await.is_ok(),
                }
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                let op = ClientOp::Watch(WatchOp::Progress { stream });
                return self
                    .inbox
                    .send(crate::member::Input::Client(op))
                    .await
                    .is_ok();
            }
            None => return true,
        };
        out.send(Ok(response)).await.is_ok()
    }

    /// One hub message to the client, fragmented if the watcher asked and
    /// it exceeds `--max-request-bytes`; false once the client is gone.
    async fn forward(
        &self,
        msg: WatchMsg,
        watchers: &mut BTreeMap<i64, Options>,
        out: &Out,
    ) -> bool {
        let response = match msg {
            WatchMsg::Events {
                watch_id,
                revision,
                term,
                events,
            } => {
                let Some(options) = watchers.get(&watch_id).copied() else {
                    return true;
                };
                let response = pb::WatchResponse {
                    header: Some(self.header(revision, term)),
                    watch_id,
                    events: events
                        .into_iter()
                        .map(|e| event(e, options.prev_kv))
                        .collect(),
                    ..Default::default()
                };
                if options.fragment {
                    for piece in fragments(response, self.cluster.max_request_bytes) {
                        if out.send(Ok(piece)).await.is_err() {
                            return false;
                        }
                    }
                    return true;
                }
                response
            }
            WatchMsg::Compacted {
                watch_id,
                compact_revision,
                revision,
                term,
            } => {
                if watchers.remove(&watch_id).is_none() {
                    return true;
                }
                pb::WatchResponse {
                    header: Some(self.header(revision, term)),
                    watch_id,
                    canceled: true,
                    compact_revision,
                    ..Default::default()
                }
            }
            WatchMsg::Progress { revision, term } => pb::WatchResponse {
                header: Some(self.header(revision, term)),
                watch_id: -1,
                ..Default::default()
            },
        };
        out.send(Ok(response)).await.is_ok()
    }
}

fn watch_spec(create: pb::WatchCreateRequest) -> WatchSpec {
    use pb::watch_create_request::FilterType;
    let has = |f: FilterType| create.filters.contains(&(f as i32));
    WatchSpec {
        watch_id: create.watch_id,
        no_put: has(FilterType::Noput),
        no_delete: has(FilterType::Nodelete),
        key: create.key,
        range_end: create.range_end,
        start_revision: create.start_revision,
        progress_notify: create.progress_notify,
    }
}

fn event(e: Event, prev_kv: bool) -> mvccpb::Event {
    let kind = match e.kind {
        paxon_kv::EventKind::Put => mvccpb::event::EventType::Put,
        paxon_kv::EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(convert::key_value(e.kv)),
        prev_kv: e.prev_kv.filter(|_| prev_kv).map(convert::key_value),
    }
}

/// etcd's `sendFragments`: a response over `limit` bytes with two or more
/// events is split into pieces of at most `limit` bytes (at least one event
/// each); every piece but the last has `fragment` set.
fn fragments(response: pb::WatchResponse, limit: usize) -> Vec<pb::WatchResponse> {
    if response.encoded_len() < limit || response.events.len() < 2 {
        return vec![response];
    }
    let template = pb::WatchResponse {
        events: Vec::new(),
        ..response.clone()
    };
    let mut pieces = Vec::new();
    let mut current = template.clone();
    for event in response.events {
        let grows = current.encoded_len() + event.encoded_len() + 2 > limit;
        if grows && !current.events.is_empty() {
            let full = std::mem::replace(&mut current, template.clone());
            pieces.push(pb::WatchResponse {
                fragment: true,
                ..full
            });
        }
        current.events.push(event);
    }
    pieces.push(current);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value_len: usize) -> mvccpb::Event {
        mvccpb::Event {
            kv: Some(mvccpb::KeyValue {
                key: key.into(),
                value: vec![b'x'; value_len],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_large_response_is_cut_into_fragments_each_under_the_limit() {
        let response = pb::WatchResponse {
            watch_id: 3,
            events: (0..10).map(|i| put(&format!("k{i}"), 100)).collect(),
            ..Default::default()
        };
        let pieces = fragments(response.clone(), 350);
        assert_eq!(pieces.len(), 4);
        let flags: Vec<bool> = pieces.iter().map(|p| p.fragment).collect();
        assert_eq!(flags, [true, true, true, false]);
        assert!(pieces.iter().all(|p| p.encoded_len() <= 350));
        let events: Vec<mvccpb::Event> = pieces.into_iter().flat_map(|p| p.events).collect();
        assert_eq!(events, response.events);
    }

    #[test]
    fn a_small_or_single_event_response_is_not_fragmented() {
        let one = pb::WatchResponse {
            events: vec![put("k", 1000)],
            ..Default::default()
        };
        assert_eq!(fragments(one.clone(), 10), [one]);
    }
}
