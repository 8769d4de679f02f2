//! Docker in privileged builds, on a real engine with real images (scripts/services.sh builds
//! them from Debian packages): the daemon of the build's own (`--docker in-image`, CodeBuild's
//! way), the sidecar, and what the build leaves behind (nothing). The workshop flow is AWS's
//! CI/CD workshops' buildspec: Compose with the source bind-mounted and a published port, the
//! tests in a container, `docker build`, a push with the ECR login, `imagedefinitions.json`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Ctx, Run};

const NEEDS: &str = "needs docker, moto and the test images: run scripts/test.sh";

fn env(name: &str) -> String {
    std::env::var(name).expect(NEEDS)
}

/// Debian with dockerd, the Docker client, Compose, a registry, curl and python3; its
/// entrypoint (which runspec never runs) leaves a marker file.
pub fn dind_image() -> String {
    env("RUNSPEC_TEST_DIND_IMAGE")
}

/// The same without the daemon: a language image with only the clients.
pub fn compose_cli_image() -> String {
    env("RUNSPEC_TEST_COMPOSE_CLI_IMAGE")
}

fn busybox() -> String {
    env("RUNSPEC_TEST_DOCKER_IMAGE")
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Containers, networks and volumes labelled with this build's id that are still there.
pub fn leftovers(build_id: &str) -> Vec<String> {
    let label = format!("label=runspec.build={build_id}");
    let mut left = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "-aq", "--filter", &label]),
        ("network", vec!["network", "ls", "-q", "--filter", &label]),
        ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
    ] {
        left.extend(docker(&args).lines().map(|l| format!("{kind} {l}")));
    }
    left
}

/// The source of the workshop flow. The build loads the base image (no pulls here), starts a
/// registry on its own loopback (where the daemon, in the build's network namespace, pushes),
/// and logs in to it with the ECR token runspec hands the build (`RUNSPEC_ECR_REGISTRY` sends
/// the login there).
pub fn workshop(ctx: &Ctx) {
    let tar = ctx.src.path().join("images/busybox.tar");
    std::fs::create_dir_all(tar.parent().unwrap()).unwrap();
    let saved =
        Command::new("docker").args(["save", "-o", tar.to_str().unwrap(), &busybox()]).status().unwrap();
    assert!(saved.success());
    let htpasswd =
        Command::new("htpasswd").args(["-Bbn", "AWS", "123456789012-auth-token"]).output().unwrap();
    assert!(htpasswd.status.success());
    ctx.write("registry/htpasswd", &String::from_utf8_lossy(&htpasswd.stdout));
    ctx.write(
        "registry/config.yml",
        "version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: /tmp/registry-data } }\nhttp: { addr: \"127.0.0.1:5000\" }\nauth: { htpasswd: { realm: test, path: /tmp/registry-htpasswd } }\n",
    );
    ctx.write("index.html", "hello-from-source\n");
    ctx.write("tests/run.sh", "grep -q hello-from-source /app/index.html && echo 'tests passed'\n");
    ctx.write(
        "Dockerfile",
        &format!("FROM {}\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n", busybox()),
    );
    ctx.write(
        "docker-compose.yml",
        "version: \"3\"\nservices:\n  web:\n    image: web:v1\n    command: httpd -f -p 8080 -h /app\n    volumes:\n      - .:/app\n    ports:\n      - \"8080:8080\"\n  test:\n    image: runspec-test:busybox\n    volumes:\n      - .:/app\n    command: sh /app/tests/run.sh\n",
    );
}

pub const WORKSHOP_BUILDSPEC: &str = r#"version: 0.2
env:
  variables:
    REPOSITORY_URI: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
phases:
  pre_build:
    commands:
      - docker load -i images/busybox.tar
      - cp registry/htpasswd /tmp/registry-htpasswd
      - docker-registry serve registry/config.yml > /tmp/registry.log 2>&1 &
      - for i in $(seq 100); do curl -s -o /dev/null 127.0.0.1:5000/v2/ && break; sleep 0.1; done
      - TAG=v1
  build:
    commands:
      - docker build -q -t web:$TAG .
      - docker-compose up -d web
      - for i in $(seq 100); do curl -fsS localhost:8080/index.html && break; sleep 0.1; done
      - docker-compose run --rm test
      - docker run --rm -v "$PWD":/src runspec-test:busybox ls /src
      - mkdir -p /tmp/made && echo made-in-tmp > /tmp/made/f
      - docker run --rm -v /tmp/made:/m runspec-test:busybox cat /m/f
  post_build:
    commands:
      - docker-compose down -t 1
      - docker tag web:$TAG 127.0.0.1:5000/web:$TAG
      - docker push 127.0.0.1:5000/web:$TAG > /dev/null
      - docker rmi 127.0.0.1:5000/web:$TAG > /dev/null && docker pull 127.0.0.1:5000/web:$TAG > /dev/null && echo pulled-back
      - printf '[{"name":"web","imageUri":"%s"}]' "$REPOSITORY_URI:$TAG" > imagedefinitions.json
      - test ! -e /var/run/runspec-test-entrypoint-ran && echo entrypoint-not-run
artifacts:
  files:
    - imagedefinitions.json
"#;

/// What the workshop flow must show in its log and artifacts.
pub fn assert_workshop_passed(status: &str, log: &[String], artifacts: Option<&Path>) {
    let text = log.join("\n");
    assert_eq!(status, "SUCCEEDED", "{text}");
    for expected in [
        "hello-from-source",
        "tests passed",
        "buildspec.yml",
        "made-in-tmp",
        "pulled-back",
        "entrypoint-not-run",
    ] {
        assert!(log.iter().any(|l| l.trim() == expected), "`{expected}` is missing:\n{text}");
    }
    if let Some(dir) = artifacts {
        use std::io::Read;
        let mut zip = zip::ZipArchive::new(std::fs::File::open(dir.join("artifacts.zip")).unwrap()).unwrap();
        let mut defs = String::new();
        zip.by_name("imagedefinitions.json").unwrap().read_to_string(&mut defs).unwrap();
        assert_eq!(
            defs,
            r#"[{"name":"web","imageUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"}]"#
        );
    }
}

fn run_workshop(image: &str, extra: &[&str]) -> Run {
    let ctx = Ctx::new(WORKSHOP_BUILDSPEC);
    workshop(&ctx);
    let out = tempfile::tempdir().unwrap();
    let artifacts = out.path().join("artifacts");
    let mut cmd = ctx.command();
    crate::aws::aws_env(&mut cmd)
        .env("RUNSPEC_ECR_REGISTRY", "127.0.0.1:5000")
        .args(["--image", image, "--privileged", "--artifacts", artifacts.to_str().unwrap()])
        .args(extra);
    let run = ctx.finish(cmd.output().unwrap());
    let log: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    assert_workshop_passed(run.status(), &log, Some(&artifacts));
    // The token of the login never shows.
    assert!(!run.stdout.contains("123456789012-auth-token"));
    let id = run.build["id"].as_str().unwrap();
    assert_eq!(leftovers(id), Vec::<String>::new());
    // Nothing on this machine at the build's paths (the host engine used to make them).
    let src = run.stdout.lines().find_map(|l| l.split("CODEBUILD_SRC_DIR=").nth(1)).unwrap().to_string();
    assert!(!Path::new(&src).exists(), "{src} was made on the host");
    run
}

#[test]
#[ignore = "needs docker, moto and the test images: run scripts/test.sh"]
fn the_workshop_flow_runs_on_the_build_s_own_daemon() {
    let run = run_workshop(&dind_image(), &[]);
    assert!(
        run.stdout.contains("Docker: the daemon in the build container is ready after"),
        "{}",
        run.stdout
    );
}

#[test]
#[ignore = "needs docker, moto and the test images: run scripts/test.sh"]
fn the_workshop_flow_runs_on_a_sidecar_for_an_image_with_only_the_client() {
    let run =
        run_workshop(&compose_cli_image(), &["--docker", "sidecar", "--docker-sidecar-image", &dind_image()]);
    assert!(
        run.stdout.contains("Docker: the daemon in its sidecar container is ready after"),
        "{}",
        run.stdout
    );
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn aws_s_custom_image_recipe_still_works_and_unprivileged_builds_have_no_daemon() {
    // The buildspec starts its own dockerd, as AWS documents for custom images: the daemon
    // runspec started already holds the pidfile, so this one exits and `docker info` answers.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - nohup /usr/local/bin/dockerd --host=unix:///var/run/docker.sock --host=tcp://127.0.0.1:2375 --storage-driver=overlay2 &\n      - timeout 15 sh -c \"until docker info > /dev/null; do echo .; sleep 1; done\"\n  build:\n    commands:\n      - docker info --format 'driver={{.Driver}}'\n",
    );
    let run = ctx.run_with(&["--image", &dind_image(), "--privileged"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.has_line("driver=overlay2"), "{}", run.stdout);

    // Without privileged mode there is no daemon (and no socket), as on CodeBuild.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - docker info\n");
    let run = ctx.run_with(&["--image", &dind_image()]);
    assert_eq!(run.status(), "FAILED", "{}", run.stdout);
    assert!(!run.stdout.contains("Docker: "), "{}", run.stdout);

    // A privileged image without dockerd gets none either, and the log says so.
    let run = ctx.run_with(&["--image", &compose_cli_image(), "--privileged"]);
    assert_eq!(run.status(), "FAILED", "{}", run.stdout);
    assert!(
        run.has_line("> Docker: privileged mode, but the image has no dockerd: no Docker daemon was started"),
        "{}",
        run.stdout
    );
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn a_daemon_that_does_not_start_fails_provisioning_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN mkdir -p /usr/local/bin && printf '#!/bin/sh\\necho \"failed to start daemon: no storage driver for this test\"\\nexit 1\\n' > /usr/local/bin/dockerd && chmod +x /usr/local/bin/dockerd\n",
            busybox()
        ),
    )
    .unwrap();
    docker(&["build", "-q", "-t", "runspec-test:broken-dockerd", dir.path().to_str().unwrap()]);
    let ctx = Ctx::new("version: 0.2\nphases:\n  install:\n    commands:\n      - touch ran\n");
    let run = ctx.run_with(&["--image", "runspec-test:broken-dockerd", "--privileged"]);
    assert_eq!(run.status(), "FAILED", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.phases(), Vec::<String>::new(), "nothing after PROVISIONING ran: {}", run.build);
    assert_eq!(run.phase("PROVISIONING")["phaseStatus"], "FAILED", "{}", run.build);
    let (code, message) = run.context("PROVISIONING");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.starts_with("the Docker daemon exited while starting"), "{message}");
    assert!(run.stdout.contains("failed to start daemon: no storage driver for this test"), "{}", run.stdout);
    assert!(!ctx.src.path().join("ran").exists());
    assert_eq!(leftovers(run.build["id"].as_str().unwrap()), Vec::<String>::new());
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn two_privileged_builds_at_once_do_not_see_each_other() {
    // Each starts a container with the same name: on one shared engine the second would
    // collide, and each would list the other's.
    let spec = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - docker load -i busybox.tar > /dev/null\n      - docker run -d --name probe {} sleep 60 > /dev/null\n      - echo \"containers=$(docker ps -q | wc -l)\"\n",
        busybox()
    );
    let builds: Vec<_> = (0..2)
        .map(|_| {
            let spec = spec.clone();
            std::thread::spawn(move || {
                let ctx = Ctx::new(&spec);
                let tar = ctx.src.path().join("busybox.tar");
                docker(&["save", "-o", tar.to_str().unwrap(), &busybox()]);
                ctx.run_with(&["--image", &dind_image(), "--privileged"])
            })
        })
        .collect();
    for b in builds {
        let run = b.join().unwrap();
        assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
        assert!(run.has_line("containers=1"), "{}", run.stdout);
        assert_eq!(leftovers(run.build["id"].as_str().unwrap()), Vec::<String>::new());
    }
}

/// Starts `runspec run` on a privileged build that sleeps; returns it once the sleep runs.
fn sleeping_build(ctx: &Ctx) -> std::process::Child {
    let mut cmd = ctx.command();
    cmd.args(["--image", &dind_image(), "--privileged"]).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Running command sleep 600") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("the build never reached its command");
    child
}

/// Objects whose owner label names `pid` (the runspec process that made them).
fn owned_by(pid: u32) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=runspec.owner",
        "--format",
        "{{.ID}} {{.Label \"runspec.owner\"}}",
    ]);
    out.lines().filter(|l| l.split('/').nth(1) == Some(&pid.to_string())).map(str::to_string).collect()
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn nothing_is_left_after_ctrl_c_nor_after_a_kill_9() {
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n");
    let mut child = sleeping_build(&ctx);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    assert!(child.wait().unwrap().code().is_some());
    let run = ctx.finish(std::process::Output {
        status: std::process::ExitStatus::default(),
        stdout: vec![],
        stderr: vec![],
    });
    assert_eq!(run.build["buildStatus"], "STOPPED", "{}", run.build);
    assert_eq!(leftovers(run.build["id"].as_str().unwrap()), Vec::<String>::new());

    // kill -9 leaves the containers; the next image build on this engine sweeps them.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n");
    let mut child = sleeping_build(&ctx);
    let pid = child.id();
    assert!(!owned_by(pid).is_empty(), "the build's container");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!owned_by(pid).is_empty(), "a killed runspec cannot clean up");
    let next = Ctx::new("version: 0.2\nphases:\n  build:\n    commands: [true]\n");
    let run = next.run_with(&["--image", &busybox()]);
    assert_eq!(run.status(), "SUCCEEDED");
    assert_eq!(owned_by(pid), Vec::<String>::new(), "swept by the next build");
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn the_layer_cache_keeps_a_project_s_layers_one_build_at_a_time() {
    let project = crate::aws::unique("layers");
    let volume = {
        // The volume runspec names for the project (see exec::docker::daemon).
        use sha2::Digest;
        format!("runspec-layers-{project}-{}", hex::encode(&sha2::Sha256::digest(project.as_bytes())[..4]))
    };
    let cache = tempfile::tempdir().unwrap();
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - docker image inspect runspec-test:busybox > /dev/null 2>&1 || docker load -i busybox.tar\n      - docker build -t layered .\n",
    );
    docker(&["save", "-o", ctx.src.path().join("busybox.tar").to_str().unwrap(), &busybox()]);
    ctx.write("Dockerfile", &format!("FROM {}\nRUN sleep 2 && echo expensive > /step\n", busybox()));
    ctx.write(
        "project.json",
        &serde_json::json!({
            "name": project,
            "cache": {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]},
        })
        .to_string(),
    );
    let build = |ctx: &Ctx| {
        let mut cmd = ctx.command();
        cmd.args(["--image", &dind_image(), "--privileged", "--project"])
            .arg(ctx.src.path().join("project.json"))
            .env("RUNSPEC_CACHE_DIR", cache.path());
        ctx.finish(cmd.output().unwrap())
    };
    let first = build(&ctx);
    assert_eq!(first.status(), "SUCCEEDED", "{}", first.stdout);
    assert!(
        first.stdout.contains(&format!("Docker: using the layer cache of project {project}")),
        "{}",
        first.stdout
    );
    assert!(!first.stdout.contains("Using cache"), "{}", first.stdout);
    // Labelled with its project, so `docker volume ls --filter label=runspec.layers` finds it.
    let label = docker(&["volume", "inspect", "-f", "{{index .Labels \"runspec.layers\"}}", &volume]);
    assert_eq!(label.trim(), project);
    let second = build(&ctx);
    assert_eq!(second.status(), "SUCCEEDED", "{}", second.stdout);
    assert!(second.stdout.contains("Using cache"), "the second build reuses the layer:\n{}", second.stdout);

    // Two at once: one gets the cache, the other an empty daemon; neither breaks the cache.
    let both: Vec<Run> = std::thread::scope(|s| {
        let a = s.spawn(|| build(&ctx));
        let b = s.spawn(|| build(&ctx));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for run in &both {
        assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    }
    let busy = both
        .iter()
        .filter(|r| r.stdout.contains("is in use by another build; this build starts with an empty one"))
        .count();
    assert_eq!(busy, 1, "{}\n{}", both[0].stdout, both[1].stdout);
    let after = build(&ctx);
    assert!(after.stdout.contains("Using cache"), "{}", after.stdout);
    docker(&["volume", "rm", &volume]);
}

/// Waits for `f` to hold, polling; panics after `within`.
pub fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < end, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server whose builds may read `root` as a LOCAL source and log in to the test registry.
fn server(root: &Path, extra: &[&str]) -> crate::serve::Server {
    let moto = env("RUNSPEC_TEST_MOTO_URL");
    let envs = [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("RUNSPEC_ECR_REGISTRY", "127.0.0.1:5000"),
    ];
    let mut args = vec!["--local-sources", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    crate::serve::Server::start_env(root, &args, &envs)
}

/// A project building `dir` (a LOCAL source) in `image`, privileged, with `variables`.
fn image_project(
    s: &crate::serve::Server,
    name: &str,
    dir: &Path,
    image: &str,
    variables: serde_json::Value,
) {
    let source = serde_json::json!({"type": "LOCAL", "location": dir.display().to_string()}).to_string();
    let environment = serde_json::json!({
        "type": "LINUX_CONTAINER",
        "image": image,
        "computeType": "BUILD_GENERAL1_SMALL",
        "privilegedMode": true,
        "environmentVariables": variables,
    })
    .to_string();
    s.aws(&[
        "codebuild",
        "create-project",
        "--name",
        name,
        "--source",
        &source,
        "--artifacts",
        "type=NO_ARTIFACTS",
        "--environment",
        &environment,
        "--service-role",
        "r",
    ]);
}

fn start(s: &crate::serve::Server, project: &str) -> String {
    s.aws(&["codebuild", "start-build", "--project-name", project])["build"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[ignore = "needs docker, moto and the test images: run scripts/test.sh"]
fn the_workshop_flow_through_the_api_in_image_and_in_a_sidecar() {
    let root = tempfile::tempdir().unwrap();
    let s = server(root.path(), &["--docker-sidecar-image", &dind_image()]);
    let ctx = Ctx::new(WORKSHOP_BUILDSPEC);
    workshop(&ctx);
    let src = root.path().join("app");
    assert!(Command::new("cp").arg("-a").arg(ctx.src.path()).arg(&src).status().unwrap().success());
    image_project(&s, "in-image", &src, &dind_image(), serde_json::json!([]));
    image_project(
        &s,
        "sidecar",
        &src,
        &compose_cli_image(),
        serde_json::json!([{"name": "RUNSPEC_DOCKER", "value": "sidecar", "type": "PLAINTEXT"}]),
    );
    for (project, place) in [("in-image", "in the build container"), ("sidecar", "in its sidecar container")]
    {
        let id = start(&s, project);
        let b = s.wait(&id, Duration::from_secs(300));
        let log = s.log(&b);
        assert_workshop_passed(b["buildStatus"].as_str().unwrap(), &log, None);
        assert!(
            log.iter().any(|l| l.contains(&format!("Docker: the daemon {place} is ready after"))),
            "{log:?}"
        );
        assert_eq!(leftovers(&id), Vec::<String>::new());
    }
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn a_served_build_has_its_own_network_and_leaves_nothing_when_stopped() {
    let root = tempfile::tempdir().unwrap();
    let mut s = server(root.path(), &[]);
    let src = root.path().join("app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n",
    )
    .unwrap();
    image_project(&s, "sleeper", &src, &dind_image(), serde_json::json!([]));
    let id = start(&s, "sleeper");
    eventually(Duration::from_secs(120), "the build never reached BUILD", || {
        s.build(&id)["currentPhase"] == "BUILD"
    });
    let network =
        docker(&["network", "ls", "--filter", &format!("label=runspec.build={id}"), "--format", "{{.Name}}"]);
    let uuid = id.rsplit_once(':').unwrap().1;
    assert_eq!(network.trim(), format!("runspec-{uuid}"), "a network of the build's own");
    s.aws(&["codebuild", "stop-build", "--id", &id]);
    let b = s.wait(&id, Duration::from_secs(60));
    assert_eq!(b["buildStatus"], "STOPPED", "{b}");
    eventually(Duration::from_secs(30), "the build's containers, network and volumes stay", || {
        leftovers(&id).is_empty()
    });

    // A server killed with -9 cannot clean up; the next one sweeps as it starts, before any build.
    let id = start(&s, "sleeper");
    eventually(Duration::from_secs(120), "the second build never reached BUILD", || {
        s.build(&id)["currentPhase"] == "BUILD"
    });
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    assert!(!leftovers(&id).is_empty(), "a killed server leaves its build's objects");
    let _next = server(root.path(), &[]);
    eventually(Duration::from_secs(60), "the next server did not sweep what the killed one left", || {
        leftovers(&id).is_empty()
    });
}

#[test]
#[ignore = "needs docker and the test images: run scripts/test.sh"]
fn a_caller_cannot_choose_the_server_s_shell_nor_its_engine() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - touch ran\n",
    )
    .unwrap();
    // Without --host-image-allowed, the image runspec/host is refused.
    let s = crate::serve::Server::start_plain(
        root.path(),
        &["--local-sources", root.path().to_str().unwrap()],
        &[],
    );
    let source = serde_json::json!({"type": "LOCAL", "location": src.display().to_string()}).to_string();
    s.create_project_from("shell", &source, &[]);
    let b = s.wait(&start(&s, "shell"), Duration::from_secs(60));
    assert_eq!(b["buildStatus"], "FAILED", "{b}");
    let provisioning =
        b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "PROVISIONING").unwrap().clone();
    assert_eq!(provisioning["phaseStatus"], "FAILED", "{b}");
    assert!(provisioning["contexts"][0]["message"].as_str().unwrap().contains("--host-image-allowed"), "{b}");
    assert!(!src.join("ran").exists());

    // RUNSPEC_DOCKER=host asks for the server's engine: refused without --docker-host-allowed.
    image_project(
        &s,
        "engine",
        &src,
        &dind_image(),
        serde_json::json!([{"name": "RUNSPEC_DOCKER", "value": "host", "type": "PLAINTEXT"}]),
    );
    let id = start(&s, "engine");
    let b = s.wait(&id, Duration::from_secs(60));
    assert_eq!(b["buildStatus"], "FAILED", "{b}");
    let provisioning =
        b["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "PROVISIONING").unwrap().clone();
    assert!(
        provisioning["contexts"][0]["message"].as_str().unwrap().contains("--docker-host-allowed"),
        "{b}"
    );
    assert!(!src.join("ran").exists());
    assert_eq!(leftovers(&id), Vec::<String>::new());
}
