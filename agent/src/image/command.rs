//! Recognising `runspec image push …` buildspec commands that the agent can run in-process
//! (pure). Unlike `runspec plugin run`, such commands nearly always carry variables
//! (`$REPOSITORY_URI:$IMAGE_TAG`), so simple `$NAME` / `${NAME}` references are allowed; the
//! engine has the build's shell expand them. Anything else a shell would do (quotes other than
//! plain double quotes, globs, substitutions, pipes, redirections) leaves the command to the
//! shell.

use clap::Parser;

use super::PushArgs;

#[derive(Debug, Parser)]
#[command(name = "runspec image push", no_binary_name = true)]
struct PushLine {
    #[command(flatten)]
    args: PushArgs,
}

/// The argument words of `runspec image push ARGS…` with variable references left in, or
/// `None` when the command is something else or needs the shell.
pub fn words(command: &str) -> Option<Vec<String>> {
    let mut tokens = command.split_ascii_whitespace();
    let program = tokens.next()?;
    if program != "runspec" && !program.ends_with("/runspec") {
        return None;
    }
    if tokens.next()? != "image" || tokens.next()? != "push" {
        return None;
    }
    let mut words = Vec::new();
    for token in tokens {
        let single = token.strip_prefix('\'').and_then(|t| t.strip_suffix('\''));
        let word = match (single, token.strip_prefix('"').and_then(|t| t.strip_suffix('"'))) {
            // A single-quoted word is literal: without a `$` it means what it says.
            (Some(inner), _) if !inner.contains('$') => inner,
            (Some(_), _) => return None,
            (None, Some(inner)) => inner,
            (None, None) => token,
        };
        if !simple(word) {
            return None;
        }
        // `--json` prints for a reader of the command's stdout: leave it to the real process.
        if word == "--json" {
            return None;
        }
        words.push(word.to_string());
    }
    Some(words)
}

/// Plain characters and `$NAME` / `${NAME}` references only.
fn simple(word: &str) -> bool {
    let b = word.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' => {
                let braced = b.get(i + 1) == Some(&b'{');
                let start = i + 1 + usize::from(braced);
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                if end == start || b[start].is_ascii_digit() {
                    return false;
                }
                if braced {
                    if b.get(end) != Some(&b'}') {
                        return false;
                    }
                    end += 1;
                }
                i = end;
            }
            c if c.is_ascii_alphanumeric() || b"-_.:/@=+,%".contains(&c) => i += 1,
            _ => return false,
        }
    }
    !word.is_empty()
}

/// The push arguments from expanded words; a usage error as the real command would print it.
pub fn parse(words: &[String]) -> Result<PushArgs, String> {
    PushLine::try_parse_from(words).map(|l| l.args).map_err(|e| e.to_string().trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognised_commands() {
        let table: &[(&str, Option<&[&str]>)] = &[
            (
                "runspec image push web:latest $REPOSITORY_URI:$IMAGE_TAG",
                Some(&["web:latest", "$REPOSITORY_URI:$IMAGE_TAG"]),
            ),
            (
                "/usr/local/bin/runspec image push web \"${REPO}:v1\" --imagedefinitions web",
                Some(&["web", "${REPO}:v1", "--imagedefinitions", "web"]),
            ),
            ("runspec image push web r --create-repository", Some(&["web", "r", "--create-repository"])),
            ("runspec image push 'web:v1' 'r:v1'", Some(&["web:v1", "r:v1"])),
            ("runspec image push web '$R:v1'", None),
            ("runspec image push web $(cat uri)", None),
            ("runspec image push web `cat uri`", None),
            ("runspec image push web 'r'", Some(&["web", "r"])),
            ("runspec image push web r > out", None),
            ("runspec image push web r && echo", None),
            ("runspec image push web r*", None),
            ("runspec image push web $1", None),
            ("runspec image push web ${R:-x}", None),
            ("runspec image push web r --json", None),
            ("runspec plugin run p.wasm", None),
            ("docker push web", None),
        ];
        for (cmd, want) in table {
            let got = words(cmd);
            let want: Option<Vec<String>> = want.map(|w| w.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want, "{cmd}");
        }
    }

    #[test]
    fn arguments() {
        let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let a = parse(&w("web:1 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1 --image-detail")).unwrap();
        assert_eq!((a.local.as_str(), a.targets.len(), a.image_detail), ("web:1", 1, true));
        assert!(parse(&w("web:1")).unwrap_err().contains("ECR_URI"));
        assert!(parse(&w("web:1 x --bogus")).unwrap_err().contains("--bogus"));
    }
}
