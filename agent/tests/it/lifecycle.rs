//! §6 phases and §8 transitions, through the binary.

use crate::support::Ctx;

fn spec(install: &str, pre: &str, build: &str, post: &str) -> String {
    let phase = |name: &str, body: &str| {
        if body.is_empty() { String::new() } else { format!("  {name}:\n{body}") }
    };
    format!(
        "version: 0.2\nphases:\n{}{}{}{}artifacts:\n  files:\n    - buildspec.yml\n",
        phase("install", install),
        phase("pre_build", pre),
        phase("build", build),
        phase("post_build", post)
    )
}

const OK: &str = "    commands:\n      - echo ok\n";
const FAIL: &str = "    commands:\n      - echo failing\n      - exit 3\n      - echo never\n";

#[test]
fn default_transitions_after_a_failure() {
    // R-TR-02 row by row, with R-TR-03 for the build status.
    let all_ok = [
        "DOWNLOAD_SOURCE=SUCCEEDED",
        "INSTALL=SUCCEEDED",
        "PRE_BUILD=SUCCEEDED",
        "BUILD=SUCCEEDED",
        "POST_BUILD=SUCCEEDED",
        "UPLOAD_ARTIFACTS=SUCCEEDED",
    ];
    let cases: &[(&str, [&str; 4], &[&str], &str)] = &[
        ("all succeed", [OK, OK, OK, OK], &all_ok, "SUCCEEDED"),
        (
            "R-TR-02 install fails: nothing else, no upload",
            [FAIL, OK, OK, OK],
            &["DOWNLOAD_SOURCE=SUCCEEDED", "INSTALL=FAILED"],
            "FAILED",
        ),
        (
            "R-TR-02 pre_build fails: build and post_build skipped",
            [OK, FAIL, OK, OK],
            &["DOWNLOAD_SOURCE=SUCCEEDED", "INSTALL=SUCCEEDED", "PRE_BUILD=FAILED"],
            "FAILED",
        ),
        (
            "R-TR-02 build fails: post_build runs, artifacts uploaded",
            [OK, OK, FAIL, OK],
            &[
                "DOWNLOAD_SOURCE=SUCCEEDED",
                "INSTALL=SUCCEEDED",
                "PRE_BUILD=SUCCEEDED",
                "BUILD=FAILED",
                "POST_BUILD=SUCCEEDED",
                "UPLOAD_ARTIFACTS=SUCCEEDED",
            ],
            "FAILED",
        ),
        (
            "R-TR-02 post_build fails: artifacts still uploaded",
            [OK, OK, OK, FAIL],
            &[
                "DOWNLOAD_SOURCE=SUCCEEDED",
                "INSTALL=SUCCEEDED",
                "PRE_BUILD=SUCCEEDED",
                "BUILD=SUCCEEDED",
                "POST_BUILD=FAILED",
                "UPLOAD_ARTIFACTS=SUCCEEDED",
            ],
            "FAILED",
        ),
    ];
    for (what, [i, p, b, pb], phases, status) in cases {
        let ctx = Ctx::new(&spec(i, p, b, pb));
        let run = ctx.run_artifacts(&[]);
        assert_eq!(run.phases(), *phases, "{what}\n{}", run.stdout);
        assert_eq!(run.status(), *status, "{what}");
        assert_eq!(run.code, if *status == "SUCCEEDED" { 0 } else { 1 }, "{what}");
        assert_eq!(
            run.out.join("artifacts.zip").exists(),
            phases.last() == Some(&"UPLOAD_ARTIFACTS=SUCCEEDED"),
            "{what}"
        );
        assert!(!run.stdout.contains("never"), "R-PH-10: commands after a failure are skipped ({what})");
    }
}

#[test]
fn undeclared_phases_are_entered_and_succeed() {
    // R-PH-04, R-LOG-02: only declared phases are counted, every phase is entered.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n");
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED");
    assert!(run.has_line("> Phases found in YAML: 1"));
    assert!(run.has_line(">  BUILD: 1 commands"));
    for p in ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"] {
        assert!(run.has_line(&format!("> Entering phase {p}")), "{p}");
        assert!(run.has_line(&format!("> Phase complete: {p} State: SUCCEEDED")), "{p}");
    }
    // R-ART-09: UPLOAD_ARTIFACTS is reported even without an `artifacts` section.
    assert!(run.has_line("> Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED"));
}

#[test]
fn zero_phases_still_succeed() {
    // §3 `phases` [OBS]: "Phases found in YAML: 0", every phase entered and SUCCEEDED.
    let run = Ctx::new("version: 0.2\n").run();
    assert_eq!(run.status(), "SUCCEEDED");
    assert!(run.has_line("> Phases found in YAML: 0"));
}

#[test]
fn phases_run_in_lifecycle_order_whatever_the_file_order() {
    // R-PH-01.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  post_build:\n    commands: [echo 4]\n  build:\n    commands: [echo 3]\n  install:\n    commands: [echo 1]\n  pre_build:\n    commands: [echo 2]\n",
    );
    let run = ctx.run();
    assert_eq!(run.output(), ["1", "2", "3", "4"]);
    // R-LOG-02: the per-phase count lines follow the file's order.
    let counts: Vec<String> =
        run.log().into_iter().filter(|l| l.ends_with("commands") && l.starts_with(">  ")).collect();
    assert_eq!(
        counts,
        [
            ">  POST_BUILD: 1 commands",
            ">  BUILD: 1 commands",
            ">  INSTALL: 1 commands",
            ">  PRE_BUILD: 1 commands"
        ]
    );
}

#[test]
fn finally_runs_after_failure_and_success_and_can_fail_the_phase() {
    // R-PH-10, R-PH-11.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  install:\n    commands: [echo i]\n    finally: [echo install-finally]\n  build:\n    commands:\n      - exit 2\n      - echo skipped\n    finally:\n      - echo build-finally\n  post_build:\n    commands: [echo p]\n    finally:\n      - 'false'\n      - echo after-failed-finally\n",
    );
    let run = ctx.run();
    assert_eq!(run.output(), ["i", "install-finally", "build-finally", "p"]);
    assert_eq!(
        run.phases()[2..],
        ["PRE_BUILD=SUCCEEDED", "BUILD=FAILED", "POST_BUILD=FAILED", "UPLOAD_ARTIFACTS=SUCCEEDED"]
    );
    assert_eq!(run.context("POST_BUILD").1, "Error while executing command: false. Reason: exit status 1");
}

#[test]
fn failing_command_log_lines() {
    // R-PH-13, R-TR-05, R-SH-11: exact wording, a blank line after the output.
    let run = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo out; exit 7\n").run();
    let log = run.log();
    let i = log.iter().position(|l| l == "> Running command echo out; exit 7").unwrap();
    assert_eq!(
        log[i..i + 7],
        [
            "> Running command echo out; exit 7",
            "out",
            "",
            "> Command did not exit successfully echo out; exit 7 exit status 7",
            "> Phase complete: BUILD State: FAILED",
            "> Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: echo out; exit 7. Reason: exit status 7",
            "> Entering phase POST_BUILD",
        ]
    );
    assert!(run.has_line("> Phase context status code:  Message: "), "R-TR-05 two spaces on success");
    let re = regex::Regex::new(r"^\[Container\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} ").unwrap();
    for line in run.stdout.lines().filter(|l| l.starts_with('[')) {
        assert!(re.is_match(line), "R-LOG-01 format: {line}");
    }
}

#[test]
fn on_failure_abort_and_continue() {
    // R-PH-20, R-PH-22 (ABORT: no later phase, no upload), R-PH-23 (CONTINUE).
    let abort =
        Ctx::new(&spec("", "", "    on-failure: ABORT\n    commands: [exit 1]\n", OK)).run_artifacts(&[]);
    assert_eq!(abort.phases().last().unwrap(), "BUILD=FAILED");
    assert_eq!(abort.status(), "FAILED");

    let cont = Ctx::new(&spec(
        "    on-failure: CONTINUE\n    commands: [exit 1]\n",
        "    commands: ['echo pre $CODEBUILD_BUILD_SUCCEEDING']\n",
        OK,
        "",
    ))
    .run_artifacts(&[]);
    assert_eq!(cont.phases()[1..3], ["INSTALL=FAILED", "PRE_BUILD=SUCCEEDED"], "{}", cont.stdout);
    assert!(cont.output().contains(&"pre 0".to_string()), "R-TR-04: 0 after a CONTINUE failure");
    // [OPEN] R-PH-23 decided (engine::transitions::CONTINUE_FAILS_BUILD = false).
    assert_eq!(cont.status(), "SUCCEEDED");
}

#[test]
fn on_failure_retry_reruns_the_phase_until_it_passes() {
    // R-PH-20 RETRY-<count>; [OPEN] R-PH-21 decided: the whole phase runs again, from the
    // shell state it started with.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-3\n    commands:\n      - cd sub\n      - n=$(cat ../count 2>/dev/null || echo 0); echo $((n+1)) > ../count\n      - test $(cat ../count) -ge 3\n",
    );
    ctx.write("sub/keep", "");
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.has_line("> Retrying phase BUILD after failure: retry 1 of 3"));
    assert!(run.has_line("> Retrying phase BUILD after failure: retry 2 of 3"));
    assert!(!run.stdout.contains("retry 3 of 3"));
}

#[test]
fn on_failure_retry_gives_up_when_exhausted_or_unmatched() {
    // R-PH-20 RETRY-<count>-<regex> and RETRY-<regex>.
    let exhausted = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2\n    commands: ['echo attempt; exit 1']\n",
    )
    .run();
    assert_eq!(exhausted.output(), ["attempt", "attempt", "attempt"]);
    assert_eq!(exhausted.phase("BUILD")["phaseStatus"], "FAILED");
    let matched = Ctx::new("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-1-connection reset\n    commands: ['echo connection reset by peer; exit 1']\n").run();
    assert_eq!(matched.output().len(), 2, "the output matched: one retry");
    let unmatched = Ctx::new("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-timeout\n    commands: ['echo disk full; exit 1']\n").run();
    assert_eq!(unmatched.output(), ["disk full"], "no match: no retry");
    let by_message = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-1-exit status 4\n    commands: ['exit 4']\n",
    )
    .run();
    assert_eq!(
        by_message.log().iter().filter(|l| l.starts_with("> Running command")).count(),
        2,
        "the context message matched"
    );
}

#[test]
fn build_succeeding_variable() {
    // R-TR-04: 1 while succeeding, 0 once a phase failed; post_build sees it.
    let run = Ctx::new(&spec(
        "    commands: ['echo install $CODEBUILD_BUILD_SUCCEEDING']\n",
        "",
        FAIL,
        "    commands: ['echo post $CODEBUILD_BUILD_SUCCEEDING']\n",
    ))
    .run();
    let out = run.output();
    assert!(out.contains(&"install 1".to_string()) && out.contains(&"post 0".to_string()), "{out:?}");
}

#[test]
fn buildspec_errors_fail_download_source_before_anything_runs() {
    // R-YAML-02, R-TR-02: YAML_FILE_ERROR in DOWNLOAD_SOURCE, no phase entered, exit 1.
    let run = Ctx::new("version: 0.2\nphases:\n  prebuild:\n    commands: [touch ran]\n").run();
    assert_eq!(run.phases(), ["DOWNLOAD_SOURCE=FAILED"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.context("DOWNLOAD_SOURCE"),
        (
            "YAML_FILE_ERROR".to_string(),
            "Invalid buildspec phase name: prebuild. Expecting: build,install,post_build,pre_build"
                .to_string()
        )
    );
    assert!(!run.stdout.contains("Entering phase"));
    assert!(run.stderr.contains("did you mean `pre_build`?"), "diagnostics on stderr: {}", run.stderr);

    let colon = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n").run();
    assert!(
        colon
            .context("DOWNLOAD_SOURCE")
            .1
            .starts_with("Expected Commands[0] to be of string type: found subkeys instead at line 5")
    );
    let version = Ctx::new("version: 1.0\n").run();
    assert_eq!(
        version.context("DOWNLOAD_SOURCE").1,
        "invalid buildspec `version` specified: 1.0, see documentation"
    );
}

#[test]
fn a_missing_buildspec_fails_download_source() {
    // R-FILE-02: default file missing, and a missing override.
    let ctx = Ctx::new("");
    std::fs::remove_file(ctx.src.path().join("buildspec.yml")).unwrap();
    let run = ctx.run();
    assert_eq!(
        run.context("DOWNLOAD_SOURCE"),
        ("YAML_FILE_ERROR".to_string(), "YAML file does not exist".to_string())
    );
    let run = ctx.run_with(&["--buildspec", "/nonexistent/ci.yml"]);
    assert_eq!(run.context("DOWNLOAD_SOURCE").1, "stat /nonexistent/ci.yml: no such file or directory");
}

#[test]
fn timeout_kills_the_command_and_its_children() {
    // §15: TIMED_OUT, the running command's whole process group is killed, nothing else runs.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 300 & echo $! > child.pid; sleep 300\n  post_build:\n    commands: [echo post]\n",
    );
    let start = std::time::Instant::now();
    let run = ctx.run_with(&["--timeout", "3s", "--mount-source"]);
    // The commands sleep five minutes: a deadline below that only catches a hang.
    assert!(start.elapsed().as_secs() < 200, "took {:?}", start.elapsed());
    assert_eq!(run.status(), "TIMED_OUT", "{}", run.stdout);
    assert_eq!(run.phases().last().unwrap(), "BUILD=TIMED_OUT");
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains("post\n"));
    let pid: i32 = std::fs::read_to_string(ctx.src.path().join("child.pid")).unwrap().trim().parse().unwrap();
    assert!(!alive(pid), "background child {pid} still alive");
}

#[test]
fn ctrl_c_stops_the_build() {
    // §15: STOPPED, same cleanup as a timeout.
    let ctx = Ctx::new("");
    let marker = ctx.out.path().join("started");
    ctx.write(
        "buildspec.yml",
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - touch {}; sleep 300\n",
            marker.display()
        ),
    );
    let child = ctx
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let output = child.wait_with_output().unwrap();
    let run = ctx.finish(output);
    assert_eq!(run.status(), "STOPPED", "{}", run.stdout);
    assert_eq!(run.code, 1);
    assert_eq!(run.context("BUILD").0, "BUILD_STOPPED");
}

/// A process that exists and is not a zombie waiting for its new parent to reap it.
fn alive(pid: i32) -> bool {
    // Give the kernel a moment to deliver the signal.
    for _ in 0..50 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return false,
            Ok(stat) => {
                let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("");
                if state == "Z" || state == "X" {
                    return false;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

#[test]
fn download_source_preamble() {
    // R-LOG-02 / R-PH-03: the DOWNLOAD_SOURCE lines, runtime selection included.
    let run = Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n").run();
    let log = run.log();
    let start = log.iter().position(|l| l == "> Phase is DOWNLOAD_SOURCE").unwrap();
    let lines: Vec<&str> = log[start..].iter().map(|l| l.split_once(' ').unwrap().1).take(11).collect();
    assert_eq!(lines[0], "Phase is DOWNLOAD_SOURCE");
    assert!(lines[1].starts_with("CODEBUILD_SRC_DIR=/"));
    assert!(lines[2].starts_with("YAML location is /") && lines[2].ends_with("/buildspec.yml"));
    assert_eq!(
        lines[3..6],
        ["Processing environment variables", "No runtime version selected in buildspec.", lines[5]]
    );
    assert!(lines[5].starts_with("Moving to directory /"));
    assert_eq!(
        lines[6..],
        [
            "Cache is not defined in the buildspec",
            "Phases found in YAML: 1",
            " BUILD: 1 commands",
            "Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED",
            "Phase context status code:  Message: "
        ]
    );
}

#[test]
fn result_json_is_a_codebuild_build() {
    // DESIGN "Result": the fields of `aws codebuild batch-get-builds`; R-TR-01 phase names.
    let run =
        Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n").run_with(&["--timeout", "5"]);
    let b = &run.build;
    for key in [
        "id",
        "arn",
        "buildNumber",
        "startTime",
        "endTime",
        "currentPhase",
        "buildStatus",
        "projectName",
        "phases",
        "exportedEnvironmentVariables",
        "artifacts",
        "secondaryArtifacts",
        "environment",
        "logs",
        "timeoutInMinutes",
        "buildComplete",
        "initiator",
    ] {
        assert!(!b[key].is_null(), "missing `{key}`");
    }
    assert_eq!(b["currentPhase"], "COMPLETED");
    assert_eq!(b["buildComplete"], true);
    assert_eq!(b["timeoutInMinutes"], 5);
    assert_eq!(b["buildNumber"], 1);
    let types: Vec<&str> =
        b["phases"].as_array().unwrap().iter().map(|p| p["phaseType"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
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
            "COMPLETED"
        ]
    );
    let iso = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$").unwrap();
    assert!(iso.is_match(b["startTime"].as_str().unwrap()));
    assert!(b["phases"][6]["durationInSeconds"].is_u64());
}

#[test]
fn build_numbers_count_per_project() {
    let ctx = Ctx::new("version: 0.2\n");
    assert_eq!(ctx.run().build["buildNumber"], 1);
    assert_eq!(ctx.run().build["buildNumber"], 2);
}
