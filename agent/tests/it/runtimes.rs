//! `install/runtime-versions` (R-PH-02, R-PH-03): the catalog given with `--runtimes`, the one
//! derived from a (fake) pyenv on the host, and the image's own runtimes.yml under Docker; the
//! selection forms, CodeBuild's log lines and error messages, what the runtime commands leave
//! for INSTALL, and what they must not.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{Ctx, Run};

/// The variables the host catalog reads, removed so the machine's own managers stay out.
const MANAGER_VARS: &[&str] = &[
    "PYENV_ROOT",
    "PYENV_VERSION",
    "GOENV_ROOT",
    "RBENV_ROOT",
    "PHPENV_ROOT",
    "NVM_DIR",
    "N_PREFIX",
    "SDKMAN_DIR",
    "JENV_ROOT",
    "ASDF_DATA_DIR",
    "MISE_DATA_DIR",
    "XDG_DATA_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "VERSION",
];

/// A home with pyenv's layout (3.11.9, 3.12.1, 3.12.4, each a `python` that prints its version)
/// and a fake `pyenv` on the PATH that records its calls in `$HOME/pyenv-calls` and "installs"
/// a version by making its directory.
struct FakePyenv {
    home: tempfile::TempDir,
}

impl FakePyenv {
    fn new() -> FakePyenv {
        let home = tempfile::tempdir().unwrap();
        for v in ["3.11.9", "3.12.1", "3.12.4"] {
            fake_python(&home.path().join(".pyenv/versions").join(v), v);
        }
        let bin = home.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let pyenv = r#"#!/bin/sh
echo "pyenv $*" >>"$HOME/pyenv-calls"
root="$HOME/.pyenv"
case "$1" in
  root) echo "$root" ;;
  latest) ls "$root/versions" | grep "^$2" | sort -V | tail -n 1 ;;
  install)
    [ "$2" = --skip-existing ] && shift
    d="$root/versions/$2.0/bin"
    mkdir -p "$d"
    printf '#!/bin/sh\necho "Python %s.0 (installed)"\n' "$2" >"$d/python"
    chmod +x "$d/python" ;;
  *) echo "fake pyenv: $1 is not expected" >&2; exit 1 ;;
esac
"#;
        fs::write(bin.join("pyenv"), pyenv).unwrap();
        chmod_x(&bin.join("pyenv"));
        FakePyenv { home }
    }

    fn command(&self, ctx: &Ctx) -> Command {
        let mut cmd = ctx.command();
        for var in MANAGER_VARS {
            cmd.env_remove(var);
        }
        let path = format!("{}:{}", self.home.path().join("bin").display(), std::env::var("PATH").unwrap());
        cmd.env("HOME", self.home.path()).env("PATH", path);
        cmd
    }

    fn run(&self, ctx: &Ctx, extra: &[&str]) -> Run {
        ctx.finish(self.command(ctx).args(extra).output().unwrap())
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.home.path().join("pyenv-calls")).unwrap_or_default()
    }
}

fn fake_python(dir: &Path, version: &str) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/python"), format!("#!/bin/sh\necho \"Python {version}\"\n")).unwrap();
    chmod_x(&dir.join("bin/python"));
}

fn chmod_x(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

fn install(versions: &str, commands: &str) -> String {
    format!("version: 0.2\nphases:\n  install:\n    runtime-versions:\n{versions}    commands:\n{commands}")
}

/// Where a line is in the log (panics with the log when it is not there).
fn at(run: &Run, line: &str) -> usize {
    let log = run.log();
    log.iter().position(|l| l == line).unwrap_or_else(|| panic!("no line {line:?} in\n{}", log.join("\n")))
}

#[test]
fn host_pyenv_versions_are_selected_without_touching_the_users_global() {
    // R-PH-03: `Selecting …`, the runtime's commands echoed, all before `Moving to directory`.
    let pyenv = FakePyenv::new();
    let ctx = Ctx::new(&install(
        "      python: 3.12\n",
        "      - python --version\n      - echo \"PYENV_VERSION=$PYENV_VERSION\"\n",
    ));
    let run = pyenv.run(&ctx, &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    // The newest installed 3.12, never another minor.
    assert_eq!(run.output()[..1], ["Using Python 3.12.4 (pyenv)"]);
    assert!(run.output().ends_with(&["Python 3.12.4".to_string(), "PYENV_VERSION=3.12.4".to_string()]));
    let selecting = at(&run, "> Selecting 'python' runtime version '3.12' based on manual selections...");
    let echoed = at(&run, "> Running command export PYENV_VERSION='3.12.4'");
    let moving = run.log().iter().position(|l| l.starts_with("> Moving to directory ")).unwrap();
    let entering = at(&run, "> Entering phase INSTALL");
    assert!(selecting < echoed && echoed < moving && moving < entering, "{}", run.stdout);
    assert!(!run.has_line("> No runtime version selected in buildspec."));
    // Only directories were read: pyenv itself was not run (no `global`, no `shell`).
    assert_eq!(pyenv.calls(), "");

    // A patch version as written, `3.x` and `latest`.
    for (asked, got) in
        [("3.11.9", "3.11.9"), ("3.x", "3.12.4"), ("latest", "3.12.4"), ("\"3.11\"", "3.11.9")]
    {
        let ctx = Ctx::new(&install(&format!("      python: {asked}\n"), "      - python --version\n"));
        let run = pyenv.run(&ctx, &[]);
        assert_eq!(
            run.output().last().map(String::as_str),
            Some(&*format!("Python {got}")),
            "{asked}: {}",
            run.stdout
        );
    }
}

#[test]
fn host_version_that_is_not_installed_is_installed_by_its_manager_never_replaced() {
    // The `default` entry: `$VERSION` is the version asked for, for those commands only.
    let pyenv = FakePyenv::new();
    let ctx = Ctx::new(&install(
        "      python: 3.13\n",
        "      - python --version\n      - echo \"VERSION=${VERSION-unset}\"\n",
    ));
    let run = pyenv.run(&ctx, &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert!(run.has_line("> Selecting 'python' runtime version '3.13' based on manual selections..."));
    // Logged with the version put in, as CodeBuild logs a default entry's commands.
    assert!(run.has_line("> Running command pyenv install --skip-existing \"3.13\""), "{}", run.stdout);
    assert!(pyenv.calls().contains("pyenv install --skip-existing 3.13\n"), "{}", pyenv.calls());
    let out = run.output();
    assert_eq!(out[out.len() - 2..], ["Python 3.13.0 (installed)", "VERSION=unset"]);

    // A VERSION of the build's own is put back.
    let ctx = Ctx::new(&install("      python: 3.14\n", "      - echo \"VERSION=$VERSION\"\n"));
    let run = pyenv.run(&ctx, &["--env", "VERSION=mine"]);
    assert_eq!(run.output().last().unwrap(), "VERSION=mine", "{}", run.stdout);
}

#[test]
fn host_without_any_manager_fails_with_codebuilds_message_and_a_way_out() {
    let pyenv = FakePyenv::new();
    fs::remove_dir_all(pyenv.home.path().join(".pyenv")).unwrap();
    let ctx = Ctx::new(&install("      python: 3.12\n", "      - echo should-not-run\n"));
    let run = pyenv.run(&ctx, &[]);
    assert_eq!(run.status(), "FAILED");
    let (code, message) = run.context("DOWNLOAD_SOURCE");
    assert_eq!(code, "YAML_FILE_ERROR");
    // CodeBuild's sentence, listing everything this machine has (here its JDK), sorted; the
    // way out is runspec's own line in the log.
    assert_eq!(message, "Unknown runtime named 'python'. This build image has the following runtimes: java");
    assert!(
        run.stdout.lines().any(|l| l.contains("Warning: (the catalog is what runspec found")
            && l.contains("`runspec runtimes` prints it")
            && l.contains("--runtimes FILE")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("should-not-run"));
}

#[test]
fn runtimes_subcommand_prints_a_catalog_that_run_takes_back() {
    let pyenv = FakePyenv::new();
    let bin = env!("CARGO_BIN_EXE_runspec");
    let ctx = Ctx::new(&install("      python: 3.11\n", "      - python --version\n"));
    let mut printed = Command::new(bin);
    for var in MANAGER_VARS {
        printed.env_remove(var);
    }
    let printed = printed.arg("runtimes").env("HOME", pyenv.home.path()).output().unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let yaml = String::from_utf8(printed.stdout).unwrap();
    assert!(yaml.starts_with("version: 0.1\n\nruntimes:\n  python:\n    versions:\n      3.12:\n"), "{yaml}");
    assert!(yaml.contains("      3.11.9:\n") && yaml.contains("      default:\n"), "{yaml}");
    // Saved, edited (3.11 now says so) and passed back: the file is what runs.
    let edited = yaml.replace("\"echo \\\"Using Python 3.11.9 (pyenv)\\\"\"", "\"echo edited-3.11\"");
    assert_ne!(edited, yaml);
    let file = pyenv.home.path().join("catalog.yml");
    fs::write(&file, edited).unwrap();
    let run = pyenv.run(&ctx, &["--runtimes", file.to_str().unwrap()]);
    assert_eq!(run.output(), ["edited-3.11", "Python 3.11.9"], "{}", run.stdout);
    // And `runspec runtimes --runtimes FILE` reads it back the same.
    let again = Command::new(bin).args(["runtimes", "--runtimes", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), fs::read_to_string(&file).unwrap());
}

/// A catalog of made-up runtimes for `--runtimes` (either executor).
const CATALOG: &str = r#"version: 0.1
runtimes:
  tool:
    versions:
      1.20:
        commands:
          - export TOOL_VERSION=1.20
          - cd /
      1.2:
        commands:
          - export TOOL_VERSION=1.2
      2.5:
        commands:
          - export TOOL_VERSION=2.5
  broken:
    versions:
      1:
        commands:
          - echo about to fail
          - "false"
          - echo never
  plugin:
    versions:
      3:
        requires:
          tool: ["2.5"]
        commands:
          - export PLUGIN=3
"#;

fn with_catalog(ctx: &Ctx, extra: &[&str]) -> Run {
    let file = ctx.out.path().join("runtimes.yml");
    fs::write(&file, CATALOG).unwrap();
    let mut args = vec!["--runtimes", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    ctx.run_with(&args)
}

#[test]
fn every_selection_form_against_a_given_catalog() {
    // R-PH-02: a version as written (YAML's 1.20 is not 1.2), N.x, latest, "$VAR".
    for (asked, got) in [
        ("1.20", "1.20"),
        ("1.2", "1.2"),
        ("\"1.2\"", "1.2"),
        ("1.x", "1.20"),
        ("latest", "2.5"),
        ("\"$WANT\"", "2.5"),
    ] {
        let ctx =
            Ctx::new(&install(&format!("      tool: {asked}\n"), "      - echo \"tool=$TOOL_VERSION\"\n"));
        let run = with_catalog(&ctx, &["--env", "WANT=2.5"]);
        assert_eq!(run.status(), "SUCCEEDED", "{asked}: {}", run.stdout);
        assert_eq!(run.output(), [format!("tool={got}")], "{asked}: {}", run.stdout);
        let shown =
            if asked == "\"$WANT\"" { "2.5".to_string() } else { asked.trim_matches('"').to_string() };
        assert!(
            run.has_line(&format!(
                "> Selecting 'tool' runtime version '{shown}' based on manual selections..."
            )),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn runtime_commands_export_for_later_phases_and_cannot_move_the_build() {
    // What they export is there in INSTALL and BUILD; their `cd /` is undone.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  install:\n    runtime-versions:\n      tool: 2.5\n      plugin: 3\n    commands:\n      - pwd\n      - echo \"$TOOL_VERSION $PLUGIN\"\n  build:\n    commands:\n      - echo \"build $TOOL_VERSION\"\n",
    );
    let run = with_catalog(&ctx, &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    let out = run.output();
    assert_eq!(out[1..], ["2.5 3", "build 2.5"]);
    assert_ne!(out[0], "/");
    // In buildspec order, each with its line.
    let a = at(&run, "> Selecting 'tool' runtime version '2.5' based on manual selections...");
    let b = at(&run, "> Selecting 'plugin' runtime version '3' based on manual selections...");
    let c = at(&run, "> Running command export TOOL_VERSION=2.5");
    assert!(a < b && b < c);

    let ctx = Ctx::new(&install("      tool: 1.20\n", "      - pwd\n      - echo \"$CODEBUILD_SRC_DIR\"\n"));
    let run = with_catalog(&ctx, &[]);
    assert!(run.has_line("> Running command cd /"));
    let out = run.output();
    assert_eq!(out[0], out[1], "the build starts in its source directory: {}", run.stdout);
}

#[test]
fn selection_errors_fail_download_source_before_any_runtime_command() {
    // CodeBuild's wording; YAML_FILE_ERROR; nothing runs, not even the runtimes that were fine.
    let cases = [
        (
            "      tool: 2.5\n      nope: 1\n",
            "Unknown runtime named 'nope'. This build image has the following runtimes: broken, plugin, tool",
        ),
        (
            "      tool: 3\n",
            "Unknown runtime version named '3' of tool. This build image has the following versions: 1.20, 1.2, 2.5",
        ),
        ("      tool: 3.x\n", "Unknown runtime version named '3.x' of tool."),
        (
            "      plugin: 3\n      tool: 1.2\n",
            "runtime plugin 3 requires tool 2.5, but tool 1.2 is selected",
        ),
    ];
    for (versions, expected) in cases {
        let ctx = Ctx::new(&install(versions, "      - echo should-not-run\n"));
        let run = with_catalog(&ctx, &[]);
        assert_eq!(run.status(), "FAILED", "{versions}");
        assert_eq!(run.phases()[0], "DOWNLOAD_SOURCE=FAILED");
        let (code, message) = run.context("DOWNLOAD_SOURCE");
        assert_eq!(code, "YAML_FILE_ERROR");
        assert!(message.starts_with(expected), "{message}");
        assert!(!message.contains("(the catalog is "), "CodeBuild's words only: {message}");
        assert!(!run.stdout.contains("> Running command"), "{}", run.stdout);
        assert!(!run.stdout.contains("should-not-run"));
    }
}

#[test]
fn a_failing_runtime_command_fails_download_source() {
    let ctx = Ctx::new(&install("      broken: 1\n", "      - echo should-not-run\n"));
    let run = with_catalog(&ctx, &[]);
    assert_eq!(run.status(), "FAILED");
    assert_eq!(
        run.context("DOWNLOAD_SOURCE"),
        (
            "COMMAND_EXECUTION_ERROR".into(),
            "Error while executing command: false. Reason: exit status 1".into()
        )
    );
    assert_eq!(run.output(), ["about to fail"]);
    assert!(!run.stdout.contains("never") && !run.stdout.contains("should-not-run"));
}

#[test]
fn a_catalog_that_does_not_read_is_a_usage_error() {
    let ctx = Ctx::new(&install("      tool: 1\n", "      - echo hi\n"));
    let file = ctx.out.path().join("bad.yml");
    fs::write(&file, "runtimes:\n  tool: [1]\n").unwrap();
    let run = ctx.run_with(&["--runtimes", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bad.yml") && run.stderr.contains("line 2"), "{}", run.stderr);
    let run = ctx.run_with(&["--runtimes", "/nonexistent/runtimes.yml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the runtime catalog /nonexistent/runtimes.yml"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_runtime_versions_nothing_is_looked_up() {
    let ctx = Ctx::new("version: 0.2\nphases:\n  install:\n    commands: [echo hi]\n");
    let run = with_catalog(&ctx, &[]);
    assert!(run.has_line("> No runtime version selected in buildspec."));
    assert_eq!(run.status(), "SUCCEEDED");
}

// ---- Docker: the image's own /codebuild/image/config/runtimes.yml ----

fn docker_run(ctx: &Ctx, image_var: &str, extra: &[&str]) -> Run {
    let image = std::env::var(image_var).expect("needs docker: run scripts/test.sh");
    let mut cmd = ctx.command();
    cmd.args(["--image", &image]).args(extra);
    ctx.finish(cmd.output().unwrap())
}

const RUNTIMES_IMAGE: &str = "RUNSPEC_TEST_DOCKER_RUNTIMES_IMAGE";

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn image_without_a_catalog_skips_runtime_selection_as_codebuild_does() {
    let ctx = Ctx::new(&install("      nodejs: 20\n", "      - echo hi\n"));
    let run = docker_run(&ctx, "RUNSPEC_TEST_DOCKER_IMAGE", &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert!(run.has_line(
        "> Skipping install of runtimes. Runtime version selection is not supported by this build image"
    ));
    assert!(run.stdout.contains("Warning: runtime-versions (nodejs: 20) are ignored: the build image has no /codebuild/image/config/runtimes.yml"), "{}", run.stdout);
    assert_eq!(run.output(), ["hi"]);
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn image_catalog_selects_versions_exports_and_undoes_cd() {
    // fakelang 2.30 (unquoted: 2.30, not 2.3) uses the image's ENV and ends in `cd /tmp`.
    let ctx = Ctx::new(&install(
        "      fakelang: 2.30\n      othertool: 7\n",
        "      - fakelang\n      - echo \"$OTHERTOOL_HOME\"\n      - test \"$(pwd)\" = \"$CODEBUILD_SRC_DIR\" && echo in-src\n",
    ));
    let run = docker_run(&ctx, RUNTIMES_IMAGE, &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.output(),
        ["Installing fakelang version 2.30 ...", "fakelang 2.30", "/opt/othertool/7", "in-src"]
    );
    let a = at(&run, "> Selecting 'fakelang' runtime version '2.30' based on manual selections...");
    let b = at(&run, "> Selecting 'othertool' runtime version '7' based on manual selections...");
    let c = at(&run, "> Running command export PATH=\"/opt/fakelang/$FAKELANG_230_VERSION/bin:$PATH\"");
    let d = run.log().iter().position(|l| l.starts_with("> Moving to directory /codebuild/output/")).unwrap();
    assert!(a < b && b < c && c < d, "{}", run.stdout);

    for (asked, got) in [
        ("2.x", "fakelang 2.30"),
        ("latest", "fakelang 2.30"),
        ("1.x", "fakelang 1.0"),
        ("2.1", "fakelang 2.1"),
    ] {
        let ctx = Ctx::new(&install(&format!("      fakelang: {asked}\n"), "      - fakelang\n"));
        let run = docker_run(&ctx, RUNTIMES_IMAGE, &[]);
        assert_eq!(run.output().last().map(String::as_str), Some(got), "{asked}: {}", run.stdout);
    }
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn image_default_entry_installs_a_custom_version() {
    let ctx = Ctx::new(&install(
        "      fakelang: 3.4\n",
        "      - fakelang\n      - echo \"VERSION=${VERSION-unset}\"\n",
    ));
    let run = docker_run(&ctx, RUNTIMES_IMAGE, &[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.output(),
        ["Installing custom fakelang version 3.4 ...", "fakelang 3.4 installed", "VERSION=unset"]
    );
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn image_catalog_errors_list_what_the_image_has() {
    let ctx = Ctx::new(&install("      python: 3.12\n", "      - echo should-not-run\n"));
    let run = docker_run(&ctx, RUNTIMES_IMAGE, &[]);
    assert_eq!(run.status(), "FAILED");
    assert_eq!(
        run.context("DOWNLOAD_SOURCE"),
        (
            "YAML_FILE_ERROR".into(),
            "Unknown runtime named 'python'. This build image has the following runtimes: fakelang, othertool"
                .into()
        )
    );
    let ctx = Ctx::new(&install("      othertool: 8\n", "      - echo should-not-run\n"));
    let run = docker_run(&ctx, RUNTIMES_IMAGE, &[]);
    let (_, message) = run.context("DOWNLOAD_SOURCE");
    assert!(
        message.starts_with(
            "Unknown runtime version named '8' of othertool. This build image has the following versions: 7"
        ),
        "{message}"
    );
    assert!(!run.stdout.contains("should-not-run"));
}

#[test]
#[ignore = "needs docker: run scripts/test.sh"]
fn runtimes_flag_replaces_the_images_catalog() {
    let ctx = Ctx::new(&install("      tool: 2.5\n", "      - echo \"tool=$TOOL_VERSION\"\n"));
    let file = ctx.out.path().join("runtimes.yml");
    fs::write(&file, CATALOG).unwrap();
    let run = docker_run(&ctx, RUNTIMES_IMAGE, &["--runtimes", file.to_str().unwrap()]);
    assert_eq!(run.output(), ["tool=2.5"], "{}", run.stdout);
}
