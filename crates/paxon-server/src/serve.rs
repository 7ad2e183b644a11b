//! `paxon serve`: one member, from etcd's flags to running services.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paxon_core::{Config, NodeId, Replica, Slot};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::transport::server::TcpIncoming;

use crate::config::{cluster_id, member_id, ClusterState, ServeConfig, Url};
use crate::disk::Disk;
use crate::grpc::{self, ClusterInfo, Handle, MemberInfo};
use crate::http::{self, Listener, Ops};
use crate::member::{Input, Member};
use crate::metrics::grpc::GrpcMetricsLayer;
use crate::metrics::Metrics;
use crate::state::StateMachine;
use crate::tls::PeerTls;
use crate::transport::{self, Identity, Transport};

/// Requests waiting for the driver before senders wait.
const INBOX_MAX: usize = 65_536;

/// Runs one member until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> Result<(), String> {
    if config.initial_cluster_state == ClusterState::Existing {
        return Err(
            "--initial-cluster-state existing needs membership changes, \
                    which paxon does not support yet"
                .into(),
        );
    }
    let members = members(&config);
    let me = member_id(
        &config.initial_advertise_peer_urls,
        &config.initial_cluster_token,
    );
    let ids: Vec<NodeId> = members.iter().map(|m| m.id).collect();
    let cluster_id = cluster_id(&ids);
    let (disk_events_tx, disk_events_rx) = mpsc::unbounded_channel();
    let member_dir = config.data_dir.join("member");
    let db_size = Arc::new(AtomicU64::new(0));
    let peer_ids: Vec<NodeId> = ids.iter().copied().filter(|id| *id != me).collect();
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
    let (core, tick) = core_config(me, &ids, &config);
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
    let peers: BTreeMap<NodeId, Url> = members
        .iter()
        .filter(|m| m.id != me)
        .map(|m| (m.id, m.peer_url.clone()))
        .collect();
    let peer_tls = config.peer_tls.as_ref().map(PeerTls::load).transpose()?;
    let transport = Transport::start(identity.clone(), peers, peer_tls.clone());
    let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_MAX);
    for url in &config.listen_peer_urls {
        let listener = bind(url, "peer").await?;
        let (identity, ids, inbox) = (identity.clone(), ids.clone(), peer_inbox(&inbox_tx));
        let tls = peer_tls.clone().filter(|_| url.tls);
        tokio::spawn(transport::accept_loop(listener, tls, identity, ids, inbox));
    }
    db_size.store(machine.size_bytes(), Ordering::Relaxed);
    let auth = machine.auth_view();
    let member = Member::new(
        replica,
        disk,
        machine,
        transport,
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
        members: members.iter().map(|m| m.info.clone()).collect(),
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

struct Peer {
    id: NodeId,
    peer_url: Url,
    info: MemberInfo,
}

fn members(config: &ServeConfig) -> Vec<Peer> {
    config
        .initial_cluster
        .iter()
        .map(|(name, urls)| {
            let id = member_id(urls, &config.initial_cluster_token);
            Peer {
                id,
                peer_url: urls[0].clone(),
                info: MemberInfo {
                    id,
                    name: name.clone(),
                    peer_urls: urls.iter().map(Url::to_url_string).collect(),
                },
            }
        })
        .collect()
}

/// etcd's timing flags in core ticks: a tick is half a heartbeat.
fn core_config(me: NodeId, ids: &[NodeId], config: &ServeConfig) -> (Config, Duration) {
    let tick_ms = (config.heartbeat_interval_ms / 2).max(1);
    let mut core = Config::new(me, ids.to_vec());
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
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
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
