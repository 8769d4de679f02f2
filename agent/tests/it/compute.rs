//! Compute types as limits: a build gets its type's memory and vCPUs (CodeBuild's table), so a
//! build that runs out of memory on CodeBuild runs out of memory here too.

use crate::support::Ctx;

const LIMITS: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\"\n      - echo \"cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)\"\n";

fn dind() -> String {
    crate::docker_daemon::dind_image()
}

fn value(run: &crate::support::Run, key: &str) -> String {
    run.output()
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{}", run.stdout))
        .to_string()
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn a_small_build_gets_3_gib_and_2_cpus_and_4_gib_kills_it() {
    let ctx = Ctx::new(LIMITS);
    let run = ctx.run_with(&["--image", &dind(), "--compute-type", "BUILD_GENERAL1_SMALL"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.has_line("> Compute: BUILD_GENERAL1_SMALL: 3 GiB of memory, 2 vCPUs"), "{}", run.stdout);
    assert_eq!(value(&run, "memory"), (3u64 << 30).to_string());
    assert_eq!(value(&run, "cpu"), "200000", "2 CPUs of 100 ms periods");

    // Allocating (and touching) 4 GiB is killed by the kernel, and the build fails.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - python3 -c 'b = bytearray(4 * 1024**3); print(\"allocated\")'\n",
    );
    let run = ctx.run_with(&["--image", &dind(), "--compute-type", "BUILD_GENERAL1_SMALL"]);
    assert_eq!(run.status(), "FAILED", "{}", run.stdout);
    assert_eq!(run.context("BUILD").0, "COMMAND_EXECUTION_ERROR");
    assert!(run.stdout.contains("exit status 137"), "{}", run.stdout);
    assert!(!run.has_line("allocated"));

    // --no-limits lifts them; so does a build without a compute type.
    let run = ctx.run_with(&["--image", &dind(), "--compute-type", "BUILD_GENERAL1_SMALL", "--no-limits"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn a_type_bigger_than_the_machine_is_a_warning_and_gets_what_there_is() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    if cpus >= 72 {
        return; // A machine as big as BUILD_GENERAL1_2XLARGE has nothing to warn about.
    }
    let ctx = Ctx::new(LIMITS);
    let run = ctx.run_with(&["--image", &dind(), "--compute-type", "BUILD_GENERAL1_2XLARGE"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(
        run.has_line(&format!(
            "> Warning: BUILD_GENERAL1_2XLARGE has 72 vCPUs and this machine {cpus}: the build gets {cpus}"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(value(&run, "cpu"), (cpus * 100_000).to_string());
    // A type runspec cannot size is said too, and the build runs without limits.
    let run = ctx.run_with(&["--image", &dind(), "--compute-type", "CUSTOM_INSTANCE_TYPE"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(
        run.stdout.contains("Warning: compute type CUSTOM_INSTANCE_TYPE: runspec does not know the size"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_host_build_gets_the_limits_from_a_cgroup_or_says_why_not() {
    let ctx = Ctx::new(LIMITS);
    let run = ctx.run_with(&["--compute-type", "BUILD_GENERAL1_SMALL"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    let refused = run
        .stdout
        .lines()
        .find(|l| l.contains("Warning: the compute type's limits are not applied on this machine's shell: "));
    match refused {
        // This machine gives builds no cgroup v2 (cgroup v1, no root): the log says so.
        Some(line) => assert!(line.contains("cgroup"), "{line}"),
        // It does: the build's own cgroup has the type's memory.
        None => assert_eq!(value(&run, "memory"), (3u64 << 30).to_string(), "{}", run.stdout),
    }
}
