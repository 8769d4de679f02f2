//! Where a git source may come from (pure): a remote URL as CodeBuild knows them (https, http,
//! ssh, git, and scp-like `user@host:path`), or, only where the operator allows it, a
//! repository on this machine. Transport helpers (`ext::`, `fd::`, `<helper>::`), option-looking
//! values and hosts, and control characters are refused before anything runs.

use std::path::{Component, Path, PathBuf};

/// A checked git location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitLocation {
    /// A remote URL, passed to git as it was given.
    Remote(String),
    /// A repository on this machine (an absolute path, or a `file://` URL), lexically
    /// normalised; whether it may be read is [`super::Policy::allows_local`]'s to say.
    Local(PathBuf),
}

/// CodeBuild's source location has no bound in the model; a URL longer than this is not a
/// repository anyone clones.
pub const MAX_LEN: usize = 4096;

impl GitLocation {
    /// The location as the user would type it (a URL, or a path).
    pub fn as_given(&self) -> String {
        match self {
            GitLocation::Remote(url) => url.clone(),
            GitLocation::Local(path) => path.display().to_string(),
        }
    }

    pub fn parse(location: &str) -> Result<GitLocation, String> {
        let refuse = |why: &str| Err(format!("the git source location `{}` {why}", shown(location)));
        if location.is_empty() {
            return refuse("is empty");
        }
        if location.len() > MAX_LEN {
            return Err(format!("a git source location is at most {MAX_LEN} characters"));
        }
        if location.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return refuse("contains a space or a control character");
        }
        if location.starts_with('-') {
            return refuse("starts with `-`");
        }
        if location.contains("::") {
            return refuse("names a git transport helper (`<helper>::`); give an https or ssh URL");
        }
        if let Some(rest) = location.strip_prefix("file://") {
            return local(rest).or_else(|why| refuse(&why));
        }
        if location.starts_with('/') {
            return local(location).or_else(|why| refuse(&why));
        }
        if let Some((scheme, rest)) = location.split_once("://") {
            if !matches!(scheme.to_ascii_lowercase().as_str(), "https" | "http" | "ssh" | "git") {
                return refuse("has a scheme git sources do not use; give an https or ssh URL");
            }
            let authority = rest.split('/').next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() {
                return refuse("has no host");
            }
            if host.starts_with('-') {
                return refuse("has a host that starts with `-`");
            }
            return Ok(GitLocation::Remote(location.to_string()));
        }
        // scp-like: [user@]host:path, with no slash before the colon.
        if let Some((before, path)) = location.split_once(':')
            && !before.contains('/')
            && !path.is_empty()
        {
            let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
            if host.is_empty() || host.starts_with('-') {
                return refuse("has no usable host");
            }
            return Ok(GitLocation::Remote(location.to_string()));
        }
        refuse("is not a URL: give an https or ssh URL (git@host:owner/repo.git)")
    }
}

/// An absolute path with `.` and `..` resolved lexically (no file system access).
fn local(path: &str) -> Result<GitLocation, String> {
    if !path.starts_with('/') {
        return Err("is not an absolute path".into());
    }
    Ok(GitLocation::Local(normalise(Path::new(path))))
}

/// `a/./b/../c` → `a/c`; `..` never climbs above the root.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn shown(s: &str) -> String {
    let cut: String = s.chars().take(120).collect();
    let mut out = cut.escape_debug().to_string();
    if s.chars().count() > 120 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_are_taken_as_given() {
        for url in [
            "https://github.com/owner/repo.git",
            "https://user:token@git.example.com/a/b",
            "http://127.0.0.1:8080/repo.git",
            "ssh://git@github.com/owner/repo.git",
            "git://example.com/repo",
            "git@github.com:owner/repo.git",
            "host.example.com:repo",
            "https://git-codecommit.eu-west-2.amazonaws.com/v1/repos/testing",
        ] {
            assert_eq!(GitLocation::parse(url), Ok(GitLocation::Remote(url.into())), "{url}");
        }
    }

    #[test]
    fn local_paths_are_normalised() {
        assert_eq!(GitLocation::parse("/srv/git/app"), Ok(GitLocation::Local("/srv/git/app".into())));
        assert_eq!(
            GitLocation::parse("file:///srv/git/./x/../app"),
            Ok(GitLocation::Local("/srv/git/app".into()))
        );
        assert_eq!(GitLocation::parse("/srv/../../etc"), Ok(GitLocation::Local("/etc".into())));
    }

    #[test]
    fn helpers_options_and_other_schemes_are_refused() {
        for (given, why) in [
            ("ext::sh -c touch% /tmp/pwned", "space"),
            ("ext::sh", "transport helper"),
            ("fd::3", "transport helper"),
            ("codecommit::us-east-1://repo", "transport helper"),
            ("--upload-pack=touch /tmp/x", "space"),
            ("--upload-pack=x", "starts with `-`"),
            ("ssh://-oProxyCommand=x/repo", "host that starts with `-`"),
            ("ssh://git@-oProxyCommand=x/repo", "host that starts with `-`"),
            ("-oProxyCommand=x:repo", "starts with `-`"),
            ("ftp://example.com/r", "scheme"),
            ("file://relative", "absolute"),
            ("relative/path", "not a URL"),
            ("../up", "not a URL"),
            ("https:///nohost", "no host"),
            ("https://x/\nrepo", "control"),
            ("", "empty"),
        ] {
            let e = GitLocation::parse(given).unwrap_err();
            assert!(e.contains(why), "{given:?}: {e}");
        }
    }
}
