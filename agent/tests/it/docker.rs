//! The Docker executor on a real engine (scripts/test.sh starts dockerd and builds the test image
//! from busybox-static with `docker import`): the same command semantics as on the host, the
//! image's ENV as the lowest layer (R-ENV-03), artifacts, timeouts and cleanup.

use crate::support::{Ctx, Run};

fn image() -> String {
    std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect("needs docker: run scripts/test.sh")
}

fn run(ctx: &Ctx, extra: &[&str]) -> Run {
    let mut cmd = ctx.command();
    cmd.args(["--image", &image()]).args(extra);
    ctx.finish(cmd.output().unwrap())
}

/// Containers that this build left behind (runspec labels them `runspec.build=<build id>`).
fn leftover_containers(run: &Run) -> Vec<String> {
    let label = format!("label=runspec.build={}", run.build["id"].as_str().unwrap());
    let out = std::process::Command::new("docker").args(["ps", "-aq", "--filter", &label]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn commands_run_in_the_container_with_state_carried_over() {
    // R-SH-03/04/05/07 inside the container; CODEBUILD_SRC_DIR at a CodeBuild-like path.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - cd sub\n      - X=persisted\n  build:\n    commands:\n      - pwd\n      - echo x=$X\n      - exit 0\n      - echo after\n      - (sleep 1; echo bg > bg.txt) > /dev/null 2>&1 &\n      - sleep 2; cat bg.txt\n      - test -f /bin/busybox && echo in-busybox\n      - id -u\n",
    );
    ctx.write("sub/keep", "");
    let run = run(&ctx, &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    let out = run.output();
    assert!(regex::Regex::new(r"^/codebuild/output/src\d+/src/sub$").unwrap().is_match(&out[0]), "{out:?}");
    assert_eq!(out[1..], ["x=persisted", "after", "bg", "in-busybox", "0"]);
    assert!(run.has_line(&format!(
        "> Running on runspec {} (Docker image {})",
        env!("CARGO_PKG_VERSION"),
        image()
    )));
    assert!(leftover_containers(&run).is_empty(), "the container was not removed");
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn image_env_is_the_lowest_layer() {
    // R-ENV-03/05: buildspec replaces the image's value; the image's own value shows otherwise;
    // the host's environment does not leak in.
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  variables:\n    SHARED: buildspec\nphases:\n  build:\n    commands:\n      - echo $IMAGE_VAR $SHARED ${HOST_ONLY-absent} $CODEBUILD_BUILD_IMAGE\n",
    );
    let mut cmd = ctx.command();
    cmd.args(["--image", &image()]).env("HOST_ONLY", "host");
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.output(), [format!("from-image buildspec absent {}", image())]);
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn artifacts_and_failures_from_a_container_build() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist && echo page > dist/index.html\n      - exit 3\nartifacts:\n  files: ['**/*']\n  base-directory: $CODEBUILD_SRC_DIR/dist\n",
    );
    let run = ctx.run_artifacts(&["--image", &image()]);
    assert_eq!(run.status(), "FAILED");
    assert_eq!(run.context("BUILD").1, "Error while executing command: exit 3. Reason: exit status 3");
    assert_eq!(run.zip_names("artifacts.zip"), ["index.html"], "{}", run.stdout);
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn a_timeout_leaves_no_container_behind() {
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 300\n");
    let start = std::time::Instant::now();
    let run = run(&ctx, &["--timeout", "2s"]);
    assert_eq!(run.status(), "TIMED_OUT", "{}", run.stdout);
    // The command sleeps five minutes: a deadline below that only catches a hang.
    assert!(start.elapsed().as_secs() < 200, "{:?}", start.elapsed());
    assert!(
        leftover_containers(&run).is_empty(),
        "a container was left behind: {:?}",
        leftover_containers(&run)
    );
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn the_projects_image_is_the_default() {
    // A CodeBuild project names its build image: runspec builds in it unless told `--host`.
    let ctx =
        Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"image var=$IMAGE_VAR\"\n");
    let project = ctx.out.path().join("project.json");
    std::fs::write(&project, format!(r#"{{"name": "p", "environment": {{"image": "{}"}}}}"#, image()))
        .unwrap();
    let run = ctx.run_with(&["--project", project.to_str().unwrap()]);
    assert!(run.has_line("image var=from-image"), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.build["environment"]["image"], image());
    let run = ctx.run_with(&["--project", project.to_str().unwrap(), "--host"]);
    assert!(run.has_line("image var="), "{}", run.stdout);
    assert_eq!(run.build["environment"]["image"], "runspec/host");
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn a_missing_image_is_a_clear_error() {
    let ctx = Ctx::new("version: 0.2\n");
    let mut cmd = ctx.command();
    cmd.args(["--image", "runspec-test/no-such-image:never"]);
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot pull image `runspec-test/no-such-image:never`"), "{}", run.stderr);
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn run_as_in_the_container() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands:\n      - id -u\n  post_build:\n    commands:\n      - id -u\n",
    );
    let run = run(&ctx, &[]);
    assert_eq!(run.output(), ["65534", "0"], "{}", run.stdout);
    let bad = Ctx::new("version: 0.2\nrun-as: nosuchuser\n");
    let run = self::run(&bad, &[]);
    assert_eq!(run.context("DOWNLOAD_SOURCE").1, "run-as user `nosuchuser` does not exist on this machine");
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn the_cache_keeps_absolute_paths_of_the_container() {
    // R-CACHE-01/02 in a container: `/opt/deps-…/**/*` is the container's directory, saved from
    // and restored into the build container, never the host's.
    let dir = format!("/opt/runspec-deps-{}", std::process::id());
    let spec = format!(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - if [ -f {dir}/lib.txt ]; then echo \"restored $(cat {dir}/lib.txt) $(cat rel/r.txt)\"; else mkdir -p {dir} rel && echo v1 > {dir}/lib.txt && echo r1 > rel/r.txt && echo installed; fi\ncache:\n  paths:\n    - '{dir}/**/*'\n    - 'rel/**/*'\n"
    );
    let cache = tempfile::tempdir().unwrap();
    let ctx = Ctx::new(&spec);
    let first = run(&ctx, &["--cache", cache.path().to_str().unwrap()]);
    assert!(first.has_line("installed"), "{}", first.stdout);
    assert!(first.stdout.contains("Saved 2 file(s) to cache default"), "{}", first.stdout);
    let ctx = Ctx::new(&spec);
    let second = run(&ctx, &["--cache", cache.path().to_str().unwrap()]);
    assert!(second.has_line("restored v1 r1"), "{}", second.stdout);
    assert!(!std::path::Path::new(&dir).exists(), "the host's {dir} was written");
    assert!(leftover_containers(&second).is_empty());
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn images_without_a_passwd_file_run_as_their_default_user() {
    // `docker run IMG sh -c …` works for busybox-style and distroless images that have no
    // /etc/passwd; so must a build, as the image's default user (uid 0 here).
    let image =
        std::env::var("RUNSPEC_TEST_DOCKER_NO_PASSWD_IMAGE").expect("needs docker: run scripts/test.sh");
    let ctx =
        Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - test ! -e /etc/passwd && id -u\n");
    let mut cmd = ctx.command();
    cmd.args(["--image", &image]);
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.output(), ["0"]);
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn mount_source_builds_in_the_source_inside_the_container() {
    // A source built in place (--mount-source; `runspec serve`'s clones) is the container's
    // CODEBUILD_SRC_DIR too, not an empty directory.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat here.txt\n      - echo made > made.txt\n",
    );
    ctx.write("here.txt", "from-the-host\n");
    let run = run(&ctx, &["--mount-source"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.output(), ["from-the-host"]);
    assert_eq!(std::fs::read_to_string(ctx.src.path().join("made.txt")).unwrap(), "made\n");
}
