//! End-to-end: the v3lock `Lock` and v3election `Election` gRPC services
//! (which `etcdctl` does not use: it runs the same recipes client-side),
//! driven by the Rust `etcd-client` crate.

mod cluster;

use std::time::Duration;

use cluster::Cluster;
use etcd_client::{Client, LockOptions};

async fn connect(cluster: &Cluster) -> Client {
    let endpoints: Vec<String> = cluster.endpoints().split(',').map(String::from).collect();
    Client::connect(endpoints, None).await.expect("connect")
}

#[tokio::test]
async fn lock_service_queues_holders_and_the_key_revision_fences_them() {
    let cluster = Cluster::start(3, "lock-service");
    let mut client = connect(&cluster).await;
    let a = client.lease_grant(30, None).await.expect("grant").id();
    let b = client.lease_grant(30, None).await.expect("grant").id();
    let first = client
        .lock("res", Some(LockOptions::new().with_lease(a)))
        .await
        .expect("lock");
    assert_eq!(first.key(), format!("res/{a:x}").as_bytes());
    let token_a = client.get(first.key(), None).await.expect("get").kvs()[0].create_revision();
    let mut other = client.clone();
    let waiting = tokio::spawn(async move {
        other
            .lock("res", Some(LockOptions::new().with_lease(b)))
            .await
            .map(|r| r.key().to_vec())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the second caller waits");
    client.unlock(first.key()).await.expect("unlock");
    let second = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the second caller gets the lock")
        .expect("task")
        .expect("lock");
    let token_b = client.get(second.clone(), None).await.expect("get").kvs()[0].create_revision();
    assert!(
        token_b > token_a,
        "fencing tokens increase: {token_a} then {token_b}"
    );
    // Revoking the holder's lease releases the lock.
    client.lease_revoke(b).await.expect("revoke");
    assert_eq!(client.get(second, None).await.expect("get").count(), 0);
    // etcd does not refuse an empty lock name: its queue is the prefix "/".
    let c = client.lease_grant(30, None).await.expect("grant").id();
    let empty = client
        .lock("", Some(LockOptions::new().with_lease(c)))
        .await
        .expect("lock with an empty name");
    assert_eq!(empty.key(), format!("/{c:x}").as_bytes());
    let unknown = client
        .lock("res", Some(LockOptions::new().with_lease(0x1234)))
        .await
        .expect_err("a lock with an unknown lease");
    assert!(
        unknown
            .to_string()
            .contains("etcdserver: requested lease not found"),
        "{unknown}"
    );
}

#[tokio::test]
async fn election_service_campaigns_proclaims_observes_and_resigns() {
    let cluster = Cluster::start(3, "election-service");
    let mut client = connect(&cluster).await;
    let no_leader = client.leader("vote").await.expect_err("no leader yet");
    assert!(
        no_leader.to_string().contains("election: no leader"),
        "{no_leader}"
    );
    let a = client.lease_grant(30, None).await.expect("grant").id();
    let b = client.lease_grant(30, None).await.expect("grant").id();
    let won = client.campaign("vote", "alice", a).await.expect("campaign");
    let leader_key = won.leader().expect("leader key").clone();
    assert_eq!(leader_key.key(), format!("vote/{a:x}").as_bytes());
    let mut observer = client.clone();
    let mut changes = observer.observe("vote").await.expect("observe");
    let first = changes.message().await.expect("stream").expect("a leader");
    assert_eq!(first.kv().map(|kv| kv.value()), Some(&b"alice"[..]));
    client
        .proclaim(
            "alice2",
            Some(etcd_client::ProclaimOptions::new().with_leader(leader_key.clone())),
        )
        .await
        .expect("proclaim");
    let second = changes.message().await.expect("stream").expect("a change");
    assert_eq!(second.kv().map(|kv| kv.value()), Some(&b"alice2"[..]));
    let mut other = client.clone();
    let waiting = tokio::spawn(async move { other.campaign("vote", "bob", b).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "bob waits for alice");
    client
        .resign(Some(
            etcd_client::ResignOptions::new().with_leader(leader_key.clone()),
        ))
        .await
        .expect("resign");
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("bob leads")
        .expect("task")
        .expect("campaign");
    let third = changes
        .message()
        .await
        .expect("stream")
        .expect("the new leader");
    assert_eq!(third.kv().map(|kv| kv.value()), Some(&b"bob"[..]));
    let leader = client.leader("vote").await.expect("leader");
    assert_eq!(leader.kv().map(|kv| kv.value()), Some(&b"bob"[..]));
    let stale = client
        .proclaim(
            "again",
            Some(etcd_client::ProclaimOptions::new().with_leader(leader_key)),
        )
        .await
        .expect_err("alice no longer leads");
    assert!(
        stale.to_string().contains("election: not leader"),
        "{stale}"
    );
}
