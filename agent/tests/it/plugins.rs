//! WebAssembly plugin steps through the binary: the sandbox (attack suite), the phase rules for
//! failing plugins, the real plugins in `plugins/`, the portable `runspec plugin run` form, and
//! the plugin CLI. The plugins are built once per test run (or taken from
//! `RUNSPEC_TEST_PLUGINS`, which scripts/test.sh sets after building them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::support::Ctx;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The directory holding the built `.wasm` files.
pub fn plugins_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("RUNSPEC_TEST_PLUGINS") {
            return PathBuf::from(d);
        }
        let target = repo().join("target/plugins");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(repo().join("plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("running cargo");
        assert!(
            status.success(),
            "building the plugins failed: is wasm32-wasip2 installed? run scripts/test.sh"
        );
        target.join("wasm32-wasip2/release")
    })
}

/// Copies a built plugin into the build's source as `name.wasm`.
fn with_plugin(ctx: &Ctx, name: &str) {
    std::fs::copy(plugins_dir().join(format!("{name}.wasm")), ctx.src.path().join(format!("{name}.wasm")))
        .unwrap();
}

fn probe(buildspec: &str) -> Ctx {
    let ctx = Ctx::new(buildspec);
    with_plugin(&ctx, "probe");
    ctx
}

#[test]
fn plugin_steps_share_the_build_state() {
    // R-SH-01 for plugins: what a plugin exports is seen by later commands, and variables the
    // shell set are seen by a plugin that is granted them.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - export FROM_SHELL=shell-value
      - plugin: ./probe.wasm
        with: { mode: env }
        allow: { env: [FROM_SHELL, NOT_SET], export: [SEEN_FROM_SHELL] }
      - plugin: ./probe.wasm
        with: { mode: export, target: FROM_PLUGIN=plugin-value }
        allow: { export: [FROM_PLUGIN] }
      - echo \"shell sees $FROM_PLUGIN and $SEEN_FROM_SHELL\"
      - plugin: ./probe.wasm
        with: { mode: args, s: text, n: 3, f: 0.5, b: true, l: [a, b], m: { k: [1] }, q: '7' }
      - plugin: ./probe.wasm
        with: { mode: metadata }
",
    );
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.output().contains(&"FROM_SHELL=shell-value".to_string()), "{}", run.stdout);
    // Env not granted (attack suite): the plugin sees exactly the one granted variable that is
    // set; nothing of the build's or the agent's environment (PATH, HOME, CODEBUILD_*).
    assert!(run.stdout.contains("succeeded: 1 variables"), "{}", run.stdout);
    assert!(
        !run.output().iter().any(|l| l.starts_with("PATH=") || l.starts_with("CODEBUILD_")),
        "{}",
        run.stdout
    );
    assert!(run.has_line("shell sees plugin-value and shell-value"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            r#"succeeded: mode=Str("args") s=Str("text") n=Int(3) f=Float(0.5) b=Boolean(true) l=Strings(["a", "b"]) m=Json("{\"k\":[1]}") q=Str("7")"#
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("succeeded: build "), "{}", run.stdout);
    assert!(run.log().iter().any(|l| l.starts_with("> Running plugin ./probe.wasm")));
}

#[test]
fn secrets_a_plugin_registers_are_masked_everywhere() {
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: { mode: secret, target: tok-3141592 }
      - echo later tok-3141592
",
    );
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(!run.stdout.contains("tok-3141592"), "{}", run.stdout);
    for line in ["the token is ***", "[WARN] logged token ***", "stderr token ***", "later ***"] {
        assert!(run.has_line(line), "missing {line}:\n{}", run.stdout);
    }
}

/// One attack: the plugin step, the grants, and what the failure must say.
struct Attack {
    name: &'static str,
    step: String,
    reason: &'static str,
}

#[test]
fn attack_suite_fails_the_step_and_touches_nothing_outside() {
    // Outside the source: a secret file and a directory the plugin must not reach.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "TOP-SECRET\n").unwrap();
    let o = outside.path().display();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let step =
        |with: &str, extra: &str| format!("- plugin: ./probe.wasm\n        with: {{ {with} }}\n{extra}");
    let attacks = vec![
        Attack {
            name: "/etc/passwd",
            step: step("mode: read, target: /etc/passwd", ""),
            reason: "No such file",
        },
        Attack {
            name: "..",
            step: step("mode: read, target: ../secret.txt", ""),
            reason: "read ../secret.txt:",
        },
        Attack {
            name: "absolute host path",
            step: step(&format!("mode: read, target: '{o}/secret.txt'"), ""),
            reason: "No such file",
        },
        Attack {
            name: "symlink to a file",
            step: step("mode: read, target: link-file", ""),
            reason: "read link-file:",
        },
        Attack {
            name: "symlink to a directory",
            step: step("mode: read, target: link-dir/secret.txt", ""),
            reason: "read link-dir/secret.txt:",
        },
        Attack {
            name: "trailing slash",
            step: step("mode: list, target: link-dir/", ""),
            reason: "list link-dir/:",
        },
        Attack {
            name: "write without allow.write",
            step: step("mode: write, target: new.txt", ""),
            reason: "write new.txt:",
        },
        Attack {
            name: "network without a grant",
            step: step(&format!("mode: connect, target: '127.0.0.1:{port}'"), ""),
            reason: "connect 127.0.0.1:",
        },
        Attack {
            name: "infinite loop",
            step: step("mode: loop", "        timeout: 500ms\n"),
            reason: "timed out after 500ms",
        },
        Attack {
            name: "memory bomb",
            step: step("mode: alloc", "        allow: { memory: 64MiB }\n"),
            reason: "out of memory (limit 64 MiB",
        },
        Attack { name: "panic", step: step("mode: panic", ""), reason: "probe panicked on purpose" },
        Attack { name: "stack overflow", step: step("mode: stack", ""), reason: "usually a stack overflow" },
        Attack {
            name: "malformed wasm",
            step: "- plugin: ./junk.wasm\n".into(),
            reason: "cannot load: not a WebAssembly file",
        },
        Attack {
            name: "truncated component",
            step: "- plugin: ./truncated.wasm\n".into(),
            reason: "cannot load: not a valid component",
        },
        Attack {
            name: "core module",
            step: "- plugin: ./core.wasm\n".into(),
            reason: "core WebAssembly module, not a component",
        },
        Attack {
            name: "another WIT version",
            step: "- plugin: ./future.wasm\n".into(),
            reason: "built for runspec:plugin@0.2.0",
        },
        Attack { name: "missing file", step: "- plugin: ./absent.wasm\n".into(), reason: "not found" },
    ];
    for attack in attacks {
        let ctx = probe(&format!(
            "version: 0.2
phases:
  build:
    commands:
      {}
  post_build:
    commands:
      - echo post_build ran
",
            attack.step
        ));
        with_plugin(&ctx, "future");
        ctx.write("junk.wasm", "this is not wasm");
        ctx.write("truncated.wasm", "\0asm\x0d\0\x01\0\x01\x05garbage");
        std::fs::write(ctx.src.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), ctx.src.path().join("link-file"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), ctx.src.path().join("link-dir")).unwrap();
        let run = ctx.run();
        let name = attack.name;
        // R-TR-02: a failed BUILD still runs POST_BUILD; the build FAILS.
        assert_eq!(run.status(), "FAILED", "{name}:\n{}", run.stdout);
        assert_eq!(run.phase("BUILD")["phaseStatus"], "FAILED", "{name}");
        assert!(run.has_line("post_build ran"), "{name}: post_build did not run:\n{}", run.stdout);
        let (code, message) = run.context("BUILD");
        assert_eq!(code, "COMMAND_EXECUTION_ERROR", "{name}");
        assert!(message.starts_with("Error while executing plugin: ./"), "{name}: {message}");
        assert!(message.contains(attack.reason), "{name}: `{message}` should say `{}`", attack.reason);
        assert!(!run.stdout.contains("TOP-SECRET"), "{name} leaked the secret:\n{}", run.stdout);
    }
    // Nothing outside changed: still exactly the one file, with its content.
    let names: Vec<_> = std::fs::read_dir(outside.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secret.txt")]);
    assert_eq!(std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(), "TOP-SECRET\n");
}

#[test]
fn grants_open_exactly_what_they_name() {
    // The positive controls of the attack suite: with the grant, the same attempts succeed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = probe(&format!(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: {{ mode: write, target: new.txt }}
        allow: {{ write: true }}
      - plugin: ./probe.wasm
        with: {{ mode: connect, target: '127.0.0.1:{port}' }}
        allow: {{ network: ['127.0.0.1:{port}'] }}
      - plugin: ./probe.wasm
        with: {{ mode: connect, target: '127.0.0.1:1' }}
        allow: {{ network: ['127.0.0.1:{port}'] }}
"
    ));
    let run = ctx.run();
    assert!(run.stdout.contains("succeeded: wrote new.txt"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("succeeded: connected to 127.0.0.1:{port}")), "{}", run.stdout);
    // A grant for one port is not a grant for another.
    let (_, message) = run.context("BUILD");
    assert!(message.contains("connect 127.0.0.1:1:"), "{message}");
}

#[test]
fn a_plugin_running_at_the_build_timeout_times_the_build_out() {
    // R-TO-01 for plugins: the build's deadline stops a plugin without its own timeout.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: { mode: loop }
    finally:
      - echo finally must not run
",
    );
    let t = std::time::Instant::now();
    let run = ctx.run_with(&["--timeout", "1s"]);
    // The plugin loops for ever: a generous deadline only catches that.
    assert!(t.elapsed() < std::time::Duration::from_secs(200), "{:?}", t.elapsed());
    assert_eq!(run.status(), "TIMED_OUT", "{}", run.stdout);
    assert!(!run.has_line("finally must not run"));
}

#[test]
fn plugin_failures_follow_on_failure_continue() {
    // R-PH-20: on-failure: CONTINUE applies to plugin steps like commands.
    let ctx = probe(
        "version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: { mode: fail, target: expected }
  build:
    commands:
      - echo build ran
",
    );
    let run = ctx.run();
    assert_eq!(run.phases()[1..3], ["INSTALL=FAILED".to_string(), "PRE_BUILD=SUCCEEDED".to_string()]);
    assert!(run.has_line("build ran"));
    assert!(run.context("INSTALL").1.contains("failed: probe failed: expected"));
}

#[test]
fn sha256sum_writes_a_manifest_sha256sum_can_check() {
    let ctx = Ctx::new(
        "version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/sub && echo one > dist/a.txt && echo two > dist/sub/b.txt && echo skip > dist/c.log
      - plugin: ./sha256sum.wasm
        with: { files: ['dist/**/*.txt'], output: checksums.txt }
        allow: { write: true }
      - sha256sum -c checksums.txt
      - plugin: ./sha256sum.wasm
        with: { check: checksums.txt }
      - echo changed > dist/a.txt
      - plugin: ./sha256sum.wasm
        with: { check: checksums.txt }
artifacts:
  files: [dist/a.txt]
",
    );
    with_plugin(&ctx, "sha256sum");
    let run = ctx.run_artifacts(&[]);
    assert!(run.has_line("dist/a.txt: OK") && run.has_line("dist/sub/b.txt: OK"), "{}", run.stdout);
    assert!(run.stdout.contains("succeeded: 2 file(s) hashed into checksums.txt"), "{}", run.stdout);
    assert!(run.stdout.contains("succeeded: 2 file(s) match checksums.txt"), "{}", run.stdout);
    let (_, message) = run.context("BUILD");
    assert!(message.contains("failed: 1 of 2 file(s) do not match checksums.txt: dist/a.txt"), "{message}");
    // The manifest is a plugin artifact: it joins the buildspec's files.
    assert_eq!(run.zip_names("artifacts.zip"), vec!["checksums.txt", "dist/a.txt"]);
}

#[test]
fn ecs_imagedefinitions_for_codepipeline() {
    // The AWS ECS workshop's post_build, as a plugin step.
    let ctx = Ctx::new(
        "version: 0.2
env:
  variables:
    REPOSITORY_URI: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
phases:
  post_build:
    commands:
      - IMAGE_TAG=abc1234
      - plugin: ./ecs_imagedefinitions.wasm
        with: { container: web, image: '${REPOSITORY_URI}:${IMAGE_TAG}', format: both }
        allow: { write: true, env: [REPOSITORY_URI, IMAGE_TAG] }
artifacts:
  files: []
",
    );
    with_plugin(&ctx, "ecs_imagedefinitions");
    let run = ctx.run_artifacts(&[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    let zip = run.out.join("artifacts.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut read = |n: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name(n).unwrap(), &mut s).unwrap();
        s
    };
    assert_eq!(
        read("imagedefinitions.json"),
        "[{\"imageUri\":\"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc1234\",\"name\":\"web\"}]\n"
    );
    assert_eq!(
        read("imageDetail.json"),
        "{\"ImageURI\":\"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc1234\"}\n"
    );

    // A variable that is not granted is named, with the fix.
    let ctx = Ctx::new(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./ecs_imagedefinitions.wasm
        with: { container: web, image: '${REPO}:latest' }
        allow: { write: true }
",
    );
    with_plugin(&ctx, "ecs_imagedefinitions");
    let run = ctx.run();
    assert!(
        run.context("BUILD")
            .1
            .contains("invalid arguments: `${REPO}` is not set: grant it with `allow: { env: [REPO] }`")
    );
}

#[test]
fn render_fills_templates_and_names_what_is_missing() {
    let ctx = Ctx::new(
        "version: 0.2
phases:
  build:
    commands:
      - export IMAGE=repo/web:1
      - plugin: ./render.wasm
        with: { template: appspec.tpl, output: appspec.yaml, vars: { PORT: 8080 } }
        allow: { write: true, env: [IMAGE] }
      - cat appspec.yaml
      - plugin: ./render.wasm
        with: { template: appspec.tpl, output: other.yaml }
        allow: { write: true }
",
    );
    with_plugin(&ctx, "render");
    ctx.write("appspec.tpl", "image: ${IMAGE}\nport: ${PORT}\ncost: $5 and $${LITERAL}\n");
    let run = ctx.run();
    assert!(run.has_line("image: repo/web:1") && run.has_line("port: 8080"), "{}", run.stdout);
    assert!(run.has_line("cost: $5 and ${LITERAL}"), "{}", run.stdout);
    assert!(run.context("BUILD").1.contains("no value for ${IMAGE}, ${PORT}"), "{}", run.context("BUILD").1);
}

#[test]
fn runspec_plugin_run_commands_run_in_process_with_the_same_results() {
    // The portable form: the same step written as a command, as it would run on real CodeBuild
    // with runspec in the image.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - runspec plugin run ./probe.wasm --with mode=export --with target=PORTABLE=yes --allow-export PORTABLE
      - echo \"portable=$PORTABLE\"
      - runspec plugin run ./probe.wasm --with mode=write --with target=w.txt
",
    );
    let run = ctx.run();
    assert!(run.has_line(
        "> Running command runspec plugin run ./probe.wasm --with mode=export --with target=PORTABLE=yes --allow-export PORTABLE"
    ));
    assert!(run.has_line("portable=yes"), "{}", run.stdout);
    let (_, message) = run.context("BUILD");
    assert_eq!(
        message,
        "Error while executing command: runspec plugin run ./probe.wasm --with mode=write --with target=w.txt. Reason: exit status 1"
    );
}

#[test]
fn standalone_plugin_run_exit_statuses_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugins_dir().join("probe.wasm"), dir.path().join("probe.wasm")).unwrap();
    let cache = concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_runspec"))
            .args(["plugin", "run", "probe.wasm"])
            .args(args)
            .current_dir(dir.path())
            .env("RUNSPEC_CACHE_DIR", cache)
            .env("GRANTED", "g-value")
            .output()
            .unwrap()
    };
    let out = run(&[
        "--with",
        "mode=env",
        "--allow-env",
        "GRANTED",
        "--allow-export",
        "SEEN_GRANTED",
        "--export-to",
        "vars.sh",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("GRANTED=g-value") && !stdout.contains("HOME="), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("vars.sh")).unwrap(),
        "export SEEN_GRANTED='g-value'\n"
    );
    let out = run(&["--with", "mode=fail", "--with", "target=x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed: probe failed: x"));
    let out = run(&["--with", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_reports_plugin_step_problems_with_positions() {
    let check = |yaml: &str| {
        let ctx = Ctx::new(yaml);
        let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
            .args(["check", "--format", "json"])
            .arg(ctx.src.path().join("buildspec.yml"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}@{}", i["code"].as_str().unwrap(), i["line"]))
            .collect::<Vec<_>>()
    };
    let head = "version: 0.2\nphases:\n  build:\n    commands:\n";
    assert_eq!(check(&format!("{head}      - plugin: ./missing.wasm\n")), ["buildspec::plugin-not-found@5"]);
    assert_eq!(
        check(&format!("{head}      - plugin: ./p.wasm\n        allow: {{ wirte: true }}\n")),
        ["buildspec::unknown-plugin-key@6"]
    );
}

#[test]
fn plugin_new_scaffolds_a_crate_that_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let created = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["plugin", "new", "hello-step"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(created.status.code(), Some(0), "{}", String::from_utf8_lossy(&created.stderr));
    let krate = dir.path().join("hello-step");
    // Shares the plugins' target directory so the SDK and wit-bindgen are built once.
    let target = repo().join("target/plugins");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target-dir"])
        .arg(&target)
        .current_dir(&krate)
        .status()
        .unwrap();
    assert!(status.success());
    let wasm = target.join("wasm32-wasip2/release/hello_step.wasm");
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["plugin", "run"])
        .arg(&wasm)
        .args(["--with", "name=tests", "--allow-export", "GREETED"])
        .env("RUNSPEC_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("[INFO] saying hello to tests") && stdout.contains("hello, tests"), "{stdout}");
    assert!(stdout.contains("greeted tests"), "{stdout}");

    // The step `plugin new` printed, pasted as it is into a buildspec of the crate: the build
    // succeeds and a later command sees what the plugin exported.
    let printed = String::from_utf8_lossy(&created.stdout);
    let step = printed.split_once("or as a step of a buildspec in hello-step/:\n").unwrap().1;
    let release = krate.join("target/wasm32-wasip2/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(&wasm, release.join("hello_step.wasm")).unwrap();
    std::fs::write(
        krate.join("buildspec.yml"),
        format!("version: 0.2\nphases:\n  build:\n    commands:\n{step}      - echo \"later=$GREETED\"\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["run", "--source"])
        .arg(&krate)
        .env("RUNSPEC_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l == "later=world"), "{stdout}");
}

/// The directory holding the Python and JavaScript plugins, built by
/// plugins/build-other-languages.sh (scripts/test.sh installs the toolchains and builds them).
fn other_languages_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("RUNSPEC_TEST_OTHER_PLUGINS").expect(
        "RUNSPEC_TEST_OTHER_PLUGINS is not set: run scripts/test.sh, which builds the Python and JS plugins",
    ))
}

#[test]
#[ignore = "needs componentize-py and componentize-js: run scripts/test.sh"]
fn python_and_javascript_plugins_run_through_the_agent() {
    // The same WIT, two more languages: a Python plugin (componentize-py) reading and writing
    // the source directory, and a JavaScript plugin (componentize-js) reading granted env and
    // build metadata. Their exports reach later commands and steps (R-SH-01), their failures
    // follow the phase rules (R-TR-02), and the Rust ecs-imagedefinitions plugin consumes what
    // the JavaScript one computed.
    let ctx = Ctx::new(
        "version: 0.2
env:
  variables:
    REPO: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
phases:
  build:
    commands:
      - printf 'a\\nb\\nc\\n' > one.txt && printf 'x\\n' > two.txt
      - plugin: ./line_count_py.wasm
        with: { files: [one.txt, two.txt], output: lines.txt }
        allow: { write: true, export: [LINE_COUNT_TOTAL] }
      - echo \"total=$LINE_COUNT_TOTAL\" && cat lines.txt
      - plugin: ./image_tag_js.wasm
        with: { repository: '$REPO' }
        allow: { export: [IMAGE_TAG, IMAGE_URI] }
      - plugin: ./image_tag_js.wasm
        with: { repository: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web, length: 10, prefix: v1- }
        allow: { env: [CODEBUILD_RESOLVED_SOURCE_VERSION], export: [IMAGE_TAG, IMAGE_URI] }
      - echo \"tag=$IMAGE_TAG uri=$IMAGE_URI\"
      - plugin: ./ecs_imagedefinitions.wasm
        with: { container: web, image: '${IMAGE_URI}' }
        allow: { write: true, env: [IMAGE_URI] }
  post_build:
    commands:
      - plugin: ./line_count_py.wasm
        with: { files: [one.txt, missing.txt] }
      - echo not reached
artifacts:
  files: [one.txt]
",
    );
    for name in ["line_count_py", "image_tag_js"] {
        std::fs::copy(
            other_languages_dir().join(format!("{name}.wasm")),
            ctx.src.path().join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    with_plugin(&ctx, "ecs_imagedefinitions");
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(ctx.src.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "x"]);
    let sha = String::from_utf8(
        Command::new("git").args(["rev-parse", "HEAD"]).current_dir(ctx.src.path()).output().unwrap().stdout,
    )
    .unwrap();
    let sha = sha.trim();

    let run = ctx.run_artifacts(&[]);
    let out = &run.stdout;
    // Python: reads through the preopened source dir, logs through the host, writes its report.
    assert!(run.has_line("[INFO] one.txt: 3 lines") && run.has_line("[INFO] two.txt: 1 lines"), "{out}");
    assert!(out.contains("succeeded: 4 lines in 2 files (Python)"), "{out}");
    assert!(run.has_line("total=4") && run.has_line("3 one.txt") && run.has_line("1 two.txt"), "{out}");
    assert!(run.phases().contains(&"BUILD=SUCCEEDED".to_string()), "{out}");
    // JavaScript: `$REPO` is a literal in `with:` (plugins get no shell expansion); the tag
    // comes from the build metadata without a grant, from the granted env with one.
    assert!(out.contains(&format!("→ $REPO:{}", &sha[..7])), "{out}");
    assert!(out.contains(&format!("succeeded: tag {} (JavaScript)", &sha[..7])), "{out}");
    assert!(
        run.has_line(&format!(
            "tag=v1-{} uri=123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1-{}",
            &sha[..10],
            &sha[..10]
        )),
        "{out}"
    );
    // The Python failure in POST_BUILD names the file, ends the phase (R-PH-10) and the
    // artifacts are still uploaded.
    let (status, message) = run.context("POST_BUILD");
    assert_eq!(status, "COMMAND_EXECUTION_ERROR", "{out}");
    assert!(message.contains("failed: cannot read missing.txt: No such file or directory"), "{message}");
    assert!(!run.has_line("not reached"), "{out}");
    let names = run.zip_names("artifacts.zip");
    assert_eq!(names, vec!["imagedefinitions.json", "lines.txt", "one.txt"]);
}

#[test]
fn a_plugin_rebuilt_during_the_build_is_loaded_again() {
    // The runner keeps a loaded plugin for later steps; a local file that changes between two
    // steps (a build that compiles its own plugin) must be read again, never the stale one.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - cp probe.wasm step.wasm
      - plugin: ./step.wasm
        with: { mode: ok }
      - plugin: ./step.wasm
        with: { mode: ok }
      - cp render.wasm step.wasm
      - plugin: ./step.wasm
        with: { mode: ok }
",
    );
    with_plugin(&ctx, "render");
    let run = ctx.run();
    assert_eq!(run.stdout.matches("succeeded: probe ok").count(), 2, "{}", run.stdout);
    // render, not probe: it wants a template.
    let (_, message) = run.context("BUILD");
    assert!(message.contains("invalid arguments") && message.contains("template"), "{message}");
}
