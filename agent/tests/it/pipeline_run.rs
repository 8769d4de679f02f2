//! `runspec pipeline run` through the binary, on this machine's shell: sources from a git
//! repository and a directory, CodeBuild actions with two inputs (`PrimarySource`,
//! `CODEBUILD_SRC_DIR_<artifact>`), variables from one action into the next action's
//! configuration, two actions of one `runOrder` at once, a Commands action, approvals, a
//! failure that stops the execution, and the `--result` record.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository with `files` committed; its HEAD commit.
fn repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    sh(
        dir,
        "git init -q -b main && git config user.email dev@example.com && git config user.name Dev && git add -A && git commit -qm 'Add the app' && git rev-parse HEAD",
    )
}

/// A CodeCommit source action named Source that makes `artifact`.
fn codecommit(artifact: &str) -> Value {
    let mut source =
        action("Source", "Source", "CodeCommit", json!({"RepositoryName": "app", "BranchName": "main"}));
    source["outputArtifacts"] = json!([{"name": artifact}]);
    source
}

fn action(name: &str, category: &str, provider: &str, config: Value) -> Value {
    json!({"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
           "configuration": config})
}

struct Ran {
    out: Output,
    result: Value,
    stdout: String,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn detail(&self, action: &str) -> &Value {
        self.result["actionExecutionDetails"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["actionName"] == action)
            .unwrap_or_else(|| panic!("no action {action} in {:#}\n{}", self.result, self.stdout))
    }

    /// The lines an action printed, without their prefix.
    fn lines(&self, stage: &str, action: &str) -> Vec<&str> {
        let prefix = format!("[{stage}/{action}] ");
        self.stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
    }
}

/// Runs `pipeline` from `cwd` with `args`; the artifact store is kept in the returned dir.
fn run(pipeline: &Value, cwd: &Path, args: &[&str]) -> Ran {
    run_in(pipeline, cwd, args, &[])
}

/// [`run`] with variables for runspec.
fn run_in(pipeline: &Value, cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.json");
    std::fs::write(&file, serde_json::to_string_pretty(pipeline).unwrap()).unwrap();
    let result = dir.path().join("execution.json");
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .current_dir(cwd)
        .args(["pipeline", "run"])
        .arg(&file)
        .arg("--result")
        .arg(&result)
        .arg("--artifacts")
        .arg(dir.path().join("store"))
        .args(args)
        .env("RUNSPEC_STATE_DIR", dir.path().join("state"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = std::fs::read_to_string(&result)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Ran { out, result, stdout, _dir: dir }
}

fn store(ran: &Ran) -> PathBuf {
    let id = ran.result["pipelineExecution"]["pipelineExecutionId"].as_str().unwrap();
    ran._dir.path().join("store").join(id)
}

const APP_BUILDSPEC: &str = r#"version: 0.2
env:
  exported-variables:
    - IMAGE_TAG
phases:
  build:
    commands:
      - echo "initiator=$CODEBUILD_INITIATOR source=$CODEBUILD_SOURCE_VERSION resolved=$CODEBUILD_RESOLVED_SOURCE_VERSION"
      - echo "lib says $(cat $CODEBUILD_SRC_DIR_LibArtifact/lib.txt)"
      - test ! -e .git
      - IMAGE_TAG=$(echo $CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c 1-7)
      - mkdir -p out && echo "app $IMAGE_TAG" > out/app.txt
      - printf '[{"name":"web","imageUri":"registry.example/app:%s"}]' $IMAGE_TAG > out/imagedefinitions.json
      # Both actions of runOrder 1 are running at once: each waits for the other's mark.
      - touch $MARKS/build && for i in $(seq 600); do test -e $MARKS/lint && break; sleep 0.1; done; test -e $MARKS/lint
artifacts:
  base-directory: out
  files:
    - '**/*'
"#;

/// The pipeline of the test: Source (git + a directory) → Build (two actions at once) → Test
/// (a CodeBuild action reading the Build's variables and artifact, then a Commands action) →
/// Approve.
fn pipeline(marks: &Path) -> Value {
    let mut git = action(
        "App",
        "Source",
        "CodeStarSourceConnection",
        json!({"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x",
               "FullRepositoryId": "me/app", "BranchName": "main"}),
    );
    git["outputArtifacts"] = json!([{"name": "SourceArtifact"}]);
    git["namespace"] = json!("SourceVariables");
    let mut lib = action("Lib", "Source", "S3", json!({"S3Bucket": "b", "S3ObjectKey": "lib.zip"}));
    lib["outputArtifacts"] = json!([{"name": "LibArtifact"}]);
    let marks_var = format!(r#"[{{"name":"MARKS","value":"{}"}}]"#, marks.display());
    let mut build = action(
        "Build",
        "Build",
        "CodeBuild",
        json!({"ProjectName": "app", "PrimarySource": "SourceArtifact", "EnvironmentVariables": marks_var}),
    );
    build["inputArtifacts"] = json!([{"name": "SourceArtifact"}, {"name": "LibArtifact"}]);
    build["outputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    build["namespace"] = json!("BuildVariables");
    let mut lint = action(
        "Lint",
        "Test",
        "CodeBuild",
        json!({"ProjectName": "lint", "EnvironmentVariables": marks_var}),
    );
    lint["inputArtifacts"] = json!([{"name": "SourceArtifact"}]);
    let mut check = action(
        "Check",
        "Test",
        "CodeBuild",
        json!({"ProjectName": "check",
               "EnvironmentVariables": "[{\"name\":\"TAG\",\"value\":\"#{BuildVariables.IMAGE_TAG}\"},{\"name\":\"RUN\",\"value\":\"#{codepipeline.PipelineExecutionId}\"}]"}),
    );
    check["inputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    check["namespace"] = json!("CheckVariables");
    let commands = json!({"name": "Package",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "runOrder": 2,
        "commands": ["cat app.txt", "export PACKAGED=\"pkg-$(cat app.txt | cut -d' ' -f2)\"", "mkdir -p dist && cp app.txt dist/"],
        "outputVariables": ["PACKAGED"],
        "inputArtifacts": [{"name": "BuildArtifact"}],
        "outputArtifacts": [{"name": "Package", "files": ["dist/**/*"]}],
        "namespace": "PackageVariables"});
    let approve =
        action("Release", "Approval", "Manual", json!({"CustomData": "Ship #{PackageVariables.PACKAGED}?"}));
    json!({"pipeline": {"name": "app-pipeline", "roleArn": "arn:aws:iam::123456789012:role/p", "pipelineType": "V2",
    "artifactStore": {"type": "S3", "location": "bucket"},
    "stages": [
        {"name": "Source", "actions": [git, lib]},
        {"name": "Build", "actions": [build, lint]},
        {"name": "Test", "actions": [check, commands]},
        {"name": "Approve", "actions": [approve]}
    ]}})
}

#[test]
fn a_pipeline_runs_its_stages_with_artifacts_and_variables() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let check_spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"tag=$TAG run=$RUN\"\n      - cat app.txt imagedefinitions.json\n";
    let lint_spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - touch $MARKS/lint && for i in $(seq 600); do test -e $MARKS/build && break; sleep 0.1; done; test -e $MARKS/build\n";
    let commit = repo(&app, &[("buildspec.yml", APP_BUILDSPEC), ("lint.yml", lint_spec)]);
    // An uncommitted change is not part of the source, and the log says so.
    std::fs::write(app.join("untracked.txt"), "x").unwrap();
    let lib = work.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("lib.txt"), "hello").unwrap();
    let projects = work.path().join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    // The Check action's input is the Build's artifact: its project has the buildspec inline.
    for (name, buildspec) in [("check", check_spec), ("lint", "lint.yml")] {
        // As repositories commit them: the create-project input, enum values in any case.
        let project = json!({"name": name, "source": {"type": "codepipeline", "buildspec": buildspec},
            "artifacts": {"type": "no_artifacts"}, "environment": {"type": "LINUX_CONTAINER", "image": "runspec/host", "computeType": "BUILD_GENERAL1_SMALL"}});
        std::fs::write(projects.join(format!("{name}.json")), project.to_string()).unwrap();
    }
    let marks = work.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let check_project = format!("check={}", projects.join("check.json").display());
    let lint_project = format!("lint={}", projects.join("lint.json").display());
    let lib_source = format!("Lib={}", lib.display());
    let ran = run(
        &pipeline(&marks),
        &app,
        &[
            "--source",
            &lib_source,
            "--project",
            &check_project,
            "--project",
            &lint_project,
            "--approve",
            "all",
        ],
    );
    assert_eq!(
        ran.out.status.code(),
        Some(0),
        "{}\n{}",
        ran.stdout,
        String::from_utf8_lossy(&ran.out.stderr)
    );
    let execution = &ran.result["pipelineExecution"];
    assert_eq!(execution["status"], "Succeeded");
    let id = execution["pipelineExecutionId"].as_str().unwrap();
    assert_eq!(execution["artifactRevisions"][0]["revisionId"], commit.as_str());

    // The source: the commit (not the untracked file), its variables.
    let source = ran.detail("App");
    assert_eq!(source["output"]["outputVariables"]["CommitId"], commit.as_str());
    assert_eq!(source["output"]["outputVariables"]["CommitMessage"], "Add the app");
    assert_eq!(source["output"]["outputVariables"]["FullRepositoryName"], "me/app");
    assert!(ran.lines("Source", "App").iter().any(|l| l.contains("uncommitted changes")), "{}", ran.stdout);
    assert!(!store(&ran).join("SourceArtifact/untracked.txt").exists());

    // The build: CodePipeline's initiator and source version, the secondary input, exported
    // variables into its namespace, its artifact in the store.
    let build_lines = ran.lines("Build", "Build");
    assert!(
        build_lines.contains(
            &format!("initiator=codepipeline/app-pipeline source={commit} resolved={commit}").as_str()
        ),
        "{}",
        ran.stdout
    );
    assert!(build_lines.contains(&"lib says hello"), "{}", ran.stdout);
    let build = ran.detail("Build");
    assert_eq!(build["status"], "Succeeded");
    assert_eq!(build["output"]["outputVariables"]["IMAGE_TAG"], &commit[..7]);
    assert!(build["output"]["executionResult"]["externalExecutionId"].as_str().unwrap().starts_with("app:"));
    assert_eq!(
        build["input"]["inputArtifacts"],
        json!([{"name": "SourceArtifact"}, {"name": "LibArtifact"}])
    );
    assert_eq!(
        std::fs::read_to_string(store(&ran).join("BuildArtifact/app.txt")).unwrap(),
        format!("app {}\n", &commit[..7])
    );
    assert_eq!(ran.detail("Lint")["status"], "Succeeded", "ran beside Build (each waited for the other)");

    // The next stage reads the variables in its configuration, the artifact as its source.
    let check_lines = ran.lines("Test", "Check");
    assert!(check_lines.contains(&format!("tag={} run={id}", &commit[..7]).as_str()), "{}", ran.stdout);
    assert_eq!(
        ran.detail("Check")["input"]["resolvedConfiguration"]["EnvironmentVariables"].as_str().unwrap(),
        format!(r#"[{{"name":"TAG","value":"{}"}},{{"name":"RUN","value":"{id}"}}]"#, &commit[..7])
    );
    // The Commands action: its commands, output variables and output artifact's files.
    let package = ran.detail("Package");
    assert_eq!(package["status"], "Succeeded", "{}", ran.stdout);
    assert_eq!(package["output"]["outputVariables"]["PACKAGED"], format!("pkg-{}", &commit[..7]));
    assert!(store(&ran).join("Package/dist/app.txt").is_file());
    // The approval, with its configuration resolved.
    let release = ran.detail("Release");
    assert_eq!(release["status"], "Succeeded");
    assert_eq!(
        release["input"]["resolvedConfiguration"]["CustomData"],
        format!("Ship pkg-{}?", &commit[..7])
    );
    // The order of the record: stages in order.
    let names: Vec<&str> = ran.result["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["actionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["App", "Lib", "Build", "Lint", "Check", "Package", "Release"]);
    let stderr = String::from_utf8_lossy(&ran.out.stderr);
    assert!(stderr.contains("Pipeline app-pipeline Succeeded"), "{stderr}");
}

#[test]
fn a_failed_action_stops_the_execution() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(
        &app,
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo failing\n      - exit 3\n",
        )],
    );
    let source = codecommit("Src");
    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "app"}));
    build["inputArtifacts"] = json!([{"name": "Src"}]);
    let approve = action("Release", "Approval", "Manual", json!({}));
    let pipeline = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]},
                   {"name": "Approve", "actions": [approve]}]}});
    let ran = run(&pipeline, &app, &["--approve", "all"]);
    assert_eq!(ran.out.status.code(), Some(1), "{}", ran.stdout);
    assert_eq!(ran.result["pipelineExecution"]["status"], "Failed");
    let build = ran.detail("Build");
    assert_eq!(build["status"], "Failed");
    assert_eq!(build["output"]["executionResult"]["errorDetails"]["code"], "JobFailed");
    assert!(
        ran.lines("Build", "Build").iter().any(|l| l.contains("no --project app=FILE")),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.result["actionExecutionDetails"].as_array().unwrap().len(), 2, "the approval never ran");

    // A rejected approval fails the execution too; without a terminal `ask` cannot ask.
    let pipeline = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [pipeline["pipeline"]["stages"][0]["actions"][0].clone()]},
                   {"name": "Approve", "actions": [action("Release", "Approval", "Manual", json!({}))]}]}});
    for (flag, says) in [("none", "Rejected"), ("ask", "no terminal")] {
        let ran = run(&pipeline, &app, &["--approve", flag]);
        assert_eq!(ran.out.status.code(), Some(1), "{}", ran.stdout);
        let release = ran.detail("Release");
        assert_eq!(release["status"], "Failed");
        assert!(
            release["output"]["executionResult"]["externalExecutionSummary"].as_str().unwrap().contains(says)
        );
    }
}

#[test]
fn what_cannot_run_is_said_before_or_where_it_stops() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(&app, &[("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n")]);
    let source = codecommit("Src");
    // A pipeline with problems does not start: `pipeline check`'s report, exit 2.
    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "app"}));
    build["inputArtifacts"] = json!([{"name": "Nope"}]);
    let broken = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source.clone()]}, {"name": "Build", "actions": [build]}]}});
    let ran = run(&broken, &app, &[]);
    assert_eq!(ran.out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ran.out.stderr);
    assert!(stderr.contains("input-not-produced") && stderr.contains("pipeline.json:"), "{stderr}");

    // A provider runspec does not run stops the execution there, named.
    let mut deploy =
        action("Deploy", "Deploy", "CodeDeploy", json!({"ApplicationName": "a", "DeploymentGroupName": "g"}));
    deploy["inputArtifacts"] = json!([{"name": "Src"}]);
    let unknown = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source.clone()]}, {"name": "Deploy", "actions": [deploy]}]}});
    let ran = run(&unknown, &app, &[]);
    assert_eq!(ran.out.status.code(), Some(1), "{}", ran.stdout);
    let summary = ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("CodeDeploy") && summary.contains("not run by runspec"), "{summary}");

    // Two git sources need --source each; a directory that is not a repository is named.
    let nowhere = tempfile::tempdir().unwrap();
    let only_source = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]},
                   {"name": "Approve", "actions": [action("Ok", "Approval", "Manual", json!({}))]}]}});
    let ran = run(&only_source, nowhere.path(), &[]);
    assert_eq!(ran.out.status.code(), Some(1));
    let summary = ran.detail("Source")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("not in a git repository") && summary.contains("--source Source="), "{summary}");
}

const NEEDS: &str = "needs docker, moto and the registries: run scripts/test.sh";

/// The workshop's app: a busybox httpd serving the source's index.html on 8080, built in the
/// build and pushed with the ECR login (`RUNSPEC_ECR_REGISTRY` sends it to the stand-in).
fn workshop_app(dir: &Path, repository: &str, page: &str) -> String {
    let busybox = std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect(NEEDS);
    let buildspec = format!(
        r#"version: 0.2
env:
  variables:
    REPOSITORY_URI: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}
  exported-variables:
    - IMAGE_TAG
phases:
  pre_build:
    commands:
      - IMAGE_TAG=$(echo $CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c 1-7)
  build:
    commands:
      - docker build -q -t {repository}:$IMAGE_TAG .
  post_build:
    commands:
      - runspec image push {repository}:$IMAGE_TAG $REPOSITORY_URI:$IMAGE_TAG --create-repository --imagedefinitions web
artifacts:
  files:
    - imagedefinitions.json
"#
    );
    let dockerfile = format!(
        "FROM {busybox}\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
    );
    if dir.join(".git").exists() {
        std::fs::write(dir.join("index.html"), page).unwrap();
        sh(dir, "git commit -qam 'Change the page' && git rev-parse HEAD")
    } else {
        repo(dir, &[("buildspec.yml", &buildspec), ("Dockerfile", &dockerfile), ("index.html", page)])
    }
}

/// Source → Build → Deploy (ECS), as the workshop's pipeline.
fn workshop_pipeline() -> Value {
    let mut source = action(
        "Source",
        "Source",
        "CodeStarSourceConnection",
        json!({"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x",
               "FullRepositoryId": "me/web", "BranchName": "main"}),
    );
    source["outputArtifacts"] = json!([{"name": "SourceArtifact"}]);
    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "web"}));
    build["inputArtifacts"] = json!([{"name": "SourceArtifact"}]);
    build["outputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    build["namespace"] = json!("BuildVariables");
    let mut deploy = action(
        "Deploy",
        "Deploy",
        "ECS",
        json!({"ClusterName": "workshop", "ServiceName": "web", "FileName": "imagedefinitions.json"}),
    );
    deploy["inputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    json!({"pipeline": {"name": "workshop", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]},
                   {"name": "Deploy", "actions": [deploy]}]}})
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET http://127.0.0.1:port/index.html`, waited for (the container starts serving a moment
/// after it starts).
fn page(port: u16) -> String {
    page_at(port, "index.html")
}

fn page_at(port: u16, path: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out =
            Command::new("curl").args(["-fsS", &format!("http://127.0.0.1:{port}/{path}")]).output().unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(std::time::Instant::now() < deadline, "nothing answers on {port}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs with moto for the AWS APIs and the ECR stand-in for the registry.
fn pipeline_with_env(pipeline: &Value, cwd: &Path, args: &[&str]) -> Ran {
    let registry = std::env::var("RUNSPEC_TEST_ECR_REGISTRY").expect(NEEDS);
    let moto = std::env::var("RUNSPEC_TEST_MOTO_URL").expect(NEEDS);
    run_in(
        pipeline,
        cwd,
        args,
        &[
            ("RUNSPEC_ECR_REGISTRY", &registry),
            ("AWS_ENDPOINT_URL", &moto),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn the_workshop_pipeline_deploys_locally_and_replaces_its_deployment() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("web");
    let repository = format!("web-{}", uuid::Uuid::new_v4().simple());
    let first = workshop_app(&app, &repository, "hello-from-source\n");
    let port = free_port();
    let taskdef = work.path().join("taskdef.json");
    std::fs::write(
        &taskdef,
        json!({"taskDefinition": {"family": "web", "networkMode": "awsvpc", "containerDefinitions": [
            {"name": "web", "image": "placeholder", "essential": true,
             "portMappings": [{"containerPort": 8080, "hostPort": port, "protocol": "tcp"}],
             "environment": [{"name": "STAGE", "value": "local"}]}]}})
        .to_string(),
    )
    .unwrap();
    let task_definition = format!("web={}", taskdef.display());
    let args = ["--deploy", "local", "--task-definition", task_definition.as_str()];
    let ran = pipeline_with_env(&workshop_pipeline(), &app, &args);
    let label = "label=runspec.ecs.service=workshop/web";
    let cleanup = || {
        let ids = Command::new("docker").args(["ps", "-aq", "--filter", label]).output().unwrap();
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        let _ = Command::new("docker").args(["network", "rm", "runspec-ecs-workshop-web"]).output();
    };
    if ran.out.status.code() != Some(0) {
        cleanup();
    }
    assert_eq!(
        ran.out.status.code(),
        Some(0),
        "{}\n{}",
        ran.stdout,
        String::from_utf8_lossy(&ran.out.stderr)
    );
    let tag = &first[..7];
    assert_eq!(ran.detail("Build")["output"]["outputVariables"]["IMAGE_TAG"], tag);
    assert_eq!(page(port), "hello-from-source\n");
    let summary = ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains(&format!("127.0.0.1:{port}")), "{summary}");

    // A second run replaces the deployment: one container, the new page.
    workshop_app(&app, &repository, "second-version\n");
    let ran = pipeline_with_env(&workshop_pipeline(), &app, &args);
    let ids = Command::new("docker").args(["ps", "-aq", "--filter", label]).output().unwrap();
    let count = String::from_utf8_lossy(&ids.stdout).lines().count();
    let served = if ran.out.status.code() == Some(0) { page(port) } else { String::new() };
    cleanup();
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(
        ran.lines("Deploy", "Deploy").iter().any(|l| l.contains("removed the previous local deployment"))
    );
    assert_eq!(served, "second-version\n");
    assert_eq!(count, 1);
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn the_workshop_pipeline_deploys_to_ecs() {
    use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
    let ecs = aws_sdk_ecs::Client::new(&crate::aws::sdk());
    let cluster = "workshop";
    crate::aws::block(async {
        ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
        ecs.register_task_definition()
            .family("web")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image("placeholder:0")
                    .memory(128)
                    .port_mappings(PortMapping::builder().container_port(8080).build())
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder().name("sidecar").image("sidecar:1").memory(64).build(),
            )
            .send()
            .await
            .unwrap();
        // A service of its own per run: moto outlives the test.
        let _ = ecs.delete_service().cluster(cluster).service("web").force(true).send().await;
        ecs.create_service()
            .cluster(cluster)
            .service_name("web")
            .task_definition("web")
            .desired_count(1)
            .send()
            .await
            .unwrap();
    });
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("web");
    let repository = format!("web-{}", uuid::Uuid::new_v4().simple());
    let commit = workshop_app(&app, &repository, "hello-from-source\n");
    let ran = pipeline_with_env(&workshop_pipeline(), &app, &["--deploy", "aws"]);
    assert_eq!(
        ran.out.status.code(),
        Some(0),
        "{}\n{}",
        ran.stdout,
        String::from_utf8_lossy(&ran.out.stderr)
    );
    let (service_td, images) = crate::aws::block(async {
        let s = ecs.describe_services().cluster(cluster).services("web").send().await.unwrap();
        let td_arn = s.services()[0].task_definition().unwrap().to_string();
        let td = ecs.describe_task_definition().task_definition(&td_arn).send().await.unwrap();
        let images: Vec<(String, String)> = td
            .task_definition()
            .unwrap()
            .container_definitions()
            .iter()
            .map(|c| (c.name().unwrap().to_string(), c.image().unwrap().to_string()))
            .collect();
        (td_arn, images)
    });
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:{}", &commit[..7]);
    assert_eq!(images, [("web".to_string(), uri), ("sidecar".to_string(), "sidecar:1".to_string())]);
    let summary = ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains(&service_td), "{summary} names {service_td}");
    assert!(
        service_td.starts_with("arn:aws:ecs:") && !service_td.ends_with(":1"),
        "a new revision: {service_td}"
    );
}

/// Source → Build (exports V, makes BuildArtifact) → Test (reads both).
fn three_stages() -> Value {
    let source = codecommit("Src");
    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "app"}));
    build["inputArtifacts"] = json!([{"name": "Src"}]);
    build["outputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    build["namespace"] = json!("BuildVariables");
    let mut test = action(
        "Test",
        "Test",
        "CodeBuild",
        json!({"ProjectName": "app", "EnvironmentVariables": "[{\"name\":\"V\",\"value\":\"#{BuildVariables.V}\"}]"}),
    );
    test["inputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]},
                   {"name": "Test", "actions": [test]}]}})
}

#[test]
fn to_and_from_pick_up_where_an_earlier_execution_left() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    // One buildspec for both actions: the build makes the artifact and V, the test reads them.
    let buildspec = "version: 0.2\nenv:\n  exported-variables: [V]\nphases:\n  build:\n    commands:\n      - if [ -e made.txt ]; then echo \"test sees $(cat made.txt) and V=$V\"; else V=from-build; echo made > made.txt; fi\nartifacts:\n  files:\n    - made.txt\n    - buildspec.yml\n";
    repo(&app, &[("buildspec.yml", buildspec)]);
    let file = work.path().join("pipeline.json");
    std::fs::write(&file, three_stages().to_string()).unwrap();
    let store = work.path().join("store");
    let pipeline = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
            .current_dir(&app)
            .args(["pipeline", "run"])
            .arg(&file)
            .arg("--artifacts")
            .arg(&store)
            .args(extra)
            .env("RUNSPEC_STATE_DIR", work.path().join("state"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = pipeline(&["--to", "Build"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("[Test/Test]"), "the Test stage is after --to: {stdout}");
    let (code, stdout, stderr) = pipeline(&["--from", "Test"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("[Source/Source]") && !stdout.contains("[Build/Build]"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("[Test/Test] test sees made and V=from-build")), "{stdout}");
    // Without an execution that ran the earlier stages, --from cannot start.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .current_dir(&app)
        .args(["pipeline", "run"])
        .arg(&file)
        .arg("--artifacts")
        .arg(empty.path())
        .args(["--from", "Test"])
        .env("RUNSPEC_STATE_DIR", work.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no execution in the artifact store"));
    let (code, _, stderr) = pipeline(&["--from", "Nope"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--from Nope: the pipeline has no such stage (it has Source, Build, Test)"),
        "{stderr}"
    );
}

#[test]
fn a_stopped_execution_abandons_its_running_action() {
    use std::io::BufRead;
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(
        &app,
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo sleeping\n      - sleep 600\n",
        )],
    );
    let file = work.path().join("pipeline.json");
    std::fs::write(&file, three_stages().to_string()).unwrap();
    let result = work.path().join("execution.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .current_dir(&app)
        .args(["pipeline", "run"])
        .arg(&file)
        .arg("--result")
        .arg(&result)
        .env("RUNSPEC_STATE_DIR", work.path().join("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    // The build is running its command (a hang here is caught by the test harness's timeout).
    for line in lines.by_ref() {
        if line.unwrap() == "[Build/Build] sleeping" {
            break;
        }
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:#?}");
    let execution: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(execution["pipelineExecution"]["status"], "Stopped");
    let build = &execution["actionExecutionDetails"][1];
    assert_eq!(build["status"], "Abandoned");
    assert_eq!(execution["actionExecutionDetails"].as_array().unwrap().len(), 2, "Test never ran");
}

#[test]
fn a_clone_ref_source_hands_on_the_history_and_a_git_url_its_revision() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"commits=$(git rev-list --count HEAD) files=$(ls | tr '\\n' ' ')\"\n";
    let first = repo(&app, &[("buildspec.yml", buildspec), ("a.txt", "1")]);
    sh(&app, "echo 2 > a.txt && git commit -qam second && git tag v2");
    let pipeline = |format: &str| {
        let mut source = action(
            "Source",
            "Source",
            "CodeCommit",
            json!({"RepositoryName": "app", "BranchName": "main", "OutputArtifactFormat": format}),
        );
        source["outputArtifacts"] = json!([{"name": "Src"}]);
        let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "app"}));
        build["inputArtifacts"] = json!([{"name": "Src"}]);
        json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
            "artifactStore": {"type": "S3", "location": "bucket"},
            "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]}]}})
    };
    let ran = run(&pipeline("CODEBUILD_CLONE_REF"), &app, &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(ran.lines("Build", "Build").contains(&"commits=2 files=a.txt buildspec.yml "), "{}", ran.stdout);
    let ran = run(&pipeline("CODE_ZIP"), &app, &[]);
    assert!(
        ran.lines("Build", "Build").iter().any(|l| l.starts_with("commits= files=a.txt")),
        "no .git: {}",
        ran.stdout
    );
    // A git URL at a revision (the first commit), cloned.
    let url = format!("file://{}@{first}", app.display());
    let source = format!("Source={url}");
    let ran = run(&pipeline("CODEBUILD_CLONE_REF"), work.path(), &["--source", &source]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(ran.lines("Build", "Build").contains(&"commits=1 files=a.txt buildspec.yml "), "{}", ran.stdout);
    assert_eq!(ran.detail("Source")["output"]["outputVariables"]["CommitId"], first.as_str());
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn ecr_build_and_publish_builds_pushes_and_hands_on_the_digest() {
    let registry = std::env::var("RUNSPEC_TEST_ECR_REGISTRY").expect(NEEDS);
    let busybox = std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect(NEEDS);
    let repository = format!("web-{}", uuid::Uuid::new_v4().simple());
    let ecr = aws_sdk_ecr::Client::new(&crate::aws::sdk());
    crate::aws::block(ecr.create_repository().repository_name(&repository).send()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(&app, &[("docker/Dockerfile", &format!("FROM {busybox}\nRUN echo built > /built\n"))]);
    let source = codecommit("Src");
    let mut publish = action(
        "Publish",
        "Build",
        "ECRBuildAndPublish",
        json!({"ECRRepositoryName": repository, "DockerFilePath": "docker", "ImageTags": "v1,latest"}),
    );
    publish["inputArtifacts"] = json!([{"name": "Src"}]);
    publish["namespace"] = json!("Image");
    let announce = json!({"name": "Announce",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["echo \"published $REPO@$DIGEST\""],
        "environmentVariables": [{"name": "DIGEST", "value": "#{Image.ECRImageDigestId}"}, {"name": "REPO", "value": "#{Image.ECRRepositoryName}"}],
        "inputArtifacts": [{"name": "Src"}]});
    let pipeline = json!({"pipeline": {"name": "publish", "roleArn": "arn:aws:iam::123456789012:role/p", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [publish]},
                   {"name": "Announce", "actions": [announce]}]}});
    let ran = pipeline_with_env(&pipeline, &app, &[]);
    assert_eq!(
        ran.out.status.code(),
        Some(0),
        "{}\n{}",
        ran.stdout,
        String::from_utf8_lossy(&ran.out.stderr)
    );
    let digest =
        ran.detail("Publish")["output"]["outputVariables"]["ECRImageDigestId"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(
        ran.lines("Announce", "Announce").contains(&format!("published {repository}@{digest}").as_str()),
        "{}",
        ran.stdout
    );
    // Both tags are in the registry, with that digest.
    for tag in ["v1", "latest"] {
        let out = Command::new("curl")
            .args(["-fsSI", "-u", "AWS:123456789012-auth-token", "-H"])
            .arg("Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
            .arg(format!("http://{registry}/v2/{repository}/manifests/{tag}"))
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        assert!(head.contains(&format!("docker-content-digest: {digest}")), "{tag}: {head}");
    }
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn an_s3_source_and_s3_deploys_to_aws_and_to_a_directory() {
    use std::io::Write;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&crate::aws::sdk()).force_path_style(true).build(),
    );
    let (source_bucket, site_bucket) = (crate::aws::unique("src"), crate::aws::unique("site"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in [("index.html", "<h1>hi</h1>"), ("css/site.css", "h1 {}")] {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let version = crate::aws::block(async {
        for b in [&source_bucket, &site_bucket] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        s3.put_bucket_versioning()
            .bucket(&source_bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let put =
            s3.put_object().bucket(&source_bucket).key("site.zip").body(bytes.into()).send().await.unwrap();
        put.version_id().unwrap().to_string()
    });
    let pipeline = |extract: &str, key: &str| {
        let mut source = action(
            "Source",
            "Source",
            "S3",
            json!({"S3Bucket": source_bucket, "S3ObjectKey": "site.zip", "PollForSourceChanges": "false"}),
        );
        source["outputArtifacts"] = json!([{"name": "Site"}]);
        source["namespace"] = json!("SourceVariables");
        let mut deploy = action(
            "Deploy",
            "Deploy",
            "S3",
            json!({"BucketName": site_bucket, "Extract": extract, "ObjectKey": key}),
        );
        deploy["inputArtifacts"] = json!([{"name": "Site"}]);
        json!({"pipeline": {"name": "site", "roleArn": "arn:aws:iam::123456789012:role/p",
            "artifactStore": {"type": "S3", "location": "bucket"},
            "stages": [{"name": "Source", "actions": [source]}, {"name": "Deploy", "actions": [deploy]}]}})
    };
    let work = tempfile::tempdir().unwrap();
    let ran = pipeline_with_env(&pipeline("true", "live"), work.path(), &["--deploy", "aws"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert_eq!(ran.detail("Source")["output"]["outputVariables"]["VersionId"], version.as_str());
    assert!(
        ran.detail("Source")["output"]["outputVariables"]["ETag"].as_str().is_some_and(|e| !e.contains('"'))
    );
    let keys = crate::aws::block(async {
        let listed = s3.list_objects_v2().bucket(&site_bucket).send().await.unwrap();
        let mut keys: Vec<String> =
            listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
        keys.sort();
        keys
    });
    assert_eq!(keys, ["live/css/site.css", "live/index.html"]);
    // Extract false: the artifact as one ZIP at ObjectKey; locally, under the execution's s3/.
    let ran = pipeline_with_env(&pipeline("false", "releases/site.zip"), work.path(), &["--deploy", "local"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    let written = store(&ran).join("s3").join(&site_bucket).join("releases/site.zip");
    let mut names: Vec<String> = zip::ZipArchive::new(std::fs::File::open(&written).unwrap())
        .unwrap()
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["css/site.css", "index.html"]);
    let ran = pipeline_with_env(&pipeline("false", "../out.zip"), work.path(), &["--deploy", "local"]);
    assert_eq!(ran.out.status.code(), Some(1));
    assert!(
        ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
            .as_str()
            .unwrap()
            .contains("without `..`")
    );
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn projects_come_from_a_codebuild_endpoint() {
    // The project lives in `runspec serve` (created with the AWS CLI); the pipeline reads it with
    // BatchGetProjects: its inline buildspec and its variables.
    let server = crate::serve::Server::start(&[]);
    let buildspec =
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"from the server, $GREETING\"\n";
    server.create_project(
        "remote",
        buildspec,
        &["--environment", "type=LINUX_CONTAINER,image=runspec/host,computeType=BUILD_GENERAL1_SMALL,environmentVariables=[{name=GREETING,value=hello}]"],
    );
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(&app, &[("README.md", "app")]);
    let source = codecommit("Src");
    let mut build = action("Build", "Build", "CodeBuild", json!({"ProjectName": "remote"}));
    build["inputArtifacts"] = json!([{"name": "Src"}]);
    let mut missing = action("Missing", "Build", "CodeBuild", json!({"ProjectName": "nope"}));
    missing["inputArtifacts"] = json!([{"name": "Src"}]);
    missing["runOrder"] = json!(2);
    let pipeline = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build, missing]}]}});
    let ran = run_in(
        &pipeline,
        &app,
        &["--codebuild-endpoint", &server.url],
        &[("AWS_ACCESS_KEY_ID", crate::serve::KEY_ID), ("AWS_SECRET_ACCESS_KEY", crate::serve::SECRET)],
    );
    assert_eq!(ran.detail("Build")["status"], "Succeeded", "{}", ran.stdout);
    assert!(ran.lines("Build", "Build").contains(&"from the server, hello"), "{}", ran.stdout);
    let missing = ran.detail("Missing");
    assert_eq!(missing["status"], "Failed");
    let summary = missing["output"]["executionResult"]["externalExecutionSummary"].as_str().unwrap();
    assert!(summary.contains("has no project nope"), "{summary}");
}

/// A V2 pipeline: a git source, then `stages` (each `{"name", "actions", …conditions}`).
fn v2(stages: Value) -> Value {
    let mut source = codecommit("Src");
    source["namespace"] = json!("SourceVariables");
    let mut all = vec![json!({"name": "Source", "actions": [source]})];
    all.extend(stages.as_array().unwrap().iter().cloned());
    json!({"pipeline": {"name": "conditions", "roleArn": "arn:aws:iam::123456789012:role/p", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "variables": [{"name": "Fail", "defaultValue": "no"}],
        "stages": all}})
}

/// A CodeBuild action of the `app` project running `command` (the buildspec runs `$RUN`).
fn step(name: &str, command: &str) -> Value {
    let vars = json!([{"name": "RUN", "value": command}]).to_string();
    let mut a =
        action(name, "Build", "CodeBuild", json!({"ProjectName": "app", "EnvironmentVariables": vars}));
    a["inputArtifacts"] = json!([{"name": "Src"}]);
    a
}

fn variable_rule(variable: &str, operator: &str, value: &str) -> Value {
    json!({"name": "Check", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "VariableCheck", "version": "1"},
           "configuration": {"Variable": variable, "Operator": operator, "Value": value}})
}

#[test]
fn stage_conditions_skip_fail_and_retry() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(
        &app,
        &[("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - sh -c \"$RUN\"\n")],
    );
    let marks = work.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // beforeEntry SKIP: the branch is not `release`, the stage is skipped and the next one runs.
    let pipeline = v2(json!([
        {"name": "Release", "actions": [step("Publish", "echo publishing")],
         "beforeEntry": {"conditions": [{"result": "SKIP", "rules": [variable_rule("#{SourceVariables.BranchName}", "EQ", "release")]}]}},
        {"name": "Test", "actions": [step("Unit", "echo testing")],
         "beforeEntry": {"conditions": [{"rules": [variable_rule("#{SourceVariables.CommitMessage}", "MATCHES", "Add .*")]}]}}
    ]));
    let ran = run(&pipeline, &app, &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(ran.stdout.contains("[Release] Stage Release Skipped"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("[Release/beforeEntry] rule Check: `main` EQ `release`: failed"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("[Test] Stage Test Succeeded"), "{}", ran.stdout);
    assert!(ran.lines("Release", "Publish").is_empty(), "skipped: {}", ran.stdout);
    // beforeEntry FAIL (the default result): the execution fails before the stage runs.
    let pipeline = v2(json!([
        {"name": "Release", "actions": [step("Publish", "echo publishing")],
         "beforeEntry": {"conditions": [{"rules": [variable_rule("#{SourceVariables.BranchName}", "NE", "main")]}]}}
    ]));
    let ran = run(&pipeline, &app, &[]);
    assert_eq!(ran.out.status.code(), Some(1), "{}", ran.stdout);
    assert_eq!(ran.result["pipelineExecution"]["statusSummary"], "Release: the entry condition failed");
    // onFailure RETRY of the failed actions only: Flaky fails once, then passes; Steady runs once.
    let flaky =
        format!("if [ -e {0}/once ]; then echo second try; else touch {0}/once; exit 1; fi", marks.display());
    let pipeline = v2(json!([
        {"name": "Build", "actions": [step("Flaky", &flaky), step("Steady", "echo steady")],
         "onFailure": {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}}}
    ]));
    let ran = run(&pipeline, &app, &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    let runs: Vec<(String, String)> = ran.result["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["actionName"].as_str().unwrap().to_string(), d["status"].as_str().unwrap().to_string()))
        .collect();
    let pairs: Vec<(&str, &str)> = runs.iter().map(|(a, s)| (a.as_str(), s.as_str())).collect();
    assert_eq!(
        pairs,
        [("Source", "Succeeded"), ("Flaky", "Failed"), ("Steady", "Succeeded"), ("Flaky", "Succeeded")]
    );
    assert!(ran.stdout.contains("[Build/onFailure] RETRY: running 1 action(s) again"), "{}", ran.stdout);
}

#[test]
fn on_success_rules_and_a_rollback_to_the_last_good_execution() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let buildspec = "version: 0.2\nenv:\n  exported-variables: [OUT]\nphases:\n  build:\n    commands:\n      - sh -c \"$RUN\"\n      - OUT=$(cat out.txt 2>/dev/null || echo none)\nartifacts:\n  files:\n    - '**/*'\n";
    repo(&app, &[("buildspec.yml", buildspec)]);
    let file = work.path().join("pipeline.json");
    let store = work.path().join("store");
    let pipeline_run = |pipeline: &Value, extra: &[&str]| {
        std::fs::write(&file, pipeline.to_string()).unwrap();
        let result = work.path().join("execution.json");
        let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
            .current_dir(&app)
            .args(["pipeline", "run"])
            .arg(&file)
            .arg("--artifacts")
            .arg(&store)
            .arg("--result")
            .arg(&result)
            .args(extra)
            .env("RUNSPEC_STATE_DIR", work.path().join("state"))
            .output()
            .unwrap();
        let result: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), result)
    };
    // onSuccess: a Commands rule that fails fails the stage that succeeded.
    let commands_rule = json!({"name": "Smoke", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["test -e nothing-here"], "inputArtifacts": [{"name": "Src"}]});
    let pipeline = v2(json!([
        {"name": "Deploy", "actions": [step("Ship", "echo shipped")], "onSuccess": {"conditions": [{"rules": [commands_rule]}]}}
    ]));
    let (code, stdout, result) = pipeline_run(&pipeline, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(result["pipelineExecution"]["statusSummary"], "Deploy: the onSuccess condition failed");
    assert!(stdout.contains("[Deploy/onSuccess] rule Smoke: build"), "{stdout}");

    // ROLLBACK: a good execution first (v1), then one whose build is broken (the pipeline
    // variable Version): the Deploy stage fails and runs again with the artifact the good
    // execution deployed.
    let build_then_deploy = || {
        let mut make = step("Make", "echo \"$VERSION\" > out.txt");
        make["configuration"]["EnvironmentVariables"] = json!([
            {"name": "RUN", "value": "echo \"$VERSION\" > out.txt"},
            {"name": "VERSION", "value": "#{variables.Version}"}
        ])
        .to_string()
        .into();
        make["outputArtifacts"] = json!([{"name": "Built"}]);
        let mut ship =
            step("Ship", "if grep -q broken out.txt; then exit 1; fi; echo \"deployed $(cat out.txt)\"");
        ship["inputArtifacts"] = json!([{"name": "Built"}]);
        let mut p = v2(json!([
            {"name": "Build", "actions": [make]},
            {"name": "Deploy", "actions": [ship], "onFailure": {"result": "ROLLBACK"}}
        ]));
        p["pipeline"]["variables"] = json!([{"name": "Version", "defaultValue": "v1"}]);
        p
    };
    let (code, stdout, good) = pipeline_run(&build_then_deploy(), &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("[Deploy/Ship] deployed v1"), "{stdout}");
    let good_id = good["pipelineExecution"]["pipelineExecutionId"].as_str().unwrap().to_string();
    let (code, stdout, failed) = pipeline_run(&build_then_deploy(), &["--variable", "Version=v2-broken"]);
    assert_eq!(code, Some(1), "the execution that needed a rollback failed: {stdout}");
    assert!(stdout.contains(&format!("[Deploy/onFailure] ROLLBACK to execution {good_id}")), "{stdout}");
    assert!(stdout.contains("[Deploy/Ship] deployed v1"), "v1 is deployed again: {stdout}");
    let summary = failed["pipelineExecution"]["statusSummary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("rolled back to execution {good_id}: the stage Succeeded")),
        "{summary}"
    );
    let ships: Vec<&str> = failed["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["actionName"] == "Ship")
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(ships, ["Failed", "Succeeded"]);
    // Without a good execution to go back to, the rollback says so.
    std::fs::remove_dir_all(&store).unwrap();
    let (code, stdout, _) = pipeline_run(&build_then_deploy(), &["--variable", "Version=v2-broken"]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("ROLLBACK: no earlier execution in the artifact store succeeded in this stage"),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn an_ecr_source_hands_on_image_detail_json() {
    let repository = format!("app-{}", uuid::Uuid::new_v4().simple());
    let ecr = aws_sdk_ecr::Client::new(&crate::aws::sdk());
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": format!("sha256:{}", "a".repeat(64))},
        "layers": []});
    let digest = crate::aws::block(async {
        ecr.create_repository().repository_name(&repository).send().await.unwrap();
        let put = ecr
            .put_image()
            .repository_name(&repository)
            .image_manifest(manifest.to_string())
            .image_tag("v7")
            .send()
            .await
            .unwrap();
        put.image().unwrap().image_id().unwrap().image_digest().unwrap().to_string()
    });
    let mut source =
        action("Image", "Source", "ECR", json!({"RepositoryName": repository, "ImageTag": "v7"}));
    source["outputArtifacts"] = json!([{"name": "ImageArtifact"}]);
    source["namespace"] = json!("ImageVariables");
    let show = json!({"name": "Show",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["cat imageDetail.json", "echo \"uri $URI\""],
        "environmentVariables": [{"name": "URI", "value": "#{ImageVariables.ImageURI}"}],
        "inputArtifacts": [{"name": "ImageArtifact"}]});
    let pipeline = json!({"pipeline": {"name": "image", "roleArn": "arn:aws:iam::123456789012:role/p", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Show", "actions": [show]}]}});
    let work = tempfile::tempdir().unwrap();
    let ran = pipeline_with_env(&pipeline, work.path(), &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    let vars = &ran.detail("Image")["output"]["outputVariables"];
    assert_eq!(vars["ImageDigest"], digest.as_str());
    assert_eq!(vars["ImageTag"], "v7");
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}");
    assert_eq!(vars["ImageURI"], uri.as_str());
    let detail: Value = serde_json::from_str(
        &std::fs::read_to_string(store(&ran).join("ImageArtifact/imageDetail.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(detail["ImageURI"], uri.as_str());
    assert_eq!(detail["ImageTags"], json!(["v7"]));
    assert!(ran.lines("Show", "Show").contains(&format!("uri {uri}").as_str()), "{}", ran.stdout);
}

/// Source (taskdef.json, appspec.yaml) → a Commands action writing imageDetail.json → an Amazon
/// ECS blue/green deploy.
fn blue_green_pipeline(image: &str) -> Value {
    let source = codecommit("Src");
    let detail = json!({"ImageURI": image}).to_string();
    let image_action = json!({"name": "Image",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": [format!("echo '{detail}' > imageDetail.json")],
        "inputArtifacts": [{"name": "Src"}],
        "outputArtifacts": [{"name": "ImageArtifact", "files": ["imageDetail.json"]}]});
    let mut deploy = action(
        "Deploy",
        "Deploy",
        "CodeDeployToECS",
        json!({"ApplicationName": "web", "DeploymentGroupName": "blue-green",
               "TaskDefinitionTemplateArtifact": "Src", "AppSpecTemplateArtifact": "Src",
               "Image1ArtifactName": "ImageArtifact", "Image1ContainerName": "IMAGE1_NAME"}),
    );
    deploy["inputArtifacts"] = json!([{"name": "Src"}, {"name": "ImageArtifact"}]);
    json!({"pipeline": {"name": "bg", "roleArn": "arn:aws:iam::123456789012:role/p", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Image", "actions": [image_action]},
                   {"name": "Deploy", "actions": [deploy]}]}})
}

fn blue_green_repo(dir: &Path, port: u16, container: &str) {
    let taskdef = json!({"family": "web", "networkMode": "awsvpc", "containerDefinitions": [
        {"name": "web", "image": "<IMAGE1_NAME>", "essential": true, "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"],
         "portMappings": [{"containerPort": 8080, "hostPort": port}]}]});
    let appspec = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n        LoadBalancerInfo:\n          ContainerName: \"{container}\"\n          ContainerPort: 8080\n"
    );
    repo(dir, &[("taskdef.json", &taskdef.to_string()), ("appspec.yaml", &appspec)]);
}

#[test]
fn a_blue_green_deploy_is_checked() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    blue_green_repo(&app, 8080, "web");
    let ran = run(&blue_green_pipeline("1.dkr.ecr.us-east-1.amazonaws.com/web@sha256:ab"), &app, &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(
        ran.lines("Deploy", "Deploy")
            .contains(&"<IMAGE1_NAME> → 1.dkr.ecr.us-east-1.amazonaws.com/web@sha256:ab")
    );
    let summary = ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("not deployed (--deploy skip)"), "{summary}");
    // An AppSpec that names a container the task definition does not have fails the deploy.
    let broken = work.path().join("broken");
    blue_green_repo(&broken, 8080, "api");
    let ran = run(&blue_green_pipeline("web:1"), &broken, &[]);
    assert_eq!(ran.out.status.code(), Some(1), "{}", ran.stdout);
    let summary = ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("ContainerName api is not a container"), "{summary}");
    let ran = run(&blue_green_pipeline("web:1"), &app, &["--deploy", "aws"]);
    assert_eq!(ran.out.status.code(), Some(1));
    let summary = ran.detail("Deploy")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("not run by runspec"), "{summary}");
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn a_blue_green_deploy_runs_locally() {
    let busybox = std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect(NEEDS);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let port = free_port();
    blue_green_repo(&app, port, "web");
    let ran = run(&blue_green_pipeline(&busybox), &app, &["--deploy", "local"]);
    let served = if ran.out.status.code() == Some(0) { page_at(port, "hostname") } else { String::new() };
    let ids = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=runspec.ecs.service=web/blue-green"])
        .output()
        .unwrap();
    for id in String::from_utf8_lossy(&ids.stdout).lines() {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    let _ = Command::new("docker").args(["network", "rm", "runspec-ecs-web-blue-green"]).output();
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(!served.is_empty());
}

#[test]
fn a_batch_enabled_action_runs_the_batch_and_combines_or_maps_its_artifacts() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let buildspec = "version: 0.2\nbatch:\n  build-list:\n    - identifier: linux\n      env:\n        variables:\n          OS: linux\n    - identifier: arm\n      env:\n        variables:\n          OS: arm\nphases:\n  build:\n    commands:\n      - echo \"built for $OS\" > $OS.txt\nartifacts:\n  files:\n    - '*.txt'\n";
    repo(&app, &[("buildspec.yml", buildspec)]);
    let pipeline = |combine: &str, outputs: Value| {
        let mut source =
            action("Source", "Source", "CodeCommit", json!({"RepositoryName": "app", "BranchName": "main"}));
        source["outputArtifacts"] = json!([{"name": "Src"}]);
        let mut build = action(
            "Build",
            "Build",
            "CodeBuild",
            json!({"ProjectName": "app", "BatchEnabled": "true", "CombineArtifacts": combine}),
        );
        build["inputArtifacts"] = json!([{"name": "Src"}]);
        build["outputArtifacts"] = outputs;
        json!({"pipeline": {"name": "batch", "roleArn": "arn:aws:iam::123456789012:role/p",
            "artifactStore": {"type": "S3", "location": "bucket"},
            "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]}]}})
    };
    let ran = run(&pipeline("true", json!([{"name": "All"}])), &app, &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    let all = store(&ran).join("All");
    assert_eq!(std::fs::read_to_string(all.join("linux/linux.txt")).unwrap(), "built for linux\n");
    assert_eq!(std::fs::read_to_string(all.join("arm/arm.txt")).unwrap(), "built for arm\n");
    let external =
        ran.detail("Build")["output"]["executionResult"]["externalExecutionId"].as_str().unwrap().to_string();
    assert!(external.starts_with("app:"), "the batch's id: {external}");
    assert!(ran.lines("Build", "Build").iter().any(|l| l.starts_with("[linux] ")), "{}", ran.stdout);
    // Without CombineArtifacts, each output artifact is the build of that identifier.
    let ran = run(&pipeline("false", json!([{"name": "linux"}, {"name": "arm"}])), &app, &[]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(store(&ran).join("linux/linux.txt").is_file() && store(&ran).join("arm/arm.txt").is_file());
    let ran = run(&pipeline("false", json!([{"name": "windows"}])), &app, &[]);
    assert_eq!(ran.out.status.code(), Some(1));
    let summary = ran.detail("Build")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("no output artifact windows") && summary.contains("linux, arm"), "{summary}");
}

/// Source (a template and a parameters file) → CloudFormation (namespace Infra) → a Commands
/// action that reads the stack's output.
fn stack_pipeline(mode: &str, stack: &str) -> Value {
    let source = codecommit("Src");
    let mut infra = action(
        "Infra",
        "Deploy",
        "CloudFormation",
        json!({"ActionMode": mode, "StackName": stack, "TemplatePath": "Src::stack.json",
               "ParameterOverrides": "{\"Name\": {\"Fn::GetParam\": [\"Src\", \"params.json\", \"bucket\"]}}",
               "Capabilities": "CAPABILITY_IAM"}),
    );
    infra["inputArtifacts"] = json!([{"name": "Src"}]);
    infra["namespace"] = json!("Infra");
    let show = json!({"name": "Show",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["echo \"bucket $B\""],
        "environmentVariables": [{"name": "B", "value": "#{Infra.BucketName}"}],
        "inputArtifacts": [{"name": "Src"}]});
    json!({"pipeline": {"name": "stack", "roleArn": "arn:aws:iam::123456789012:role/p", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Infra", "actions": [infra]},
                   {"name": "Show", "actions": [show]}]}})
}

fn stack_repo(dir: &Path, bucket: &str) {
    let template = json!({"Parameters": {"Name": {"Type": "String"}},
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Ref": "Name"}}}},
        "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}}});
    repo(
        dir,
        &[("stack.json", &template.to_string()), ("params.json", &json!({"bucket": bucket}).to_string())],
    );
}

#[test]
fn a_cloudformation_action_that_is_not_deployed_needs_its_outputs_given() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    stack_repo(&app, "my-bucket");
    let ran = run(&stack_pipeline("CREATE_UPDATE", "infra"), &app, &[]);
    assert_eq!(ran.out.status.code(), Some(1), "{}", ran.stdout);
    let infra = ran.detail("Infra");
    assert_eq!(infra["status"], "Succeeded");
    let summary = infra["output"]["executionResult"]["externalExecutionSummary"].as_str().unwrap();
    assert!(
        summary.contains("not deployed (--deploy skip)") && summary.contains("1 parameter(s)"),
        "{summary}"
    );
    let show = ran.detail("Show")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(show.contains("#{Infra.BucketName}") && show.contains("has no BucketName"), "{show}");
    let ran = run(&stack_pipeline("CREATE_UPDATE", "infra"), &app, &["--variable", "Infra.BucketName=given"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert!(ran.lines("Show", "Show").contains(&"bucket given"), "{}", ran.stdout);
    // A parameter file without the key fails the action, naming it.
    let broken = work.path().join("broken");
    repo(&broken, &[("stack.json", "{}"), ("params.json", "{}")]);
    let ran = run(&stack_pipeline("CREATE_UPDATE", "infra"), &broken, &[]);
    let summary = ran.detail("Infra")["output"]["executionResult"]["externalExecutionSummary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("params.json in Src has no key bucket"), "{summary}");
}

#[test]
#[ignore = "needs moto: run scripts/test.sh"]
fn a_cloudformation_action_deploys_the_stack_and_hands_on_its_outputs() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let bucket = crate::aws::unique("stack-bucket");
    stack_repo(&app, &bucket);
    let stack = crate::aws::unique("infra");
    let ran = pipeline_with_env(&stack_pipeline("CREATE_UPDATE", &stack), &app, &["--deploy", "aws"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    assert_eq!(ran.detail("Infra")["output"]["outputVariables"]["BucketName"], bucket.as_str());
    assert!(ran.lines("Show", "Show").contains(&format!("bucket {bucket}").as_str()), "{}", ran.stdout);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&crate::aws::sdk()).force_path_style(true).build(),
    );
    assert!(crate::aws::block(s3.head_bucket().bucket(&bucket).send()).is_ok(), "the stack made the bucket");
    // Again: an update of the same stack.
    let ran = pipeline_with_env(&stack_pipeline("CREATE_UPDATE", &stack), &app, &["--deploy", "aws"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    // DELETE_ONLY removes it.
    let mut delete = stack_pipeline("DELETE_ONLY", &stack);
    delete["pipeline"]["stages"].as_array_mut().unwrap().pop();
    let ran = pipeline_with_env(&delete, &app, &["--deploy", "aws"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout);
    let cfn = aws_sdk_cloudformation::Client::new(&crate::aws::sdk());
    let left = crate::aws::block(cfn.describe_stacks().stack_name(&stack).send());
    let gone = match left {
        Err(_) => true,
        Ok(d) => d.stacks().iter().all(|s| s.stack_status().map(|s| s.as_str()) == Some("DELETE_COMPLETE")),
    };
    assert!(gone, "the stack is deleted");
}

#[test]
#[ignore = "needs tmux: run scripts/test.sh"]
fn an_approval_is_asked_on_the_terminal() {
    // `--approve ask` (the default) on a real terminal: runspec runs in a tmux pane of a server
    // of its own; the test answers at the prompt and reads the record.
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    repo(&app, &[("README.md", "app")]);
    let source = codecommit("Src");
    let approve = action(
        "Release",
        "Approval",
        "Manual",
        json!({"CustomData": "Ship #{codepipeline.PipelineExecutionId}?"}),
    );
    let pipeline = json!({"pipeline": {"name": "p", "roleArn": "arn:aws:iam::123456789012:role/p",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Approve", "actions": [approve]}]}});
    let file = work.path().join("pipeline.json");
    std::fs::write(&file, pipeline.to_string()).unwrap();
    let result = work.path().join("execution.json");
    let code = work.path().join("code");
    let q = |p: &Path| format!("'{}'", p.display());
    let script = format!(
        "export PATH='{}' RUNSPEC_STATE_DIR={}\ncd {}\n{} pipeline run {} --result {}\necho $? > {}\nsleep 600\n",
        std::env::var("PATH").unwrap_or_default(),
        q(&work.path().join("state")),
        q(&app),
        env!("CARGO_BIN_EXE_runspec"),
        q(&file),
        q(&result),
        q(&code)
    );
    std::fs::write(work.path().join("run.sh"), script).unwrap();
    let socket = format!("runspec-approve-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(["-L", &socket]).args(args).output().unwrap();
    let started = Command::new("tmux")
        .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50"])
        .arg(format!("sh {}", work.path().join("run.sh").display()))
        .env("TERM", "xterm")
        .status()
        .expect("needs tmux: run scripts/test.sh");
    assert!(started.success());
    let wait = |text: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-J", "-S", "-500"]).stdout)
                .into_owned();
            if screen.contains(text) {
                return screen;
            }
            assert!(std::time::Instant::now() < deadline, "waited for {text:?}:\n{screen}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let screen = wait("Approve? [y/N]");
    assert!(screen.contains("CustomData: Ship "), "{screen}");
    tmux(&["send-keys", "n", "Enter"]);
    wait("Comment (optional):");
    tmux(&["send-keys", "not today", "Enter"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !code.exists() {
        assert!(std::time::Instant::now() < deadline, "the pipeline did not end");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux(&["kill-server"]);
    assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "1");
    let execution: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    let release = &execution["actionExecutionDetails"][1];
    assert_eq!(release["status"], "Failed");
    let summary = release["output"]["executionResult"]["externalExecutionSummary"].as_str().unwrap();
    assert!(summary.starts_with("Rejected: by ") && summary.ends_with(": not today"), "{summary}");
    assert_eq!(release["output"]["executionResult"]["errorDetails"]["code"], "ApprovalRejected");
}
