//! The command-line contract: exit statuses, `check`, unsupported flags, workspace isolation.

use std::process::Command;

use crate::support::Ctx;

fn runspec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runspec"))
}

#[test]
fn buildspecs_that_ran_on_codebuild_pass_check() {
    // Two real buildspecs CodeBuild ran: a Windows build (`shell: powershell`) and a project
    // without artifacts whose buildspec has an empty `artifacts/files`. Warnings, not errors.
    let dir = tempfile::tempdir().unwrap();
    for (name, text, warning) in [
        (
            "windows.yml",
            "version: 0.2\nenv:\n  shell: powershell\nphases:\n  build:\n    commands:\n      - dotnet build\n",
            "is for a Windows build",
        ),
        (
            "no-files.yml",
            "version: 0.2\nphases:\n  build:\n    commands: [make]\nartifacts:\n  files:\n",
            "`artifacts` has no `files`",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = runspec().args(["check", path.to_str().unwrap()]).output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {shown}");
        assert!(shown.contains(warning), "{name}: {shown}");
    }
    // R-ART-06: an empty `files` fails UPLOAD_ARTIFACTS only when artifacts are wanted.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [echo hi]\nartifacts:\n  files:\n");
    assert_eq!(ctx.run().status(), "SUCCEEDED");
    let run = ctx.run_artifacts(&[]);
    assert_eq!(run.status(), "FAILED", "{}", run.stdout);
    assert_eq!(run.context("UPLOAD_ARTIFACTS").1, "no definition for primary artifacts in buildspec");
}

#[test]
fn check_exit_statuses_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "version: 0.2\nphases:\n  build:\n    commands: [make]\n").unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "version: 0.2\nphases:\n  biuld:\n    commands: [make]\n  build:\n    commands:\n      - echo a: b\n",
    )
    .unwrap();
    let out = runspec().args(["check", good.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = runspec().args(["check", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad.yml:3:3") && text.contains("bad.yml:7:9"),
        "every problem with file:line:col:\n{text}"
    );
    assert!(text.contains("2 errors"));
    let out = runspec().args(["check", "--format", "json", bad.to_str().unwrap()]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["errors"], 2);
    assert_eq!(json["issues"][1]["code"], "buildspec::command-is-mapping");
    let out = runspec().args(["check", "/nonexistent.yml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn privileged_on_the_host_and_conflicting_flags() {
    // On the host a build has the host's Docker engine anyway: --privileged is accepted and
    // recorded, as CodeBuild records privilegedMode.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [echo ran]\n");
    let run = ctx.run_with(&["--privileged", "--ecr-login", "never"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stderr);
    assert_eq!(run.build["environment"]["privilegedMode"], true);
    // --host is for staying off a project's image; with --image it is a contradiction.
    let run = ctx.run_with(&["--host", "--image", "x"]);
    assert_eq!(run.code, 2);
    assert!(run.build.is_null(), "nothing ran");
}

#[test]
fn usage_errors_exit_2() {
    let out = runspec().args(["run", "--source", "/nonexistent-dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("source directory `/nonexistent-dir` does not exist")
    );
    let ctx = Ctx::new("version: 0.2\n");
    assert_eq!(ctx.run_with(&["--env", "1BAD=x"]).code, 2);
    assert_eq!(ctx.run_with(&["--timeout", "soon"]).code, 2);
}

#[test]
fn the_build_runs_in_a_copy_that_is_removed() {
    // Workspace isolation: the source is untouched, the copy is gone afterwards.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - touch made-by-build\n      - echo $CODEBUILD_SRC_DIR\n",
    );
    let run = ctx.run();
    assert!(!ctx.src.path().join("made-by-build").exists());
    let copy = std::path::PathBuf::from(&run.output()[0]);
    assert_ne!(copy, ctx.src.path());
    // Removed by a background process once the result is written: give it a moment.
    let t = std::time::Instant::now();
    while copy.exists() && t.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!copy.exists(), "workspace {} was not removed", copy.display());
    let run = ctx.run_with(&["--mount-source"]);
    assert_eq!(run.status(), "SUCCEEDED");
    assert!(ctx.src.path().join("made-by-build").exists(), "--mount-source builds in place");
}

#[test]
fn help_describes_every_flag() {
    let out = runspec().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--source",
        "--buildspec",
        "--artifacts",
        "--env",
        "--env-file",
        "--project",
        "--image",
        "--privileged",
        "--docker",
        "--docker-sidecar-image",
        "--mount-source",
        "--result",
        "--timeout",
        "--reports",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
}

#[test]
fn project_buildspec_path_and_ignored_fields() {
    // DESIGN --project: source.buildspec is honoured; fields runspec cannot honour are named.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [echo wrong file]\n");
    ctx.write("ci/build.yml", "version: 0.2\nphases:\n  build:\n    commands: [echo from ci]\n");
    let project = ctx.out.path().join("p.json");
    std::fs::write(&project, r#"{"name": "p", "source": {"type": "GITHUB", "buildspec": "ci/build.yml"}, "fileSystemLocations": [{"type": "EFS"}]}"#).unwrap();
    let run = ctx.run_with(&["--project", project.to_str().unwrap()]);
    assert_eq!(run.output(), ["from ci"]);
    assert!(
        run.stderr.contains("project field `fileSystemLocations` is not supported by runspec yet"),
        "{}",
        run.stderr
    );

    std::fs::write(&project, r#"{"name": "p", "source": {"buildspec": "version: 0.2\nphases:\n  build:\n    commands: [echo inline]\n"}}"#).unwrap();
    let run = ctx.run_with(&["--project", project.to_str().unwrap()]);
    assert_eq!(run.output(), ["inline"]);
    assert!(
        run.has_line("> YAML location is /codebuild/readonly/buildspec.yml"),
        "R-FILE-02 inline buildspec location"
    );
}
