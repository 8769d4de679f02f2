//! Fetching a build's source for the service: a git clone (any URL git takes: https, ssh, a
//! path), checked out at the source version; or an S3 ZIP, unpacked.

use std::path::Path;
use std::process::Command;

/// Runs `git -C dir ARGS` without a terminal to prompt on: its stdout, or its stderr as the error.
pub fn run_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Clones `url` into `dir` at `version` (a branch, tag, commit or ref; the default branch when
/// `None`), `depth` commits deep when given.
pub fn git(url: &str, version: Option<&str>, depth: Option<u64>, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let run = |args: &[&str]| -> Result<(), String> {
        run_git(dir, args).map(|_| ()).map_err(|e| format!("git {} failed: {e}", args.first().unwrap_or(&"")))
    };
    let depth_arg = depth.map(|d| format!("--depth={d}"));
    run(&["init", "-q"])?;
    run(&["remote", "add", "origin", url])?;
    let wanted = version.unwrap_or("HEAD");
    // A ref or a commit the server lets us ask for; else everything, then the commit.
    let mut fetch = vec!["fetch", "-q"];
    if let Some(d) = &depth_arg {
        fetch.push(d);
    }
    fetch.extend(["origin", wanted]);
    if run(&fetch).is_err() {
        run(&["fetch", "-q", "origin"]).map_err(|e| format!("cannot fetch {url}: {e}"))?;
        return run(&["checkout", "-q", "--detach", wanted])
            .map_err(|_| format!("the source version `{wanted}` is not in {url}"));
    }
    run(&["checkout", "-q", "--detach", "FETCH_HEAD"])
}

/// Downloads `s3://bucket/key` (a ZIP) with the standard credential chain and unpacks it into
/// `dir`; entries that would land outside it are refused.
pub async fn s3(bucket: &str, key: &str, dir: &Path) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    let config = crate::aws::sdk_config(&region, None).await;
    let client = crate::aws::s3_client(&config);
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("cannot download s3://{bucket}/{key}: {}", crate::aws::error_text(&e)))?;
    let zip_path = dir.with_extension("zip");
    let mut file = tokio::fs::File::create(&zip_path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", zip_path.display()))?;
    let mut body = object.body.into_async_read();
    tokio::io::copy(&mut body, &mut file)
        .await
        .map_err(|e| format!("cannot download s3://{bucket}/{key}: {e}"))?;
    file.flush().await.map_err(|e| e.to_string())?;
    drop(file);
    let unpacked = std::fs::File::open(&zip_path)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| format!("s3://{bucket}/{key} is not a ZIP: {e}")))
        .and_then(|mut z| z.extract(dir).map_err(|e| format!("cannot unpack s3://{bucket}/{key}: {e}")));
    let _ = std::fs::remove_file(&zip_path);
    unpacked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn clones_branches_tags_and_commits() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let first = sh(
            &repo,
            "git init -q -b main && git config user.email t@e && git config user.name t && echo 1 > f && git add f && git commit -qm one && git tag v1 && git rev-parse HEAD",
        );
        sh(
            &repo,
            "git checkout -qb dev && echo 2 > f && git commit -qam two && git checkout -q main && echo 3 > f && git commit -qam three",
        );
        let read = |dir: &Path| std::fs::read_to_string(dir.join("f")).unwrap();
        let url = repo.display().to_string();
        for (version, depth, expect) in [
            (None, Some(1), "3\n"),
            (Some("dev"), None, "2\n"),
            (Some("v1"), Some(1), "1\n"),
            (Some(first.as_str()), None, "1\n"),
        ] {
            let dir = t.path().join(format!("c-{}", version.unwrap_or("head").replace('/', "_")));
            git(&url, version, depth, &dir).unwrap();
            assert_eq!(read(&dir), expect, "{version:?}");
        }
        let e = git(&url, Some("nope"), None, &t.path().join("bad")).unwrap_err();
        assert!(e.contains("`nope` is not in"), "{e}");
        assert!(git("/nonexistent/repo", None, None, &t.path().join("none")).is_err());
    }
}
