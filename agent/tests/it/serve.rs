//! `runspec serve` driven by real clients: the AWS CLI and boto3 from the test venv
//! (scripts/test.sh sets RUNSPEC_TEST_VENV), against a server on a free loopback port with its
//! own state directory and credentials file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) const KEY_ID: &str = "AKIDRUNSPECTEST";
pub(crate) const SECRET: &str = "runspec-test-secret-key-0123456789";

pub(crate) fn venv() -> PathBuf {
    PathBuf::from(std::env::var("RUNSPEC_TEST_VENV").expect("needs the test venv: run scripts/test.sh"))
}

/// `send(target, body)` in the Python prelude: a request signed by botocore's own signer but
/// sent as given (no client-side validation), answering `[status, parsed body]`.
const SEND: &str = r#"
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
import urllib.request, urllib.error
def send(target, body, service='codebuild', region='us-east-1'):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    req = AWSRequest(method='POST', url=cb.meta.endpoint_url + '/', data=body, headers={'X-Amz-Target': target, 'Content-Type': 'application/x-amz-json-1.1'})
    SigV4Auth(session.get_credentials(), service, region).add_auth(req)
    r = urllib.request.Request(req.url, data=body, headers=dict(req.headers), method='POST')
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return [resp.status, json.loads(resp.read())]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read() or b'null')]
    except Exception as e:
        return [0, str(e)]
"#;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// The web page's address with its token.
    pub(crate) page: String,
    pub(crate) state: PathBuf,
    _dir: Option<tempfile::TempDir>,
    creds: PathBuf,
}

impl Server {
    pub(crate) fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server::start_in(dir.path(), extra);
        s._dir = Some(dir);
        s
    }

    /// A server whose state and credentials live in `dir` (which outlives it).
    pub(crate) fn start_in(dir: &Path, extra: &[&str]) -> Server {
        Server::start_env(dir, extra, &[])
    }

    /// With extra environment variables for the server process. Builds of the image
    /// `runspec/host` run on the server's shell (`--host-image-allowed`), as most tests want.
    pub(crate) fn start_env(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut args = vec!["--host-image-allowed"];
        args.extend_from_slice(extra);
        Server::start_plain(dir, &args, envs)
    }

    /// With only `extra` for flags.
    pub(crate) fn start_plain(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let state = dir.join("state");
        let creds = dir.join("credentials");
        std::fs::write(
            &creds,
            format!(
                "[test]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n[wrong]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = not-the-secret\n[unknown]\naws_access_key_id = AKIDNOBODY\naws_secret_access_key = x\n"
            ),
        )
        .unwrap();
        let server_creds = dir.join("server-credentials");
        std::fs::write(
            &server_creds,
            format!("[test]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_runspec"))
            .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&state)
            .arg("--credentials")
            .arg(&server_creds)
            .args(extra)
            .envs(envs.iter().copied())
            .env("RUNSPEC_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut url = String::new();
        let mut page = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("runspec serve: listening on ") {
                url = u.to_string();
            }
            if let Some(u) = line.strip_prefix("runspec serve: web page at ") {
                page = u.to_string();
                break;
            }
        }
        assert!(!url.is_empty(), "the server did not start");
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url, page, state, _dir: None, creds }
    }

    /// `aws <args>` as profile `test`; (exit code, parsed stdout, stderr).
    pub(crate) fn aws_as(&self, profile: &str, args: &[&str]) -> (i32, Value, String) {
        let out = Command::new(venv().join("bin/aws"))
            .args(["--endpoint-url", &self.url, "--output", "json"])
            .args(args)
            .env("AWS_SHARED_CREDENTIALS_FILE", &self.creds)
            .env("AWS_PROFILE", profile)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), value, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub(crate) fn aws(&self, args: &[&str]) -> Value {
        let (code, v, err) = self.aws_as("test", args);
        assert_eq!(code, 0, "aws {args:?}: {err}");
        v
    }

    /// A boto3 script with `cb` (CodeBuild) and `logs` clients for this server.
    pub(crate) fn python(&self, script: &str) -> Value {
        let prelude = format!(
            "import boto3, json, sys, time, threading\nsession = boto3.session.Session(aws_access_key_id={KEY_ID:?}, aws_secret_access_key={SECRET:?}, region_name='us-east-1')\ncb = session.client('codebuild', endpoint_url={:?})\nlogs = session.client('logs', endpoint_url={:?})\nKEY_ID = {KEY_ID:?}\n{SEND}",
            self.url, self.url
        );
        let out = Command::new(venv().join("bin/python"))
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    pub(crate) fn create_project(&self, name: &str, buildspec: &str, extra: &[&str]) {
        let source = json!({"type": "NO_SOURCE", "buildspec": buildspec}).to_string();
        self.create_project_from(name, &source, extra);
    }

    /// A project building `source` (its JSON) on the server's shell, with `extra` arguments.
    pub(crate) fn create_project_from(&self, name: &str, source: &str, extra: &[&str]) {
        let mut args = vec![
            "codebuild",
            "create-project",
            "--name",
            name,
            "--source",
            source,
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=runspec/host,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "arn:aws:iam::000000000000:role/build",
        ];
        args.extend_from_slice(extra);
        self.aws(&args);
    }

    pub(crate) fn build(&self, id: &str) -> Value {
        self.aws(&["codebuild", "batch-get-builds", "--ids", id])["builds"][0].clone()
    }

    /// Polls until the build is complete.
    pub(crate) fn wait(&self, id: &str, within: Duration) -> Value {
        let end = Instant::now() + within;
        loop {
            let b = self.build(id);
            if b["buildComplete"] == true {
                return b;
            }
            assert!(Instant::now() < end, "build {id} did not finish: {b}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log(&self, build: &Value) -> Vec<String> {
        let v = self.aws(&[
            "logs",
            "get-log-events",
            "--log-group-name",
            build["logs"]["groupName"].as_str().unwrap(),
            "--log-stream-name",
            build["logs"]["streamName"].as_str().unwrap(),
            "--start-from-head",
        ]);
        v["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn phases(build: &Value) -> Vec<String> {
    build["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}={}", p["phaseType"].as_str().unwrap(), p["phaseStatus"].as_str().unwrap_or("-")))
        .collect()
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn projects_through_the_aws_cli() {
    let s = Server::start(&[]);
    s.create_project(
        "app",
        "version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n",
        &["--description", "d"],
    );
    let got = s.aws(&["codebuild", "batch-get-projects", "--names", "app", "nope"]);
    assert_eq!(got["projects"][0]["name"], "app");
    assert_eq!(got["projects"][0]["arn"], "arn:aws:codebuild:us-east-1:000000000000:project/app");
    assert!(got["projects"][0]["created"].is_number(), "epoch seconds: {got}");
    assert_eq!(got["projectsNotFound"], json!(["nope"]));
    // AWS's errors, printed the AWS CLI way.
    let (code, _, err) = s.aws_as(
        "test",
        &[
            "codebuild",
            "create-project",
            "--name",
            "app",
            "--source",
            "type=NO_SOURCE,buildspec=x",
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=i,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "r",
        ],
    );
    assert_eq!(code, 255);
    assert!(
        err.contains(
            "An error occurred (ResourceAlreadyExistsException) when calling the CreateProject operation"
        ),
        "{err}"
    );
    let (code, _, err) = s.aws_as(
        "test",
        &[
            "codebuild",
            "create-project",
            "--name",
            "x y",
            "--source",
            "type=NO_SOURCE,buildspec=x",
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=i,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "r",
        ],
    );
    assert_eq!(code, 255);
    assert!(err.contains("(InvalidInputException)"), "{err}");
    s.create_project("second", "version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n", &[]);
    assert_eq!(s.aws(&["codebuild", "list-projects"])["projects"], json!(["app", "second"]));
    assert_eq!(
        s.aws(&["codebuild", "list-projects", "--sort-order", "DESCENDING"])["projects"],
        json!(["second", "app"])
    );
    let updated = s.aws(&["codebuild", "update-project", "--name", "app", "--timeout-in-minutes", "20"]);
    assert_eq!(updated["project"]["timeoutInMinutes"], 20);
    assert_eq!(updated["project"]["description"], "d");
    s.aws(&["codebuild", "delete-project", "--name", "second"]);
    assert_eq!(s.aws(&["codebuild", "list-projects"])["projects"], json!(["app"]));
    let (code, _, err) = s.aws_as("test", &["codebuild", "start-build", "--project-name", "second"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("(ResourceNotFoundException)")
            && err
                .contains("Project cannot be found: arn:aws:codebuild:us-east-1:000000000000:project/second"),
        "{err}"
    );
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn builds_run_and_report_like_codebuild() {
    let s = Server::start(&[]);
    s.create_project(
        "app",
        "version: 0.2\nenv:\n  variables:\n    FROM_SPEC: spec\n  exported-variables: [OUT]\nphases:\n  build:\n    commands:\n      - echo \"hello $FROM_SPEC $OVERRIDE $CODEBUILD_BUILD_NUMBER\"\n      - OUT=exported\n",
        &[],
    );
    let started = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "app",
        "--environment-variables-override",
        "name=OVERRIDE,value=over,type=PLAINTEXT",
    ]);
    let id = started["build"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("app:"), "{started}");
    assert_eq!(started["build"]["buildNumber"], 1);
    assert_eq!(started["build"]["buildStatus"], "IN_PROGRESS");
    assert_eq!(started["build"]["initiator"], "test");
    let b = s.wait(&id, Duration::from_secs(30));
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{b}");
    assert_eq!(
        phases(&b),
        [
            "SUBMITTED=SUCCEEDED",
            "QUEUED=SUCCEEDED",
            "PROVISIONING=SUCCEEDED",
            "DOWNLOAD_SOURCE=SUCCEEDED",
            "INSTALL=SUCCEEDED",
            "PRE_BUILD=SUCCEEDED",
            "BUILD=SUCCEEDED",
            "POST_BUILD=SUCCEEDED",
            "UPLOAD_ARTIFACTS=SUCCEEDED",
            "FINALIZING=SUCCEEDED",
            "COMPLETED=-"
        ]
    );
    assert!(b["startTime"].is_f64() && b["endTime"].is_f64(), "epoch seconds: {b}");
    assert_eq!(b["exportedEnvironmentVariables"], json!([{"name": "OUT", "value": "exported"}]));
    assert_eq!(b["logs"]["groupName"], "/aws/codebuild/app");
    let log = s.log(&b);
    assert!(log.iter().any(|l| l == "hello spec over 1"), "{log:?}");
    assert!(log.iter().any(|l| l.ends_with("Phase complete: BUILD State: SUCCEEDED")), "{log:?}");
    let filtered = s.aws(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/aws/codebuild/app",
        "--filter-pattern",
        "\"hello spec\"",
    ]);
    assert_eq!(filtered["events"].as_array().unwrap().len(), 1, "{filtered}");

    // A failing build, a retry, the listings, deletion.
    let failing = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "app",
        "--buildspec-override",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n",
    ]);
    let failed_id = failing["build"]["id"].as_str().unwrap().to_string();
    let f = s.wait(&failed_id, Duration::from_secs(30));
    assert_eq!(f["buildStatus"], "FAILED");
    let build_phase =
        f["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "BUILD").unwrap().clone();
    assert_eq!(
        build_phase["contexts"][0]["message"],
        "Error while executing command: exit 3. Reason: exit status 3"
    );
    let retried = s.aws(&["codebuild", "retry-build", "--id", &failed_id]);
    let retry_id = retried["build"]["id"].as_str().unwrap().to_string();
    assert_eq!(retried["build"]["buildNumber"], 3);
    assert_eq!(
        s.wait(&retry_id, Duration::from_secs(30))["buildStatus"],
        "FAILED",
        "the same buildspec override"
    );
    let listed = s.aws(&["codebuild", "list-builds-for-project", "--project-name", "app"]);
    assert_eq!(listed["ids"], json!([retry_id, failed_id, id]));
    let ascending = s.aws(&[
        "codebuild",
        "list-builds-for-project",
        "--project-name",
        "app",
        "--sort-order",
        "ASCENDING",
    ]);
    assert_eq!(ascending["ids"], json!([id, failed_id, retry_id]));
    assert_eq!(s.aws(&["codebuild", "list-builds"])["ids"].as_array().unwrap().len(), 3);
    let missing = s.aws(&["codebuild", "batch-get-builds", "--ids", &id, "app:nope"]);
    assert_eq!(missing["buildsNotFound"], json!(["app:nope"]));
    let deleted = s.aws(&["codebuild", "batch-delete-builds", "--ids", &failed_id, "app:nope"]);
    assert_eq!(deleted["buildsDeleted"], json!([failed_id]));
    assert_eq!(deleted["buildsNotDeleted"][0]["id"], "app:nope");
    assert_eq!(s.aws(&["codebuild", "list-builds"])["ids"].as_array().unwrap().len(), 2);

    // An idempotency token within 5 minutes gives back the same build.
    let a = s.aws(&["codebuild", "start-build", "--project-name", "app", "--idempotency-token", "tok-1"]);
    let b2 = s.aws(&["codebuild", "start-build", "--project-name", "app", "--idempotency-token", "tok-1"]);
    assert_eq!(a["build"]["id"], b2["build"]["id"]);
    s.wait(a["build"]["id"].as_str().unwrap(), Duration::from_secs(30));
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn git_sources_at_a_source_version() {
    let s = Server::start(&[]);
    let repo = s.state.parent().unwrap().join("repo");
    let daemon = super::support::GitDaemon::start(s.state.parent().unwrap());
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &str| {
        let out =
            Command::new("sh").arg("-c").arg(format!("git {args}")).current_dir(&repo).output().unwrap();
        assert!(out.status.success(), "git {args}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git("init -q -b main");
    git("config user.email t@example.com");
    git("config user.name t");
    std::fs::write(
        repo.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat version.txt\n",
    )
    .unwrap();
    std::fs::write(repo.join("version.txt"), "one\n").unwrap();
    git("add -A");
    git("commit -qm one");
    let first = git("rev-parse HEAD");
    std::fs::write(repo.join("version.txt"), "two\n").unwrap();
    git("commit -qam two");
    // A remote, as CodeBuild only knows remotes.
    let source = json!({"type": "GITHUB", "location": daemon.url("repo"), "gitCloneDepth": 1}).to_string();
    s.create_project_from("repo", &source, &[]);
    for (version, expect) in [(None, "two"), (Some(first.as_str()), "one")] {
        let mut args = vec!["codebuild", "start-build", "--project-name", "repo"];
        if let Some(v) = version {
            args.extend(["--source-version", v]);
        }
        let id = s.aws(&args)["build"]["id"].as_str().unwrap().to_string();
        let b = s.wait(&id, Duration::from_secs(30));
        assert_eq!(b["buildStatus"], "SUCCEEDED", "{b}");
        assert!(s.log(&b).iter().any(|l| l == expect), "{version:?}");
        if let Some(v) = version {
            assert_eq!(b["resolvedSourceVersion"], v);
            assert_eq!(b["sourceVersion"], v);
        }
    }
    // A version that is not there fails DOWNLOAD_SOURCE.
    let id =
        s.aws(&["codebuild", "start-build", "--project-name", "repo", "--source-version", "no-such-branch"])
            ["build"]["id"]
            .as_str()
            .unwrap()
            .to_string();
    let b = s.wait(&id, Duration::from_secs(30));
    assert_eq!(b["buildStatus"], "FAILED");
    assert!(phases(&b).contains(&"DOWNLOAD_SOURCE=FAILED".to_string()), "{b}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn unsigned_and_wrongly_signed_requests_are_refused() {
    let s = Server::start(&[]);
    let (code, _, err) = s.aws_as("wrong", &["codebuild", "list-projects"]);
    assert_eq!(code, 255);
    assert!(err.contains("(InvalidSignatureException)"), "{err}");
    let (code, _, err) = s.aws_as("unknown", &["codebuild", "list-projects"]);
    assert_eq!(code, 255);
    assert!(err.contains("(UnrecognizedClientException)"), "{err}");
    let (code, _, err) = s.aws_as("test", &["codebuild", "list-projects", "--no-sign-request"]);
    assert_eq!(code, 255);
    assert!(err.contains("(MissingAuthenticationTokenException)"), "{err}");
    // And the good key still works after all that.
    assert_eq!(s.aws(&["codebuild", "list-projects"])["projects"], json!([]));
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn bad_input_gets_aws_errors_and_the_server_keeps_serving() {
    let s = Server::start(&[]);
    // Signed by botocore, with bodies and targets no SDK would send.
    let v = s.python(
        r#"
out = {}
out['malformed'] = send('CodeBuild_20161006.ListProjects', b'{not json')
out['unknown'] = send('CodeBuild_20161006.MakeCoffee', b'{}')
out['missing'] = send('CodeBuild_20161006.BatchGetBuilds', b'{}')
out['big'] = send('CodeBuild_20161006.ListProjects', b'{"x": "' + b'a' * (100 * 1024 * 1024) + b'"}')
out['after'] = send('CodeBuild_20161006.ListProjects', b'{}')
print(json.dumps(out))
"#,
    );
    assert_eq!(v["malformed"][0], 400);
    assert_eq!(v["malformed"][1]["__type"], "SerializationException");
    assert_eq!(v["unknown"][1]["__type"], "UnknownOperationException");
    assert_eq!(v["missing"][1]["__type"], "InvalidInputException");
    // The 100 MB body is refused (the server may close the connection while it is sent).
    assert!(v["big"][0] == 413 || v["big"][0] == 0, "{}", v["big"]);
    assert_eq!(v["after"], json!([200, {"projects": []}]));
}

fn interval(build: &Value) -> (f64, f64) {
    let phase = |name: &str| {
        build["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == name).cloned().unwrap()
    };
    (phase("PROVISIONING")["startTime"].as_f64().unwrap(), phase("FINALIZING")["endTime"].as_f64().unwrap())
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn fifty_builds_at_once_run_two_at_a_time() {
    let s = Server::start(&["--concurrency", "2"]);
    s.create_project("many", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 0.1\n", &[]);
    let v = s.python(
        r#"
ids = []
lock = threading.Lock()
def start():
    b = cb.start_build(projectName='many')['build']
    with lock:
        ids.append(b['id'])
threads = [threading.Thread(target=start) for _ in range(50)]
for t in threads: t.start()
for t in threads: t.join()
deadline = time.time() + 120
while True:
    builds = []
    for i in range(0, len(ids), 100):
        builds += cb.batch_get_builds(ids=ids[i:i+100])['builds']
    if all(b['buildComplete'] for b in builds) or time.time() > deadline:
        break
    time.sleep(0.2)
print(json.dumps([{'id': b['id'], 'status': b['buildStatus'], 'number': b['buildNumber'], 'phases': [{'phaseType': p['phaseType'], 'startTime': p['startTime'].timestamp(), 'endTime': p['endTime'].timestamp() if 'endTime' in p else None} for p in b['phases']]} for b in builds]))
"#,
    );
    let builds = v.as_array().unwrap();
    assert_eq!(builds.len(), 50, "none lost");
    assert!(builds.iter().all(|b| b["status"] == "SUCCEEDED"), "{v}");
    let mut numbers: Vec<u64> = builds.iter().map(|b| b["number"].as_u64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=50).collect::<Vec<_>>());
    // At no instant were more than two builds between provisioning and finalizing.
    let spans: Vec<(f64, f64)> = builds.iter().map(interval).collect();
    let most = spans
        .iter()
        .map(|(start, _)| spans.iter().filter(|(a, b)| a <= start && start < b).count())
        .max()
        .unwrap();
    assert!(most <= 2, "{most} builds ran at once");
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn stop_build_ends_a_running_build_quickly() {
    let s = Server::start(&[]);
    let pidfile = s.state.parent().unwrap().join("sleep.pid");
    s.create_project(
        "long",
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600 & echo $! > {} ; wait\n",
            pidfile.display()
        ),
        &[],
    );
    let id = s.aws(&["codebuild", "start-build", "--project-name", "long"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let end = Instant::now() + Duration::from_secs(20);
    while !(pidfile.exists() && std::fs::read_to_string(&pidfile).unwrap().trim().parse::<i32>().is_ok()) {
        assert!(Instant::now() < end, "the build did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert_eq!(s.build(&id)["currentPhase"], "BUILD");
    // The build sleeps a minute; StopBuild ends it long before (how fast is bench/'s to say).
    let v = s.python(&format!(
        r#"
t0 = time.time()
cb.stop_build(id={id:?})
while True:
    b = cb.batch_get_builds(ids=[{id:?}])['builds'][0]
    if b['buildComplete'] or time.time() - t0 > 45:
        break
    time.sleep(0.02)
print(json.dumps({{'status': b['buildStatus'], 'seconds': time.time() - t0}}))
"#
    ));
    assert_eq!(v["status"], "STOPPED", "{v}");
    let b = s.build(&id);
    let stopped_at = b["endTime"].as_f64().unwrap();
    let asked_at =
        b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "BUILD").unwrap()["startTime"]
            .as_f64()
            .unwrap();
    assert!(stopped_at > asked_at);
    let gone = Instant::now() + Duration::from_secs(3);
    while alive(pid) && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the build's process group is gone");

    // A queued build stops at once.
    let s1 = Server::start(&["--concurrency", "1"]);
    s1.create_project("qq", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 5\n", &[]);
    let first = s1.aws(&["codebuild", "start-build", "--project-name", "qq"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let queued = s1.aws(&["codebuild", "start-build", "--project-name", "qq"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stopped = s1.aws(&["codebuild", "stop-build", "--id", &queued]);
    assert_eq!(stopped["build"]["buildStatus"], "STOPPED", "{stopped}");
    assert_eq!(phases(&stopped["build"]), ["SUBMITTED=SUCCEEDED", "QUEUED=STOPPED", "COMPLETED=-"]);
    s1.aws(&["codebuild", "stop-build", "--id", &first]);
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn a_server_killed_mid_build_records_fault_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    let mut s = Server::start_in(dir.path(), &[]);
    s.create_project("pp", "version: 0.2\nphases:\n  build:\n    commands: [echo done]\n", &[]);
    let done = s.aws(&["codebuild", "start-build", "--project-name", "pp"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.wait(&done, Duration::from_secs(30));
    let long = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "pp",
        "--buildspec-override",
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 60 & echo $! > {} ; wait\n",
            pidfile.display()
        ),
    ])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let end = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&pidfile).is_ok_and(|t| t.trim().parse::<i32>().is_ok()) {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(50));
    }
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    // [noticed] The build's own processes outlive a server killed with SIGKILL; end this one.
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    drop(s);
    // The same state directory and credentials, a new server.
    let s = Server::start_in(dir.path(), &[]);
    let b = s.build(&long);
    assert_eq!(b["buildStatus"], "FAULT", "{b}");
    assert_eq!(b["buildComplete"], true);
    let build_phase =
        b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "BUILD").unwrap().clone();
    assert_eq!(build_phase["phaseStatus"], "FAULT");
    assert!(
        build_phase["contexts"][0]["message"].as_str().unwrap().contains("when runspec serve stopped"),
        "{b}"
    );
    assert_eq!(s.build(&done)["buildStatus"], "SUCCEEDED", "other records intact");
    assert_eq!(s.aws(&["codebuild", "list-projects"])["projects"], json!(["pp"]));
    // Build numbers carry on.
    let next = s.aws(&["codebuild", "start-build", "--project-name", "pp"]);
    assert_eq!(next["build"]["buildNumber"], 3);
    s.wait(next["build"]["id"].as_str().unwrap(), Duration::from_secs(30));
}

#[test]
#[ignore = "needs chromium and chromedriver: run scripts/test.sh"]
fn the_web_page_shows_a_live_log_and_stops_a_build() {
    let s = Server::start(&[]);
    s.create_project(
        "web",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - for i in $(seq 1 600); do echo line-$i; sleep 0.1; done\n",
        &[],
    );
    let id = s.aws(&["codebuild", "start-build", "--project-name", "web"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver");
    let script = format!(
        r#"
import urllib.request
base = 'http://127.0.0.1:{port}'
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={{'Content-Type': 'application/json'}})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())['value']
for _ in range(100):
    try:
        call('GET', '/status'); break
    except Exception:
        time.sleep(0.1)
caps = {{'capabilities': {{'alwaysMatch': {{'browserName': 'chrome', 'goog:chromeOptions': {{'binary': '/usr/bin/chromium', 'args': ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']}}}}}}}}
session = call('POST', '/session', caps)['sessionId']
S = '/session/' + session
def text(css):
    el = call('POST', S + '/element', {{'using': 'css selector', 'value': css}})
    return call('GET', S + '/element/' + list(el.values())[0] + '/text')
out = {{}}
try:
    call('POST', S + '/url', {{'url': {page:?}}})
    out['index'] = call('GET', S + '/source')
    call('POST', S + '/url', {{'url': {build_url:?}}})
    time.sleep(1.5)
    first = text('#log')
    time.sleep(1.5)
    second = text('#log')
    out['grew'] = [first.count('line-'), second.count('line-')]
    out['running_status'] = text('#status')
    el = call('POST', S + '/element', {{'using': 'css selector', 'value': '#stop'}})
    call('POST', S + '/element/' + list(el.values())[0] + '/click', {{}})
    deadline = time.time() + 10
    status = ''
    while time.time() < deadline:
        try:
            status = text('#status')
        except Exception:
            status = ''
        if status == 'STOPPED':
            break
        time.sleep(0.2)
    out['stopped_status'] = status
    # Without the cookie the page is closed.
    call('DELETE', S + '/cookie')
    call('POST', S + '/url', {{'url': {build_url:?}}})
    out['without_cookie'] = call('GET', S + '/source')
finally:
    call('DELETE', S)
print(json.dumps(out))
"#,
        page = s.page,
        build_url = format!("{}/builds/{}", s.url, id.replace(':', "%3A")),
    );
    let v = s.python(&script);
    let _ = driver.kill();
    let _ = driver.wait();
    assert!(v["index"].as_str().unwrap().contains("web #1"), "{v}");
    let grew = v["grew"].as_array().unwrap();
    assert!(grew[0].as_u64().unwrap() > 0 && grew[1].as_u64() > grew[0].as_u64(), "the log grows: {v}");
    assert_eq!(v["running_status"], "BUILD");
    assert_eq!(v["stopped_status"], "STOPPED", "{v}");
    assert!(v["without_cookie"].as_str().unwrap().contains("Open the address"), "{v}");
    assert_eq!(s.build(&id)["buildStatus"], "STOPPED");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn project_limits_and_queue_timeouts() {
    // A queue "minute" of 0.05 s: the shortest queue timeout CodeBuild takes (5) is 0.25 s.
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_env(dir.path(), &["--concurrency", "2"], &[("RUNSPEC_TEST_QUEUE_MINUTE", "0.05")]);
    s.create_project(
        "one",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 1.5\n",
        &["--concurrent-build-limit", "1"],
    );
    s.create_project("other", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 1.5\n", &[]);
    // Submitted together (boto3), so only the limits decide who waits.
    let v = s.python(
        r#"
ids = [cb.start_build(projectName=p)['build']['id'] for p in ['one', 'one', 'other']]
while True:
    builds = cb.batch_get_builds(ids=ids)['builds']
    if all(b['buildComplete'] for b in builds):
        break
    time.sleep(0.1)
by_id = {b['id']: b for b in builds}
def span(b):
    ph = {p['phaseType']: p for p in b['phases']}
    return [ph['PROVISIONING']['startTime'].timestamp(), ph['FINALIZING']['endTime'].timestamp()]
print(json.dumps([span(by_id[i]) for i in ids]))
"#,
    );
    let span = |i: usize| (v[i][0].as_f64().unwrap(), v[i][1].as_f64().unwrap());
    let (ia, ib, ic) = (span(0), span(1), span(2));
    // The project's two builds one after the other; the other project's beside them.
    assert!(ib.0 >= ia.1 - 0.01 || ia.0 >= ib.1 - 0.01, "{ia:?} {ib:?}");
    assert!(ic.0 < ia.1.max(ib.1) && ic.1 > ia.0.min(ib.0), "{ic:?} ran beside {ia:?} {ib:?}");

    // A build queued past its queuedTimeoutInMinutes ends TIMED_OUT without running.
    let v = s.python(
        r#"
busy = [cb.start_build(projectName='one')['build']['id']]
late = cb.start_build(projectName='one', queuedTimeoutInMinutesOverride=5)['build']['id']
deadline = time.time() + 20
while time.time() < deadline:
    b = cb.batch_get_builds(ids=[late])['builds'][0]
    if b['buildComplete']:
        break
    time.sleep(0.1)
print(json.dumps({'status': b['buildStatus'], 'phases': [[p['phaseType'], p.get('phaseStatus')] for p in b['phases']], 'context': b['phases'][1].get('contexts')}))
"#,
    );
    assert_eq!(v["status"], "TIMED_OUT", "{v}");
    assert_eq!(
        v["phases"],
        json!([["SUBMITTED", "SUCCEEDED"], ["QUEUED", "TIMED_OUT"], ["COMPLETED", null]])
    );
    assert_eq!(v["context"][0]["statusCode"], "BUILD_TIMED_OUT");
}

/// CodeBuild's auto-retry on one machine: a build that FAILED with `autoRetryLimit` left is
/// retried as a new build (as RetryBuild would), linked both ways; the retries stop at the limit
/// or at the first success; StartBuild's `autoRetryLimitOverride` wins; a manual RetryBuild is
/// not an auto-retry.
#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn failed_builds_are_auto_retried_up_to_the_limit() {
    let s = Server::start(&[]);
    // Fails until build number 3.
    s.create_project(
        "flaky",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$CODEBUILD_BUILD_NUMBER\" -ge 3\n",
        &["--auto-retry-limit", "5"],
    );
    let first = s.aws(&["codebuild", "start-build", "--project-name", "flaky"])["build"].clone();
    assert_eq!(first["autoRetryConfig"], json!({"autoRetryLimit": 5, "autoRetryNumber": 0}));
    let mut chain = vec![first["id"].as_str().unwrap().to_string()];
    let last = loop {
        let b = s.wait(chain.last().unwrap(), Duration::from_secs(30));
        match b["autoRetryConfig"]["nextAutoRetry"].as_str() {
            Some(next) => chain.push(next.to_string()),
            None => break b,
        }
    };
    assert_eq!(chain.len(), 3, "two failures, then a success: {chain:?}");
    assert_eq!(last["buildStatus"], "SUCCEEDED");
    let second = s.build(&chain[1]);
    assert_eq!(second["buildStatus"], "FAILED");
    assert_eq!(
        second["autoRetryConfig"],
        json!({"autoRetryLimit": 5, "autoRetryNumber": 1, "previousAutoRetry": chain[0], "nextAutoRetry": chain[2]})
    );
    assert_eq!(last["autoRetryConfig"]["autoRetryNumber"], 2);
    // The override caps it: one retry, both failed (numbers 4 and 5 pass, so make it fail).
    s.aws(&[
        "codebuild",
        "update-project",
        "--name",
        "flaky",
        "--source",
        &json!({"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 1\n"}).to_string(),
    ]);
    let id = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "flaky",
        "--auto-retry-limit-override",
        "1",
    ])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.wait(&id, Duration::from_secs(30));
    let retry = b["autoRetryConfig"]["nextAutoRetry"].as_str().unwrap().to_string();
    let r = s.wait(&retry, Duration::from_secs(30));
    assert_eq!(r["buildStatus"], "FAILED");
    assert_eq!(r["autoRetryConfig"]["autoRetryNumber"], 1);
    assert!(r["autoRetryConfig"].get("nextAutoRetry").is_none(), "the limit is reached: {r}");
    // A manual retry starts over.
    let manual = s.aws(&["codebuild", "retry-build", "--id", &retry])["build"].clone();
    assert_eq!(manual["autoRetryConfig"]["autoRetryNumber"], 0, "{manual}");
    assert!(manual["autoRetryConfig"].get("previousAutoRetry").is_none());
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn sigterm_stops_running_builds_and_they_stay_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let mut s = Server::start_in(dir.path(), &[]);
    s.create_project(
        "term",
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - touch {}\n      - sleep 600\n",
            marker.display()
        ),
        &[],
    );
    let id = s.aws(&["codebuild", "start-build", "--project-name", "term"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let end = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // The build sleeps ten minutes: the server ended long before it would have.
    assert!(t.elapsed() < Duration::from_secs(300), "{:?}", t.elapsed());
    drop(s);
    let s = Server::start_in(dir.path(), &[]);
    let b = s.build(&id);
    assert_eq!(b["buildStatus"], "STOPPED", "{b}");
}

#[test]
#[ignore = "needs the test services: run scripts/test.sh"]
fn s3_sources_and_following_a_log() {
    let moto = std::env::var("RUNSPEC_TEST_MOTO_URL").expect("needs moto: run scripts/test.sh");
    // The server reaches S3 through the standard chain, pointed at moto.
    let dir = tempfile::tempdir().unwrap();
    let aws_env = [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let s = {
        let state = dir.path().join("state");
        let creds = dir.path().join("credentials");
        std::fs::write(
            &creds,
            format!("[test]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runspec"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--host-image-allowed", "--state-dir"])
            .arg(&state)
            .arg("--credentials")
            .arg(&creds)
            .envs(aws_env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut url = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("runspec serve: listening on ") {
                url = u.to_string();
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Server { child, url, page: String::new(), state, _dir: None, creds }
    };
    let v = s.python(&format!(
        r#"
import io, zipfile
s3 = boto3.client('s3', endpoint_url={moto:?}, aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1')
s3.create_bucket(Bucket='sources')
buf = io.BytesIO()
with zipfile.ZipFile(buf, 'w') as z:
    z.writestr('buildspec.yml', 'version: 0.2\nphases:\n  build:\n    commands:\n      - cat hello.txt\n      - for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done\n')
    z.writestr('hello.txt', 'from the zip\n')
s3.put_object(Bucket='sources', Key='app/src.zip', Body=buf.getvalue())
cb.create_project(name='zip', source={{'type': 'S3', 'location': 'sources/app/src.zip'}}, artifacts={{'type': 'NO_ARTIFACTS'}},
                  environment={{'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'}}, serviceRole='r')
b = cb.start_build(projectName='zip')['build']
# Follow the log as `aws logs tail --follow` does: forward tokens until the build is over.
seen, token, polls = [], None, 0
while True:
    args = dict(logGroupName='/aws/codebuild/zip', logStreamName=b['logs']['streamName'], startFromHead=True)
    if token: args['nextToken'] = token
    r = logs.get_log_events(**args)
    seen += [e['message'] for e in r['events']]
    polls += 1
    done = cb.batch_get_builds(ids=[b['id']])['builds'][0]
    if done['buildComplete'] and r['nextForwardToken'] == token:
        break
    token = r['nextForwardToken']
    time.sleep(0.1)
print(json.dumps({{'status': done['buildStatus'], 'seen': seen, 'polls': polls}}))
"#
    ));
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    let seen: Vec<&str> = v["seen"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(seen.contains(&"from the zip"), "{seen:?}");
    let ticks: Vec<&&str> = seen.iter().filter(|l| l.starts_with("tick-")).collect();
    assert_eq!(ticks, [&"tick-1", &"tick-2", &"tick-3", &"tick-4", &"tick-5"], "each line once, in order");
    assert!(v["polls"].as_u64().unwrap() > 3, "it was read while it ran");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn local_and_secondary_sources() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let s = Server::start_in(&root, &["--local-sources", root.to_str().unwrap()]);
    let (main, lib) = (root.join("main"), root.join("lib"));
    std::fs::create_dir_all(&main).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(main.join("buildspec.yml"), "version: 0.2\nphases:\n  build:\n    commands:\n      - cat main.txt \"$CODEBUILD_SRC_DIR_lib/lib.txt\"\n      - echo changed > main.txt\n").unwrap();
    std::fs::write(main.join("main.txt"), "main\n").unwrap();
    std::fs::write(lib.join("lib.txt"), "lib\n").unwrap();
    let source = json!({"type": "LOCAL", "location": main.display().to_string()}).to_string();
    s.create_project_from("local", &source, &[]);
    let secondary =
        json!([{"type": "LOCAL", "location": lib.display().to_string(), "sourceIdentifier": "lib"}])
            .to_string();
    let id = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "local",
        "--secondary-sources-override",
        &secondary,
    ])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.wait(&id, Duration::from_secs(30));
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{b}");
    let log = s.log(&b);
    assert!(log.iter().any(|l| l == "main") && log.iter().any(|l| l == "lib"), "{log:?}");
    assert_eq!(
        std::fs::read_to_string(main.join("main.txt")).unwrap(),
        "main\n",
        "a LOCAL source is copied, never changed"
    );
    // Outside --local-sources, or the state directory (its keys, its database, other builds'
    // logs), or a directory holding it: refused up front.
    for refused in [
        "/nonexistent/lib".to_string(),
        s.state.display().to_string(),
        s.state.join("logs").display().to_string(),
        root.display().to_string(),
    ] {
        let over = json!([{"type": "LOCAL", "location": refused, "sourceIdentifier": "lib"}]).to_string();
        let (code, _, err) = s.aws_as(
            "test",
            &["codebuild", "start-build", "--project-name", "local", "--secondary-sources-override", &over],
        );
        assert_eq!(code, 255, "{refused}");
        assert!(err.contains("(InvalidInputException)"), "{refused}: {err}");
    }
    // A LOCAL directory that is not there (yet) fails DOWNLOAD_SOURCE.
    let gone = json!([{"type": "LOCAL", "location": root.join("gone/lib").display().to_string(), "sourceIdentifier": "lib"}])
        .to_string();
    let id = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "local",
        "--secondary-sources-override",
        &gone,
    ])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.wait(&id, Duration::from_secs(30));
    let ds =
        b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "DOWNLOAD_SOURCE").unwrap().clone();
    assert_eq!(ds["phaseStatus"], "FAILED");
    assert!(ds["contexts"][0]["message"].as_str().unwrap().contains("secondary source lib"), "{ds}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn a_phases_times_never_change_once_written() {
    // Issue 21: a LOCAL source's copy showed as DOWNLOAD_SOURCE while the build ran and moved to
    // PROVISIONING once it ended.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let s = Server::start_in(&root, &["--local-sources", root.to_str().unwrap()]);
    let main = root.join("main");
    for i in 0..40 {
        let d = main.join(format!("d{i}"));
        std::fs::create_dir_all(&d).unwrap();
        for j in 0..100 {
            std::fs::write(d.join(format!("f{j}.txt")), "x".repeat(1000)).unwrap();
        }
    }
    let go = root.join("go");
    std::fs::write(
        main.join("buildspec.yml"),
        format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - while [ ! -e {} ]; do sleep 0.1; done\n",
            go.display()
        ),
    )
    .unwrap();
    let source = json!({"type": "LOCAL", "location": main.display().to_string()}).to_string();
    s.create_project_from("big", &source, &[]);
    let id = s.aws(&["codebuild", "start-build", "--project-name", "big"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let end = Instant::now() + Duration::from_secs(60);
    let running = loop {
        let b = s.build(&id);
        if b["currentPhase"] == "BUILD" {
            break b;
        }
        assert!(Instant::now() < end && b["buildComplete"] == false, "never reached BUILD: {b}");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::fs::write(&go, "").unwrap();
    let done = s.wait(&id, Duration::from_secs(60));
    assert_eq!(done["buildStatus"], "SUCCEEDED", "{done}");
    let times = |b: &Value, kind: &str| {
        let p = b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == kind).unwrap().clone();
        (p["startTime"].clone(), p["endTime"].clone())
    };
    for kind in ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD"] {
        assert_eq!(times(&running, kind), times(&done, kind), "{kind} changed:\n{running}\n{done}");
    }
    assert_eq!(times(&running, "BUILD").0, times(&done, "BUILD").0);
    assert_eq!(times(&done, "PROVISIONING").1, times(&done, "DOWNLOAD_SOURCE").0, "{done}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn run_and_serve_word_a_missing_buildspec_alike() {
    // R-FILE-02; issue 21: they worded it differently.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let s = Server::start_in(&root, &["--local-sources", root.to_str().unwrap()]);
    let main = root.join("main");
    std::fs::create_dir_all(&main).unwrap();
    std::fs::write(main.join("README"), "no buildspec here\n").unwrap();
    let source = json!({"type": "LOCAL", "location": main.display().to_string()}).to_string();
    s.create_project_from("nobuildspec", &source, &[]);
    let agent_text = |l: &str| match l.strip_prefix("[Container] ") {
        Some(rest) => rest.get(27..).unwrap_or("").to_string(),
        None => l.to_string(),
    };
    // The context message and the `YAML location` line, with the source directory as $SRC.
    let seen = |lines: &[String], context: &Value| {
        let src = lines.iter().find_map(|l| l.strip_prefix("CODEBUILD_SRC_DIR=")).unwrap().to_string();
        let location =
            lines.iter().find(|l| l.starts_with("YAML location is ")).unwrap().replace(&src, "$SRC");
        let message =
            format!("{}: {}", context["statusCode"].as_str().unwrap(), context["message"].as_str().unwrap());
        (location, message.replace(&src, "$SRC"))
    };
    for over in [None, Some("ci/missing.yml")] {
        let mut args = vec!["codebuild", "start-build", "--project-name", "nobuildspec"];
        args.extend(over.iter().flat_map(|o| ["--buildspec-override", *o]));
        let id = s.aws(&args)["build"]["id"].as_str().unwrap().to_string();
        let b = s.wait(&id, Duration::from_secs(30));
        let ds = b["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phaseType"] == "DOWNLOAD_SOURCE")
            .unwrap()
            .clone();
        assert_eq!(ds["phaseStatus"], "FAILED", "{b}");
        let lines: Vec<String> = s.log(&b).iter().map(|l| agent_text(l)).collect();
        let served = seen(&lines, &ds["contexts"][0]);

        // `-b` as a path relative to the source, and as the absolute path of the same file.
        let given: Vec<Option<String>> = match over {
            None => vec![None],
            Some(o) => vec![Some(o.to_string()), Some(main.join(o).display().to_string())],
        };
        let mut ran = None;
        for b in given {
            let result = root.join("result.json");
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runspec"));
            cmd.args(["run", "--source", main.to_str().unwrap(), "--result", result.to_str().unwrap()])
                .env("RUNSPEC_STATE_DIR", root.join("cli-state"))
                .current_dir(&main);
            cmd.args(b.iter().flat_map(|b| ["-b", b.as_str()]));
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<String> = stdout.lines().map(agent_text).collect();
            let record: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
            let ds = record["phases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["phaseType"] == "DOWNLOAD_SOURCE")
                .unwrap()
                .clone();
            let this = seen(&lines, &ds["contexts"][0]);
            assert_eq!(served, this, "-b {b:?}");
            ran = Some(this);
        }
        let ran = ran.unwrap();
        let expected = match over {
            None => "YAML_FILE_ERROR: YAML file does not exist".to_string(),
            Some(o) => format!("YAML_FILE_ERROR: stat $SRC/{o}: no such file or directory"),
        };
        assert_eq!(ran.1, expected);
    }
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn the_rust_sdk_drives_a_build() {
    use aws_sdk_codebuild::types::{
        ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment, ProjectSource,
        SourceType, StatusType,
    };
    let s = Server::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let config = aws_sdk_codebuild::Config::builder()
            .behavior_version(aws_sdk_codebuild::config::BehaviorVersion::latest())
            .region(aws_sdk_codebuild::config::Region::new("us-east-1"))
            .endpoint_url(&s.url)
            .credentials_provider(aws_sdk_codebuild::config::Credentials::new(
                KEY_ID, SECRET, None, None, "test",
            ))
            .build();
        let cb = aws_sdk_codebuild::Client::from_conf(config);
        cb.create_project()
            .name("sdk")
            .service_role("r")
            .source(
                ProjectSource::builder()
                    .r#type(SourceType::NoSource)
                    .buildspec("version: 0.2\nphases:\n  build:\n    commands:\n      - echo from-sdk\n")
                    .build()
                    .unwrap(),
            )
            .artifacts(ProjectArtifacts::builder().r#type(ArtifactsType::NoArtifacts).build().unwrap())
            .environment(
                ProjectEnvironment::builder()
                    .r#type(EnvironmentType::LinuxContainer)
                    .image("runspec/host")
                    .compute_type(ComputeType::BuildGeneral1Small)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let started = cb.start_build().project_name("sdk").send().await.unwrap();
        let build = started.build_value().unwrap();
        assert_eq!(build.build_number(), Some(1));
        assert!(build.start_time().is_some(), "epoch seconds parse as a DateTime");
        let id = build.id().unwrap().to_string();
        let end = Instant::now() + Duration::from_secs(30);
        let done = loop {
            let got = cb.batch_get_builds().ids(&id).send().await.unwrap();
            let b = got.builds()[0].clone();
            if b.build_complete() {
                break b;
            }
            assert!(Instant::now() < end);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(done.build_status(), Some(&StatusType::Succeeded));
        let phases: Vec<String> =
            done.phases().iter().map(|p| p.phase_type().unwrap().as_str().to_string()).collect();
        assert_eq!(phases.first().map(String::as_str), Some("SUBMITTED"));
        assert_eq!(phases.last().map(String::as_str), Some("COMPLETED"));
        assert!(done.end_time().unwrap().secs() >= done.start_time().unwrap().secs());
        // An AWS error, typed.
        let err = cb.start_build().project_name("missing").send().await.unwrap_err();
        assert!(err.into_service_error().is_resource_not_found_exception());
    });
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn a_projects_image_runs_the_build_in_docker() {
    let image = std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect("needs docker: run scripts/test.sh");
    let s = Server::start(&[]);
    let source = json!({"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - test -f /bin/busybox && echo in-busybox\n      - echo \"src=$CODEBUILD_SRC_DIR image=$CODEBUILD_BUILD_IMAGE\"\n"}).to_string();
    let environment = format!("type=LINUX_CONTAINER,image={image},computeType=BUILD_GENERAL1_SMALL");
    s.aws(&[
        "codebuild",
        "create-project",
        "--name",
        "boxed",
        "--source",
        &source,
        "--artifacts",
        "type=NO_ARTIFACTS",
        "--environment",
        &environment,
        "--service-role",
        "r",
    ]);
    let id = s.aws(&["codebuild", "start-build", "--project-name", "boxed"])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.wait(&id, Duration::from_secs(60));
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{b}\n{:?}", s.log(&b));
    let log = s.log(&b);
    assert!(log.iter().any(|l| l == "in-busybox"), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with("src=/codebuild/output/src") && l.ends_with(&format!("image={image}"))),
        "{log:?}"
    );
    assert_eq!(b["environment"]["image"], image.as_str());
    // An image that does not exist fails PROVISIONING, as on CodeBuild.
    let id = s.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "boxed",
        "--image-override",
        "runspec-test:no-such-image",
    ])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.wait(&id, Duration::from_secs(60));
    assert_eq!(b["buildStatus"], "FAILED");
    assert!(phases(&b).contains(&"PROVISIONING=FAILED".to_string()), "{b}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn batch_builds_through_the_api() {
    let s = Server::start(&["--concurrency", "4"]);
    let marker = s.state.parent().unwrap().join("fail-left");
    std::fs::write(&marker, "").unwrap();
    s.create_project(
        "graph",
        &format!(
            "version: 0.2\nbatch:\n  build-graph:\n    - identifier: first\n    - identifier: left\n      depend-on: [first]\n      env:\n        variables: {{SIDE: left}}\n    - identifier: right\n      depend-on: [first]\n    - identifier: last\n      depend-on: [left, right]\nphases:\n  build:\n    commands:\n      - echo \"child $CODEBUILD_BATCH_BUILD_IDENTIFIER\"\n      - 'if [ \"$SIDE\" = left ] && [ -f {} ]; then exit 1; fi'\n",
            marker.display()
        ),
        &[],
    );
    let v = s.python(
        r#"
def wait(bid):
    while True:
        b = cb.batch_get_build_batches(ids=[bid])['buildBatches'][0]
        if b['complete']:
            return b
        time.sleep(0.1)
def summary(b):
    return {g['identifier']: g['currentBuildSummary']['buildStatus'] for g in b['buildGroups']}
first = cb.start_build_batch(projectName='graph')['buildBatch']
b = wait(first['id'])
out = {'first_status': b['buildBatchStatus'], 'first_groups': summary(b), 'phases': [p['phaseType'] for p in b['phases']]}
arns = [g['currentBuildSummary']['arn'] for g in b['buildGroups'] if 'arn' in g['currentBuildSummary'] and g['identifier'] != 'DOWNLOAD_SOURCE']
children = cb.batch_get_builds(ids=[a.split(':build/')[1] for a in arns])['builds']
out['children_batch_arns'] = sorted(set(c['buildBatchArn'] for c in children))
out['batch_arn'] = b['arn']
import os
os.remove(sys.argv[1] if len(sys.argv) > 1 else MARKER)
r = cb.retry_build_batch(id=b['id'], retryType='RETRY_FAILED_BUILDS')['buildBatch']
b2 = wait(b['id'])
out['retry_status'] = b2['buildBatchStatus']
out['retry_groups'] = summary(b2)
out['prior'] = {g['identifier']: len(g.get('priorBuildSummaryList', [])) for g in b2['buildGroups']}
# A running batch stopped.
cb.create_project(name='slowbatch', source={'type': 'NO_SOURCE', 'buildspec': 'version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n    - identifier: b\nphases:\n  build:\n    commands:\n      - sleep 30\n'},
                  artifacts={'type': 'NO_ARTIFACTS'}, environment={'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'}, serviceRole='r')
slow = cb.start_build_batch(projectName='slowbatch')['buildBatch']
while True:
    g = summary(cb.batch_get_build_batches(ids=[slow['id']])['buildBatches'][0])
    if g.get('a') == 'IN_PROGRESS' and g.get('b') == 'IN_PROGRESS':
        break
    time.sleep(0.1)
t0 = time.time()
cb.stop_build_batch(id=slow['id'])
sb = wait(slow['id'])
out['stopped'] = [sb['buildBatchStatus'], summary(sb), round(time.time() - t0, 1)]
import urllib.request, http.cookiejar, urllib.parse
jar = http.cookiejar.CookieJar()
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
web.open(PAGE).read()
out['page'] = web.open(cb.meta.endpoint_url + '/batches/' + urllib.parse.quote(b['id'], safe='')).read().decode()
out['listed'] = cb.list_build_batches()['ids']
out['for_project'] = cb.list_build_batches_for_project(projectName='graph')['ids']
d = cb.delete_build_batch(id=slow['id'])
out['deleted'] = [d['statusCode'], len(d['buildsDeleted'])]
out['after_delete'] = cb.list_build_batches()['ids']
print(json.dumps(out))
"#
        .replace("MARKER", &format!("{:?}", marker.display().to_string()))
        .replace("PAGE", &format!("{:?}", s.page))
        .as_str(),
    );
    assert_eq!(v["first_status"], "FAILED", "{v}");
    assert_eq!(v["first_groups"]["left"], "FAILED");
    assert_eq!(v["first_groups"]["right"], "SUCCEEDED");
    assert_eq!(v["first_groups"]["last"], "STOPPED", "a dependent of a failed task never runs");
    assert_eq!(v["phases"], serde_json::json!(["SUBMITTED", "DOWNLOAD_BATCHSPEC", "IN_PROGRESS", "FAILED"]));
    assert_eq!(v["children_batch_arns"], serde_json::json!([v["batch_arn"]]));
    assert_eq!(v["retry_status"], "SUCCEEDED", "{v}");
    assert_eq!(v["retry_groups"]["last"], "SUCCEEDED");
    assert_eq!(v["prior"]["left"], 1, "the failed attempt is kept: {v}");
    assert_eq!(v["prior"]["first"], 0, "succeeded builds are not run again");
    assert_eq!(v["stopped"][0], "STOPPED", "{v}");
    assert_eq!(v["stopped"][1]["a"], "STOPPED");

    assert_eq!(v["listed"].as_array().unwrap().len(), 2);
    assert_eq!(v["for_project"].as_array().unwrap().len(), 1);
    assert_eq!(v["deleted"], serde_json::json!(["BATCH_DELETED", 2]));
    assert_eq!(v["after_delete"].as_array().unwrap().len(), 1);
    // The page draws the graph: a column per depth, first → left/right → last.
    let page = v["page"].as_str().unwrap();
    assert_eq!(page.matches("class=\"child\"").count(), 4, "{page}");
    let at = |id: &str| page.find(&format!(">{id}</a>")).unwrap_or_else(|| panic!("{id} in {page}"));
    assert!(at("first") < at("left") && at("left") < at("last") && at("right") < at("last"));
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn aws_credentials_reach_builds_only_when_asked_and_stay_masked() {
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$AWS_ACCESS_KEY_ID\" = AKIDSERVERKEY12345 && echo has-key || echo no-key\n      - echo \"secret=$AWS_SECRET_ACCESS_KEY\"\n";
    let envs = [
        ("AWS_ACCESS_KEY_ID", "AKIDSERVERKEY12345"),
        ("AWS_SECRET_ACCESS_KEY", "server-secret-value-987"),
        ("AWS_REGION", "us-east-1"),
    ];
    for (flag, expect) in [(true, "has-key"), (false, "no-key")] {
        let dir = tempfile::tempdir().unwrap();
        let extra: &[&str] = if flag { &["--aws-credentials"] } else { &[] };
        let s = Server::start_env(dir.path(), extra, &envs);
        s.create_project("creds", spec, &[]);
        let id = s.aws(&["codebuild", "start-build", "--project-name", "creds"])["build"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let b = s.wait(&id, Duration::from_secs(30));
        let log = s.log(&b);
        assert!(log.iter().any(|l| l == expect), "{flag}: {log:?}");
        assert!(!log.iter().any(|l| l.contains("server-secret-value-987")), "never in the log: {log:?}");
        if flag {
            assert!(log.iter().any(|l| l == "secret=***"), "{log:?}");
        }
        assert!(!b.to_string().contains("server-secret-value-987"), "never in the API: {b}");
    }
}
