//! Log lines CodeBuild writes for things that are not errors: unknown keys (R-YAML-03), the
//! selected shell, a base directory that names nothing, Windows buildspecs.

use std::process::Command;

use crate::support::Ctx;

#[test]
fn unknown_keys_are_listed_in_the_log_as_codebuild_does() {
    // R-YAML-03 (aws-toolkit-vscode#4008, amplify-cli#13110): the build runs; the log lists the
    // keys per section.
    let ctx = Ctx::new(
        "version: 0.2
env:
  compute-type: BUILD_GENERAL1_LARGE
  shell: bash
phases:
  pre_build:
    env: { X: 1 }
    commands: [echo pre]
  build:
    env: { X: 1 }
    timeout: 5
    commands: [echo build]
",
    );
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    let log = run.log();
    let at =
        log.iter().position(|l| l == "> Found possible syntax errors in buildspec:").expect("the header");
    assert_eq!(
        log[at + 1..at + 11],
        [
            "In the section env",
            "\tThe following keys cannot be identified:",
            "\t\tcompute-type",
            "In the section PRE_BUILD",
            "\tThe following keys cannot be identified:",
            "\t\tenv",
            "In the section BUILD",
            "\tThe following keys cannot be identified:",
            "\t\tenv",
            "\t\ttimeout",
        ]
    );
    let shell = log
        .iter()
        .position(|l| l == "> Selecting shell bash as specified in buildspec.")
        .expect("shell line");
    let env = log.iter().position(|l| l == "> Processing environment variables").unwrap();
    assert!(at < shell && shell < env, "{log:?}");
}

#[test]
fn a_base_directory_that_names_nothing_fails_with_codebuilds_words() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands: [echo x > a.txt]\nartifacts:\n  base-directory: dist\n  files: ['**/*']\n",
    );
    let run = ctx.run_artifacts(&[]);
    assert_eq!(run.status(), "FAILED");
    assert_eq!(
        run.context("UPLOAD_ARTIFACTS"),
        ("CLIENT_ERROR".to_string(), "no matching base directory path found for dist".to_string())
    );
    assert!(!run.stdout.contains("Skipping invalid file path **/*"), "{}", run.stdout);
}

#[test]
fn windows_buildspecs_are_valid_and_fail_clearly_on_linux() {
    for shell in ["powershell.exe", "pwsh", "cmd.exe"] {
        let ctx = Ctx::new(&format!(
            "version: 0.2\nenv:\n  shell: {shell}\nphases:\n  build:\n    commands:\n      - Write-Output hello\n"
        ));
        let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
            .args(["check", "--format", "json"])
            .arg(ctx.src.path().join("buildspec.yml"))
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["valid"], true, "{shell}: {json}");
        assert_eq!(json["issues"][0]["code"], "buildspec::windows-build", "{json}");
        assert_eq!(out.status.code(), Some(0));
        let run = ctx.run();
        assert_eq!(run.status(), "FAILED", "{}", run.stdout);
        assert_eq!(run.phases(), ["DOWNLOAD_SOURCE=FAILED"]);
        let (code, message) = run.context("DOWNLOAD_SOURCE");
        assert_eq!(code, "CLIENT_ERROR");
        assert!(message.contains("needs a Windows build image; runspec runs Linux builds"), "{message}");
        assert!(!run.stdout.contains("Running command"), "{}", run.stdout);
    }
}
