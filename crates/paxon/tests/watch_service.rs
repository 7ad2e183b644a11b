//! End-to-end: the Watch service's stream features that etcdctl does not
//! show (several watchers per stream, filters, prev_kv, cancel, progress
//! requests, refused creates), driven by the Rust `etcd-client` crate
//! against a follower.

mod cluster;

use cluster::Cluster;
use etcd_client::{Client, EventType, WatchFilterType, WatchOptions, WatchResponse, WatchStream};

async fn next(stream: &mut WatchStream) -> WatchResponse {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("a watch response in time")
        .expect("the stream")
        .expect("not ended")
}

/// (type, key, value, prev value) of each event.
fn events(response: &WatchResponse) -> Vec<(EventType, String, String, Option<String>)> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    response
        .events()
        .iter()
        .map(|e| {
            let kv = e.kv().expect("kv");
            let prev = e.prev_kv().map(|p| text(p.value()));
            (e.event_type(), text(kv.key()), text(kv.value()), prev)
        })
        .collect()
}

#[tokio::test]
async fn one_stream_carries_filtered_watchers_cancel_and_progress() {
    let cluster = Cluster::start(3, "watch-service");
    let leader = cluster.leader().expect("a leader");
    let follower = (leader + 1) % 3;
    let mut watching = Client::connect([cluster.endpoint(follower)], None)
        .await
        .expect("connect");
    let mut writing = Client::connect([cluster.endpoint(leader)], None)
        .await
        .expect("connect");
    let deletes_only = WatchOptions::new()
        .with_prefix()
        .with_filters([WatchFilterType::NoPut]);
    let mut stream = watching
        .watch("w", Some(deletes_only))
        .await
        .expect("watch");
    let created = next(&mut stream).await;
    assert!(created.created());
    assert_eq!(created.watch_id(), 0);
    stream
        .watch("w1", Some(WatchOptions::new().with_prev_key()))
        .await
        .expect("second watcher");
    let created = next(&mut stream).await;
    assert!(created.created());
    assert_eq!(created.watch_id(), 1);
    writing.put("w1", "a", None).await.expect("put");
    writing.put("w1", "b", None).await.expect("put");
    writing.delete("w1", None).await.expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let response = next(&mut stream).await;
        seen.extend(
            events(&response)
                .into_iter()
                .map(|e| (response.watch_id(), e)),
        );
    }
    let (put, delete) = (EventType::Put, EventType::Delete);
    let w1 = |kind, value: &str, prev: Option<&str>| {
        (
            kind,
            "w1".to_string(),
            value.to_string(),
            prev.map(String::from),
        )
    };
    // Each watcher's events in order; etcd does not order watchers among
    // themselves.
    let of = |id: i64| -> Vec<_> {
        seen.iter()
            .filter(|(w, _)| *w == id)
            .map(|(_, e)| e.clone())
            .collect()
    };
    assert_eq!(of(0), [w1(delete, "", None)]);
    assert_eq!(
        of(1),
        [
            w1(put, "a", None),
            w1(put, "b", Some("a")),
            w1(delete, "", Some("b"))
        ]
    );
    stream.cancel(1).await.expect("cancel");
    let canceled = next(&mut stream).await;
    assert_eq!((canceled.watch_id(), canceled.canceled()), (1, true));
    writing.put("w2", "c", None).await.expect("put");
    let deleted = writing.delete("w2", None).await.expect("delete");
    let deleted_at = deleted.header().expect("header").revision();
    // Once the delete reached watcher 0, a progress answer comes after it
    // and says every event up to its revision was sent.
    let response = next(&mut stream).await;
    assert_eq!((response.watch_id(), events(&response).len()), (0, 1));
    stream.request_progress().await.expect("progress request");
    let progress = next(&mut stream).await;
    assert_eq!((progress.watch_id(), events(&progress).len()), (-1, 0));
    assert!(progress.header().expect("header").revision() >= deleted_at);
    for expected in [
        Ok(()),
        Err("mvcc: duplicate watch ID provided on the WatchStream"),
    ] {
        let options = WatchOptions::new().with_watch_id(9);
        stream.watch("x", Some(options)).await.expect("create");
        let response = next(&mut stream).await;
        assert!(response.created());
        let outcome = match response.canceled() {
            false => Ok(()),
            true => Err(response.cancel_reason().to_string()),
        };
        assert_eq!(outcome, expected.map_err(String::from));
    }
}

/// (revision, key, value) of every event of a response.
fn changes(response: &WatchResponse) -> Vec<(i64, String, String)> {
    response
        .events()
        .iter()
        .map(|e| {
            let kv = e.kv().expect("kv");
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (kv.mod_revision(), text(kv.key()), text(kv.value()))
        })
        .collect()
}

/// Reads `stream` until an event at `through` or later has arrived.
async fn collect_through(
    stream: &mut WatchStream,
    through: i64,
    into: &mut Vec<(i64, String, String)>,
) {
    while into.last().is_none_or(|(rev, _, _)| *rev < through) {
        let response = next(stream).await;
        into.extend(changes(&response));
    }
}

#[tokio::test]
async fn a_client_rewatching_from_its_last_revision_after_its_member_dies_sees_no_gap_or_duplicate()
{
    let mut cluster = Cluster::start(3, "watch-rewatch");
    let mut writer = Client::connect(
        cluster
            .endpoints()
            .split(',')
            .map(String::from)
            .collect::<Vec<_>>(),
        None,
    )
    .await
    .expect("connect");
    let start = writer
        .put("r", "start", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    let watched = cluster.leader().expect("a leader");
    let mut client = Client::connect([cluster.endpoint(watched)], None)
        .await
        .expect("connect");
    let options = || Some(WatchOptions::new().with_prefix());
    let mut stream = client
        .watch("r", options().map(|o| o.with_start_revision(start)))
        .await
        .expect("watch");
    assert!(next(&mut stream).await.created());
    let writes = tokio::spawn(async move {
        let mut last = 0;
        for i in 0..60 {
            // A write whose outcome is unknown is retried: the history may
            // then hold it twice, which the check below allows.
            loop {
                match writer.put(format!("r{}", i % 5), i.to_string(), None).await {
                    Ok(put) => {
                        last = put.header().expect("header").revision();
                        break;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
        }
        last
    });
    let mut seen = Vec::new();
    collect_through(&mut stream, start + 20, &mut seen).await;
    cluster.kill(watched);
    let other = (watched + 1) % 3;
    let mut client = Client::connect([cluster.endpoint(other)], None)
        .await
        .expect("connect");
    let resume = seen.last().expect("events").0 + 1;
    let mut stream = client
        .watch("r", options().map(|o| o.with_start_revision(resume)))
        .await
        .expect("re-watch");
    assert!(next(&mut stream).await.created());
    let last = writes.await.expect("writer");
    collect_through(&mut stream, last, &mut seen).await;
    // The oracle: the whole history, replayed on a surviving member.
    let mut stream = client
        .watch("r", options().map(|o| o.with_start_revision(start)))
        .await
        .expect("replay");
    assert!(next(&mut stream).await.created());
    let mut history = Vec::new();
    collect_through(&mut stream, last, &mut history).await;
    assert_eq!(seen, history);
    assert!(history.len() >= 61, "every write is in the history");
}

fn signal(cluster: &Cluster, i: usize, signal: &str) {
    let pid = cluster.members[i]
        .child
        .as_ref()
        .expect("running")
        .id()
        .to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill {signal} {pid}");
}

#[tokio::test]
async fn a_watcher_on_a_follower_paused_through_a_burst_of_writes_misses_nothing() {
    let cluster = Cluster::start(3, "watch-burst");
    let leader = cluster.leader().expect("a leader");
    let follower = (leader + 1) % 3;
    let mut watching = Client::connect([cluster.endpoint(follower)], None)
        .await
        .expect("connect");
    let mut stream = watching
        .watch("s", Some(WatchOptions::new().with_prefix()))
        .await
        .expect("watch");
    assert!(next(&mut stream).await.created());
    let mut writing = Client::connect([cluster.endpoint(leader)], None)
        .await
        .expect("connect");
    // The follower sleeps through 150 writes of 20 kB, then applies them in
    // a burst: its watcher's stream (64 messages) overflows and the
    // watcher catches up from history. (The follower catches up from the
    // leader's log, not a snapshot: the unit test
    // `after_a_snapshot_watchers_resume_from_the_new_stores_history`
    // covers that path.)
    signal(&cluster, follower, "-STOP");
    let mut written = Vec::new();
    for i in 0..150 {
        let (key, value) = (format!("s{}", i % 7), format!("{i}{}", "x".repeat(20_000)));
        let put = writing.put(key.clone(), value.clone(), None).await;
        let revision = put.expect("put").header().expect("header").revision();
        written.push((revision, key, value));
    }
    signal(&cluster, follower, "-CONT");
    let mut seen = Vec::new();
    collect_through(&mut stream, written.last().expect("writes").0, &mut seen).await;
    assert_eq!(seen, written);
}
