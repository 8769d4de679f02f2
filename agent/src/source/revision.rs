//! A source version as CodeBuild takes it for a git source (pure): a commit id, a branch or tag
//! name, a full ref (`refs/heads/x`, `refs/pull/1/head`), a GitHub pull request (`pr/25`), or a
//! ref pinned to a commit (`refs/heads/x^{<full sha>}`), per "Source version sample with AWS
//! CodeBuild" in the CodeBuild User Guide. Anything else is refused before it reaches a `git`
//! command line: names follow `git check-ref-format`, so no version can start with `-` and be
//! read as an option.

/// A checked source version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// A full commit id (40 hex digits, or 64 in a SHA-256 repository).
    Commit(String),
    /// A branch, tag or full ref name; short hex names are tried as names first, then as an
    /// abbreviated commit.
    Name(String),
    /// A ref to fetch, then the commit of it to check out.
    Pinned { reference: String, commit: String },
}

/// CodeBuild's bound on a source version is a string without a length limit in the model; git
/// refs are bounded by the file system's name length in practice. Longer is refused.
pub const MAX_LEN: usize = 1024;

impl Revision {
    /// Checks `version` as CodeBuild would take it for a git source.
    pub fn parse(version: &str) -> Result<Revision, String> {
        let refuse = |why: &str| format!("the source version `{}` {why}", shown(version));
        if version.is_empty() {
            return Err(refuse("is empty"));
        }
        if version.len() > MAX_LEN {
            return Err(format!("a source version is at most {MAX_LEN} characters"));
        }
        if let Some(n) = version.strip_prefix("pr/") {
            return match n.parse::<u64>() {
                Ok(_) if n.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(Revision::Name(format!("refs/pull/{n}/head")))
                }
                _ => Err(refuse("is not a pull request: use pr/<number>, e.g. pr/25")),
            };
        }
        if let Some((reference, rest)) = version.split_once("^{") {
            let Some(commit) = rest.strip_suffix('}') else {
                return Err(refuse("is not `<ref>^{<commit id>}`"));
            };
            if !is_full_commit(commit) {
                return Err(refuse("pins a ref to something that is not a full commit id"));
            }
            check_ref_name(reference).map_err(|why| refuse(&why))?;
            return Ok(Revision::Pinned { reference: reference.into(), commit: commit.into() });
        }
        if is_full_commit(version) {
            return Ok(Revision::Commit(version.into()));
        }
        check_ref_name(version).map_err(|why| refuse(&why))?;
        Ok(Revision::Name(version.into()))
    }

    /// What to ask the remote for.
    pub fn fetch_spec(&self) -> &str {
        match self {
            Revision::Commit(c) => c,
            Revision::Name(n) => n,
            Revision::Pinned { reference, .. } => reference,
        }
    }
}

fn is_full_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A version as it may be shown in a message: control characters escaped, long ones cut.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    let mut out = cut.escape_debug().to_string();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// `git check-ref-format --allow-onelevel` rules, and no leading `-` (as `--branch` refuses).
pub fn check_ref_name(name: &str) -> Result<(), String> {
    if name.starts_with('-') {
        return Err("starts with `-`".into());
    }
    if name == "@" {
        return Err("is `@`".into());
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("has an empty path component".into());
    }
    if name.ends_with('.') {
        return Err("ends with `.`".into());
    }
    if name.contains("..") {
        return Err("contains `..`".into());
    }
    if name.contains("@{") {
        return Err("contains `@{`".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_ascii_control() || " ~^:?*[\\".contains(*c)) {
        return Err(format!("contains {:?}, which git does not allow in a ref name", c));
    }
    for part in name.split('/') {
        if part.starts_with('.') {
            return Err("has a component that starts with `.`".into());
        }
        if part.ends_with(".lock") {
            return Err("has a component that ends with `.lock`".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_codebuild_documents_are_taken() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let table: &[(&str, Revision)] = &[
            ("main", Revision::Name("main".into())),
            ("feature/login-2", Revision::Name("feature/login-2".into())),
            ("v1.2.3", Revision::Name("v1.2.3".into())),
            ("refs/heads/main", Revision::Name("refs/heads/main".into())),
            ("refs/pull/1/head", Revision::Name("refs/pull/1/head".into())),
            ("pr/25", Revision::Name("refs/pull/25/head".into())),
            ("HEAD", Revision::Name("HEAD".into())),
            ("abc1234", Revision::Name("abc1234".into())),
            (sha, Revision::Commit(sha.into())),
            (
                "refs/tags/mytagv1.0^{0123456789abcdef0123456789abcdef01234567}",
                Revision::Pinned { reference: "refs/tags/mytagv1.0".into(), commit: sha.into() },
            ),
        ];
        for (given, want) in table {
            assert_eq!(Revision::parse(given).as_ref(), Ok(want), "{given}");
        }
    }

    #[test]
    fn options_and_malformed_names_are_refused() {
        let table: &[(&str, &str)] = &[
            ("--upload-pack=touch /tmp/pwned; git-upload-pack", "starts with `-`"),
            ("-b", "starts with `-`"),
            ("main^{--upload-pack=x}", "full commit id"),
            ("-x^{0123456789abcdef0123456789abcdef01234567}", "starts with `-`"),
            ("", "is empty"),
            ("a..b", "`..`"),
            ("a b", "' '"),
            ("a\nb", "'\\n'"),
            ("HEAD@{1}", "`@{`"),
            ("x:y", "':'"),
            ("ext::sh", "':'"),
            ("/abs", "empty path component"),
            ("a//b", "empty path component"),
            ("a/", "empty path component"),
            ("a.", "ends with `.`"),
            (".hidden", "starts with `.`"),
            ("x.lock", "`.lock`"),
            ("@", "is `@`"),
            ("pr/x", "pull request"),
            ("pr/-1", "pull request"),
            ("a*", "'*'"),
            ("a\\b", "'\\\\'"),
        ];
        for (given, why) in table {
            let e = Revision::parse(given).unwrap_err();
            assert!(e.contains(why), "{given:?}: {e}");
        }
        assert!(Revision::parse(&"a".repeat(MAX_LEN + 1)).unwrap_err().contains("at most"));
    }
}
