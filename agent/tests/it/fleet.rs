//! The shared store for many machines (`runspec::serve::dynamo`) against DynamoDB (moto on
//! loopback; scripts/test.sh starts it): the store operations two servers share, claims,
//! heartbeats, fencing and the reaper.

use std::time::Duration;

use runspec::serve::dynamo::{Claim, DynamoStore, Fence};
use runspec::serve::store::{BuildRow, ExecutionRow, PipelineRow, SqliteStore, Store, StoreError, now_s};
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
        build: build(json!({"buildNumber": n, "currentPhase": "QUEUED"})),
        request: serde_json::from_value(json!({"projectName": project})).unwrap(),
        submitted: now_s(),
    }
}

fn build(v: serde_json::Value) -> runspec::shapes::codebuild::Build {
    serde_json::from_value(v).unwrap()
}

fn project(v: serde_json::Value) -> runspec::shapes::codebuild::Project {
    serde_json::from_value(v).unwrap()
}

fn uuid_like(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012}-{}", std::process::id())
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn two_servers_share_projects_and_builds() {
    let table = format!("runspec-{}", std::process::id());
    let (a, b) = (store(&table), store(&table));
    a.create_project("app", &project(json!({"name": "app"}))).unwrap();
    assert!(
        matches!(b.create_project("app", &project(json!({}))), Err(StoreError::AlreadyExists(_))),
        "the other server sees it"
    );
    assert!(matches!(b.update_project("nope", &project(json!({}))), Err(StoreError::NotFound(_))));
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
    b.update_build(&ids[0], "SUCCEEDED", &build(json!({"buildStatus": "SUCCEEDED"}))).unwrap();
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
    assert_eq!(s.claim(&b.id, "worker-1", 0.5, NO_LIMITS).unwrap(), Claim::Won(1));
    assert_eq!(s.claim(&b.id, "worker-2", 0.5, NO_LIMITS).unwrap(), Claim::Taken);
    assert_eq!(
        s.heartbeat(&b.id, "worker-1", 1, 0.5).unwrap(),
        Ok(runspec::serve::dynamo::Beat { stop_requested: false })
    );
    assert_eq!(
        s.update_build_as(&b.id, "worker-1", 1, "IN_PROGRESS", &build(json!({"currentPhase": "BUILD"})))
            .unwrap(),
        Ok(())
    );
    // StopBuild on any server reaches the worker through its next heartbeat.
    s.request_stop(&b.id).unwrap();
    assert!(s.heartbeat(&b.id, "worker-1", 1, 0.5).unwrap().unwrap().stop_requested);
    // The worker goes quiet past its lease: the reaper takes the build.
    std::thread::sleep(Duration::from_millis(700));
    let expired = s.expired().unwrap();
    assert_eq!(
        expired.iter().map(|(r, l)| (r.id.clone(), l.owner.clone(), l.attempt)).collect::<Vec<_>>(),
        [(b.id.clone(), "worker-1".to_string(), 1)]
    );
    assert_eq!(s.running(Some("p")).unwrap(), 1);
    assert!(s.reap(&b.id, 1, &build(json!({"buildStatus": "FAULT"}))).unwrap());
    assert!(
        !s.reap(&b.id, 1, &build(json!({"buildStatus": "FAULT"}))).unwrap(),
        "a second reaper does nothing"
    );
    // Its late writes are refused.
    assert_eq!(s.heartbeat(&b.id, "worker-1", 1, 0.5).unwrap(), Err(Fence::Lost));
    assert_eq!(
        s.update_build_as(&b.id, "worker-1", 1, "SUCCEEDED", &build(json!({}))).unwrap(),
        Err(Fence::Lost)
    );
    let now = s.build(&b.id).unwrap().unwrap();
    assert_eq!(now.status, "FAULT");
    assert_eq!(
        s.claim(&b.id, "worker-3", 0.5, NO_LIMITS).unwrap(),
        Claim::Taken,
        "an ended build is never claimed again"
    );
    assert_eq!(s.running(Some("p")).unwrap(), 0, "the reaper took it off the count");
}

const NO_LIMITS: [Option<u64>; 2] = [None, None];

/// A project's `concurrentBuildLimit` and the fleet's limit are counters taken with the claim:
/// a claim over either waits, and an ended build frees its place.
#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn limits_hold_across_workers() {
    let table = format!("runspec-limits-{}", std::process::id());
    let s = store(&table);
    let ids: Vec<String> =
        (0..3).map(|_| s.insert_build("lim", None, 300.0, &mut |n| row("lim", n)).unwrap().0.id).collect();
    let project_limit = [Some(1), None];
    assert_eq!(s.claim(&ids[0], "w1", 30.0, project_limit).unwrap(), Claim::Won(1));
    assert_eq!(s.claim(&ids[1], "w2", 30.0, project_limit).unwrap(), Claim::Throttled);
    assert!(s.lease(&ids[1]).unwrap().is_none(), "a throttled claim wrote nothing");
    assert_eq!(s.update_build_as(&ids[0], "w1", 1, "SUCCEEDED", &build(json!({}))).unwrap(), Ok(()));
    assert_eq!(s.running(Some("lim")).unwrap(), 0);
    assert_eq!(s.claim(&ids[1], "w2", 30.0, project_limit).unwrap(), Claim::Won(1));
    // The fleet's limit counts every project.
    s.set_fleet_limit(Some(1)).unwrap();
    assert_eq!(s.fleet_limit().unwrap(), Some(1));
    let before = s.running(None).unwrap();
    let fleet_limit = [None, Some(before)];
    assert_eq!(s.claim(&ids[2], "w3", 30.0, fleet_limit).unwrap(), Claim::Throttled);
    assert_eq!(s.claim(&ids[2], "w3", 30.0, [None, Some(before + 1)]).unwrap(), Claim::Won(1));
    // A write that ends a build is refused to anyone but its holder, and only once.
    assert_eq!(
        s.update_build_as(&ids[1], "w3", 1, "SUCCEEDED", &build(json!({}))).unwrap(),
        Err(Fence::Lost)
    );
    assert_eq!(s.update_build_as(&ids[1], "w2", 1, "SUCCEEDED", &build(json!({}))).unwrap(), Ok(()));
    assert_eq!(s.update_build_as(&ids[1], "w2", 1, "FAILED", &build(json!({}))).unwrap(), Err(Fence::Lost));
    // Log chunks: in order, fenced like every other write.
    assert_eq!(s.append_log_as(&ids[2], "w3", 1, 0, b"1\tone\n2\ttw").unwrap(), Ok(()));
    assert_eq!(s.append_log_as(&ids[2], "w3", 1, 1, b"o\n").unwrap(), Ok(()));
    assert_eq!(s.append_log_as(&ids[2], "w1", 1, 2, b"x\n").unwrap(), Err(Fence::Lost));
    let uuid = ids[2].rsplit_once(':').unwrap().1;
    let chunks = s.log_chunks(uuid, None).unwrap();
    assert_eq!(chunks, [(0, b"1\tone\n2\ttw".to_vec()), (1, b"o\n".to_vec())]);
    assert_eq!(s.log_chunks(uuid, Some(0)).unwrap().len(), 1);
    assert!(s.delete_build(&ids[2]).unwrap());
    assert!(s.log_chunks(uuid, None).unwrap().is_empty(), "a deleted build's log goes with it");
    s.set_fleet_limit(None).unwrap();
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

/// The test services' moto keeps every acknowledged write while transactions fail beside them
/// (moto 5.2 alone restores whole tables when a transaction fails and lost a few writes in a
/// thousand here): otherwise the fleet tests would pass or fail for the emulator's reasons.
#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn the_test_moto_keeps_every_acknowledged_write_under_concurrent_transactions() {
    let out = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(
            r#"
import boto3, threading, sys, uuid, json
url = sys.argv[1]
client = lambda: boto3.client('dynamodb', endpoint_url=url, region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
ddb = client()
table = 'writes-' + uuid.uuid4().hex[:8]
ddb.create_table(TableName=table, KeySchema=[{'AttributeName': 'pk', 'KeyType': 'HASH'}], AttributeDefinitions=[{'AttributeName': 'pk', 'AttributeType': 'S'}], BillingMode='PAY_PER_REQUEST')
acked, errors, lock = [], [], threading.Lock()
def writer(w):
    c = client()
    for i in range(150):
        try:
            c.put_item(TableName=table, Item={'pk': {'S': f'w{w}-{i}'}})
            with lock: acked.append(f'w{w}-{i}')
        except Exception as e:
            with lock: errors.append(str(e)[:100])
def failing(t):
    c = client()
    for i in range(60):
        try:
            c.transact_write_items(TransactItems=[
                {'Update': {'TableName': table, 'Key': {'pk': {'S': f't{t}'}}, 'UpdateExpression': 'SET n = :n', 'ExpressionAttributeValues': {':n': {'N': str(i)}}}},
                {'ConditionCheck': {'TableName': table, 'Key': {'pk': {'S': 'missing'}}, 'ConditionExpression': 'attribute_exists(pk)'}}])
        except c.exceptions.TransactionCanceledException:
            pass
        except Exception as e:
            with lock: errors.append(str(e)[:100])
threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)] + [threading.Thread(target=failing, args=(t,)) for t in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
kept, kw = set(), {}
while True:
    r = ddb.scan(TableName=table, **kw)
    kept |= {i['pk']['S'] for i in r['Items']}
    if 'LastEvaluatedKey' not in r: break
    kw = {'ExclusiveStartKey': r['LastEvaluatedKey']}
ddb.delete_table(TableName=table)
print(json.dumps({'acknowledged': len(acked), 'lost': sorted(set(acked) - kept), 'errors': errors, 'rolled_back_but_present': sorted(k for k in kept if k.startswith('t'))}))
"#,
        )
        .arg(moto())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["acknowledged"], 1200, "{v}");
    assert_eq!(v["lost"], json!([]), "acknowledged writes were lost: {v}");
    assert_eq!(v["errors"], json!([]), "{v}");
    assert_eq!(v["rolled_back_but_present"], json!([]), "a failed transaction left its writes: {v}");
}

// ---- The fleet end to end: `runspec serve --store --queue` and `runspec worker` processes,
// driven through the AWS CLI, on moto's DynamoDB and SQS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::serve::{Server, phases, venv};
use serde_json::Value;

/// The lease every process of these tests uses: heartbeats every second.
const LEASE: &str = "3";

fn moto() -> String {
    std::env::var("RUNSPEC_TEST_MOTO_URL").expect("needs moto: run scripts/test.sh")
}

fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
}

/// A fleet: its table and queue, named for this test.
struct Fleet {
    store: String,
    queue: String,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new(name: &str) -> Fleet {
        let tag = format!("{name}-{}", std::process::id());
        Fleet {
            store: format!("dynamodb://rs-{tag}"),
            queue: format!("sqs://rs-{tag}"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn server(&self, name: &str) -> Server {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let env = aws_env();
        let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_env(&dir, &["--store", &self.store, "--queue", &self.queue, "--lease", LEASE], &envs)
    }

    fn worker(&self, name: &str) -> Worker {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_runspec"))
            .args(["worker", "--store", &self.store, "--queue", &self.queue, "--lease", LEASE])
            .args(["--poll", "1", "--host", "--concurrency", "2", "--state-dir"])
            .arg(dir.join("state"))
            .envs(aws_env())
            .env("RUNSPEC_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let w = Worker { child, log };
        w.wait_for("taking builds from", Duration::from_secs(30));
        w
    }

    /// `aws sqs ...` against moto.
    fn sqs(&self, args: &[&str]) -> Value {
        let out = Command::new(venv().join("bin/aws"))
            .args(["--endpoint-url", &moto(), "--output", "json", "sqs"])
            .args(args)
            .envs(aws_env())
            .output()
            .unwrap();
        assert!(out.status.success(), "aws sqs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&self, text: &str, within: Duration) {
        let end = Instant::now() + within;
        while !self.stderr().contains(text) {
            assert!(Instant::now() < end, "the worker never said `{text}`: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(s: &Server, project: &str, extra: &[&str]) -> String {
    let mut args = vec!["codebuild", "start-build", "--project-name", project];
    args.extend_from_slice(extra);
    s.aws(&args)["build"]["id"].as_str().unwrap().to_string()
}

/// Which of `workers` claimed the build (they say so on stderr); waits for one to.
fn owner_of<'w>(workers: &'w [Worker], id: &str, within: Duration) -> &'w Worker {
    let end = Instant::now() + within;
    loop {
        if let Some(w) = workers.iter().find(|w| w.stderr().contains(&format!("{id} claimed"))) {
            return w;
        }
        assert!(Instant::now() < end, "no worker claimed {id}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until the build is in `phase` or past it (a short phase can pass between two polls).
fn wait_phase(s: &Server, id: &str, phase: &str, within: Duration) -> Value {
    const ORDER: &[&str] = &[
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ];
    let rank = |p: &Value| p.as_str().and_then(|p| ORDER.iter().position(|o| *o == p));
    let wanted = ORDER.iter().position(|o| *o == phase).expect("a phase");
    let end = Instant::now() + within;
    loop {
        let b = s.build(id);
        if rank(&b["currentPhase"]).is_some_and(|r| r >= wanted) {
            return b;
        }
        assert!(Instant::now() < end, "{id} never reached {phase}: {b}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How a build ended, following its auto-retries: (the last build, the chain of ids).
fn last_retry(s: &Server, id: &str, within: Duration) -> (Value, Vec<String>) {
    let mut chain = vec![id.to_string()];
    loop {
        let b = s.wait(chain.last().unwrap(), within);
        match b["autoRetryConfig"]["nextAutoRetry"].as_str() {
            Some(next) => chain.push(next.to_string()),
            None => return (b, chain),
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Two API servers and three workers on one table and queue: 30 builds through the AWS CLI,
/// half through each server, all end; a worker killed with SIGKILL while it runs a long build
/// loses it (FAULT, WORKER_LOST) and the auto-retry succeeds elsewhere; each build is claimed
/// once; a server killed with SIGKILL leaves the other serving every build and its log.
#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn a_fleet_shares_builds_and_survives_a_dead_worker_and_a_dead_server() {
    let fleet = Fleet::new("thirty");
    let (a, b) = (fleet.server("a"), fleet.server("b"));
    let workers: Vec<Worker> = ["w1", "w2", "w3"].iter().map(|n| fleet.worker(n)).collect();
    a.create_project(
        "quick",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"hello from $CODEBUILD_BUILD_ID\"\n",
        &["--auto-retry-limit", "2"],
    );
    b.create_project(
        "long",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - 'if [ \"$CODEBUILD_BUILD_NUMBER\" = 1 ]; then sleep 600; fi'\n      - echo finished\n",
        &["--auto-retry-limit", "1"],
    );
    let long = start(&a, "long", &[]);
    let ids: Vec<String> = (0..30).map(|i| start(if i % 2 == 0 { &a } else { &b }, "quick", &[])).collect();
    let numbers: std::collections::BTreeSet<u64> =
        ids.iter().map(|id| a.build(id)["buildNumber"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=30).collect(), "one counter for both servers");

    // The long build's worker dies.
    let victim = owner_of(&workers, &long, Duration::from_secs(30));
    wait_phase(&b, &long, "BUILD", Duration::from_secs(30));
    victim.signal(nix::sys::signal::Signal::SIGKILL);
    let killed_at = Instant::now();
    let lost = b.wait(&long, Duration::from_secs(120));
    assert_eq!(lost["buildStatus"], "FAULT", "{lost}");
    let build_phase = lost["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "BUILD").unwrap();
    assert_eq!(build_phase["phaseStatus"], "FAULT");
    assert_eq!(build_phase["contexts"][0]["statusCode"], "WORKER_LOST", "{lost}");
    // Ended by the reaper, not by the build's own end (it sleeps ten minutes).
    assert!(killed_at.elapsed() < Duration::from_secs(300), "{:?}", killed_at.elapsed());
    let (retried, chain) = last_retry(&a, &long, Duration::from_secs(60));
    assert_eq!(chain.len(), 2, "one auto-retry: {chain:?}");
    assert_eq!(retried["buildStatus"], "SUCCEEDED", "{retried}");
    assert_eq!(retried["autoRetryConfig"]["previousAutoRetry"], long.as_str());
    assert_eq!(retried["autoRetryConfig"]["autoRetryNumber"], 1);
    assert_eq!(retried["autoRetryConfig"]["autoRetryLimit"], 1);
    assert!(b.log(&retried).iter().any(|l| l == "finished"), "{:?}", b.log(&retried));

    // Every quick build ends, SUCCEEDED or (if the dead worker had it) retried to SUCCEEDED.
    for id in &ids {
        let (last, chain) = last_retry(&b, id, Duration::from_secs(90));
        assert_eq!(last["buildStatus"], "SUCCEEDED", "{chain:?}: {last}");
        let first = b.build(id);
        if chain.len() > 1 {
            assert!(phases(&first).iter().any(|p| p.ends_with("=FAULT")), "{first}");
        }
        let log = a.log(&last);
        let hello = format!("hello from {}", last["id"].as_str().unwrap());
        assert!(log.contains(&hello), "the log through either server: {log:?}");
    }

    // No build was claimed twice.
    let mut claims = std::collections::HashMap::<String, usize>::new();
    for w in &workers {
        for line in w.stderr().lines() {
            if let Some(rest) = line.strip_prefix("runspec worker: ")
                && let Some((id, _)) = rest.split_once(" claimed")
            {
                *claims.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    assert!(claims.values().all(|n| *n == 1), "{claims:?}");
    assert!(claims.len() >= 32, "30 quick, the long one and its retry: {}", claims.len());

    // Server a dies; b serves every build and its log.
    let mut a = a;
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let all = b.aws(&["codebuild", "list-builds-for-project", "--project-name", "quick"]);
    assert!(all["ids"].as_array().unwrap().len() >= 30);
    let first = b.build(&ids[0]);
    assert_eq!(first["id"], ids[0].as_str());
    assert!(!b.log(&first).is_empty());
    drop(workers);
}

/// StopBuild sent to the server that did not start the build reaches its worker within one
/// heartbeat; a worker stopped (SIGSTOP) past its lease is fenced off when it wakes (its writes
/// are refused, it stops its build, the retry ran elsewhere); a message no worker can use ends
/// in the dead-letter queue.
#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn stop_through_any_server_fencing_and_poison() {
    let fleet = Fleet::new("fence");
    let (a, b) = (fleet.server("a"), fleet.server("b"));
    let workers: Vec<Worker> = ["w1", "w2"].iter().map(|n| fleet.worker(n)).collect();
    a.create_project("sleepy", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n", &[]);

    // StopBuild through the other server.
    let id = start(&a, "sleepy", &[]);
    wait_phase(&a, &id, "BUILD", Duration::from_secs(30));
    b.aws(&["codebuild", "stop-build", "--id", &id]);
    // The worker learns of it in a heartbeat and stops the `sleep 600` (a deadline far below
    // it catches the hang; how fast a stop lands is bench/fleet.sh's to measure).
    let stopped = a.wait(&id, Duration::from_secs(120));
    assert_eq!(stopped["buildStatus"], "STOPPED", "{stopped}");
    assert!(phases(&stopped).contains(&"BUILD=STOPPED".to_string()), "{stopped}");

    // A worker paused (SIGSTOP) past its lease while its build's first command runs; the
    // command ends while the worker is paused, so it wakes between two commands. It must not
    // start the second one: its own clock says the lease is gone, whatever the store says yet.
    let marks = fleet.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    b.create_project(
        "paused",
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - 'touch {m}/started-$CODEBUILD_BUILD_NUMBER; if [ \"$CODEBUILD_BUILD_NUMBER\" = 1 ]; then sleep 2; fi'\n      - touch {m}/$CODEBUILD_BUILD_NUMBER\n",
            m = path_str(&marks)
        ),
        &["--auto-retry-limit", "1"],
    );
    let id = start(&b, "paused", &[]);
    let paused = owner_of(&workers, &id, Duration::from_secs(30));
    let end = Instant::now() + Duration::from_secs(30);
    while !marks.join("started-1").exists() {
        assert!(Instant::now() < end, "the first command never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    paused.signal(nix::sys::signal::Signal::SIGSTOP);
    let lost = a.wait(&id, Duration::from_secs(20));
    assert_eq!(lost["buildStatus"], "FAULT", "{lost}");
    let (retried, _) = last_retry(&a, &id, Duration::from_secs(30));
    assert_eq!(retried["buildStatus"], "SUCCEEDED");
    paused.signal(nix::sys::signal::Signal::SIGCONT);
    paused.wait_for(&format!("{id}: the lease was lost"), Duration::from_secs(5));
    paused.wait_for(&format!("{id}: ended"), Duration::from_secs(10));
    assert!(paused.stderr().contains("not recorded"), "{}", paused.stderr());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.build(&id)["buildStatus"], "FAULT", "the late writes were refused");
    assert!(marks.join("2").exists(), "the retry ran");
    assert!(!marks.join("1").exists(), "the fenced worker stopped its build");
    let log = b.log(&lost);
    assert!(
        !log.iter().any(|l| l.contains("Phase complete: BUILD")),
        "nothing written after the loss: {log:?}"
    );

    // Poison: not a build's message.
    let url =
        fleet.sqs(&["get-queue-url", "--queue-name", fleet.queue.trim_start_matches("sqs://")])["QueueUrl"]
            .as_str()
            .unwrap()
            .to_string();
    fleet.sqs(&["send-message", "--queue-url", &url, "--message-body", "{\"not\": \"a build\"}"]);
    let dlq = fleet.sqs(&[
        "get-queue-url",
        "--queue-name",
        &format!("{}-dlq", fleet.queue.trim_start_matches("sqs://")),
    ])["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let end = Instant::now() + Duration::from_secs(40);
    loop {
        let got = fleet.sqs(&["receive-message", "--queue-url", &dlq, "--wait-time-seconds", "1"]);
        if let Some(m) = got["Messages"].as_array().and_then(|m| m.first()) {
            assert_eq!(m["Body"], "{\"not\": \"a build\"}");
            break;
        }
        assert!(Instant::now() < end, "the poison message never reached the dead-letter queue");
    }
    assert!(workers.iter().any(|w| w.stderr().contains("a message no worker can use")));
}

/// `serve --store ... --concurrency 1` caps the whole fleet: two workers with two slots each
/// run one build at a time; a build queued past its `queuedTimeoutInMinutes` ends TIMED_OUT.
#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn a_fleet_wide_limit_and_queue_timeouts() {
    let fleet = Fleet::new("limit");
    let dir = fleet.dir.path().join("a");
    std::fs::create_dir_all(&dir).unwrap();
    let env = aws_env();
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut envs = envs;
    // A queue "minute" of 0.05 s: the shortest queue timeout CodeBuild takes (5) is 0.25 s.
    envs.push(("RUNSPEC_TEST_QUEUE_MINUTE", "0.05"));
    let a = Server::start_env(
        &dir,
        &["--store", &fleet.store, "--queue", &fleet.queue, "--lease", LEASE, "--concurrency", "1"],
        &envs,
    );
    let _workers: Vec<Worker> = ["w1", "w2"].iter().map(|n| fleet.worker(n)).collect();
    a.create_project("slow", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 1.5\n", &[]);
    let v = a.python(
        r#"
ids = [cb.start_build(projectName='slow')['build']['id'] for _ in range(2)]
late = cb.start_build(projectName='slow', queuedTimeoutInMinutesOverride=5)['build']['id']
deadline = time.time() + 60
while time.time() < deadline:
    builds = cb.batch_get_builds(ids=ids + [late])['builds']
    if all(b['buildComplete'] for b in builds):
        break
    time.sleep(0.2)
def span(b):
    ph = {p['phaseType']: p for p in b['phases']}
    return [ph['PROVISIONING']['startTime'].timestamp(), ph['FINALIZING']['endTime'].timestamp()]
print(json.dumps({'spans': [span(b) for b in builds[:2]], 'statuses': [b['buildStatus'] for b in builds],
                  'late': [[p['phaseType'], p.get('phaseStatus')] for p in builds[2]['phases']]}))
"#,
    );
    assert_eq!(v["statuses"], json!(["SUCCEEDED", "SUCCEEDED", "TIMED_OUT"]), "{v}");
    let span = |i: usize| (v["spans"][i][0].as_f64().unwrap(), v["spans"][i][1].as_f64().unwrap());
    let (x, y) = (span(0), span(1));
    assert!(y.0 >= x.1 - 0.01 || x.0 >= y.1 - 0.01, "one at a time across the fleet: {x:?} {y:?}");
    assert_eq!(v["late"], json!([["SUBMITTED", "SUCCEEDED"], ["QUEUED", "TIMED_OUT"], ["COMPLETED", null]]));
}

#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn a_batch_runs_on_the_fleet_stops_through_the_other_server_and_ends_when_its_server_dies() {
    let fleet = Fleet::new("batch");
    let (mut a, b) = (fleet.server("a"), fleet.server("b"));
    let _workers: Vec<Worker> = ["w1", "w2"].iter().map(|n| fleet.worker(n)).collect();
    a.create_project(
        "slowbatch",
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n    - identifier: two\nphases:\n  build:\n    commands:\n      - sleep 600\n",
        &[],
    );
    let start_batch = |s: &Server| {
        s.aws(&["codebuild", "start-build-batch", "--project-name", "slowbatch"])["buildBatch"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let groups = |s: &Server, id: &str| -> Value {
        let batch = s.aws(&["codebuild", "batch-get-build-batches", "--ids", id])["buildBatches"][0].clone();
        let summary: serde_json::Map<String, Value> = batch["buildGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| {
                Some((g["identifier"].as_str()?.to_string(), g["currentBuildSummary"]["buildStatus"].clone()))
            })
            .collect();
        json!({"status": batch["buildBatchStatus"], "groups": summary, "phases": batch["phases"]})
    };
    // Both children run on the workers; the other server sees them.
    let running = |s: &Server, id: &str| {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let g = groups(s, id);
            if g["groups"]["one"] == "IN_PROGRESS" && g["groups"]["two"] == "IN_PROGRESS" {
                break;
            }
            assert!(Instant::now() < end, "the children never ran: {g}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let id = start_batch(&a);
    running(&b, &id);
    std::thread::sleep(Duration::from_secs(2));
    // StopBuildBatch through the server that does not coordinate it.
    let asked = Instant::now();
    b.aws(&["codebuild", "stop-build-batch", "--id", &id]);
    let end = asked + Duration::from_secs(50);
    let stopped = loop {
        let g = groups(&a, &id);
        if g["status"] != "IN_PROGRESS" {
            break g;
        }
        assert!(Instant::now() < end, "the batch did not stop: {g}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");
    assert_eq!(stopped["groups"]["one"], "STOPPED", "{stopped}");
    assert_eq!(stopped["groups"]["two"], "STOPPED", "{stopped}");

    // The server coordinating a batch dies: the other one's reaper ends the batch FAULT once
    // the hold runs out, and stops its children.
    let id = start_batch(&a);
    running(&b, &id);
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let end = Instant::now() + Duration::from_secs(40);
    let lost = loop {
        let g = groups(&b, &id);
        if g["status"] != "IN_PROGRESS"
            && g["groups"]["one"] != "IN_PROGRESS"
            && g["groups"]["two"] != "IN_PROGRESS"
        {
            break g;
        }
        assert!(Instant::now() < end, "the batch of the dead server did not end: {g}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(lost["status"], "FAULT", "{lost}");
    let context = lost["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["contexts"][0]["statusCode"].as_str().map(str::to_string));
    assert_eq!(context.as_deref(), Some("SERVER_LOST"), "{lost}");
    assert_eq!(lost["groups"]["one"], "STOPPED", "{lost}");
    assert_eq!(lost["groups"]["two"], "STOPPED", "{lost}");
    // The children themselves: stopped on their workers at the next heartbeat.
    let batch = b.aws(&["codebuild", "batch-get-build-batches", "--ids", &id])["buildBatches"][0].clone();
    for group in batch["buildGroups"].as_array().unwrap() {
        let Some(arn) = group["currentBuildSummary"]["arn"].as_str() else { continue };
        if group["identifier"] == "DOWNLOAD_SOURCE" {
            continue;
        }
        let child = arn.split_once(":build/").unwrap().1;
        let ended = b.wait(child, Duration::from_secs(15));
        assert_eq!(ended["buildStatus"], "STOPPED", "{ended}");
    }
}

/// What every store does with pipelines and their executions.
fn pipelines_and_executions(store: &dyn Store) {
    let row = |name: &str, version: i64| PipelineRow {
        declaration: runspec::shapes::codepipeline::PipelineDeclaration {
            name: name.into(),
            version: Some(version),
            ..Default::default()
        },
        created: 1.0,
        updated: 2.0,
    };
    store.create_pipeline(&row("b", 1)).unwrap();
    store.create_pipeline(&row("a", 1)).unwrap();
    assert!(matches!(store.create_pipeline(&row("a", 1)), Err(StoreError::AlreadyExists(_))));
    assert!(matches!(store.update_pipeline(&row("zz", 2)), Err(StoreError::NotFound(_))));
    store.update_pipeline(&row("a", 2)).unwrap();
    assert_eq!(store.pipeline("a").unwrap().unwrap().declaration.version, Some(2));
    assert_eq!(store.pipeline_names().unwrap(), ["a", "b"]);
    let execution = |id: &str, started: f64, status: &str| ExecutionRow {
        pipeline: "a".into(),
        id: id.into(),
        status: status.into(),
        started,
        ..Default::default()
    };
    store.put_execution(&execution("x1", 10.0, "InProgress")).unwrap();
    store.put_execution(&execution("x2", 20.0, "InProgress")).unwrap();
    // A record is replaced, not added.
    store.put_execution(&execution("x1", 10.0, "Succeeded")).unwrap();
    let ids: Vec<String> = store.executions("a").unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["x2", "x1"], "newest first");
    assert_eq!(store.execution("a", "x1").unwrap().unwrap().status, "Succeeded");
    assert!(store.execution("b", "x1").unwrap().is_none(), "an execution belongs to its pipeline");
    assert!(store.delete_pipeline("a").unwrap());
    assert!(store.executions("a").unwrap().is_empty(), "its executions go with it");
    assert!(store.pipeline("a").unwrap().is_none());
    assert!(!store.delete_pipeline("a").unwrap());
}

#[test]
fn sqlite_keeps_pipelines_and_executions() {
    let dir = tempfile::tempdir().unwrap();
    pipelines_and_executions(&SqliteStore::open(&dir.path().join("db")).unwrap());
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn dynamodb_keeps_pipelines_and_executions() {
    pipelines_and_executions(&store(&format!("runspec-pipelines-{}", std::process::id())));
}
