//! `grpc_server_started_total`, `grpc_server_handled_total` and
//! `grpc_server_handling_seconds` as go-grpc-prometheus (which etcd uses)
//! names them, counted by a tower layer in front of every service: one
//! table entry per method of the etcd v3 API, found by the request path,
//! with atomics only.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};

use super::registry::{Counter, Histogram, Text};

/// gRPC status codes by number, as go-grpc-prometheus writes them.
const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// How a method streams (go-grpc-prometheus' `grpc_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unary,
    ServerStream,
    BidiStream,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ServerStream => "server_stream",
            Kind::BidiStream => "bidi_stream",
        }
    }
}

/// Every method of the etcd v3 API Paxon serves: (service, method, kind).
const METHODS: &[(&str, &str, Kind)] = &[
    ("etcdserverpb.Auth", "AuthDisable", Kind::Unary),
    ("etcdserverpb.Auth", "AuthEnable", Kind::Unary),
    ("etcdserverpb.Auth", "AuthStatus", Kind::Unary),
    ("etcdserverpb.Auth", "Authenticate", Kind::Unary),
    ("etcdserverpb.Auth", "RoleAdd", Kind::Unary),
    ("etcdserverpb.Auth", "RoleDelete", Kind::Unary),
    ("etcdserverpb.Auth", "RoleGet", Kind::Unary),
    ("etcdserverpb.Auth", "RoleGrantPermission", Kind::Unary),
    ("etcdserverpb.Auth", "RoleList", Kind::Unary),
    ("etcdserverpb.Auth", "RoleRevokePermission", Kind::Unary),
    ("etcdserverpb.Auth", "UserAdd", Kind::Unary),
    ("etcdserverpb.Auth", "UserChangePassword", Kind::Unary),
    ("etcdserverpb.Auth", "UserDelete", Kind::Unary),
    ("etcdserverpb.Auth", "UserGet", Kind::Unary),
    ("etcdserverpb.Auth", "UserGrantRole", Kind::Unary),
    ("etcdserverpb.Auth", "UserList", Kind::Unary),
    ("etcdserverpb.Auth", "UserRevokeRole", Kind::Unary),
    ("etcdserverpb.Cluster", "MemberAdd", Kind::Unary),
    ("etcdserverpb.Cluster", "MemberList", Kind::Unary),
    ("etcdserverpb.Cluster", "MemberPromote", Kind::Unary),
    ("etcdserverpb.Cluster", "MemberRemove", Kind::Unary),
    ("etcdserverpb.Cluster", "MemberUpdate", Kind::Unary),
    ("etcdserverpb.KV", "Compact", Kind::Unary),
    ("etcdserverpb.KV", "DeleteRange", Kind::Unary),
    ("etcdserverpb.KV", "Put", Kind::Unary),
    ("etcdserverpb.KV", "Range", Kind::Unary),
    ("etcdserverpb.KV", "Txn", Kind::Unary),
    ("etcdserverpb.Lease", "LeaseGrant", Kind::Unary),
    ("etcdserverpb.Lease", "LeaseKeepAlive", Kind::BidiStream),
    ("etcdserverpb.Lease", "LeaseLeases", Kind::Unary),
    ("etcdserverpb.Lease", "LeaseRevoke", Kind::Unary),
    ("etcdserverpb.Lease", "LeaseTimeToLive", Kind::Unary),
    ("etcdserverpb.Maintenance", "Alarm", Kind::Unary),
    ("etcdserverpb.Maintenance", "Defragment", Kind::Unary),
    ("etcdserverpb.Maintenance", "Downgrade", Kind::Unary),
    ("etcdserverpb.Maintenance", "Hash", Kind::Unary),
    ("etcdserverpb.Maintenance", "HashKV", Kind::Unary),
    ("etcdserverpb.Maintenance", "MoveLeader", Kind::Unary),
    ("etcdserverpb.Maintenance", "Snapshot", Kind::ServerStream),
    ("etcdserverpb.Maintenance", "Status", Kind::Unary),
    ("etcdserverpb.Watch", "Watch", Kind::BidiStream),
    ("v3electionpb.Election", "Campaign", Kind::Unary),
    ("v3electionpb.Election", "Leader", Kind::Unary),
    ("v3electionpb.Election", "Observe", Kind::ServerStream),
    ("v3electionpb.Election", "Proclaim", Kind::Unary),
    ("v3electionpb.Election", "Resign", Kind::Unary),
    ("v3lockpb.Lock", "Lock", Kind::Unary),
    ("v3lockpb.Lock", "Unlock", Kind::Unary),
];

/// One method's counters.
#[derive(Debug)]
struct Method {
    path: String,
    service: &'static str,
    name: &'static str,
    kind: Kind,
    started: Counter,
    handled: [Counter; CODES.len()],
    seconds: Histogram,
}

/// The counters of every gRPC method.
#[derive(Debug)]
pub struct GrpcMetrics {
    /// Sorted by path.
    methods: Vec<Method>,
}

/// Unary calls' totals, for the status page's rate and latency.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UnaryTotals {
    /// Calls answered.
    pub handled: u64,
    /// Calls answered with an error code.
    pub failed: u64,
    /// Seconds spent on them in all.
    pub seconds: f64,
}

impl Default for GrpcMetrics {
    fn default() -> GrpcMetrics {
        let mut methods: Vec<Method> = METHODS
            .iter()
            .map(|&(service, name, kind)| Method {
                path: format!("/{service}/{name}"),
                service,
                name,
                kind,
                started: Counter::default(),
                handled: Default::default(),
                // go-grpc-prometheus' default buckets.
                seconds: Histogram::with_bounds(
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                    1e-9,
                ),
            })
            .collect();
        methods.sort_by(|a, b| a.path.cmp(&b.path));
        GrpcMetrics { methods }
    }
}

impl GrpcMetrics {
    fn find(&self, path: &str) -> Option<usize> {
        self.methods
            .binary_search_by(|m| m.path.as_str().cmp(path))
            .ok()
    }

    /// Totals over the unary methods.
    pub fn unary_totals(&self) -> UnaryTotals {
        let mut totals = UnaryTotals::default();
        for method in self.methods.iter().filter(|m| m.kind == Kind::Unary) {
            let handled: u64 = method.handled.iter().map(Counter::get).sum();
            totals.handled += handled;
            totals.failed += handled - method.handled[0].get();
            totals.seconds += method.seconds.snapshot().sum;
        }
        totals
    }

    /// Writes the three families.
    pub fn write(&self, text: &mut Text) {
        text.family(
            "grpc_server_started_total",
            "counter",
            "Total number of RPCs started on the server.",
        );
        for m in &self.methods {
            let labels = [
                ("grpc_method", m.name),
                ("grpc_service", m.service),
                ("grpc_type", m.kind.label()),
            ];
            text.sample("grpc_server_started_total", &labels, m.started.get() as f64);
        }
        text.family(
            "grpc_server_handled_total",
            "counter",
            "Total number of RPCs completed on the server, regardless of success or failure.",
        );
        for m in &self.methods {
            for (code, counter) in CODES.iter().zip(&m.handled) {
                // Only codes seen: 17 lines per method would drown the rest.
                if counter.get() > 0 || *code == "OK" {
                    let labels = [
                        ("grpc_code", *code),
                        ("grpc_method", m.name),
                        ("grpc_service", m.service),
                        ("grpc_type", m.kind.label()),
                    ];
                    text.sample("grpc_server_handled_total", &labels, counter.get() as f64);
                }
            }
        }
        text.family(
            "grpc_server_handling_seconds",
            "histogram",
            "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
        );
        // Only methods called, as go-grpc-prometheus creates these series
        // on first use.
        for m in &self.methods {
            let seconds = m.seconds.snapshot();
            if seconds.count == 0 {
                continue;
            }
            let labels = [
                ("grpc_method", m.name),
                ("grpc_service", m.service),
                ("grpc_type", m.kind.label()),
            ];
            text.histogram("grpc_server_handling_seconds", &labels, &seconds);
        }
    }
}

/// The tower layer that counts calls into [`GrpcMetrics`].
#[derive(Clone)]
pub struct GrpcMetricsLayer(pub Arc<GrpcMetrics>);

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

/// A service whose gRPC calls are counted.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

/// A call being answered: which method and since when.
struct Call {
    metrics: Arc<GrpcMetrics>,
    method: usize,
    start: Instant,
}

impl Call {
    /// Counts the call as answered with `code` (a gRPC status number).
    fn finish(self, code: Option<usize>) {
        let method = &self.metrics.methods[self.method];
        // A stream cut off without a status (the client went away) is
        // `Canceled`, as go-grpc-prometheus reports it.
        let code = code.filter(|c| *c < CODES.len()).unwrap_or(1);
        method.handled[code].inc();
        method.seconds.observe_duration(self.start.elapsed());
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<usize> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<usize>()
        .ok()
}

impl<S, B, R> tower_service::Service<http::Request<B>> for Counted<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Body + Send + Unpin + 'static,
{
    type Response = http::Response<CountedBody<R>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = self.metrics.find(request.uri().path()).map(|method| {
            self.metrics.methods[method].started.inc();
            Call {
                metrics: Arc::clone(&self.metrics),
                method,
                start: Instant::now(),
            }
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let (parts, body) = response.into_parts();
            let call = match (call, grpc_status(&parts.headers)) {
                // A status in the headers ends the call ("trailers only").
                (Some(call), Some(code)) => {
                    call.finish(Some(code));
                    None
                }
                (call, _) => call,
            };
            Ok(http::Response::from_parts(
                parts,
                CountedBody { body, call },
            ))
        })
    }
}

/// A response body that counts its call when the trailers (with the
/// gRPC status) pass, or when it is dropped before them.
pub struct CountedBody<B> {
    body: B,
    call: Option<Call>,
}

impl<B> Drop for CountedBody<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.finish(None);
        }
    }
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(trailers) = frame.trailers_ref() {
                if let Some(call) = self.call.take() {
                    call.finish(grpc_status(trailers));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_path_is_found_and_unknown_paths_are_not() {
        let metrics = GrpcMetrics::default();
        for (service, name, _) in METHODS {
            let found = metrics.find(&format!("/{service}/{name}")).expect("found");
            assert_eq!(metrics.methods[found].name, *name);
        }
        assert_eq!(metrics.find("/etcdserverpb.KV/Nope"), None);
        assert_eq!(metrics.find("/metrics"), None);
    }

    #[test]
    fn a_finished_call_counts_its_code_and_a_dropped_one_counts_canceled() {
        let metrics = Arc::new(GrpcMetrics::default());
        let put = metrics.find("/etcdserverpb.KV/Put").expect("Put");
        let call = |metrics: &Arc<GrpcMetrics>| Call {
            metrics: Arc::clone(metrics),
            method: put,
            start: Instant::now(),
        };
        call(&metrics).finish(Some(0));
        call(&metrics).finish(Some(14));
        call(&metrics).finish(None);
        let m = &metrics.methods[put];
        assert_eq!(m.handled[0].get(), 1);
        assert_eq!(m.handled[14].get(), 1);
        assert_eq!(m.handled[1].get(), 1);
        let totals = metrics.unary_totals();
        assert_eq!((totals.handled, totals.failed), (3, 2));
    }
}
