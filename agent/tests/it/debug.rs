//! Breakpoints (`codebuild-breakpoint`, `codebuild-resume`) and `runspec run --debug`, driven
//! through a real terminal: runspec runs in a tmux pane, the test types with `send-keys` and
//! reads the screen with `capture-pane`. Without a terminal, breakpoints are logged and skipped.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Ctx;

/// A tmux server of its own (its own socket) with one pane running `runspec run`.
struct Pane {
    socket: String,
    dir: tempfile::TempDir,
}

impl Pane {
    /// Runs `runspec run --source SRC --result … ARGS` in a new pane; the exit code lands in a
    /// file when it ends.
    fn start(ctx: &Ctx, args: &[&str]) -> Pane {
        let dir = tempfile::tempdir().unwrap();
        let socket = format!(
            "runspec-test-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let mut line = vec![
            quote(env!("CARGO_BIN_EXE_runspec")),
            "run".into(),
            "--source".into(),
            quote(ctx.src.path().to_str().unwrap()),
            "--result".into(),
            quote(ctx.out.path().join("build.json").to_str().unwrap()),
        ];
        line.extend(args.iter().map(|a| quote(a)));
        let mut exports = String::new();
        for name in ["PATH", "HOME", "DOCKER_HOST"] {
            if let Ok(v) = std::env::var(name) {
                exports.push_str(&format!("export {name}={}\n", quote(&v)));
            }
        }
        let script = format!(
            "{exports}export RUNSPEC_STATE_DIR={}\ncd {}\n{}\necho $? > {}\nsleep 600\n",
            quote(dir.path().join("state").to_str().unwrap()),
            quote(ctx.src.path().to_str().unwrap()),
            line.join(" "),
            quote(dir.path().join("code").to_str().unwrap()),
        );
        std::fs::write(dir.path().join("run.sh"), script).unwrap();
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "60"])
            .arg(format!("sh {}", dir.path().join("run.sh").display()))
            .env("TERM", "xterm")
            .status()
            .expect("needs tmux: run scripts/test.sh");
        assert!(ok.success());
        Pane { socket, dir }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-S", "-2000"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text` `times` times.
    fn wait_for(&self, text: &str, times: usize) -> String {
        let t = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "waited for {text:?} ({times}×); the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&self, line: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", line])
            .status()
            .unwrap();
        assert!(ok.success());
        self.keys("Enter");
    }

    fn keys(&self, key: &str) {
        let ok =
            Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "0", key]).status().unwrap();
        assert!(ok.success());
    }

    /// The exit code of `runspec run`, once it ended.
    fn exit_code(&self) -> i32 {
        let file = self.dir.path().join("code");
        let t = Instant::now();
        while !file.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "runspec did not end; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(file).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn result(ctx: &Ctx) -> Value {
    let text = std::fs::read_to_string(ctx.out.path().join("build.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn phase_status(build: &Value, phase: &str) -> String {
    build["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phaseType"] == phase)
        .map(|p| p["phaseStatus"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

const BREAKPOINT: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - cd sub && export FROM_BUILD='a b'\n      - echo before; codebuild-breakpoint; echo after-$FROM_BUILD\n      - test -f sub-was-made-in-the-shell\n";

#[test]
#[ignore = "needs tmux: run scripts/test.sh"]
fn a_breakpoint_opens_a_shell_in_the_build_state_and_resumes() {
    let ctx = Ctx::new(BREAKPOINT);
    ctx.write("sub/keep", "");
    let pane = Pane::start(&ctx, &["--mount-source"]);
    pane.wait_for("(runspec debug) $", 1);
    // The build's directory and variables, mid-command.
    pane.type_line("echo \"at:$(pwd) var:$FROM_BUILD\"");
    let screen = pane.wait_for("at:", 2);
    assert!(screen.contains(&format!("at:{}/sub var:a b", ctx.src.path().display())), "{screen}");
    // Ctrl-C belongs to the shell, not to the build. Keys typed before the shell shows its
    // next prompt may be dropped by it, so wait for that prompt.
    pane.keys("C-c");
    pane.wait_for("(runspec debug) $", 3);
    pane.type_line("touch sub-was-made-in-the-shell; echo still-here");
    pane.wait_for("still-here\n", 1);
    assert!(
        !pane.dir.path().join("code").exists(),
        "Ctrl-C in the shell stopped the build:\n{}",
        pane.screen()
    );
    pane.type_line("codebuild-resume");
    assert_eq!(pane.exit_code(), 0, "{}", pane.screen());
    let screen = pane.screen();
    assert!(screen.contains("after-a b"), "the command went on after the breakpoint:\n{screen}");
    assert!(screen.contains("Resuming the build after the breakpoint"), "{screen}");
    let build = result(&ctx);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{screen}");
}

#[test]
#[ignore = "needs tmux: run scripts/test.sh"]
fn debug_stops_at_a_failing_command_for_a_fix_and_a_rerun() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - export STEP=one\n      - cd sub && test -f fixed\n      - echo fixed-and-on-$STEP-in-$(basename $PWD)\n      - exit 3\n      - echo after-passing\n",
    );
    ctx.write("sub/keep", "");
    let pane = Pane::start(&ctx, &["--mount-source", "--debug"]);
    pane.wait_for("what now? [s/r/c/f/a]", 1);
    let screen = pane.screen();
    assert!(screen.contains("`cd sub && test -f fixed` failed (exit status 1)"), "{screen}");
    // A shell in the state after the failed command: its directory and variables.
    pane.type_line("s");
    pane.wait_for("(runspec debug) $", 1);
    pane.type_line("echo \"in:$(pwd) $STEP\"; touch fixed; exit");
    pane.wait_for("what now? [s/r/c/f/a]", 2);
    assert!(pane.screen().contains(&format!("in:{}/sub one", ctx.src.path().display())), "{}", pane.screen());
    // The re-run starts where the command started (not in `sub`, where its failure left the
    // shell), so its `cd sub` works again; it passes now, and the build goes on.
    pane.type_line("r");
    pane.wait_for("fixed-and-on-one-in-sub", 1);
    pane.wait_for("`exit 3` failed (exit status 3)", 1);
    // Continue as if it had passed.
    pane.type_line("c");
    assert_eq!(pane.exit_code(), 0, "{}", pane.screen());
    let screen = pane.screen();
    assert!(screen.contains("after-passing"), "{screen}");
    assert!(screen.contains("Continuing as if the command had passed (--debug): exit 3"), "{screen}");
    assert!(
        screen.contains("Running the failed command again (--debug): cd sub && test -f fixed"),
        "{screen}"
    );
    assert_eq!(result(&ctx)["buildStatus"], "SUCCEEDED");
}

#[test]
#[ignore = "needs tmux: run scripts/test.sh"]
fn debug_can_fail_as_usual_or_abort() {
    // `f`: the failure stands, POST_BUILD still runs (R-TR-02) and the build FAILED.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - \"false\"\n      - echo not-reached\n  post_build:\n    commands:\n      - echo post-ran\n",
    );
    let pane = Pane::start(&ctx, &["--debug"]);
    pane.wait_for("what now? [s/r/c/f/a]", 1);
    pane.type_line("f");
    assert_ne!(pane.exit_code(), 0, "{}", pane.screen());
    let screen = pane.screen();
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    assert!(lines.contains(&"post-ran") && !lines.contains(&"not-reached"), "{screen}");
    let build = result(&ctx);
    assert_eq!(build["buildStatus"], "FAILED");
    assert_eq!(phase_status(&build, "BUILD"), "FAILED");
    drop(pane);

    // `a`: the build ends STOPPED there; nothing after it runs.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - \"false\"\n  post_build:\n    commands:\n      - echo post-ran\n",
    );
    let pane = Pane::start(&ctx, &["--debug"]);
    pane.wait_for("what now? [s/r/c/f/a]", 1);
    pane.type_line("a");
    pane.exit_code();
    let screen = pane.screen();
    assert!(!screen.contains("echo post-ran"), "{screen}");
    let build = result(&ctx);
    assert_eq!(build["buildStatus"], "STOPPED", "{screen}");
    assert_eq!(phase_status(&build, "BUILD"), "STOPPED");
}

#[test]
fn without_a_terminal_breakpoints_are_logged_and_skipped() {
    let ctx = Ctx::new(BREAKPOINT);
    ctx.write("sub/keep", "");
    ctx.write("sub/sub-was-made-in-the-shell", "");
    let run = ctx.run_with(&["--debug"]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--debug needs a terminal"), "{}", run.stderr);
    assert!(
        run.has_line("> Breakpoint in command echo before; codebuild-breakpoint; echo after-$FROM_BUILD: skipped, runspec has no terminal to open a shell on"),
        "{}",
        run.stdout
    );
    assert!(run.output().contains(&"after-a b".to_string()), "{:?}", run.output());
}

#[test]
#[ignore = "needs docker and tmux: run scripts/test.sh"]
fn a_breakpoint_in_a_docker_build_opens_the_shell_in_the_container() {
    let image = std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect("needs docker: run scripts/test.sh");
    let ctx = Ctx::new(BREAKPOINT);
    ctx.write("sub/keep", "");
    let pane = Pane::start(&ctx, &["--image", &image]);
    pane.wait_for("(runspec debug) $", 1);
    pane.type_line("echo \"at:$(pwd) var:$FROM_BUILD busybox:$(test -x /bin/busybox && echo yes)\"");
    let screen = pane.wait_for("busybox:", 2);
    let shown = screen.lines().find(|l| l.starts_with("at:")).unwrap_or_default().to_string();
    assert!(
        regex::Regex::new(r"^at:/codebuild/output/src\d+/src/sub var:a b busybox:yes$")
            .unwrap()
            .is_match(&shown),
        "{screen}"
    );
    pane.type_line("touch sub-was-made-in-the-shell; codebuild-resume");
    assert_eq!(pane.exit_code(), 0, "{}", pane.screen());
    assert_eq!(result(&ctx)["buildStatus"], "SUCCEEDED", "{}", pane.screen());
}

#[test]
#[ignore = "needs tmux and root: run scripts/test.sh"]
fn the_shell_of_a_run_as_command_is_that_users() {
    // R-SH-12: the breakpoint's shell runs as the command's run-as user, as the command did.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands:\n      - cd sub && codebuild-breakpoint\n",
    );
    ctx.write("sub/keep", "");
    let pane = Pane::start(&ctx, &[]);
    pane.wait_for("(runspec debug) $", 1);
    pane.type_line("echo \"who:$(id -un) in:$(basename \"$PWD\")\"");
    let screen = pane.wait_for("who:", 2);
    assert!(screen.contains("who:nobody in:sub"), "{screen}");
    pane.type_line("exit");
    assert_eq!(pane.exit_code(), 0, "{}", pane.screen());
}
