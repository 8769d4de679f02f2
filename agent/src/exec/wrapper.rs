//! The per-command shell script, CodeBuild style (R-SH-02): one process per command, shell state
//! saved after each command and restored before the next.
//!
//! ```text
//! 1  set -a                                   every assignment is exported, so plain FOO=bar persists (R-SH-04)
//! 2  . '<state>/env.sh'                       restore variables (and PWD)
//! 3  cd -- "$PWD"; CODEBUILD_…=…              restore the directory (R-SH-03), re-apply agent variables
//! 4  <the user's command, verbatim>           line 4, so errors read `script.sh: line 4: …` as on CodeBuild
//! 5  CODEBUILD_LAST_EXIT=$?
//! 6  export -p > '<state>/env.next'           saved only if the command did not `exit` (R-SH-05)
//! 7  exit $CODEBUILD_LAST_EXIT
//! ```
//!
//! The agent renames `env.next` over `env.sh` after the process ends, so a killed command never
//! leaves a half-written state. Nothing here runs anything: it only builds text.

use std::path::Path;

/// Quotes a string for POSIX sh: single quotes, with `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The initial state file: every variable as a literal `export NAME='value'` (R-ENV-02), so
/// `$`, backquotes and quotes in values are never expanded. Names must be valid identifiers.
pub fn initial_state<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in vars {
        debug_assert!(crate::buildspec::parse::is_identifier(name), "{name}");
        out.push_str("export ");
        out.push_str(name);
        out.push('=');
        out.push_str(&sh_quote(value));
        out.push('\n');
    }
    out
}

/// Variables the agent owns and re-applies after restoring the saved state, so a stale value in
/// the state file never wins (rulebook §7.1, implementation notes).
pub struct AgentVars<'a> {
    pub build_succeeding: bool,
    pub last_exit: i32,
    /// `HOME`, `USER` and `LOGNAME` for `run-as` ([OPEN] §18.11: runspec uses the user's home).
    pub run_as: Option<(&'a str, &'a Path)>,
}

/// The script that runs one command. `save` is false for version 0.1, where no state carries
/// over (R-SH-20).
pub fn script(command: &str, state_dir: &Path, agent: &AgentVars<'_>, save: bool) -> String {
    let env_sh = sh_quote(&state_dir.join("env.sh").to_string_lossy());
    let mut line3 = format!(
        "cd -- \"$PWD\"; CODEBUILD_BUILD_SUCCEEDING={}; CODEBUILD_LAST_EXIT={}",
        u8::from(agent.build_succeeding),
        agent.last_exit
    );
    if let Some((user, home)) = agent.run_as {
        let user = sh_quote(user);
        line3.push_str(&format!("; HOME={}; USER={user}; LOGNAME={user}", sh_quote(&home.to_string_lossy())));
    }
    let mut s = String::with_capacity(command.len() + 256);
    s.push_str("set -a\n");
    s.push_str(&format!(". {env_sh}\n"));
    s.push_str(&line3);
    s.push('\n');
    s.push_str(command);
    // A command ending in a backslash or inside an unterminated construct would swallow the
    // epilogue; a newline at least keeps the common case (no trailing newline) correct.
    s.push('\n');
    s.push_str("CODEBUILD_LAST_EXIT=$?\n");
    if save {
        let env_next = sh_quote(&state_dir.join("env.next").to_string_lossy());
        s.push_str(&format!("export -p > {env_next}\n"));
    }
    s.push_str("exit $CODEBUILD_LAST_EXIT\n");
    s
}

/// What [`expand_script`] prints last, so a script that could not run to its end (a broken
/// state file, a killed shell) is told apart from an expansion that is empty.
pub const EXPANDED: &str = "\0runspec-expanded";

/// A script that prints a shell expression's expansion in the build's current state, used for
/// artifact `name` and `base-directory` (R-ART: evaluated with shell command language). A here
/// document expands `$VAR`, `$(…)` and arithmetic, and keeps quotes and globs literal. Only
/// builtins run (`read`, `printf`): the build may have set `PATH` to anything.
pub fn expand_script(expr: &str, state_dir: &Path) -> String {
    let env_sh = sh_quote(&state_dir.join("env.sh").to_string_lossy());
    let mut delimiter = String::from("RUNSPEC_EXPR_END");
    while expr.contains(&delimiter) {
        delimiter.push('_');
    }
    format!(
        "set -a\n. {env_sh}\ncd -- \"$PWD\"\nwhile IFS= read -r runspec_line; do printf '%s\\n' \"$runspec_line\"; done <<{delimiter}\n{expr}\n{delimiter}\nprintf '\\0runspec-expanded'\n"
    )
}

/// The expansion [`expand_script`] printed, or why there is none.
pub fn parse_expansion(out: &[u8]) -> Result<String, String> {
    let Some(body) = out.strip_suffix(EXPANDED.as_bytes()) else {
        return Err("the build's shell could not expand it (its state or shell is broken)".into());
    };
    let mut s = String::from_utf8_lossy(body).into_owned();
    if s.ends_with('\n') {
        s.pop();
    }
    Ok(s)
}

/// A script that prints the named variables NUL-separated, each prefixed `1` when set and `0`
/// when unset, from the saved state. Used once, for `exported-variables` (R-ENV-09).
pub fn export_script(names: &[&str], state_dir: &Path) -> String {
    let env_sh = sh_quote(&state_dir.join("env.sh").to_string_lossy());
    let mut s = format!("set -a\n. {env_sh}\n");
    for name in names {
        debug_assert!(crate::buildspec::parse::is_identifier(name), "{name}");
        s.push_str(&format!(
            "if [ \"${{{name}+set}}\" = set ]; then printf '1%s\\0' \"${name}\"; else printf '0\\0'; fi\n"
        ));
    }
    s
}

/// Splits [`export_script`] output back into values.
pub fn parse_exports(out: &[u8], count: usize) -> Vec<Option<String>> {
    let mut values: Vec<Option<String>> = out
        .split(|&b| b == 0)
        .take(count)
        .map(|field| match field.split_first() {
            Some((b'1', rest)) => Some(String::from_utf8_lossy(rest).into_owned()),
            _ => None,
        })
        .collect();
    values.resize(count, None);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_table() {
        let table = [
            ("", "''"),
            ("plain", "'plain'"),
            ("$PATH:/x", "'$PATH:/x'"),
            ("it's", "'it'\\''s'"),
            ("a\nb", "'a\nb'"),
            ("`date` $(id)", "'`date` $(id)'"),
        ];
        for (input, want) in table {
            assert_eq!(sh_quote(input), want, "{input}");
        }
    }

    #[test]
    fn user_command_is_on_line_4() {
        let agent = AgentVars { build_succeeding: true, last_exit: 0, run_as: None };
        let s = script("echo hi", Path::new("/t"), &agent, true);
        assert_eq!(s.lines().nth(3), Some("echo hi"));
        assert!(s.contains("export -p > '/t/env.next'"));
        let s = script("echo hi", Path::new("/t"), &agent, false);
        assert!(!s.contains("export -p"), "version 0.1 saves nothing");
    }

    #[test]
    fn agent_variables_are_reapplied_after_the_restore() {
        let agent = AgentVars {
            build_succeeding: false,
            last_exit: 3,
            run_as: Some(("bob", Path::new("/home/bob"))),
        };
        let s = script("true", Path::new("/t"), &agent, true);
        let line3 = s.lines().nth(2).unwrap();
        assert_eq!(
            line3,
            "cd -- \"$PWD\"; CODEBUILD_BUILD_SUCCEEDING=0; CODEBUILD_LAST_EXIT=3; HOME='/home/bob'; USER='bob'; LOGNAME='bob'"
        );
    }

    #[test]
    fn exports_round_trip() {
        assert_eq!(
            parse_exports(b"1a b\x000\x001\x00", 3),
            [Some("a b".to_string()), None, Some(String::new())]
        );
        assert_eq!(parse_exports(b"", 2), [None, None]);
    }

    #[test]
    fn expansions_need_the_end_marker() {
        assert_eq!(parse_expansion(b"/src/dist\n\0runspec-expanded"), Ok("/src/dist".to_string()));
        assert_eq!(parse_expansion(b"\n\0runspec-expanded"), Ok(String::new()));
        assert!(parse_expansion(b"").is_err());
        assert!(parse_expansion(b"/src/dist\n").is_err());
    }

    #[test]
    fn expansion_delimiter_never_collides() {
        let s = expand_script("RUNSPEC_EXPR_END", Path::new("/t"));
        assert!(s.contains("<<RUNSPEC_EXPR_END_\n"));
    }
}
