//! The pipeline API of `runspec serve` through the AWS CLI: CreatePipeline … PutApprovalResult,
//! an execution whose sources come from the repository the operator named, whose builds go
//! through the service's queue (one at a time under `--concurrency 1`, among the server's
//! builds), whose approval waits for PutApprovalResult, and the web page of the pipeline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::Server;

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository with `files` committed on `main`; its HEAD commit.
fn repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    sh(
        dir,
        "git init -q -b main && git config user.email dev@example.com && git config user.name Dev && git add -A && git commit -qm 'Add the app' && git rev-parse HEAD",
    )
}

fn action(name: &str, category: &str, provider: &str, config: Value) -> Value {
    json!({"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
           "configuration": config, "runOrder": 1})
}

fn source() -> Value {
    let mut s =
        action("Source", "Source", "CodeCommit", json!({"RepositoryName": "app", "BranchName": "main"}));
    s["outputArtifacts"] = json!([{"name": "Src"}]);
    s
}

fn approval() -> Value {
    action("Approve", "Approval", "Manual", json!({"CustomData": "ship it?"}))
}

/// Writes `{"pipeline": …}` for `--cli-input-json`.
fn input_file(dir: &Path, pipeline: &Value) -> String {
    let file = dir.join(format!("{}.json", pipeline["name"].as_str().unwrap()));
    std::fs::write(&file, json!({"pipeline": pipeline}).to_string()).unwrap();
    format!("file://{}", file.display())
}

/// An AWS CLI call expected to fail: its error's code (from stderr).
fn fails(s: &Server, args: &[&str]) -> String {
    let (code, _, err) = s.aws_as("test", args);
    assert_ne!(code, 0, "aws {args:?} should fail");
    err
}

/// A path segment as the web page writes it (every character but letters and digits escaped).
fn encoded(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Polls `get` until `done` holds of what it answers (a deadline only against hangs).
fn until(what: &str, mut get: impl FnMut() -> Value, done: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(180);
    loop {
        let v = get();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < end, "{what}: {v:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn state(s: &Server, name: &str) -> Value {
    s.aws(&["codepipeline", "get-pipeline-state", "--name", name])
}

/// The latest execution of `stage/action` in a GetPipelineState answer.
fn latest<'a>(state: &'a Value, stage: &str, action: &str) -> &'a Value {
    let stage = state["stageStates"].as_array().unwrap().iter().find(|s| s["stageName"] == stage).unwrap();
    let a = stage["actionStates"].as_array().unwrap().iter().find(|a| a["actionName"] == action).unwrap();
    &a["latestExecution"]
}

fn execution(s: &Server, name: &str, id: &str) -> Value {
    s.aws(&["codepipeline", "get-pipeline-execution", "--pipeline-name", name, "--pipeline-execution-id", id])
        ["pipelineExecution"]
        .clone()
}

fn start(s: &Server, name: &str) -> String {
    s.aws(&["codepipeline", "start-pipeline-execution", "--name", name])["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The approval token of `stage/Approve` once it waits.
fn token(s: &Server, name: &str, stage: &str) -> String {
    let st =
        until("the approval waits", || state(s, name), |v| latest(v, stage, "Approve")["token"].is_string());
    latest(&st, stage, "Approve")["token"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn a_pipeline_runs_on_the_service_through_the_aws_cli() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("app");
    let buildspec = "version: 0.2\nenv:\n  exported-variables: [TAG]\nphases:\n  build:\n    commands:\n      - export TAG=v$(cat version.txt)\n      - echo \"built $CODEBUILD_RESOLVED_SOURCE_VERSION as ${ROLE:-build}\" > out.txt\n      - sleep 1\nartifacts:\n  files: [out.txt]\n";
    let commit = repo(&repo_dir, &[("buildspec.yml", buildspec), ("version.txt", "7\n")]);
    let s = Server::start_in(
        dir.path(),
        &["--concurrency", "1", "--pipeline-source", &format!("app={}", repo_dir.display())],
    );
    s.aws(&[
        "codebuild",
        "create-project",
        "--name",
        "app",
        "--source",
        "type=CODEPIPELINE",
        "--artifacts",
        "type=CODEPIPELINE",
        "--environment",
        "type=LINUX_CONTAINER,image=runspec/host,computeType=BUILD_GENERAL1_SMALL",
        "--service-role",
        "arn:aws:iam::000000000000:role/build",
    ]);
    // A project that takes its source from CodePipeline builds only in a pipeline.
    let err = fails(&s, &["codebuild", "start-build", "--project-name", "app"]);
    assert!(err.contains("InvalidInputException") && err.contains("CODEPIPELINE"), "{err}");

    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "app"}));
    build["inputArtifacts"] = json!([{"name": "Src"}]);
    build["outputArtifacts"] = json!([{"name": "Built"}]);
    build["namespace"] = json!("BuildVariables");
    let mut test = action(
        "Test",
        "Test",
        "CodeBuild",
        json!({"ProjectName": "app", "EnvironmentVariables": "[{\"name\":\"ROLE\",\"value\":\"test\",\"type\":\"PLAINTEXT\"}]"}),
    );
    test["inputArtifacts"] = json!([{"name": "Src"}]);
    let mut release = action("Release", "Build", "Commands", json!({}));
    release["commands"] = json!([
        format!("test \"$(cat out.txt)\" = 'built {commit} as build'"),
        "echo released #{BuildVariables.TAG}"
    ]);
    release["inputArtifacts"] = json!([{"name": "Built"}]);
    let pipeline = json!({
        "name": "shop", "pipelineType": "V2", "executionMode": "QUEUED",
        "roleArn": "arn:aws:iam::000000000000:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [
            {"name": "Source", "actions": [source()]},
            {"name": "Build", "actions": [build, test]},
            {"name": "Gate", "actions": [approval()]},
            {"name": "Release", "actions": [release]}
        ]
    });
    let created =
        s.aws(&["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &pipeline)]);
    assert_eq!(created["pipeline"]["version"], 1);
    let err = fails(
        &s,
        &["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &pipeline)],
    );
    assert!(err.contains("PipelineNameInUseException"), "{err}");
    let updated =
        s.aws(&["codepipeline", "update-pipeline", "--cli-input-json", &input_file(dir.path(), &pipeline)]);
    assert_eq!(updated["pipeline"]["version"], 2);
    let got = s.aws(&["codepipeline", "get-pipeline", "--name", "shop"]);
    assert_eq!(got["metadata"]["pipelineArn"], "arn:aws:codepipeline:us-east-1:000000000000:shop");
    assert_eq!(got["pipeline"]["stages"][1]["actions"][1]["name"], "Test");
    let listed = s.aws(&["codepipeline", "list-pipelines"]);
    assert_eq!(listed["pipelines"][0]["name"], "shop");
    assert_eq!(listed["pipelines"][0]["pipelineType"], "V2");

    // A broken definition is refused with what is wrong and where.
    let mut broken = pipeline.clone();
    broken["name"] = json!("broken");
    broken["stages"][3]["actions"][0]["inputArtifacts"] = json!([{"name": "Nowhere"}]);
    let err =
        fails(&s, &["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &broken)]);
    assert!(err.contains("InvalidStructureException") && err.contains("stages[3].actions[0]"), "{err}");
    assert!(err.contains("Nowhere"), "{err}");

    let id = start(&s, "shop");
    let token = token(&s, "shop", "Gate");
    let st = state(&s, "shop");
    assert_eq!(latest(&st, "Build", "Build")["status"], "Succeeded");
    let build_id = latest(&st, "Build", "Build")["externalExecutionId"].as_str().unwrap().to_string();
    let test_id = latest(&st, "Build", "Test")["externalExecutionId"].as_str().unwrap().to_string();
    // The builds are the service's own: queued one at a time under --concurrency 1, started
    // by the pipeline, at the source's commit.
    let builds = s.aws(&["codebuild", "batch-get-builds", "--ids", &build_id, &test_id])["builds"].clone();
    let b: Vec<&Value> = builds.as_array().unwrap().iter().collect();
    assert_eq!(b.len(), 2, "{builds:#}");
    for one in &b {
        assert_eq!(one["buildStatus"], "SUCCEEDED", "{one:#}");
        assert_eq!(one["initiator"], "codepipeline/shop");
        assert_eq!(one["sourceVersion"], commit.as_str());
    }
    // From leaving the queue (PROVISIONING) to the end.
    let interval = |b: &Value| {
        let phase = |name: &str| {
            b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == name).cloned().unwrap()
        };
        (phase("PROVISIONING")["startTime"].as_f64().unwrap(), b["endTime"].as_f64().unwrap())
    };
    let (first, second) = (interval(b[0]), interval(b[1]));
    assert!(first.1 <= second.0 || second.1 <= first.0, "the two builds ran at once: {first:?} {second:?}");
    let log = s.log(b[1]);
    assert!(log.iter().any(|l| l.contains("export TAG=v")), "{log:?}");

    let actions = s.aws(&[
        "codepipeline",
        "list-action-executions",
        "--pipeline-name",
        "shop",
        "--filter",
        &format!("pipelineExecutionId={id}"),
    ]);
    let detail = |name: &str| {
        actions["actionExecutionDetails"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["actionName"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(detail("Build")["output"]["outputVariables"]["TAG"], "v7");
    assert_eq!(detail("Build")["output"]["executionResult"]["externalExecutionId"], build_id.as_str());
    assert_eq!(detail("Source")["output"]["outputVariables"]["CommitId"], commit.as_str());
    assert_eq!(detail("Approve")["status"], "InProgress");

    let err = fails(
        &s,
        &[
            "codepipeline",
            "put-approval-result",
            "--pipeline-name",
            "shop",
            "--stage-name",
            "Gate",
            "--action-name",
            "Approve",
            "--result",
            "summary=ok,status=Approved",
            "--token",
            "00000000-0000-0000-0000-000000000000",
        ],
    );
    assert!(err.contains("InvalidApprovalTokenException"), "{err}");
    let approved = s.aws(&[
        "codepipeline",
        "put-approval-result",
        "--pipeline-name",
        "shop",
        "--stage-name",
        "Gate",
        "--action-name",
        "Approve",
        "--result",
        "summary=looks good,status=Approved",
        "--token",
        &token,
    ]);
    assert!(approved["approvedAt"].is_number(), "{approved}");
    let done = until("the execution ends", || execution(&s, "shop", &id), |e| e["status"] != "InProgress");
    assert_eq!(done["status"], "Succeeded", "{done:#}");
    assert_eq!(done["pipelineVersion"], 2);
    assert_eq!(done["trigger"]["triggerType"], "StartPipelineExecution");
    assert_eq!(done["artifactRevisions"][0]["revisionId"], commit.as_str());
    let st = state(&s, "shop");
    assert_eq!(latest(&st, "Gate", "Approve")["summary"], "Approved: looks good");
    assert_eq!(latest(&st, "Release", "Release")["status"], "Succeeded");
    let summaries = s.aws(&["codepipeline", "list-pipeline-executions", "--pipeline-name", "shop"]);
    assert_eq!(summaries["pipelineExecutionSummaries"][0]["pipelineExecutionId"], id.as_str());
    assert_eq!(summaries["pipelineExecutionSummaries"][0]["status"], "Succeeded");

    // The web page: the pipeline on the first page, its stages with links to their builds.
    let pages = s.python(&format!(
        r#"
import urllib.request, http.cookiejar
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
index = opener.open({page:?}, timeout=60).read().decode()
pipeline = opener.open({url:?} + '/pipelines/shop', timeout=60).read().decode()
print(json.dumps({{'index': index, 'pipeline': pipeline}}))
"#,
        page = s.page,
        url = s.url,
    ));
    let index = pages["index"].as_str().unwrap();
    assert!(index.contains("href=\"/pipelines/shop\""), "{index}");
    let page = pages["pipeline"].as_str().unwrap();
    for needle in
        ["Source", "Build", "Gate", "Release", "Succeeded", &format!("/builds/{}", encoded(&build_id))]
    {
        assert!(page.contains(needle), "{needle} not on the page: {page}");
    }
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn executions_stop_are_rejected_and_refuse_what_the_server_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("app");
    let first = repo(&repo_dir, &[("README", "app\n")]);
    sh(&repo_dir, "echo more >> README && git commit -qam 'More'");
    let s = Server::start_in(dir.path(), &["--pipeline-source", &format!("app={}", repo_dir.display())]);
    let pipeline = json!({
        "name": "gate", "pipelineType": "V2",
        "roleArn": "arn:aws:iam::000000000000:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "variables": [{"name": "Env"}],
        "stages": [
            {"name": "Source", "actions": [source()]},
            {"name": "Gate", "actions": [approval()]}
        ]
    });
    s.aws(&["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &pipeline)]);
    // A variable without a default must be given.
    let err = fails(&s, &["codepipeline", "start-pipeline-execution", "--name", "gate"]);
    assert!(err.contains("ValidationException") && err.contains("Env"), "{err}");
    let with_env =
        ["codepipeline", "start-pipeline-execution", "--name", "gate", "--variables", "name=Env,value=dev"];
    // A revision that would be an option never reaches git.
    let mut bad = with_env.to_vec();
    bad.extend([
        "--source-revisions",
        "actionName=Source,revisionType=COMMIT_ID,revisionValue=--upload-pack=touch",
    ]);
    let err = fails(&s, &bad);
    assert!(err.contains("ValidationException"), "{err}");

    // Stopped while its approval waits.
    let id = s.aws(&with_env)["pipelineExecutionId"].as_str().unwrap().to_string();
    token(&s, "gate", "Gate");
    let stopped = s.aws(&[
        "codepipeline",
        "stop-pipeline-execution",
        "--pipeline-name",
        "gate",
        "--pipeline-execution-id",
        &id,
        "--reason",
        "not today",
    ]);
    assert_eq!(stopped["pipelineExecutionId"], id.as_str());
    let ended = until(
        "the execution stops",
        || execution(&s, "gate", &id),
        |e| !matches!(e["status"].as_str(), Some("InProgress" | "Stopping")),
    );
    assert_eq!(ended["status"], "Stopped", "{ended:#}");
    let err = fails(
        &s,
        &[
            "codepipeline",
            "stop-pipeline-execution",
            "--pipeline-name",
            "gate",
            "--pipeline-execution-id",
            &id,
        ],
    );
    assert!(err.contains("PipelineExecutionNotStoppableException"), "{err}");
    let listed = s.aws(&["codepipeline", "list-pipeline-executions", "--pipeline-name", "gate"]);
    assert_eq!(listed["pipelineExecutionSummaries"][0]["stopTrigger"]["reason"], "not today");
    let actions = s.aws(&["codepipeline", "list-action-executions", "--pipeline-name", "gate"]);
    let approve = actions["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["actionName"] == "Approve" && d["pipelineExecutionId"] == id.as_str())
        .unwrap();
    assert_eq!(approve["status"], "Abandoned", "{approve:#}");

    // Rejected: the execution fails, saying so. It ran at the commit sourceRevisions named,
    // not the branch's newest.
    let mut at_first = with_env.to_vec();
    let revision = format!("actionName=Source,revisionType=COMMIT_ID,revisionValue={first}");
    at_first.extend(["--source-revisions", &revision]);
    let id = s.aws(&at_first)["pipelineExecutionId"].as_str().unwrap().to_string();
    let t = token(&s, "gate", "Gate");
    s.aws(&[
        "codepipeline",
        "put-approval-result",
        "--pipeline-name",
        "gate",
        "--stage-name",
        "Gate",
        "--action-name",
        "Approve",
        "--result",
        "summary=no,status=Rejected",
        "--token",
        &t,
    ]);
    let ended = until("the execution fails", || execution(&s, "gate", &id), |e| e["status"] != "InProgress");
    assert_eq!(ended["status"], "Failed", "{ended:#}");
    assert!(ended["statusSummary"].as_str().unwrap().contains("Rejected: no"), "{ended:#}");
    assert_eq!(ended["variables"][0]["resolvedValue"], "dev");
    assert_eq!(ended["artifactRevisions"][0]["revisionId"], first.as_str());
    let listed =
        s.aws(&["codepipeline", "list-pipeline-executions", "--pipeline-name", "gate", "--max-results", "1"]);
    assert_eq!(listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"], id.as_str());

    // A repository the operator did not name cannot be read.
    let mut other = pipeline.clone();
    other["name"] = json!("other");
    other["stages"][0]["actions"][0]["configuration"]["RepositoryName"] = json!("secret");
    s.aws(&["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &other)]);
    let err = fails(
        &s,
        &["codepipeline", "start-pipeline-execution", "--name", "other", "--variables", "name=Env,value=dev"],
    );
    assert!(err.contains("ValidationException") && err.contains("--pipeline-source secret="), "{err}");

    // The server stops while an execution waits: after a restart it is Failed, saying why.
    let waiting = s.aws(&with_env)["pipelineExecutionId"].as_str().unwrap().to_string();
    token(&s, "gate", "Gate");
    drop(s);
    let s = Server::start_in(dir.path(), &["--pipeline-source", &format!("app={}", repo_dir.display())]);
    let after = execution(&s, "gate", &waiting);
    assert_eq!(after["status"], "Failed", "{after:#}");
    assert!(after["statusSummary"].as_str().unwrap().contains("server stopped"), "{after:#}");

    s.aws(&["codepipeline", "delete-pipeline", "--name", "gate"]);
    let err = fails(&s, &["codepipeline", "get-pipeline", "--name", "gate"]);
    assert!(err.contains("PipelineNotFoundException"), "{err}");
    let err = fails(
        &s,
        &[
            "codepipeline",
            "get-pipeline-execution",
            "--pipeline-name",
            "gate",
            "--pipeline-execution-id",
            &id,
        ],
    );
    assert!(err.contains("PipelineNotFoundException"), "{err}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn stopping_an_execution_stops_its_build() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("app");
    repo(
        &repo_dir,
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started\n      - sleep 300\n",
        )],
    );
    let s = Server::start_in(dir.path(), &["--pipeline-source", &format!("app={}", repo_dir.display())]);
    s.aws(&[
        "codebuild",
        "create-project",
        "--name",
        "slow",
        "--source",
        "type=CODEPIPELINE",
        "--artifacts",
        "type=CODEPIPELINE",
        "--environment",
        "type=LINUX_CONTAINER,image=runspec/host,computeType=BUILD_GENERAL1_SMALL",
        "--service-role",
        "arn:aws:iam::000000000000:role/build",
    ]);
    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "slow"}));
    build["inputArtifacts"] = json!([{"name": "Src"}]);
    let pipeline = json!({
        "name": "slow", "roleArn": "arn:aws:iam::000000000000:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [{"name": "Source", "actions": [source()]}, {"name": "Build", "actions": [build]}]
    });
    s.aws(&["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &pipeline)]);
    let id = start(&s, "slow");
    // The build is one of the server's: its log says when its command runs.
    let ids = until(
        "the build starts",
        || s.aws(&["codebuild", "list-builds-for-project", "--project-name", "slow"]),
        |v| v["ids"].as_array().is_some_and(|i| !i.is_empty()),
    );
    let build_id = ids["ids"][0].as_str().unwrap().to_string();
    let stream = build_id.split_once(':').unwrap().1.to_string();
    until(
        "the command runs",
        || {
            // The stream may not exist yet: an error answers nothing.
            let args = [
                "logs",
                "get-log-events",
                "--log-group-name",
                "/aws/codebuild/slow",
                "--log-stream-name",
                &stream,
            ];
            s.aws_as("test", &args).1
        },
        |v| v.to_string().contains("started"),
    );
    s.aws(&[
        "codepipeline",
        "stop-pipeline-execution",
        "--pipeline-name",
        "slow",
        "--pipeline-execution-id",
        &id,
    ]);
    let ended = until(
        "the execution stops",
        || execution(&s, "slow", &id),
        |e| !matches!(e["status"].as_str(), Some("InProgress" | "Stopping")),
    );
    assert_eq!(ended["status"], "Stopped", "{ended:#}");
    assert_eq!(s.build(&build_id)["buildStatus"], "STOPPED");
    let st = state(&s, "slow");
    assert_eq!(latest(&st, "Build", "Build")["status"], "Abandoned", "{st:#}");
}

/// The action executions of one execution, by action name.
fn action_of(s: &Server, name: &str, execution: &str, action: &str) -> Option<Value> {
    let filter = format!("pipelineExecutionId={execution}");
    let v = s.aws(&["codepipeline", "list-action-executions", "--pipeline-name", name, "--filter", &filter]);
    v["actionExecutionDetails"].as_array().unwrap().iter().find(|d| d["actionName"] == action).cloned()
}

/// The token of `execution`'s approval, once it waits.
fn token_of(s: &Server, name: &str, execution: &str) -> String {
    let st = until(
        "the approval waits",
        || state(s, name),
        |v| {
            let stage = v["stageStates"][1].clone();
            stage["latestExecution"]["pipelineExecutionId"] == execution
                && latest(v, "Gate", "Approve")["token"].is_string()
        },
    );
    latest(&st, "Gate", "Approve")["token"].as_str().unwrap().to_string()
}

fn approve(s: &Server, name: &str, token: &str) {
    s.aws(&[
        "codepipeline",
        "put-approval-result",
        "--pipeline-name",
        name,
        "--stage-name",
        "Gate",
        "--action-name",
        "Approve",
        "--result",
        "summary=ok,status=Approved",
        "--token",
        token,
    ]);
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn executions_share_stages_as_the_execution_mode_says() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("app");
    repo(&repo_dir, &[("README", "app\n")]);
    let s = Server::start_in(dir.path(), &["--pipeline-source", &format!("app={}", repo_dir.display())]);
    for mode in ["QUEUED", "SUPERSEDED", "PARALLEL"] {
        let pipeline = json!({
            "name": mode.to_lowercase(), "pipelineType": "V2", "executionMode": mode,
            "roleArn": "arn:aws:iam::000000000000:role/pipeline",
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [{"name": "Source", "actions": [source()]}, {"name": "Gate", "actions": [approval()]}]
        });
        s.aws(&["codepipeline", "create-pipeline", "--cli-input-json", &input_file(dir.path(), &pipeline)]);
    }
    let status = |name: &str, id: &str| execution(&s, name, id)["status"].as_str().unwrap().to_string();
    let source_done = |name: &str, id: &str| {
        until(
            "the source action ends",
            || json!(action_of(&s, name, id, "Source")),
            |d| d["status"] == "Succeeded",
        );
    };

    // QUEUED: the second waits for the stage until the first leaves it, then runs.
    let a = start(&s, "queued");
    let ta = token_of(&s, "queued", &a);
    let b = start(&s, "queued");
    source_done("queued", &b);
    approve(&s, "queued", &ta);
    let tb = token_of(&s, "queued", &b);
    approve(&s, "queued", &tb);
    until(
        "both end",
        || json!([status("queued", &a), status("queued", &b)]),
        |v| v == &json!(["Succeeded", "Succeeded"]),
    );
    let a_done = action_of(&s, "queued", &a, "Approve").unwrap()["lastUpdateTime"].as_f64().unwrap();
    let b_began = action_of(&s, "queued", &b, "Approve").unwrap()["startTime"].as_f64().unwrap();
    assert!(
        b_began >= a_done,
        "the second entered the stage at {b_began}, before the first left it at {a_done}"
    );

    // SUPERSEDED: of two waiting for the stage, the older is superseded.
    let a = start(&s, "superseded");
    let ta = token_of(&s, "superseded", &a);
    let b = start(&s, "superseded");
    source_done("superseded", &b);
    let c = start(&s, "superseded");
    until("the older waiting one is superseded", || json!(status("superseded", &b)), |v| v == "Superseded");
    assert!(action_of(&s, "superseded", &b, "Approve").is_none());
    approve(&s, "superseded", &ta);
    let tc = token_of(&s, "superseded", &c);
    approve(&s, "superseded", &tc);
    until(
        "both end",
        || json!([status("superseded", &a), status("superseded", &c)]),
        |v| v == &json!(["Succeeded", "Succeeded"]),
    );

    // PARALLEL: both wait for their approvals at once.
    let a = start(&s, "parallel");
    let b = start(&s, "parallel");
    for id in [&a, &b] {
        until(
            "its approval waits",
            || json!(action_of(&s, "parallel", id, "Approve")),
            |d| d["status"] == "InProgress",
        );
    }
}
