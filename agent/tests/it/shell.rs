//! §7 command execution: the save/restore wrapper semantics, through the binary.

use crate::support::Ctx;

fn build(commands: &[&str]) -> String {
    let mut s = String::from("version: 0.2\nphases:\n  build:\n    commands:\n");
    for c in commands {
        s.push_str(&format!("      - {}\n", serde_json::to_string(c).unwrap()));
    }
    s
}

#[test]
fn cwd_and_variables_persist_across_commands_and_phases() {
    // R-SH-01, R-SH-03, R-SH-04: cd and plain assignments persist, with or without export.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - pwd\n      - cd sub\n      - PLAIN=1\n      - export EXPORTED=2\n      - DEFAULT_PATH=$(pwd)\n  build:\n    commands:\n      - pwd\n      - echo $PLAIN $EXPORTED $DEFAULT_PATH\n      - sh -c 'echo child sees $PLAIN'\n",
    );
    ctx.write("sub/x", "");
    let run = ctx.run_with(&["--mount-source"]);
    let src = ctx.src.path().canonicalize().unwrap();
    assert_eq!(
        run.output(),
        [
            src.display().to_string(),
            src.join("sub").display().to_string(),
            format!("1 2 {}", src.join("sub").display()),
            "child sees 1".to_string()
        ]
    );
}

#[test]
fn exit_0_ends_only_that_command() {
    // R-SH-05: the phase goes on; the state change of the exiting command is lost.
    let run = Ctx::new(&build(&["X=before", "X=changed; exit 0", "echo $X", "echo still running"])).run();
    assert_eq!(run.status(), "SUCCEEDED");
    assert_eq!(run.output(), ["before", "still running"]);
}

#[test]
fn shell_options_do_not_carry_over() {
    // R-SH-06: `set -e` as its own entry has no effect on later entries.
    let run = Ctx::new(&build(&["set -e", "false; echo survived"])).run();
    assert_eq!(run.output(), ["survived"]);
    assert_eq!(run.status(), "SUCCEEDED");
}

#[test]
fn background_processes_outlive_their_command_and_are_not_waited_for() {
    // R-SH-07: `&` jobs stay usable by later commands; the agent does not wait for them.
    let start = std::time::Instant::now();
    let run = Ctx::new(&build(&[
        "(sleep 1; echo late > bg.txt) > /dev/null 2>&1 &",
        "echo next",
        "sleep 2; cat bg.txt",
        "sleep 600 &",
    ]))
    .run();
    assert_eq!(run.output(), ["next", "late"]);
    // Ten minutes is what waiting for the job would take; a deadline below it catches that.
    assert!(start.elapsed().as_secs() < 300, "waited for a background job: {:?}", start.elapsed());
}

#[test]
fn block_commands_pass_if_their_last_line_passes() {
    // R-SH-08: a `|` block is one command; no implicit set -e. R-SH-09: no pipefail.
    let run = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        false\n        echo line $((1+1))\n      - false | true\n      - |\n        set -e\n        false\n        echo not $((0))printed\n").run();
    let out = run.output();
    assert!(out.contains(&"line 2".to_string()), "{out:?}");
    assert!(!out.contains(&"not 0printed".to_string()), "{out:?}");
    // R-PH-13: a multi-line command is echoed verbatim, newlines included.
    assert!(run.stdout.contains("Running command false\necho line $((1+1))\n"), "{}", run.stdout);
    assert_eq!(run.phase("BUILD")["phaseStatus"], "FAILED", "set -e inside a block does apply");
    assert_eq!(run.log().iter().filter(|l| l.starts_with("> Running command")).count(), 3);
}

#[test]
fn default_shell_is_sh_and_bash_is_opt_in() {
    // R-SH-10, R-SH-02: /bin/sh runs each command as script.sh with the command on line 4.
    let run = Ctx::new(&build(&["echo $0", "[[ 1 == 1 ]] && echo bash-only"])).run();
    assert!(run.output()[0].ends_with("/script.sh"), "{:?}", run.output());
    let sh_is_dash =
        std::fs::read_link("/bin/sh").map(|p| p.to_string_lossy().contains("dash")).unwrap_or(false);
    if sh_is_dash {
        assert!(run.stdout.contains("script.sh: 4: [[: not found"), "{}", run.stdout);
        assert_eq!(run.phase("BUILD")["phaseStatus"], "FAILED");
    }
    let bash = Ctx::new("version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - '[[ 1 == 1 ]] && echo bash-only'\n      - echo $BASH_VERSION | cut -c1\n").run();
    assert_eq!(bash.output()[0], "bash-only");
    assert_eq!(bash.status(), "SUCCEEDED");
}

#[test]
fn command_not_found_is_127() {
    // R-SH-10 + acantril/learn-cantrill-io-labs#155: line 4 of script.sh, exit status 127.
    let run = Ctx::new(
        "version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - no-such-command-xyz\n",
    )
    .run();
    assert!(
        run.stdout.contains("script.sh: line 4: no-such-command-xyz: command not found"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.context("BUILD").1,
        "Error while executing command: no-such-command-xyz. Reason: exit status 127"
    );
}

#[test]
fn stdout_and_stderr_interleave_in_order() {
    // R-SH-11.
    let run = Ctx::new(&build(&["echo one; echo two >&2; echo three; echo four >&2"])).run();
    assert_eq!(run.output(), ["one", "two", "three", "four"]);
}

#[test]
fn last_exit_is_visible_to_the_next_command() {
    // R-SH-02: CODEBUILD_LAST_EXIT.
    let run = Ctx::new("version: 0.2\nphases:\n  build:\n    on-failure: CONTINUE\n    commands: ['exit 5']\n  post_build:\n    commands: ['echo last=$CODEBUILD_LAST_EXIT']\n").run();
    assert_eq!(run.output(), ["last=5"]);
}

#[test]
fn version_0_1_runs_every_command_in_a_fresh_shell() {
    // R-SH-20.
    let ctx = Ctx::new(
        "version: 0.1\nphases:\n  build:\n    commands:\n      - cd sub && pwd\n      - X=1\n      - pwd\n      - echo x=$X\n",
    );
    ctx.write("sub/f", "");
    let run = ctx.run_with(&["--mount-source"]);
    let src = ctx.src.path().canonicalize().unwrap();
    assert_eq!(
        run.output(),
        [src.join("sub").display().to_string(), src.display().to_string(), "x=".to_string()]
    );
}

#[test]
fn run_as_switches_user() {
    // R-SH-12: commands run as the user; [OPEN] §18.11 decided: HOME is the user's home.
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let run = Ctx::new("version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands:\n      - id -un\n      - echo $HOME\n      - id -G\n  post_build:\n    commands: [id -un]\n").run();
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    let out = run.output();
    assert_eq!(out[0], "nobody");
    assert_eq!(out[1], nix::unistd::User::from_name("nobody").unwrap().unwrap().dir.display().to_string());
    assert!(!out[2].split(' ').any(|g| g == "0"), "root's group was dropped: {}", out[2]);
    assert_eq!(out[3], "root");
}

#[test]
fn run_as_unknown_user_is_a_clear_error() {
    let run =
        Ctx::new("version: 0.2\nrun-as: no-such-user-xyz\nphases:\n  build:\n    commands: [touch ran]\n")
            .run();
    assert_eq!(run.phases(), ["DOWNLOAD_SOURCE=FAILED"]);
    assert_eq!(
        run.context("DOWNLOAD_SOURCE").1,
        "run-as user `no-such-user-xyz` does not exist on this machine"
    );
}

#[test]
fn output_streams_while_the_command_runs() {
    // Output reaches stdout as it is produced, not when the command ends: the command waits
    // for a file this test makes only once it has read the command's first line.
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let ctx = Ctx::new(&build(&[
        "echo first; i=0; while [ ! -e \"$GO\" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; if [ -e \"$GO\" ]; then echo after-go; else echo gave-up; fi",
    ]));
    let mut child = ctx
        .command()
        .arg("--env")
        .arg(format!("GO={}", go.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap() == "first" {
            break;
        }
    }
    std::fs::write(&go, "").unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    child.wait().unwrap();
    assert!(rest.iter().any(|l| l == "after-go"), "the first line came only at the end: {rest:?}");
}
