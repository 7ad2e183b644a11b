//! `paxon serve`: one member, from etcd's flags to running services.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paxon_core::{Config, Membership, NodeId, Replica, Slot};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::transport::server::TcpIncoming;

use crate::authority::Lenient;
use crate::config::{cluster_id, member_id, ClusterState, ServeConfig, Url};
use crate::disk::Disk;
use crate::grpc::{self, ClusterInfo, Handle, MemberInfo};
use crate::http::{self, Listener, Ops};
use crate::join;
use crate::member::{Input, Member};
use crate::metrics::grpc::GrpcMetricsLayer;
use crate::metrics::Metrics;
use crate::roster::Roster;
use crate::seat::{Seat, SeatError};
use crate::state::StateMachine;
use crate::tls::PeerTls;
use crate::transport::{self, Identity, Transport};

/// Requests waiting for the driver before senders wait.
const INBOX_MAX: usize = 65_536;
/// How long a new member keeps asking the cluster for its seat.
const JOIN_PATIENCE: Duration = Duration::from_secs(30);

/// Runs one member until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> Result<(), String> {
    let member_dir = config.data_dir.join("member");
    let peer_tls = config.peer_tls.as_ref().map(PeerTls::load).transpose()?;
    let seat = take_seat(&config, &member_dir, peer_tls.as_ref()).await?;
    let (me, cluster_id) = (seat.me, seat.cluster_id);
    let (disk_events_tx, disk_events_rx) = mpsc::unbounded_channel();
    let db_size = Arc::new(AtomicU64::new(0));
    let peer_ids: Vec<NodeId> = seat
        .roll
        .iter()
        .map(|m| m.id)
        .filter(|id| *id != me)
        .collect();
    let metrics = Arc::new(Metrics::new(&peer_ids, Arc::clone(&db_size)));
    let opening = Instant::now();
    let (disk, recovered) = Disk::open(&member_dir, disk_events_tx, Arc::clone(&metrics))?;
    let limits = paxon_kv::Limits {
        txn_ops_max: config.max_txn_ops,
    };
    let snapshot_slot = recovered.state.snapshot;
    let read = opening.elapsed();
    let machine = match &recovered.snapshot {
        Some(bytes) => StateMachine::restore(bytes, limits)?,
        None => StateMachine::new(limits),
    };
    tracing::info!(
        snapshot_bytes = recovered.snapshot.as_ref().map_or(0, |b| b.len()),
        %snapshot_slot,
        commit = %recovered.state.commit,
        read_ms = read.as_millis() as u64,
        restored_ms = (opening.elapsed() - read).as_millis() as u64,
        "ledger and snapshot read; the decrees after the snapshot are applied next"
    );
    let (core, tick) = core_config(me, &seat.genesis, &config);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let replica = Replica::new(core, recovered.state, seed).map_err(|e| e.to_string())?;
    let client_urls: Vec<String> = config
        .advertise_client_urls
        .iter()
        .map(Url::to_url_string)
        .collect();
    let identity = Identity {
        me,
        cluster_id,
        client_urls: client_urls.join(","),
    };
    let transport = Transport::new(identity.clone(), peer_tls.clone());
    let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_MAX);
    for url in &config.listen_peer_urls {
        let listener = bind(url, "peer").await?;
        let (identity, admitted) = (identity.clone(), transport.admitted());
        let (tls, inbox) = (peer_tls.clone().filter(|_| url.tls), peer_inbox(&inbox_tx));
        tokio::spawn(transport::accept_loop(
            listener, tls, identity, admitted, inbox,
        ));
    }
    db_size.store(machine.size_bytes(), Ordering::Relaxed);
    let auth = machine.auth_view();
    let member = Member::new(
        replica,
        disk,
        machine,
        transport,
        Roster::new(&seat, &config.name),
        Slot(snapshot_slot.0),
        Arc::clone(&db_size),
        config.snapshot_count,
    )
    .with_metrics(Arc::clone(&metrics));
    let driver = tokio::spawn(member.run(inbox_rx, disk_events_rx, tick));
    let cluster = Arc::new(ClusterInfo {
        cluster_id,
        me,
        client_urls,
        name: config.name.clone(),
        max_request_bytes: config.max_request_bytes,
        quota_backend_bytes: config.quota_backend_bytes,
        db_size,
        lease_ttl_min_s: lease_ttl_min_s(&config),
        metrics: Arc::clone(&metrics),
    });
    let handle = Handle::new(inbox_tx, cluster, limits, auth);
    tracing::info!(name = %config.name, id = %format!("{:x}", me.0), "paxon member starting");
    let ops = Ops { handle, metrics };
    serve_clients(&config, ops).await?;
    driver.abort();
    Ok(())
}

/// This member's seat (`crate::seat`): the saved one, else one computed
/// from the flags (`new`) or asked of the cluster (`existing`), saved
/// before the member first speaks. A data directory from before seats
/// were saved is read as `new` would compute it.
async fn take_seat(
    config: &ServeConfig,
    member_dir: &Path,
    tls: Option<&PeerTls>,
) -> Result<Seat, String> {
    let cannot = |e: SeatError| format!("{}: {e}", member_dir.join("seat").display());
    if let Some(seat) = Seat::load(member_dir).map_err(cannot)? {
        return Ok(seat);
    }
    let has_data = std::fs::read_dir(member_dir).is_ok_and(|mut d| d.next().is_some());
    let seat = if config.initial_cluster_state == ClusterState::New || has_data {
        seat_from_flags(config)
    } else {
        let own = &config.initial_advertise_peer_urls;
        let peers: Vec<Url> = config
            .initial_cluster
            .iter()
            .filter(|(name, _)| **name != config.name)
            .flat_map(|(_, urls)| urls.iter().cloned())
            .collect();
        if peers.is_empty() {
            return Err(
                "--initial-cluster-state existing: --initial-cluster names no other member to join"
                    .into(),
            );
        }
        tracing::info!(
            peers = peers.len(),
            "asking the cluster for this member's seat"
        );
        let seat = join::ask(&peers, own, tls, JOIN_PATIENCE)
            .await
            .map_err(|answers| format!("cannot join the cluster: {answers}"))?;
        tracing::info!(id = %format!("{:x}", seat.me.0), cluster = %format!("{:x}", seat.cluster_id), "joined");
        seat
    };
    seat.save(member_dir).map_err(cannot)?;
    Ok(seat)
}

/// The seat of a member of a cluster that `--initial-cluster` bootstraps.
fn seat_from_flags(config: &ServeConfig) -> Seat {
    let roll: Vec<MemberInfo> = config
        .initial_cluster
        .iter()
        .map(|(name, urls)| MemberInfo {
            id: member_id(urls, &config.initial_cluster_token),
            name: name.clone(),
            peer_urls: urls.iter().map(Url::to_url_string).collect(),
        })
        .collect();
    let ids: Vec<NodeId> = roll.iter().map(|m| m.id).collect();
    Seat {
        me: member_id(
            &config.initial_advertise_peer_urls,
            &config.initial_cluster_token,
        ),
        cluster_id: cluster_id(&ids),
        genesis: Membership::new(ids, Vec::new()).expect("distinct ids, at least one"),
        roll,
    }
}

/// etcd's timing flags in core ticks: a tick is half a heartbeat.
fn core_config(me: NodeId, genesis: &Membership, config: &ServeConfig) -> (Config, Duration) {
    let tick_ms = (config.heartbeat_interval_ms / 2).max(1);
    let mut core = Config::new(me, genesis.voters().to_vec());
    core.learners = genesis.learners().to_vec();
    core.heartbeat_interval_ticks = 2;
    core.accept_retry_ticks = 4;
    core.election_timeout_ticks = (config.election_timeout_ms / tick_ms).max(4);
    core.announce_commit_at_once = true;
    (core, Duration::from_millis(tick_ms))
}

/// etcd's `minTTL`: `(3 × election ticks / 2) × heartbeat`, in whole
/// seconds rounded up.
fn lease_ttl_min_s(config: &ServeConfig) -> i64 {
    let heartbeat_ms = config.heartbeat_interval_ms.max(1);
    let election_ticks = config.election_timeout_ms / heartbeat_ms;
    let min_ms = (3 * election_ticks / 2) * heartbeat_ms;
    (min_ms as i64 + 999) / 1000
}

fn peer_inbox(inbox: &mpsc::Sender<Input>) -> mpsc::Sender<transport::Inbound> {
    let (tx, mut rx) = mpsc::channel(INBOX_MAX);
    let inbox = inbox.clone();
    tokio::spawn(async move {
        while let Some(inbound) = rx.recv().await {
            if inbox.send(Input::Peer(inbound)).await.is_err() {
                return;
            }
        }
    });
    tx
}

async fn bind(url: &Url, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(&url.host_port).await.map_err(|e| {
        format!(
            "cannot listen for {what} traffic on {}: {e}",
            url.to_url_string()
        )
    })
}

/// Serves the gRPC API and the HTTP endpoints on every client URL, and
/// metrics and health on every `--listen-metrics-urls` URL, until
/// SIGTERM or Ctrl-C.
async fn serve_clients(config: &ServeConfig, ops: Ops) -> Result<(), String> {
    let mut servers = Vec::new();
    let tls = match &config.client_tls {
        Some(files) => Some(crate::tls::client_server_config(files)?),
        None => None,
    };
    for url in &config.listen_client_urls {
        let listener = bind(url, "client").await?;
        let routes = grpc::routes(ops.handle.clone())
            .into_axum_router()
            .merge(http::routes(ops.clone(), Listener::Client));
        let tls = tls.clone().filter(|_| url.tls);
        servers.push(spawn_server(listener, routes, tls, &ops)?);
    }
    for url in &config.listen_metrics_urls {
        let listener = bind(url, "metrics").await?;
        let routes = http::routes(ops.clone(), Listener::Metrics);
        let tls = tls.clone().filter(|_| url.tls);
        servers.push(spawn_server(listener, routes, tls, &ops)?);
    }
    tracing::info!("ready to serve client requests");
    for server in servers {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(format!("client server failed: {error}")),
            Err(error) => return Err(format!("client server panicked: {error}")),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Server tasks of the client and metrics listeners.
type ServerTask = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

/// One listener: HTTP/2 (gRPC) and HTTP/1.1 (browsers, Prometheus, curl)
/// told apart per connection, over TLS when `tls` is given (an `https`
/// URL); every gRPC call counted.
fn spawn_server(
    listener: TcpListener,
    routes: axum::Router,
    tls: Option<tonic::transport::ServerTlsConfig>,
    ops: &Ops,
) -> Result<ServerTask, String> {
    // Without TCP_NODELAY a small answer waits for the client's delayed
    // ACK (Nagle's algorithm): 40 ms per request on Linux.
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(|accepted| accepted.map(Lenient::new));
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server
            .tls_config(tls)
            .map_err(|e| format!("--cert-file/--key-file: {e}"))?;
    }
    let router = server
        .accept_http1(true)
        .layer(GrpcMetricsLayer(Arc::clone(&ops.metrics.grpc)))
        .add_routes(tonic::service::Routes::from(routes));
    Ok(tokio::spawn(
        router.serve_with_incoming_shutdown(incoming, shutdown_signal()),
    ))
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
