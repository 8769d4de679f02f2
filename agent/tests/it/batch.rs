//! `runspec run --batch` (R-BATCH-01..10): children of each batch kind, their environment,
//! graph order, failures and fast-fail, fanout shards with codebuild-tests-run, artifacts per
//! child, Ctrl-C.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Ctx, Run};

fn batch(ctx: &Ctx, extra: &[&str]) -> Run {
    let mut args = vec!["--batch"];
    args.extend_from_slice(extra);
    ctx.run_with(&args)
}

/// Output lines per child identifier (the `[id] ` prefix taken off), agent lines left out.
fn by_child(run: &Run) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in run.stdout.lines() {
        let Some(rest) = line.strip_prefix('[') else { continue };
        let Some((id, text)) = rest.split_once("] ") else { continue };
        if text.starts_with("[Container]") || text.is_empty() {
            continue;
        }
        out.entry(id.to_string()).or_default().push(text.to_string());
    }
    out
}

fn groups(run: &Run) -> BTreeMap<String, String> {
    run.build["buildBatch"]["buildGroups"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|g| {
            (
                g["identifier"].as_str().unwrap().to_string(),
                g["currentBuildSummary"]["buildStatus"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn child<'a>(run: &'a Run, id: &str) -> &'a Value {
    run.build["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| {
            b["environment"]["environmentVariables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "CODEBUILD_BATCH_BUILD_IDENTIFIER" && v["value"] == id)
        })
        .unwrap_or_else(|| panic!("no build for {id}"))
}

fn phase_time(build: &Value, phase: &str, key: &str) -> String {
    build["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == phase).unwrap()[key]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_matrix_makes_one_build_per_combination_with_its_environment() {
    // R-BATCH-07: 2 buildspecs × 3 values = 6 builds; R-BATCH-02: the identifier in each.
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-matrix:\n    static:\n      env:\n        variables:\n          SHARED: static\n    dynamic:\n      buildspec: [a.yml, b.yml]\n      env:\n        variables:\n          OS: [linux, mac, win]\nphases:\n  build:\n    commands: [echo never-the-top-buildspec]\n",
    );
    ctx.write("a.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"a $OS $SHARED $CODEBUILD_BATCH_BUILD_IDENTIFIER\"\n");
    ctx.write("b.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"b $OS $SHARED $CODEBUILD_BATCH_BUILD_IDENTIFIER\"\n");
    let run = batch(&ctx, &["-j", "3"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.build["buildBatch"]["buildBatchStatus"], "SUCCEEDED");
    let out = by_child(&run);
    assert_eq!(out.len(), 6, "{out:?}");
    let mut seen: Vec<String> = out.values().map(|l| l[0].clone()).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "a linux static build1",
            "a mac static build2",
            "a win static build3",
            "b linux static build4",
            "b mac static build5",
            "b win static build6"
        ]
    );
    assert!(!run.stdout.contains("never-the-top-buildspec"));
    assert_eq!(run.build["builds"].as_array().unwrap().len(), 6);
    let arn = run.build["buildBatch"]["arn"].as_str().unwrap();
    assert!(arn.contains(":build-batch/"), "{arn}");
    assert!(run.build["builds"].as_array().unwrap().iter().all(|b| b["buildBatchArn"] == arn));
    let phases: Vec<&str> = run.build["buildBatch"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phaseType"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["SUBMITTED", "DOWNLOAD_BATCHSPEC", "IN_PROGRESS", "COMBINE_ARTIFACTS", "SUCCEEDED"]);
    assert_eq!(run.build["buildBatch"]["buildGroups"][0]["identifier"], "DOWNLOAD_SOURCE");
}

#[test]
fn a_graph_runs_dependents_after_their_dependencies() {
    // R-BATCH-06, a diamond: left and right after first, last after both.
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-graph:\n    - identifier: first\n    - identifier: left\n      depend-on: [first]\n    - identifier: right\n      depend-on: [first]\n    - identifier: last\n      depend-on: [left, right]\nphases:\n  build:\n    commands:\n      - sleep 0.2\n",
    );
    let run = batch(&ctx, &["-j", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ends = |id: &str| phase_time(child(&run, id), "COMPLETED", "startTime");
    let starts = |id: &str| phase_time(child(&run, id), "DOWNLOAD_SOURCE", "startTime");
    assert!(starts("left") >= ends("first") && starts("right") >= ends("first"));
    assert!(starts("last") >= ends("left") && starts("last") >= ends("right"));
    // left and right ran side by side (-j 4).
    assert!(starts("right") < ends("left") && starts("left") < ends("right"));
    let deps = &run.build["buildBatch"]["buildGroups"][4];
    assert_eq!(deps["identifier"], "last");
    assert_eq!(deps["dependsOn"], serde_json::json!(["left", "right"]));
}

#[test]
fn failures_ignore_failure_and_skipped_dependents() {
    // R-BATCH-05: a failed task fails the batch unless ignore-failure; R-BATCH-06: its
    // dependents never run and read STOPPED.
    let spec = |ignore: bool| {
        format!(
            "version: 0.2\nbatch:\n  build-graph:\n    - identifier: bad\n      ignore-failure: {ignore}\n      env:\n        variables: {{FAIL: 'yes'}}\n    - identifier: good\n    - identifier: after_bad\n      depend-on: [bad]\nphases:\n  build:\n    commands:\n      - test \"$FAIL\" != yes\n      - echo \"ran $CODEBUILD_BATCH_BUILD_IDENTIFIER\"\n"
        )
    };
    let run = batch(&Ctx::new(&spec(false)), &[]);
    assert_eq!(run.code, 1);
    assert_eq!(run.build["buildBatch"]["buildBatchStatus"], "FAILED");
    let g = groups(&run);
    assert_eq!(
        (g["bad"].as_str(), g["good"].as_str(), g["after_bad"].as_str()),
        ("FAILED", "SUCCEEDED", "STOPPED")
    );
    assert!(!run.stdout.contains("ran after_bad"));
    let phases: Vec<&str> = run.build["buildBatch"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phaseType"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["SUBMITTED", "DOWNLOAD_BATCHSPEC", "IN_PROGRESS", "FAILED"]);

    let run = batch(&Ctx::new(&spec(true)), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.build["buildBatch"]["buildBatchStatus"], "SUCCEEDED");
    assert!(
        run.stdout.contains("[after_bad] ran after_bad"),
        "a failure that is ignored lets dependents run"
    );
}

#[test]
fn fast_fail_stops_running_siblings() {
    // With fast-fail the slow sibling (ten minutes) is stopped; without it, it finishes.
    let spec = |fast: bool| {
        let slow = if fast { 600 } else { 1 };
        format!(
            "version: 0.2\nbatch:\n  fast-fail: {fast}\n  build-list:\n    - identifier: fails\n      env:\n        variables: {{ROLE: fail}}\n    - identifier: slow\n      env:\n        variables: {{ROLE: slow}}\nphases:\n  build:\n    commands:\n      - if [ \"$ROLE\" = fail ]; then sleep 0.5; exit 1; fi\n      - sleep {slow}\n      - echo slow-finished\n"
        )
    };
    let run = batch(&Ctx::new(&spec(true)), &["-j", "2"]);
    let g = groups(&run);
    assert_eq!((g["fails"].as_str(), g["slow"].as_str()), ("FAILED", "STOPPED"), "{}", run.stdout);
    assert!(!run.stdout.contains("slow-finished"));
    let run = batch(&Ctx::new(&spec(false)), &["-j", "2"]);
    let g = groups(&run);
    assert_eq!((g["fails"].as_str(), g["slow"].as_str()), ("FAILED", "SUCCEEDED"));
    assert!(run.stdout.contains("[slow] slow-finished"));
    assert_eq!(run.build["buildBatch"]["buildBatchStatus"], "FAILED");
}

#[test]
fn fanout_shards_cover_every_test_file_once() {
    // R-BATCH-08: codebuild-tests-run and codebuild-glob-search on the build's PATH.
    for strategy in ["equal-distribution", "stability"] {
        let ctx = Ctx::new(&format!(
            "version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 3\nphases:\n  build:\n    commands:\n      - codebuild-tests-run --test-command 'echo RAN' --files-search \"codebuild-glob-search 'tests/**/*.txt'\" --sharding-strategy {strategy}\n      - 'printf \"%s\\n\" \"$CODEBUILD_CURRENT_SHARD_FILES\" | wc -l'\n"
        ));
        for i in 1..=10 {
            ctx.write(&format!("tests/sub/t{i:02}.txt"), "");
        }
        ctx.write("tests/not-a-test.md", "");
        let run = batch(&ctx, &["-j", "3"]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let out = by_child(&run);
        assert_eq!(out.keys().collect::<Vec<_>>(), ["build1", "build2", "build3"]);
        let mut files: Vec<String> = out
            .values()
            .flat_map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.strip_prefix("RAN "))
                    .flat_map(|l| l.split(' ').map(str::to_string))
            })
            .collect();
        files.sort();
        let expected: Vec<String> = (1..=10).map(|i| format!("tests/sub/t{i:02}.txt")).collect();
        assert_eq!(files, expected, "{strategy}: every file exactly once\n{}", run.stdout);
        if strategy == "equal-distribution" {
            let sizes: Vec<usize> = out
                .values()
                .map(|l| l.iter().find(|l| l.starts_with("RAN ")).unwrap().split(' ').count() - 1)
                .collect();
            assert_eq!(sizes, [4, 3, 3]);
        }
    }
    // Outside a fanout the one build runs all of them.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - codebuild-tests-run --test-command 'echo RAN' --files-search \"codebuild-glob-search 'tests/*.txt'\"\n",
    );
    ctx.write("tests/a.txt", "");
    ctx.write("tests/b.txt", "");
    ctx.write("tests/deeper/c.txt", "");
    let run = ctx.run();
    assert_eq!(
        run.output(),
        ["codebuild-tests-run: shard 1 of 1: 2 of 2 test files", "RAN tests/a.txt tests/b.txt"],
        "`*` stays within a directory"
    );
}

#[test]
fn each_child_has_its_own_artifacts() {
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n    - identifier: two\nphases:\n  build:\n    commands:\n      - echo \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" > out.txt\nartifacts:\n  files: [out.txt]\n",
    );
    let run = ctx.run_artifacts(&["--batch"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for id in ["one", "two"] {
        let zip = run.out.join(id).join("artifacts.zip");
        assert!(zip.is_file(), "{}", zip.display());
        let mut z = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut z.by_name("out.txt").unwrap(), &mut text).unwrap();
        assert_eq!(text, format!("{id}\n"));
    }
    let g = &run.build["buildBatch"]["buildGroups"][1]["currentBuildSummary"]["primaryArtifact"];
    assert!(g["location"].as_str().unwrap().ends_with("/one/artifacts.zip"), "{g}");
}

#[test]
fn ctrl_c_stops_every_child() {
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n    - identifier: b\n    - identifier: c\nphases:\n  build:\n    commands:\n      - sleep 600 & echo $! > \"$MARKS/$CODEBUILD_BATCH_BUILD_IDENTIFIER\"; wait\n",
    );
    let marks = tempfile::tempdir().unwrap();
    let mut cmd = ctx.command();
    cmd.args(["--batch", "-j", "2", "--env"]).arg(format!("MARKS={}", marks.path().display()));
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let pid_of = |id: &str| {
        std::fs::read_to_string(marks.path().join(id)).ok().and_then(|t| t.trim().parse::<i32>().ok())
    };
    while pid_of("a").is_none() || pid_of("b").is_none() {
        assert!(Instant::now() < end, "the children did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    // The children sleep ten minutes; a deadline far below that only catches a hang.
    assert!(t.elapsed() < Duration::from_secs(300), "{:?}", t.elapsed());
    let run = ctx.finish(output);
    assert_eq!(run.code, 1);
    assert_eq!(run.build["buildBatch"]["buildBatchStatus"], "STOPPED", "{}", run.stderr);
    let g = groups(&run);
    assert_eq!((g["a"].as_str(), g["b"].as_str(), g["c"].as_str()), ("STOPPED", "STOPPED", "STOPPED"));
    assert!(pid_of("c").is_none(), "c never started");
    for id in ["a", "b"] {
        let pid = pid_of(id).unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z "),
            "{id}'s sleep is gone"
        );
    }
}

#[test]
fn host_runs_every_child_on_the_host_and_a_child_that_cannot_start_is_recorded() {
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: plain\n    - identifier: imaged\n      env:\n        image: runspec-test/no-such-image:1\nphases:\n  build:\n    commands: [echo \"on $CODEBUILD_BATCH_BUILD_IDENTIFIER\"]\n",
    );
    // --host applies to every child, whatever image its task names.
    let run = batch(&ctx, &["--host"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(groups(&run)["imaged"], "SUCCEEDED", "{}", run.stdout);
    assert!(run.stdout.contains("[imaged] on imaged"), "{}", run.stdout);
    // Without it, the image is not there: a FAILED build of its own, with the reason.
    let run = batch(&ctx, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(groups(&run)["imaged"], "FAILED", "{}", run.stderr);
    let imaged = child(&run, "imaged");
    assert_eq!(imaged["buildStatus"], "FAILED", "{imaged}");
    let provisioning =
        imaged["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "PROVISIONING").unwrap();
    assert_eq!(provisioning["phaseStatus"], "FAILED");
    let reason = provisioning["contexts"][0]["message"].as_str().unwrap();
    assert!(reason.contains("no-such-image"), "{reason}");
}

#[test]
fn a_batch_needs_a_valid_batch_section() {
    let run = batch(&Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n"), &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("has no `batch` section"), "{}", run.stderr);
    let run = batch(
        &Ctx::new(
            "version: 0.2\nbatch:\n  build-list:\n    - identifier: has-dash\nphases:\n  build:\n    commands: [echo hi]\n",
        ),
        &[],
    );
    // CodeBuild refuses it in DOWNLOAD_BATCHSPEC: a FAILED batch, in the record and the log
    // (R-BATCH-09).
    assert_eq!(run.code, 1, "{}", run.stderr);
    let b = &run.build["buildBatch"];
    assert_eq!(b["buildBatchStatus"], "FAILED", "{}", run.stderr);
    let spec =
        b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "DOWNLOAD_BATCHSPEC").unwrap();
    assert_eq!(spec["phaseStatus"], "FAILED");
    let words = "BATCH_SPEC_VALIDATION_ERROR: BatchSpec has invalid values.. Build Identifiers must contain only alphanumeric characters and underscores";
    assert!(spec["contexts"][0]["message"].as_str().unwrap().contains(words), "{spec}");
    assert!(
        run.has_line(&format!(
            "> Phase context status code: CLIENT_ERROR Message: {}",
            spec["contexts"][0]["message"].as_str().unwrap()
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn combined_artifacts_restrictions_and_the_batch_timeout() {
    // combine-artifacts: every child's primary artifact in one ZIP, each under its identifier.
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n      env:\n        compute-type: BUILD_GENERAL1_LARGE\n    - identifier: two\nphases:\n  build:\n    commands:\n      - echo \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" > out.txt\nartifacts:\n  files: [out.txt]\n",
    );
    let run = ctx.run_artifacts(&["--batch", "--combine-artifacts"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let combined = run.out.join("artifacts.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&combined).unwrap()).unwrap();
    let mut names: Vec<String> =
        (0..z.len()).map(|i| z.by_index(i).unwrap().name().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["one/out.txt", "two/out.txt"]);
    assert!(run.build["buildBatch"]["artifacts"]["location"].as_str().unwrap().ends_with("/artifacts.zip"));
    assert_eq!(child(&run, "one")["environment"]["computeType"], "BUILD_GENERAL1_LARGE", "recorded");

    // maximumBuildsAllowed: a batch making more builds does not start.
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 3\nphases:\n  build:\n    commands: [echo hi]\n",
    );
    ctx.write(
        "project.json",
        r#"{"name": "limited", "buildBatchConfig": {"restrictions": {"maximumBuildsAllowed": 2}}}"#,
    );
    let project = ctx.src.path().join("project.json");
    let run = batch(&ctx, &["--project", project.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the batch makes 3 builds; the project allows 2"), "{}", run.stderr);

    // The whole batch's timeout (the project's timeoutInMins; --batch-timeout here, to keep
    // the test short). A child that would run for 5 minutes is cut short.
    let ctx = Ctx::new(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: slow\nphases:\n  build:\n    commands: [sleep 300]\n",
    );
    ctx.write("project.json", r#"{"name": "short", "buildBatchConfig": {"timeoutInMins": 480}}"#);
    let project = ctx.src.path().join("project.json");
    let run = batch(&ctx, &["--project", project.to_str().unwrap(), "--batch-timeout", "1s"]);
    assert_eq!(run.build["buildBatch"]["buildBatchStatus"], "TIMED_OUT", "{}", run.stderr);
    assert_eq!(groups(&run)["slow"], "STOPPED");
}
