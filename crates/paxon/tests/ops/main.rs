//! Operating Paxon like etcd: `/metrics` (parsed strictly, moving under
//! load and leader kills), `/health`, `/livez`, `/readyz` and `etcdctl
//! endpoint health`, and the live status page in headless Chromium.

#[path = "../cluster/mod.rs"]
mod cluster;
mod health;
mod http;
mod metrics;
mod prom;
mod status_page;
