//! Concurrent clients doing linearizable reads, writes and compare-and-set
//! transactions on a few keys through the etcd API, each operation recorded
//! with its invocation and return times for `paxon-linz`.
//!
//! The clients share [`KEYS_PER_EPOCH`] keys at a time and move to fresh
//! ones every [`EPOCH`]: the checker's search grows with the operations of
//! one key that overlap an unknown outcome, so no key gets a history too
//! long to check; the final reads at the end of a run read every key ever
//! used, so a write lost long ago is still found.
//!
//! How an answer is recorded:
//!
//! | answer | read | write, compare-and-set |
//! |---|---|---|
//! | success | returned value | returned |
//! | `no leader`, `leader changed`, `too many requests` (Paxon says: not applied); `tcp connect error` (never sent) | dropped | dropped (did not happen) |
//! | any other error, time-out, lost connection | dropped | unknown: may take effect at any time after its invocation, or never |
//!
//! Dropping a failed write trusts the server's word that it was not
//! applied: if that word were wrong the checker would see a value appear
//! that no recorded operation wrote, and fail.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, Error, GetOptions, Txn, TxnOp};
use paxon_linz::{ClientId, History, Op, Operation, Outcome, Ret, Time};

use crate::schedule::Rng;

/// Keys are small numbers, values unique numbers (client << 32 | count).
pub type Key = u32;
pub type Value = u64;

/// How long the clients use one set of keys.
const EPOCH: Duration = Duration::from_millis(1000);
/// Keys in use at any time.
pub const KEYS_PER_EPOCH: Key = 6;

/// How long a client waits after a request that failed.
const ERROR_PAUSE: Duration = Duration::from_millis(20);

/// Requests a client waits for before it calls the outcome unknown.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

/// The recorded history and counters shared by every client.
pub struct Recorder {
    start: Instant,
    history: Mutex<History<Key, Value>>,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub unknown: AtomicU64,
    /// How often each error was seen, for the summary.
    errors: Mutex<BTreeMap<String, u64>>,
    /// The keys of this round are `{prefix}{n}`.
    prefix: String,
}

/// What became of one request.
enum Answer {
    Ret(Ret<Value>),
    /// Paxon said it was not applied.
    Failed,
    /// Time-out, lost connection or an error that leaves it open.
    Unknown,
}

impl Recorder {
    pub fn new(prefix: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            history: Mutex::new(History::new()),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            prefix: prefix.to_string(),
        })
    }

    fn now(&self) -> Time {
        Time(self.start.elapsed().as_nanos() as u64)
    }

    /// Time since the clients of this recorder began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// How long each operation invoked in `from..to` (times as
    /// [`Recorder::elapsed`] gives them) took, for those answered, sorted.
    pub fn latencies(&self, from: Duration, to: Duration) -> Vec<Duration> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let window = Time(from.as_nanos() as u64)..Time(to.as_nanos() as u64);
        let mut took: Vec<Duration> = history
            .operations()
            .iter()
            .filter(|op| window.contains(&op.invoke))
            .filter_map(|op| Some(Duration::from_nanos(op.return_time()?.0 - op.invoke.0)))
            .collect();
        took.sort();
        took
    }

    /// The keys used so far.
    pub fn keys_used(&self) -> std::ops::Range<Key> {
        0..(self.epoch() + 1) * KEYS_PER_EPOCH
    }

    fn epoch(&self) -> Key {
        (self.start.elapsed().as_millis() / EPOCH.as_millis()) as Key
    }

    pub fn key_name(&self, key: Key) -> String {
        format!("{}{key}", self.prefix)
    }

    pub fn history(&self) -> History<Key, Value> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends `op` on `key` through `client` and records what happened;
    /// returns the answer, if there was one.
    pub async fn run(
        &self,
        client: &mut Client,
        who: ClientId,
        key: Key,
        op: Op<Value>,
    ) -> Option<Ret<Value>> {
        let invoke = self.now();
        let answer = match tokio::time::timeout(CLIENT_TIMEOUT, self.send(client, key, &op)).await {
            Ok(answer) => answer,
            Err(_) => Answer::Unknown,
        };
        let outcome = match answer {
            Answer::Ret(ret) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                Outcome::Returned {
                    ret,
                    time: self.now(),
                }
            }
            Answer::Failed => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Answer::Unknown if matches!(op, Op::Read) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Answer::Unknown => {
                self.unknown.fetch_add(1, Ordering::Relaxed);
                Outcome::Unknown
            }
        };
        let operation = Operation {
            client: who,
            key,
            op,
            invoke,
            outcome,
        };
        let ret = match &operation.outcome {
            Outcome::Returned { ret, .. } => Some(ret.clone()),
            Outcome::Unknown => None,
        };
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.push(operation).expect("a well-formed operation");
        ret
    }

    /// One linearizable Range over every key of the run, recorded as a
    /// read of each key used (a Range is atomic, so each of its reads took
    /// effect between its invocation and its return); whether it answered.
    pub async fn read_all(&self, client: &mut Client, who: ClientId) -> bool {
        let invoke = self.now();
        let options = Some(GetOptions::new().with_prefix());
        let got = tokio::time::timeout(CLIENT_TIMEOUT, client.get(self.prefix.as_str(), options));
        let Ok(Ok(got)) = got.await else {
            return false;
        };
        let time = self.now();
        let mut values = BTreeMap::new();
        for kv in got.kvs() {
            let name = String::from_utf8_lossy(kv.key());
            let key: Key = name[self.prefix.len()..]
                .parse()
                .expect("a key of this run");
            values.insert(key, parse(kv.value()));
        }
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        for key in self.keys_used() {
            let ret = Ret::Read(values.get(&key).copied());
            let operation = Operation {
                client: who,
                key,
                op: Op::Read,
                invoke,
                outcome: Outcome::Returned { ret, time },
            };
            history.push(operation).expect("a well-formed operation");
        }
        true
    }

    async fn send(&self, client: &mut Client, key: Key, op: &Op<Value>) -> Answer {
        let name = self.key_name(key);
        let result = match op {
            Op::Read => client
                .get(name, None)
                .await
                .map(|r| Ret::Read(r.kvs().first().map(|kv| parse(kv.value())))),
            Op::Write(value) => client
                .put(name, value.to_string(), None)
                .await
                .map(|_| Ret::Written),
            Op::Cas { expect, new } => {
                let compare = match expect {
                    Some(value) => {
                        Compare::value(name.clone(), CompareOp::Equal, value.to_string())
                    }
                    None => Compare::version(name.clone(), CompareOp::Equal, 0),
                };
                let txn =
                    Txn::new()
                        .when([compare])
                        .and_then([TxnOp::put(name, new.to_string(), None)]);
                client.txn(txn).await.map(|r| Ret::Cas(r.succeeded()))
            }
            Op::Delete => client.delete(name, None).await.map(|_| Ret::Deleted),
        };
        let error = match result {
            Ok(ret) => return Answer::Ret(ret),
            Err(error) => error,
        };
        let text = match &error {
            Error::GRpcStatus(status) => format!("{:?}: {}", status.code(), status.message()),
            other => other.to_string(),
        };
        *self.lock_errors().entry(text).or_default() += 1;
        match error {
            Error::GRpcStatus(status) if not_applied(status.message()) => Answer::Failed,
            _ => Answer::Unknown,
        }
    }

    fn lock_errors(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The errors seen, most frequent first.
    pub fn error_summary(&self) -> String {
        let mut errors: Vec<(String, u64)> = self.lock_errors().clone().into_iter().collect();
        errors.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        let lines: Vec<String> = errors
            .iter()
            .map(|(e, n)| format!("{n:>7} × {e}"))
            .collect();
        lines.join("\n")
    }
}

/// The errors with which Paxon says a request was not applied, and the
/// client's own "could not connect" (the request never left).
fn not_applied(message: &str) -> bool {
    matches!(
        message,
        "etcdserver: no leader" | "etcdserver: leader changed" | "etcdserver: too many requests"
    ) || message.starts_with("tcp connect error")
}

fn parse(bytes: &[u8]) -> Value {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a value no client wrote: {bytes:?}"))
}

/// One client: random operations on the keys of the epoch until `stop`.
pub async fn client_loop(
    recorder: Arc<Recorder>,
    mut client: Client,
    id: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(seed ^ (id << 40));
    let mut last_seen: BTreeMap<Key, Option<Value>> = BTreeMap::new();
    let mut count: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = recorder.epoch() * KEYS_PER_EPOCH + rng.below(KEYS_PER_EPOCH.into()) as Key;
        count += 1;
        let unique = (id << 32) | count;
        let op = match rng.below(10) {
            0..=4 => Op::Read,
            5..=7 => Op::Write(unique),
            _ => Op::Cas {
                expect: last_seen.get(&key).copied().flatten(),
                new: unique,
            },
        };
        if let Op::Write(v) | Op::Cas { new: v, .. } = op {
            last_seen.insert(key, Some(v));
        }
        match recorder.run(&mut client, ClientId(id), key, op).await {
            Some(Ret::Read(value)) => {
                last_seen.insert(key, value);
            }
            Some(_) => {}
            // A client whose member is down or leaderless waits a little
            // instead of spinning.
            None => tokio::time::sleep(ERROR_PAUSE).await,
        }
    }
}
