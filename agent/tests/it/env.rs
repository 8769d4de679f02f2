//! §4 and §9: variables, precedence, built-ins, exported variables.

use crate::support::Ctx;

#[test]
fn precedence_override_project_buildspec_host() {
    // R-ENV-05 (override > project > buildspec > image), R-ENV-03, R-LOC-03.
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  variables:\n    A: buildspec\n    B: buildspec\n    C: buildspec\n    HOST_VAR: buildspec\nphases:\n  build:\n    commands:\n      - echo $A $B $C $D $HOST_VAR $ONLY_HOST\n",
    );
    let project = ctx.out.path().join("project.json");
    std::fs::write(&project, r#"{"name": "demo", "environment": {"environmentVariables": [{"name": "A", "value": "project", "type": "PLAINTEXT"}, {"name": "B", "value": "project"}]}}"#).unwrap();
    let env_file = ctx.out.path().join("vars.env");
    std::fs::write(&env_file, "# comment\nD=\"file\"\n").unwrap();
    let mut cmd = ctx.command();
    cmd.args([
        "--project",
        project.to_str().unwrap(),
        "--env",
        "A=override",
        "--env-file",
        env_file.to_str().unwrap(),
    ])
    .env("HOST_VAR", "host")
    .env("ONLY_HOST", "host");
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.output(), ["override project buildspec \"file\" buildspec host"]);
    assert_eq!(run.build["projectName"], "demo");
}

#[test]
fn values_are_literal() {
    // R-ENV-02: `$PATH:/x` stays literal; quotes, backquotes and newlines survive.
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  variables:\n    P: \"$PATH:/x\"\n    Q: \"it's `id` $(id)\"\n    N: 1.10\nphases:\n  build:\n    commands:\n      - printf '%s|%s|%s\\n' \"$P\" \"$Q\" \"$N\"\n",
    );
    let run = ctx.run();
    assert_eq!(run.output(), ["$PATH:/x|it's `id` $(id)|1.10"]);
}

#[test]
fn builtin_variables_have_codebuild_formats() {
    // §9: CODEBUILD_BUILD_ID = <project>:<uuid>, ARN, START_TIME in ms, SRC_DIR, region.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo $CODEBUILD_BUILD_ID\n      - echo $CODEBUILD_BUILD_ARN\n      - echo $CODEBUILD_START_TIME\n      - echo $CODEBUILD_SRC_DIR\n      - pwd\n      - echo $AWS_REGION $AWS_DEFAULT_REGION\n      - echo ${CODEBUILD_RESOLVED_SOURCE_VERSION-unset}\n",
    );
    let run = ctx.run();
    let out = run.output();
    let uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    let project = ctx.src.path().file_name().unwrap().to_string_lossy().replace('.', "-");
    assert!(regex::Regex::new(&format!("^{project}:{uuid}$")).unwrap().is_match(&out[0]), "{}", out[0]);
    assert_eq!(out[1], format!("arn:aws:codebuild:us-east-1:000000000000:build/{}", out[0]));
    assert!(regex::Regex::new(r"^\d{13}$").unwrap().is_match(&out[2]), "{}", out[2]);
    assert_eq!(out[3], out[4], "R-SH-03: the first command starts in CODEBUILD_SRC_DIR");
    assert_eq!(out[5], "us-east-1 us-east-1");
    assert_eq!(out[6], "unset", "not a git checkout");
    assert_eq!(run.build["id"], out[0]);
    assert_eq!(run.build["arn"], out[1]);
}

#[test]
fn resolved_source_version_is_git_head() {
    // §9 CODEBUILD_RESOLVED_SOURCE_VERSION for a git checkout.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo $CODEBUILD_RESOLVED_SOURCE_VERSION\n",
    );
    let git = |args: &[&str]| {
        let out =
            std::process::Command::new("git").arg("-C").arg(ctx.src.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["-c", "user.email=t@example.invalid", "-c", "user.name=t", "add", "."]);
    git(&["-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "x"]);
    let head = git(&["rev-parse", "HEAD"]);
    let run = ctx.run();
    assert_eq!(run.output(), std::slice::from_ref(&head));
    assert_eq!(run.build["resolvedSourceVersion"], head);
}

#[test]
fn secondary_sources_get_their_own_directory_variable() {
    // §9 CODEBUILD_SRC_DIR_<sourceIdentifier>.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat $CODEBUILD_SRC_DIR_lib/lib.txt\n",
    );
    let lib = tempfile::tempdir().unwrap();
    std::fs::write(lib.path().join("lib.txt"), "from lib\n").unwrap();
    let arg = format!("lib={}", lib.path().display());
    let run = ctx.run_with(&["--source", &arg]);
    assert_eq!(run.output(), ["from lib"]);
    // Issue 21: the record names the directories (runspec's LOCAL type), not NO_SOURCE.
    let src = ctx.src.path().canonicalize().unwrap();
    assert_eq!(
        run.build["source"],
        serde_json::json!({"type": "LOCAL", "location": src.display().to_string()})
    );
    let lib = lib.path().canonicalize().unwrap();
    assert_eq!(
        run.build["secondarySources"],
        serde_json::json!([{"type": "LOCAL", "location": lib.display().to_string(), "sourceIdentifier": "lib"}])
    );
}

#[test]
fn exported_variables_take_their_value_at_the_end() {
    // R-ENV-09: the value at the end of post_build; [OPEN] unset → empty, AWS_* dropped.
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  variables:\n    STAGE: dev\n  exported-variables:\n    - STAGE\n    - VERSION\n    - NEVER_SET\n    - AWS_REGION\nphases:\n  build:\n    commands:\n      - VERSION=1.2.3\n  post_build:\n    commands:\n      - STAGE=prod\n",
    );
    let run = ctx.run();
    assert_eq!(
        run.exported(),
        [
            ("STAGE".into(), "prod".into()),
            ("VERSION".into(), "1.2.3".into()),
            ("NEVER_SET".into(), String::new())
        ]
    );
}

#[test]
fn host_aws_credentials_do_not_leak_into_the_build() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ${AWS_SECRET_ACCESS_KEY-absent}\n",
    );
    let mut cmd = ctx.command();
    cmd.env("AWS_SECRET_ACCESS_KEY", "hunter2");
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.output(), ["absent"]);
}

#[test]
fn unset_persists() {
    // [OPEN] §18.5 decided: an `unset` lasts, as in one long-lived shell (R-SH-01).
    let run = Ctx::new("version: 0.2\nenv:\n  variables:\n    GONE: x\nphases:\n  build:\n    commands:\n      - unset GONE\n      - echo ${GONE-unset}\n").run();
    assert_eq!(run.output(), ["unset"]);
}
