//! Hardening: what a hostile plugin, a hostile build or a broken input must not achieve. Each
//! test names what it attacks; the plugin attacks use the `probe` test plugin.

use std::process::Command;
use std::time::{Duration, Instant};

use super::plugins::plugins_dir;
use super::support::Ctx;

fn probe(buildspec: &str) -> Ctx {
    let ctx = Ctx::new(buildspec);
    std::fs::copy(plugins_dir().join("probe.wasm"), ctx.src.path().join("probe.wasm")).unwrap();
    ctx
}

/// One way to steer a later command through a variable: what to set, the files that make it
/// bite, and the command a buildspec would run next.
struct Steer {
    name: &'static str,
    vars: &'static [(&'static str, &'static str)],
    setup: &'static str,
    then: &'static str,
}

#[test]
fn plugin_exports_cannot_steer_later_commands() {
    // R-ENV-04: a buildspec cannot override CODEBUILD_*; a plugin cannot either, and it cannot
    // set what makes bash, git or perl run code. Each case runs twice: the variable exported by
    // the shell (the control: it really steers the program, so the test can fail) and by a
    // plugin without any grant (refused: the step fails, the program is not steered).
    let cases = [
        Steer { name: "bash BASH_ENV", vars: &[("BASH_ENV", "evil.sh")], setup: "", then: "bash -c true" },
        Steer {
            name: "git GIT_CONFIG_*",
            vars: &[
                ("GIT_CONFIG_COUNT", "1"),
                ("GIT_CONFIG_KEY_0", "core.fsmonitor"),
                ("GIT_CONFIG_VALUE_0", "sh evil.sh"),
            ],
            setup: "git init -q repo && cp evil.sh repo/ && git -C repo add evil.sh",
            then: "cd repo && git status --short > /dev/null; cd ..",
        },
        Steer {
            name: "perl PERL5OPT",
            vars: &[("PERL5OPT", "-I. -Mevil")],
            setup: "printf 'system(\"sh evil.sh\"); 1;\\n' > evil.pm",
            then: "perl -e 1",
        },
        Steer {
            name: "PATH",
            vars: &[("PATH", ".")],
            setup: "cp evil.sh ls && chmod +x ls",
            then: "ls > /dev/null",
        },
        Steer {
            name: "ENV for sh",
            vars: &[("ENV", "evil.sh")],
            setup: "",
            then: "sh -i -c true < /dev/null 2>/dev/null",
        },
    ];
    for case in &cases {
        let vars_json = serde_json::to_string(
            &case
                .vars
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect::<serde_json::Map<_, _>>(),
        )
        .unwrap();
        let exports: String = case.vars.iter().map(|(k, v)| format!("export {k}='{v}'; ")).collect();
        for by_plugin in [false, true] {
            let step = if by_plugin {
                format!(
                    "      - plugin: ./probe.wasm\n        with: {{ mode: exports, vars: '{vars_json}' }}\n"
                )
            } else {
                format!("      - {exports}true\n")
            };
            let ctx = probe(&format!(
                "version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - printf 'true > \"$CODEBUILD_SRC_DIR/steered\"\\n' > evil.sh
      - {setup}true
{step}  post_build:
    commands:
      - {then}
      - test -e steered && echo STEERED || echo clean
",
                setup = if case.setup.is_empty() { String::new() } else { format!("{} && ", case.setup) },
                then = case.then,
            ));
            let run = ctx.run();
            let steered = run.has_line("STEERED");
            if by_plugin {
                assert!(!steered, "{}: a plugin steered `{}`:\n{}", case.name, case.then, run.stdout);
                assert!(run.has_line("clean"), "{}:\n{}", case.name, run.stdout);
                let (_, message) = run.context("BUILD");
                assert!(message.contains("which plugins can never set"), "{}: {message}", case.name);
            } else {
                assert!(steered, "{}: the control did not steer `{}`:\n{}", case.name, case.then, run.stdout);
            }
        }
    }
}

#[test]
fn plugin_exports_need_a_grant_and_builtins_are_never_granted() {
    let ctx = probe(
        "version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: { mode: exports, vars: '{\"CODEBUILD_SRC_DIR\": \"/\"}' }
  post_build:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: { mode: exports, vars: '{\"IMAGE_TAG\": \"v1\", \"OTHER\": \"x\"}' }
        allow: { export: [IMAGE_TAG] }
    finally:
      - echo \"src=$CODEBUILD_SRC_DIR tag=${IMAGE_TAG:-unset} other=${OTHER:-unset}\"
      - plugin: ./probe.wasm
        with: { mode: exports, vars: '{\"IMAGE_TAG\": \"v2\"}' }
        allow: { export: [IMAGE_TAG] }
      - echo \"tag=$IMAGE_TAG\"
",
    );
    let run = ctx.run();
    let src = ctx.src.path().canonicalize().unwrap();
    assert!(!run.stdout.contains("src=/ "), "{}", run.stdout);
    assert!(run.has_line("tag=v2"), "{}", run.stdout);
    assert!(run.output().iter().any(|l| l.ends_with("tag=unset other=unset")), "{}", run.stdout);
    assert!(
        run.context("BUILD").1.contains("`CODEBUILD_SRC_DIR`, which plugins can never set"),
        "{:?}",
        run.context("BUILD")
    );
    let post = run.context("POST_BUILD").1;
    assert!(
        post.contains("`OTHER`, which the step does not allow: the step grants only IMAGE_TAG"),
        "{post}"
    );
    drop(src);
    // A grant of a name no plugin may set is a buildspec error, with its position.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - plugin: ./p.wasm\n        allow: { export: [IMAGE_TAG, LD_PRELOAD] }\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["check", "--format", "json"])
        .arg(ctx.src.path().join("buildspec.yml"))
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issue = &json["issues"][0];
    assert_eq!(issue["code"], "buildspec::bad-grant", "{json}");
    assert_eq!(issue["line"].as_u64(), Some(6), "{json}");
    assert!(issue["message"].as_str().unwrap().contains("never export"), "{json}");
    // The rule is visible where plugins are inspected.
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["plugin", "inspect"])
        .arg(plugins_dir().join("probe.wasm"))
        .env("RUNSPEC_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("only the names in its `allow.export`")
            && text.contains("LD_*")
            && text.contains("CODEBUILD_*"),
        "{text}"
    );
}

/// A line that claims the BUILD phase succeeded, terminal controls (erase the screen, set the
/// clipboard through OSC 52), and a right-to-left override.
const FORGED: &str = "ok\\n[Container] 2026/01/01 00:00:00.000000 Phase complete: BUILD State: SUCCEEDED\\r\\e[2J\\e]52;c;ZXZpbA==\\a\\u202Eevil";

#[test]
fn a_plugin_cannot_forge_agent_lines() {
    for fail in [false, true] {
        let ctx = probe(&format!(
            "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: {{ mode: say, target: \"{FORGED}\", fail: {fail} }}
      - exit 1
"
        ));
        let run = ctx.run();
        assert_eq!(run.status(), "FAILED", "{}", run.stdout);
        let claims = run
            .stdout
            .lines()
            .filter(|l| {
                l.starts_with("[Container] ") && l.ends_with("Phase complete: BUILD State: SUCCEEDED")
            })
            .count();
        assert_eq!(claims, 0, "a forged agent line:\n{}", run.stdout);
        assert!(
            !run.stdout.contains('\x1b') && !run.stdout.contains('\u{202e}'),
            "raw controls:\n{:?}",
            run.stdout
        );
        assert!(!run.stdout.contains("\r"), "{:?}", run.stdout);
        // The plugin's words are still there, escaped on one line.
        let escaped =
            "ok\\n[Container] 2026/01/01 00:00:00.000000 Phase complete: BUILD State: SUCCEEDED\\r\\x1b[2J";
        assert!(run.stdout.contains(&format!("[INFO] {escaped}")), "{}", run.stdout);
        assert!(run.stdout.contains("[plugin] [Container] 2026/01/01"), "{}", run.stdout);
        let (_, message) = run.context("BUILD");
        assert!(!message.contains('\n') && !message.contains('\x1b'), "{message:?}");
        if fail {
            assert!(message.contains(escaped), "{message}");
        }
    }
}

#[test]
fn plugin_output_sizes_are_bounded() {
    let ctx = probe(
        "version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: { mode: big, what: export }
        allow: { export: [BIG] }
  post_build:
    on-failure: CONTINUE
    commands:
      - echo still runs
      - plugin: ./probe.wasm
        with: { mode: big, what: message }
    finally:
      - plugin: ./probe.wasm
        with: { mode: big, what: log, bytes: 1000000 }
",
    );
    let run = ctx.run();
    assert!(run.has_line("still runs"), "{}", &run.stdout[..run.stdout.len().min(4000)]);
    let build = run.context("BUILD").1;
    assert!(build.contains("`BIG` with 15.0 MiB; a variable can hold at most 64 KiB"), "{build}");
    let post = run.context("POST_BUILD").1;
    assert!(post.contains("the step's message is 15.0 MiB"), "{post}");
    let longest = run.stdout.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 20_000, "a log line of {longest} bytes");
    assert!(run.stdout.contains("(960.6 KiB cut)"), "the cut is said");
}

#[test]
fn a_plugin_calling_exit_fails_with_one_clear_line() {
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: { mode: exit, code: 0 }
",
    );
    let run = ctx.run();
    assert_eq!(run.status(), "FAILED");
    let (_, message) = run.context("BUILD");
    assert!(message.contains("the plugin called exit(0) instead of returning from `run`"), "{message}");
    assert!(!message.contains('\n') && !message.contains("backtrace"), "{message}");
    assert!(
        !run.stdout.contains("wasm backtrace") && !run.stderr.contains("wasm backtrace"),
        "{}",
        run.stdout
    );
    // With -v the details are there for whoever wants them.
    let run = ctx.run_with(&["-v"]);
    assert!(run.stderr.contains("backtrace"), "{}", run.stderr);
}

#[test]
fn a_plugin_waiting_in_a_host_call_is_stopped_by_every_deadline() {
    // The step's timeout.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: { mode: sleep }
        timeout: 1s
",
    );
    let t = Instant::now();
    let run = ctx.run();
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    assert!(run.context("BUILD").1.contains("timed out after 1s"), "{:?}", run.context("BUILD"));
    // The build's timeout.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    commands:
      - plugin: ./probe.wasm
        with: { mode: sleep }
",
    );
    let t = Instant::now();
    let run = ctx.run_with(&["--timeout", "2s"]);
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    assert_eq!(run.status(), "TIMED_OUT", "{}", run.stdout);
    // Ctrl-C.
    let mut child = ctx.command().stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    assert_eq!(status.code(), Some(1));
    let run = ctx.finish(std::process::Output { status, stdout: Vec::new(), stderr: Vec::new() });
    assert_eq!(run.status(), "STOPPED");
}

#[test]
fn a_network_grant_resolves_only_its_own_names() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = probe(&format!(
        "version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: {{ mode: connect, target: 'localhost:{port}' }}
        allow: {{ network: ['localhost:{port}'] }}
      - plugin: ./probe.wasm
        with: {{ mode: resolve, target: localhost }}
        allow: {{ network: ['localhost:{port}'] }}
      - plugin: ./probe.wasm
        with: {{ mode: resolve, target: localhost }}
        allow: {{ network: ['127.0.0.1:{port}'] }}
"
    ));
    let run = ctx.run();
    assert!(run.stdout.contains(&format!("succeeded: connected to localhost:{port}")), "{}", run.stdout);
    assert!(run.stdout.contains("succeeded: resolved localhost:"), "{}", run.stdout);
    // `localhost` resolves on every machine without any network; the step granted an address,
    // not the name, so the lookup must not reach the host's resolver.
    let (_, message) = run.context("BUILD");
    assert!(message.contains("failed: resolve localhost:"), "{message}");
}

#[test]
fn mask_secret_is_bounded_and_never_rewrites_the_agent() {
    let ctx = probe(
        "version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: { mode: mask, bytes: 1048576 }
  build:
    on-failure: CONTINUE
    commands:
      - plugin: ./probe.wasm
        with: { mode: mask, count: 1, bytes: 8192 }
      - plugin: ./probe.wasm
        with: { mode: secret, target: Error while executing }
      - plugin: ./probe.wasm
        with: { mode: secret, target: tok-2718281 }
      - echo tok-2718281 && exit 3
  post_build:
    commands:
      - plugin: ./probe.wasm
        with: { mode: mask, count: 1001, bytes: 64 }
",
    );
    let t = Instant::now();
    let run = ctx.run();
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    let install = run.context("INSTALL").1;
    assert!(
        install.contains("refused: mask-secret: the value is 1.0 MiB; runspec masks values of at most 8 KiB"),
        "{install}"
    );
    let pre = run.context("POST_BUILD").1;
    assert!(pre.contains("registered 1000 values already"), "{pre}");
    assert_eq!(
        run.context("BUILD").1,
        "Error while executing command: echo *** && exit 3. Reason: exit status 3"
    );
    assert!(run.has_line("***"), "{}", run.stdout);
    assert!(!run.stdout.contains("tok-2718281"), "{}", run.stdout);
}

#[test]
fn artifact_collection_cannot_be_raced_into_reading_host_files() {
    // A build process keeps swapping its artifact files for links to a host file while
    // UPLOAD_ARTIFACTS lists and packs them (background processes live until the build ends).
    // Whatever the timing, the host file's content never reaches the artifact.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("host-secret.txt");
    std::fs::write(&secret, "HOST-SECRET-CONTENT\n").unwrap();
    let ctx = Ctx::new(&format!(
        "version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist && for i in $(seq 1 50); do echo data > dist/f$i.txt; done
      - (while :; do for i in $(seq 1 50); do ln -sf '{}' dist/l$i && mv -f dist/l$i dist/f$i.txt; echo data > dist/n$i && mv -f dist/n$i dist/f$i.txt; done; done) > /dev/null 2>&1 &
      - sleep 0.2
artifacts:
  files: ['dist/**/*']
",
        secret.display()
    ));
    for _ in 0..4 {
        let run = ctx.run_artifacts(&[]);
        let zip = run.out.join("artifacts.zip");
        if let Ok(f) = std::fs::File::open(&zip) {
            let mut z = zip::ZipArchive::new(f).unwrap();
            for i in 0..z.len() {
                let text = std::io::read_to_string(z.by_index(i).unwrap()).unwrap_or_default();
                assert!(!text.contains("HOST-SECRET"), "a host file in the artifact:\n{}", run.stdout);
            }
        } else {
            let (_, message) = run.context("UPLOAD_ARTIFACTS");
            assert!(
                message.contains("was not read") || message.contains("leads out"),
                "{message}\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn expansions_work_whatever_the_build_did_to_path() {
    // R-ART-05: base-directory is shell-expanded. A build that breaks PATH must not make the
    // expansion come out empty (which selected the whole source, `.env.local` included).
    let ctx = Ctx::new(
        "version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist && echo app > dist/app.js && echo SECRET=1 > .env.local
      - export PATH=/nonexistent
artifacts:
  base-directory: $CODEBUILD_SRC_DIR/dist
  name: site-$CODEBUILD_BUILD_NUMBER
  files: ['**/*']
",
    );
    let run = ctx.run_artifacts(&[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert_eq!(run.zip_names("artifacts.zip"), ["app.js"]);
}

#[test]
fn a_panic_inside_runspec_ends_the_build_as_fault_with_a_result() {
    let ctx = Ctx::new(
        "version: 0.2
phases:
  install:
    commands:
      - echo installed
  build:
    commands:
      - echo crash here
",
    );
    let output = ctx.command().env("RUNSPEC_TEST_PANIC_AT", "echo crash here").output().unwrap();
    let run = ctx.finish(output);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.status(), "FAULT", "{}", run.stdout);
    assert_eq!(
        run.phases(),
        ["DOWNLOAD_SOURCE=SUCCEEDED", "INSTALL=SUCCEEDED", "PRE_BUILD=SUCCEEDED", "BUILD=FAULT"]
    );
    let (code, message) = run.context("BUILD");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("runspec failed unexpectedly: injected by RUNSPEC_TEST_PANIC_AT"), "{message}");
    assert!(run.has_line("> Phase complete: BUILD State: FAULT"), "{}", run.stdout);
    // Before the engine runs (preparing the workspace, the environment): still a result.
    let output = ctx.command().env("RUNSPEC_TEST_PANIC_AT", "(start)").output().unwrap();
    let run = ctx.finish(output);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.status(), "FAULT", "{}", run.stderr);
    assert!(run.stderr.contains("runspec failed unexpectedly: injected"), "{}", run.stderr);
}

#[test]
fn a_terminal_gets_a_summary_line_at_the_end() {
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n");
    // `script` gives the build a terminal on stdin, stdout and stderr.
    let cmd = ctx.command();
    let line = format!(
        "{} 2>&1",
        std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let envs: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_string_lossy().into_owned(), v?.to_string_lossy().into_owned())))
        .collect();
    let out = Command::new("script").args(["-qec", &line, "/dev/null"]).envs(envs).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        last.starts_with("Build FAILED in ")
            && last.contains(": BUILD FAILED (COMMAND_EXECUTION_ERROR): Error while executing command: exit 3. Reason: exit status 3"),
        "{text}"
    );
    // Not a terminal: the log ends with the agent's own last line.
    let run = ctx.run();
    assert!(!run.stderr.contains("Build FAILED in"), "{}", run.stderr);
}

#[test]
fn a_build_started_above_the_temporary_directory_does_not_copy_itself() {
    // `runspec run` in /tmp, or in $HOME with TMPDIR under it: the new workspace is inside the
    // source. It must not be copied into itself.
    let ctx = Ctx::new(
        "version: 0.2
phases:
  build:
    commands:
      - find . -path ./tmp -prune -o -type f -print | sort
      - test ! -e tmp/runspec-* || (ls -R tmp | head; exit 1)
",
    );
    ctx.write("app.txt", "x");
    let tmp = ctx.src.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let t = Instant::now();
    let output = ctx.command().env("TMPDIR", &tmp).output().unwrap();
    let run = ctx.finish(output);
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.has_line("./app.txt"), "{}", run.stdout);
}

#[test]
fn fifos_never_hold_a_build() {
    // A plugin reading a FIFO the build made (a blocking read in a host thread), and a FIFO
    // given as the plugin file itself: each step ends, the build goes on.
    let ctx = probe(
        "version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - mkfifo pipe pipe.wasm
      - plugin: ./probe.wasm
        with: { mode: read, target: pipe }
        timeout: 1s
  post_build:
    on-failure: CONTINUE
    commands:
      - plugin: ./pipe.wasm
    finally:
      - echo still here
",
    );
    let t = Instant::now();
    let run = ctx.run();
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    assert!(run.context("BUILD").1.contains("timed out after 1s"), "{:?}", run.context("BUILD"));
    assert!(run.context("POST_BUILD").1.contains("is not a file"), "{:?}", run.context("POST_BUILD"));
    assert!(run.has_line("still here"), "{}", run.stdout);
}

#[test]
fn check_survives_long_lines_and_thousands_of_problems() {
    // A line past 65,535 columns used to panic miette's renderer (a format width the standard
    // library refuses); thousands of problems on a big file took seconds.
    // One flow-style line: every problem is past column 70,000.
    let unknown: Vec<String> = (0..3000).map(|i| format!("biuld{i}: 1")).collect();
    let text = format!(
        "version: 0.2\nphases: {{build: {{commands: [\"echo {}\"]}}, {}}}\n",
        "x".repeat(70_000),
        unknown.join(", ")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buildspec.yml");
    std::fs::write(&path, &text).unwrap();
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_runspec")).arg("check").arg(&path).output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(300), "a hang: {:?}", t.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.contains(":2:70040]"), "the real line and column: {}", &stdout[..stdout.len().min(2000)]);
    assert!(stdout.contains("… and 2950 more"), "{}", &stdout[stdout.len().saturating_sub(500)..]);
    assert!(stdout.lines().all(|l| l.chars().count() < 400), "the long line is shown as a window");
    // `run` with the same file: a FAILED build with a result, not a crash.
    let ctx = Ctx::new(&text);
    let run = ctx.run();
    assert_eq!(run.status(), "FAILED", "{}", run.stderr.chars().take(500).collect::<String>());
    assert_eq!(run.context("DOWNLOAD_SOURCE").0, "YAML_FILE_ERROR");
}
