//! The shared store for many machines (`runspec::serve::dynamo`) against DynamoDB (moto on
//! loopback; scripts/test.sh starts it): the store operations two servers share, claims,
//! heartbeats, fencing and the reaper.

use std::time::Duration;

use runspec::serve::dynamo::{DynamoStore, Fence};
use runspec::serve::store::{BuildRow, Store, StoreError, now_s};
use serde_json::json;

fn store(table: &str) -> DynamoStore {
    let moto = std::env::var("RUNSPEC_TEST_MOTO_URL").expect("needs moto: run scripts/test.sh");
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    DynamoStore::with_client(
        aws_sdk_dynamodb::Client::from_conf(config),
        table,
        DynamoStore::runtime().unwrap(),
    )
    .unwrap()
}

fn row(project: &str, n: u64) -> BuildRow {
    BuildRow {
        id: format!("{project}:{}", uuid_like(n)),
        project: project.into(),
        number: n,
        status: "IN_PROGRESS".into(),
        build: json!({"buildNumber": n, "currentPhase": "QUEUED"}),
        request: json!({"projectName": project}),
        submitted: now_s(),
    }
}

fn uuid_like(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012}-{}", std::process::id())
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn two_servers_share_projects_and_builds() {
    let table = format!("runspec-{}", std::process::id());
    let (a, b) = (store(&table), store(&table));
    a.create_project("app", &json!({"name": "app"})).unwrap();
    assert!(
        matches!(b.create_project("app", &json!({})), Err(StoreError::AlreadyExists(_))),
        "the other server sees it"
    );
    assert!(matches!(b.update_project("nope", &json!({})), Err(StoreError::NotFound(_))));
    assert_eq!(b.project_names().unwrap(), ["app"]);
    let mut ids = Vec::new();
    for server in [&a, &b, &a] {
        let (r, new) = server.insert_build("app", None, 300.0, &mut |n| row("app", n)).unwrap();
        assert!(new);
        ids.push(r.id);
    }
    let numbers: Vec<u64> = ids.iter().map(|id| a.build(id).unwrap().unwrap().number).collect();
    assert_eq!(numbers, [1, 2, 3], "one counter for every server");
    let (t1, _) = a.insert_build("app", Some("tok"), 300.0, &mut |n| row("app", n)).unwrap();
    let (t2, new) = b.insert_build("app", Some("tok"), 300.0, &mut |n| row("app", n)).unwrap();
    assert!(!new);
    assert_eq!(t1.id, t2.id);
    assert_eq!(b.build_ids(Some("app"), false).unwrap()[0], t1.id);
    assert_eq!(b.build_ids(Some("app"), true).unwrap()[0], ids[0]);
    b.update_build(&ids[0], "SUCCEEDED", &json!({"buildStatus": "SUCCEEDED"})).unwrap();
    assert_eq!(a.build(&ids[0]).unwrap().unwrap().status, "SUCCEEDED");
    assert_eq!(a.unfinished().unwrap().len(), 3);
    assert!(a.delete_build(&ids[1]).unwrap());
    assert!(!b.delete_build(&ids[1]).unwrap());
    assert!(a.delete_project("app").unwrap());
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn leases_fence_a_lost_worker() {
    let table = format!("runspec-lease-{}", std::process::id());
    let s = store(&table);
    let (b, _) = s.insert_build("p", None, 300.0, &mut |n| row("p", n)).unwrap();
    // One claim wins; a duplicate message claims nothing.
    assert_eq!(s.claim(&b.id, "worker-1", 0.5).unwrap(), Some(1));
    assert_eq!(s.claim(&b.id, "worker-2", 0.5).unwrap(), None);
    assert_eq!(
        s.heartbeat(&b.id, "worker-1", 1, 0.5).unwrap(),
        Ok(runspec::serve::dynamo::Beat { stop_requested: false })
    );
    assert_eq!(
        s.update_build_as(&b.id, "worker-1", 1, "IN_PROGRESS", &json!({"currentPhase": "BUILD"})).unwrap(),
        Ok(())
    );
    // StopBuild on any server reaches the worker through its next heartbeat.
    s.request_stop(&b.id).unwrap();
    assert!(s.heartbeat(&b.id, "worker-1", 1, 0.5).unwrap().unwrap().stop_requested);
    // The worker goes quiet past its lease: the reaper takes the build.
    std::thread::sleep(Duration::from_millis(700));
    let expired = s.expired().unwrap();
    assert_eq!(expired.iter().map(|(r, a)| (r.id.clone(), *a)).collect::<Vec<_>>(), [(b.id.clone(), 1)]);
    assert!(s.reap(&b.id, 1, &json!({"buildStatus": "FAULT"})).unwrap());
    assert!(!s.reap(&b.id, 1, &json!({"buildStatus": "FAULT"})).unwrap(), "a second reaper does nothing");
    // Its late writes are refused.
    assert_eq!(s.heartbeat(&b.id, "worker-1", 1, 0.5).unwrap(), Err(Fence::Lost));
    assert_eq!(s.update_build_as(&b.id, "worker-1", 1, "SUCCEEDED", &json!({})).unwrap(), Err(Fence::Lost));
    let now = s.build(&b.id).unwrap().unwrap();
    assert_eq!(now.status, "FAULT");
    assert_eq!(s.claim(&b.id, "worker-3", 0.5).unwrap(), None, "an ended build is never claimed again");
}

fn queue(name: &str) -> runspec::serve::sqs::Queue {
    let moto = std::env::var("RUNSPEC_TEST_MOTO_URL").expect("needs moto: run scripts/test.sh");
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "test"))
        .build();
    runspec::serve::sqs::Queue::ensure(aws_sdk_sqs::Client::from_conf(config), name).unwrap()
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn the_queue_wakes_workers_and_poison_goes_to_the_dead_letters() {
    let q = queue(&format!("runspec-q-{}", std::process::id()));
    q.send("app:1234").unwrap();
    let got = q.receive(&q.url, 1, 30).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].build.as_deref(), Some("app:1234"));
    q.delete(&got[0].receipt).unwrap();
    assert!(q.receive(&q.url, 0, 30).unwrap().is_empty(), "deleted");
    // A body no worker can use is received, not deleted, and after MAX_RECEIVES goes to the DLQ.
    q.send_raw("{not a build").unwrap();
    for _ in 0..runspec::serve::sqs::MAX_RECEIVES {
        let got = q.receive(&q.url, 1, 0).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].build, None);
    }
    assert!(q.receive(&q.url, 1, 0).unwrap().is_empty(), "moved on");
    let dlq = q.dead_letters().unwrap();
    let dead = q.receive(&dlq, 1, 30).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "{not a build");
}
