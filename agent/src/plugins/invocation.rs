//! One plugin run as the user asked for it: from a buildspec plugin step, or from the portable
//! command `runspec plugin run REF --with k=v --allow-write …`. The command form is recognised
//! inside buildspec commands so the agent can run it in-process, with exactly the result the
//! spawned command would have.

use std::time::Duration;

use clap::Parser;

use super::{ArgValue, Grants};
use crate::buildspec::PluginStep;
use crate::buildspec::plugin_step::{parse_duration, parse_size};

/// What to run and with which grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub reference: String,
    pub with: Vec<(String, ArgValue)>,
    pub grants: Grants,
    pub timeout: Option<Duration>,
}

impl From<&PluginStep> for Invocation {
    fn from(s: &PluginStep) -> Self {
        Invocation {
            reference: s.plugin.value.clone(),
            with: s.with.clone(),
            grants: s.allow.clone(),
            timeout: s.timeout,
        }
    }
}

/// `runspec plugin run`: the flags mirror a buildspec plugin step.
#[derive(Debug, Clone, clap::Args)]
pub struct RunPluginArgs {
    /// The plugin: a path to a .wasm component, https://…#sha256=<hex>, or
    /// oci://registry/repo:tag@sha256:<hex>.
    #[arg(value_name = "PLUGIN")]
    pub plugin: String,

    /// An argument, as in the step's `with:` (repeatable). VALUE is typed like YAML
    /// (3 → integer, true → boolean); a JSON list or object is passed as such.
    #[arg(long = "with", value_name = "NAME=VALUE")]
    pub with: Vec<String>,

    /// Let the plugin write to the source directory (`allow.write`).
    #[arg(long)]
    pub allow_write: bool,

    /// Let the plugin see this variable (`allow.env`; repeatable).
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,

    /// Let the plugin set this variable for later commands (`allow.export`; repeatable). Some
    /// names are never allowed (CODEBUILD_*, AWS_*, PATH, LD_*, …: see `runspec plugin inspect`).
    #[arg(long = "allow-export", value_name = "NAME")]
    pub allow_export: Vec<String>,

    /// Let the plugin open TCP connections to HOST:PORT (`allow.network`; repeatable).
    #[arg(long = "allow-network", value_name = "HOST:PORT")]
    pub allow_network: Vec<String>,

    /// Memory cap, e.g. 256MiB (`allow.memory`; default 512MiB).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Time limit, e.g. 30s or 5m (`timeout`).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// The directory the plugin sees as its source directory (default: $CODEBUILD_SRC_DIR,
    /// else the current directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,

    /// Write the variables the plugin exports to FILE as `export NAME='value'` lines, for a
    /// shell to source.
    #[arg(long, value_name = "FILE")]
    pub export_to: Option<std::path::PathBuf>,
}

impl RunPluginArgs {
    /// The invocation these flags describe; errors name the flag.
    pub fn invocation(&self) -> Result<Invocation, String> {
        super::reference::parse(&self.plugin)?;
        let mut with: Vec<(String, ArgValue)> = Vec::new();
        for w in &self.with {
            let Some((k, v)) = w.split_once('=') else {
                return Err(format!("--with {w}: write NAME=VALUE"));
            };
            if k.is_empty() {
                return Err(format!("--with {w}: the name is empty"));
            }
            if with.iter().any(|(n, _)| n == k) {
                return Err(format!("--with {k} is given twice"));
            }
            with.push((k.to_string(), ArgValue::from_cli(v)));
        }
        for e in &self.allow_env {
            Grants::check_env(e).map_err(|why| format!("--allow-env {e}: {why}"))?;
        }
        for e in &self.allow_export {
            super::exports::check_grant(e).map_err(|why| format!("--allow-export {e}: {why}"))?;
        }
        for n in &self.allow_network {
            Grants::check_network(n).map_err(|why| format!("--allow-network {n}: {why}"))?;
        }
        let memory = match &self.memory {
            Some(m) => Some(parse_size(m).map_err(|e| format!("--memory: {e}"))?),
            None => None,
        };
        let timeout = match &self.timeout {
            Some(t) => Some(parse_duration(t, None).map_err(|e| format!("--timeout: {e}"))?),
            None => None,
        };
        Ok(Invocation {
            reference: self.plugin.clone(),
            with,
            grants: Grants {
                write: self.allow_write,
                env: self.allow_env.clone(),
                export: self.allow_export.clone(),
                network: self.allow_network.clone(),
                memory,
            },
            timeout,
        })
    }
}

#[derive(Debug, Parser)]
#[command(name = "runspec", no_binary_name = true)]
struct PluginRunCommand {
    #[command(flatten)]
    args: RunPluginArgs,
}

/// If `command` is exactly `runspec plugin run …` (no expansions, pipes or redirections, and
/// no flags that only make sense in a separate process), the invocation it describes.
/// `Some(Err)` when it is such a command but its flags are wrong: the spawned command would
/// have failed with a usage error.
pub fn from_command(command: &str) -> Option<Result<Invocation, String>> {
    let words = split_words(command)?;
    let program = words.first()?;
    if program != "runspec" && !program.ends_with("/runspec") {
        return None;
    }
    if words.get(1).map(String::as_str) != Some("plugin") || words.get(2).map(String::as_str) != Some("run") {
        return None;
    }
    let parsed = match PluginRunCommand::try_parse_from(&words[3..]) {
        Ok(p) => p,
        Err(e) => return Some(Err(e.to_string().trim().to_string())),
    };
    // These change where the plugin looks or writes outside the build's own state: leave them to
    // the real process.
    if parsed.args.dir.is_some() || parsed.args.export_to.is_some() {
        return None;
    }
    Some(parsed.args.invocation())
}

/// Splits a command into words the way `sh` would, or `None` when `sh` would do anything more
/// (expansions, globbing, pipes, redirections, several commands, comments).
pub fn split_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' => return None,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next()? {
                    '\n' => {}
                    c => word.push(c),
                }
            }
            '$' | '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '*' | '?' | '[' | '\n' | '{' | '}' => {
                return None;
            }
            '#' if !in_word => return None,
            '~' if !in_word => return None,
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        let table: &[(&str, Option<&[&str]>)] = &[
            ("runspec plugin run x.wasm", Some(&["runspec", "plugin", "run", "x.wasm"])),
            ("a 'b c' \"d e\" f\\ g", Some(&["a", "b c", "d e", "f g"])),
            ("a --with files='**/*.rs'", Some(&["a", "--with", "files=**/*.rs"])),
            ("a \"x\\\"y\"", Some(&["a", "x\"y"])),
            ("a ''", Some(&["a", ""])),
            ("a=b", Some(&["a=b"])),
            ("a $HOME", None),
            ("a \"$HOME\"", None),
            ("a `x`", None),
            ("a | b", None),
            ("a && b", None),
            ("a; b", None),
            ("a > f", None),
            ("a *.rs", None),
            ("a # c", None),
            ("a ~/x", None),
            ("a 'unterminated", None),
            ("a\nb", None),
        ];
        for (cmd, want) in table {
            let got = split_words(cmd);
            let want: Option<Vec<String>> = want.map(|w| w.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want, "{cmd}");
        }
    }

    #[test]
    fn recognised_commands() {
        let inv = from_command(
            "runspec plugin run ./p.wasm --with mode=ok --with n=3 --allow-write --allow-env A --timeout 5s",
        )
        .unwrap()
        .unwrap();
        assert_eq!(inv.reference, "./p.wasm");
        assert_eq!(
            inv.with,
            vec![("mode".into(), ArgValue::Str("ok".into())), ("n".into(), ArgValue::Int(3))]
        );
        assert!(inv.grants.write);
        assert_eq!(inv.grants.env, vec!["A".to_string()]);
        assert_eq!(inv.timeout, Some(Duration::from_secs(5)));
        assert!(from_command("/usr/local/bin/runspec plugin run p.wasm").unwrap().is_ok());
        // Not ours, or not only ours: the shell runs them.
        for cmd in [
            "runspec check",
            "echo runspec plugin run x",
            "runspec plugin run x.wasm > out",
            "runspec plugin run $P",
        ] {
            assert!(from_command(cmd).is_none(), "{cmd}");
        }
        assert!(from_command("runspec plugin run p.wasm --export-to vars.sh").is_none());
        // Ours, but wrong: the same usage error the process would give.
        assert!(from_command("runspec plugin run p.wasm --bogus").unwrap().is_err());
        assert!(
            from_command("runspec plugin run p.wasm --with novalue")
                .unwrap()
                .unwrap_err()
                .contains("NAME=VALUE")
        );
    }

    #[test]
    fn cli_values_are_typed_like_yaml() {
        assert_eq!(ArgValue::from_cli("3"), ArgValue::Int(3));
        assert_eq!(ArgValue::from_cli("true"), ArgValue::Boolean(true));
        assert_eq!(ArgValue::from_cli("0.5"), ArgValue::Float(0.5));
        assert_eq!(ArgValue::from_cli("x y"), ArgValue::Str("x y".into()));
        assert_eq!(ArgValue::from_cli("[\"a\",\"b\"]"), ArgValue::Strings(vec!["a".into(), "b".into()]));
        assert_eq!(ArgValue::from_cli("{\"a\":1}"), ArgValue::Json("{\"a\":1}".into()));
        assert_eq!(ArgValue::from_cli("[oops"), ArgValue::Str("[oops".into()));
    }
}
