//! `runspec replay` against the two CodeBuild endpoints we can run here: `runspec serve` (real
//! build records: phases, contexts, resolved versions, overrides) and moto's CodeBuild (canned
//! records, shaped through CreateProject and StartBuild), with a local git repository as the
//! source and moto's Secrets Manager for a secret variable.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;

use crate::serve::{Server, venv};

fn moto() -> String {
    std::env::var("RUNSPEC_TEST_MOTO_URL").expect("needs moto: run scripts/test.sh")
}

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const IDENT: &str = "git -c user.name=t -c user.email=t@example.com";

/// A repository with two commits (version.txt "one", then "two"); returns both commits.
fn repo(dir: &Path, buildspec_path: &str, buildspec: &str) -> (String, String) {
    std::fs::create_dir_all(dir.join(Path::new(buildspec_path).parent().unwrap_or(Path::new("")))).unwrap();
    std::fs::write(dir.join(buildspec_path), buildspec).unwrap();
    std::fs::write(dir.join("version.txt"), "one\n").unwrap();
    let first = sh(
        dir,
        &format!("git init -q -b main . && git add -A && {IDENT} commit -qm one && git rev-parse HEAD"),
    );
    std::fs::write(dir.join("version.txt"), "two\n").unwrap();
    let second = sh(dir, &format!("{IDENT} commit -qam two && git rev-parse HEAD"));
    (first, second)
}

struct Replayed {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Replayed {
    fn output_lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| !l.starts_with("[Container] ") && !l.is_empty()).collect()
    }
}

fn replay(id: &str, args: &[&str], envs: &[(&str, &str)], state: &Path) -> Replayed {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .arg("replay")
        .arg(id)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_CODEBUILD")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("RUNSPEC_STATE_DIR", state)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    Replayed {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn aws_moto(args: &[&str]) -> serde_json::Value {
    let out = Command::new(venv().join("bin/aws"))
        .args(["--endpoint-url", &moto(), "--output", "json", "--region", "us-east-1"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// A build in moto's CodeBuild of a new repository (under `dir`) at its older commit. moto
/// records every build with a CODECOMMIT source, the buildspec `buildspec/stuff.yaml` and the
/// image aws/codebuild/amazonlinux2-x86_64-standard:3.0, whatever the project says: the
/// repository carries `buildspec` there. Returns the repository, that commit and the build id.
fn moto_build(dir: &Path, name: &str, buildspec: &str) -> (std::path::PathBuf, String, String) {
    let upstream = dir.join("upstream");
    std::fs::create_dir(&upstream).unwrap();
    let (first, _) = repo(&upstream, "buildspec/stuff.yaml", buildspec);
    let project = format!("{name}-{}", std::process::id());
    aws_moto(&[
        "codebuild",
        "create-project",
        "--name",
        &project,
        "--source",
        "type=CODECOMMIT,location=https://git-codecommit.eu-west-2.amazonaws.com/v1/repos/testing",
        "--artifacts",
        "type=NO_ARTIFACTS",
        "--environment",
        "type=LINUX_CONTAINER,image=aws/codebuild/amazonlinux2-x86_64-standard:3.0,computeType=BUILD_GENERAL1_SMALL",
        "--service-role",
        "arn:aws:iam::123456789012:role/cb",
    ]);
    let id = aws_moto(&["codebuild", "start-build", "--project-name", &project, "--source-version", &first])
        ["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (upstream, first, id)
}

/// The environment that points replay at moto.
fn moto_env(moto_url: &str) -> [(&'static str, &str); 3] {
    [("AWS_ENDPOINT_URL", moto_url), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")]
}

#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn a_runspec_serve_build_is_replayed_at_its_commit_with_its_overrides_and_secret() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    std::fs::create_dir(&upstream).unwrap();
    // The project's buildspec in the repository is not the one the build used (an override).
    let (first, _second) = repo(
        &upstream,
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo not-the-override\n",
    );
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    let (lib_first, _) = repo(&lib, "README", "a library\n");
    let secret = format!("replay-token-{}", std::process::id());
    aws_moto(&["secretsmanager", "create-secret", "--name", &secret, "--secret-string", "tok-5e3c"]);
    let marker = dir.path().join("marker");
    let moto_url = moto();
    let server_env = [
        ("AWS_ENDPOINT_URL", moto_url.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    std::fs::create_dir(dir.path().join("serve")).unwrap();
    let root = dir.path().to_str().unwrap();
    let server = Server::start_env(&dir.path().join("serve"), &["--local-sources", root], &server_env);
    let source = json!({"type": "GITHUB", "location": upstream.display().to_string()}).to_string();
    let env = json!({
        "type": "LINUX_CONTAINER", "image": "runspec/host", "computeType": "BUILD_GENERAL1_SMALL",
        "environmentVariables": [
            {"name": "PLAIN", "value": "from-project", "type": "PLAINTEXT"},
            {"name": "MARKER", "value": marker.display().to_string(), "type": "PLAINTEXT"},
            {"name": "TOKEN", "value": secret, "type": "SECRETS_MANAGER"},
        ]
    })
    .to_string();
    let secondary =
        json!([{"type": "GITHUB", "location": lib.display().to_string(), "sourceIdentifier": "lib"}])
            .to_string();
    server.aws(&[
        "codebuild",
        "create-project",
        "--name",
        "app",
        "--source",
        &source,
        "--secondary-sources",
        &secondary,
        "--artifacts",
        "type=NO_ARTIFACTS",
        "--environment",
        &env,
        "--service-role",
        "arn:aws:iam::000000000000:role/build",
    ]);
    let buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - cat version.txt\n      - echo \"plain=$PLAIN token-ok=$(test \"$TOKEN\" = tok-5e3c && echo yes)\"\n      - echo \"lib-$(cat $CODEBUILD_SRC_DIR_lib/version.txt)\"\n      - test ! -e \"$MARKER\"\n";
    let id = server.aws(&[
        "codebuild",
        "start-build",
        "--project-name",
        "app",
        "--source-version",
        &first,
        "--environment-variables-override",
        "name=PLAIN,value=overridden,type=PLAINTEXT",
        "--buildspec-override",
        buildspec,
        "--secondary-sources-version-override",
        &format!("sourceIdentifier=lib,sourceVersion={lib_first}"),
    ])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let original = server.wait(&id, Duration::from_secs(60));
    assert_eq!(original["buildStatus"], "SUCCEEDED", "{original}");
    let log = server.log(&original);
    assert!(
        log.iter().any(|l| l == "plain=overridden token-ok=yes") && log.iter().any(|l| l == "lib-one"),
        "{log:?}"
    );

    // The user's clone: made before the build, so it has the commit.
    sh(dir.path(), "git clone -q upstream clone && git clone -q lib lib-clone");
    let clone = dir.path().join("clone");
    let lib_source = format!("lib={}", dir.path().join("lib-clone").display());
    let creds = [
        ("AWS_ENDPOINT_URL_CODEBUILD", server.url.as_str()),
        ("AWS_ENDPOINT_URL", moto_url.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIDRUNSPECTEST"),
        ("AWS_SECRET_ACCESS_KEY", "runspec-test-secret-key-0123456789"),
    ];
    let state = dir.path().join("state");
    let artifacts = dir.path().join("artifacts");
    let arn = original["arn"].as_str().unwrap().to_string();
    let r = replay(
        &arn,
        &[
            "--source",
            clone.to_str().unwrap(),
            "--source",
            &lib_source,
            "--artifacts",
            artifacts.to_str().unwrap(),
        ],
        &creds,
        &state,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The old commit, the override buildspec, the override variable and the secret, fetched.
    // The secondary source at its version too.
    assert_eq!(r.output_lines(), ["one", "plain=overridden token-ok=yes", "lib-one"], "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!("secondary source lib: commit {lib_first} of your clone")),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("tok-5e3c"));
    assert!(r.stderr.contains(&format!("source: commit {first} of your clone")), "{}", r.stderr);
    assert!(r.stderr.contains("service role arn:aws:iam::000000000000:role/build"), "{}", r.stderr);
    assert!(r.stderr.contains("no difference: every phase ended as in the original"), "{}", r.stderr);
    // The user's clone was not checked out anywhere else.
    assert_eq!(sh(&clone, "cat version.txt"), "two");

    // Something on this machine differs: the table says where first.
    std::fs::write(&marker, "").unwrap();
    let r = replay(&id, &[], &creds, &state);
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("source: {} at {first}", upstream.display())),
        "fetched as the build did: {}",
        r.stderr
    );
    let table = &r.stderr[r.stderr.find("beside this run").expect("the table")..];
    assert!(table.contains("≠ BUILD"), "{table}");
    assert!(table.contains("here: COMMAND_EXECUTION_ERROR: Error while executing command: test ! -e \"$MARKER\". Reason: exit status 1"), "{table}");
    assert!(table.contains("build            SUCCEEDED"), "{table}");
    assert!(table.trim_end().ends_with("first difference: BUILD"), "{table}");

    // A clone that does not have the commit, and whose origin does not either: named exactly.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    repo(&other, "buildspec.yml", "version: 0.2\n");
    let r = replay(&id, &["--source", other.to_str().unwrap()], &creds, &state);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("the build's source version {first} is not in {}", other.display())),
        "{}",
        r.stderr
    );
    // An unknown build.
    let r = replay("app:00000000-0000-0000-0000-000000000000", &[], &creds, &state);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("has no build app:00000000-0000-0000-0000-000000000000"), "{}", r.stderr);
}

#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn a_moto_codebuild_build_is_replayed_from_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, first, id) = moto_build(
        dir.path(),
        "replayed",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"at $(cat version.txt) $CODEBUILD_RESOLVED_SOURCE_VERSION\"\n",
    );
    let moto_url = moto();
    let env = moto_env(&moto_url);
    let state = dir.path().join("state");
    // The image is not on this machine: --host, and it is named.
    let r = replay(&id, &["--source", upstream.to_str().unwrap(), "--host"], &env, &state);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.output_lines(), [format!("at one {first}")], "{}", r.stdout);
    for named in [
        "image: this machine's shell (--host) instead of aws/codebuild/amazonlinux2-x86_64-standard:3.0",
        "gitCloneDepth 1",
    ] {
        assert!(r.stderr.contains(named), "{named}: {}", r.stderr);
    }
    // The compute type is reproduced: its limits are the replay's.
    assert!(!r.stderr.contains("compute type"), "{}", r.stderr);
    assert!(r.stdout.contains("Compute: BUILD_GENERAL1_SMALL: 3 GiB of memory, 2 vCPUs"), "{}", r.stdout);
    // moto's canned record: every phase SUCCEEDED, as here.
    assert!(r.stderr.contains("no difference"), "{}", r.stderr);
    let artifacts_line = r.stderr.lines().find(|l| l.trim_start().starts_with("artifacts: ")).unwrap();
    assert!(artifacts_line.contains(&state.display().to_string()), "{artifacts_line}");

    // A saved record (what batch-get-builds printed) replays without asking CodeBuild.
    let record = dir.path().join("record.json");
    std::fs::write(&record, aws_moto(&["codebuild", "batch-get-builds", "--ids", &id]).to_string()).unwrap();
    let r = replay(
        &id,
        &["--record", record.to_str().unwrap(), "--source", upstream.to_str().unwrap(), "--host"],
        &[],
        &state,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.output_lines(), [format!("at one {first}")], "{}", r.stdout);
    assert!(r.stderr.contains(&format!("from the record {}", record.display())), "{}", r.stderr);
    assert!(r.stderr.contains("the project is not read with --record"), "{}", r.stderr);

    // Without a clone, the canned CodeCommit URL cannot be fetched: said, with what to do.
    let r = replay(&id, &["--host"], &env, &state);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Give --source a local clone instead"), "{}", r.stderr);
}

#[test]
#[ignore = "needs docker, moto and the test venv: run scripts/test.sh"]
fn the_build_image_is_used_when_this_machine_has_it() {
    // The record names CodeBuild's image; give this machine's engine an image of that name.
    let test_image = std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect("needs docker: run scripts/test.sh");
    let recorded = "aws/codebuild/amazonlinux2-x86_64-standard:3.0";
    let _ = Command::new("docker").args(["rmi", recorded]).output();
    let dir = tempfile::tempdir().unwrap();
    let (upstream, _, id) = moto_build(
        dir.path(),
        "imaged",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"in $CODEBUILD_BUILD_IMAGE at $(cat version.txt) busybox:$(test -x /bin/busybox && echo yes)\"\n",
    );
    let moto_url = moto();
    let env = moto_env(&moto_url);
    // Without --host, the recorded image must be here (it is not): said, with the ways on.
    let r = replay(&id, &["--source", upstream.to_str().unwrap()], &env, &dir.path().join("state"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the build ran in aws/codebuild/amazonlinux2-x86_64-standard:3.0: pull it (or an image like it) and pass --image IMAGE, or run on this machine's shell with --host"),
        "{}",
        r.stderr
    );

    let tagged = Command::new("docker").args(["tag", &test_image, recorded]).status().unwrap();
    assert!(tagged.success());
    let r = replay(&id, &["--source", upstream.to_str().unwrap()], &env, &dir.path().join("state"));
    let _ = Command::new("docker").args(["rmi", recorded]).status();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.output_lines(), [format!("in {recorded} at one busybox:yes")], "{}", r.stdout);
    assert!(r.stderr.contains(&format!("image: {recorded}")), "{}", r.stderr);
}
