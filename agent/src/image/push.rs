//! Pushing a local image to a registry through the Docker API: tag it with the target name,
//! push with the registry credentials, and read the pushed manifest's digest.

use bollard::Docker;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

use super::ecr::Login;

/// What a push reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The push of `target` started.
    Started { target: String },
    /// A progress report from the engine (`Pushing`, with bytes sent of the layer in flight);
    /// for a terminal's progress line, not for logs.
    Progress { target: String, status: String, current: u64, total: u64 },
    /// `target` was pushed: its manifest digest and how many layers were uploaded or were
    /// already in the registry.
    Pushed { target: String, digest: String, uploaded: usize, existing: usize },
}

/// Pushes the local `image` as `repository:tag` on `login.server`; returns the manifest
/// digest (`sha256:…`).
pub async fn push(
    docker: &Docker,
    image: &str,
    login: &Login,
    repository: &str,
    tag: &str,
    shown: &str,
    on_event: &mut dyn FnMut(PushEvent),
) -> Result<String, String> {
    let name = format!("{}/{repository}", login.server);
    let options = TagImageOptionsBuilder::new().repo(&name).tag(tag).build();
    docker
        .tag_image(image, Some(options))
        .await
        .map_err(|e| format!("cannot tag `{image}` as {name}:{tag}: {e}"))?;
    let options = PushImageOptionsBuilder::new().tag(tag).build();
    let mut stream = docker.push_image(&name, Some(options), Some(login.docker_credentials()));
    on_event(PushEvent::Started { target: shown.to_string() });
    let (mut digest, mut uploaded, mut existing) = (None, 0, 0);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| push_error(shown, &login.server, &e.to_string()))?;
        if let (Some(status), Some(p)) = (&info.status, &info.progress_detail) {
            let (current, total) = (p.current.unwrap_or(0).max(0) as u64, p.total.unwrap_or(0).max(0) as u64);
            on_event(PushEvent::Progress {
                target: shown.to_string(),
                status: status.clone(),
                current,
                total,
            });
        }
        match info.status.as_deref() {
            Some("Pushed") => uploaded += 1,
            // Already in the repository, or mounted from another repository of the registry.
            Some(s) if s == "Layer already exists" || s.starts_with("Mounted from") => existing += 1,
            Some(status) => digest = digest_in(status).or(digest),
            None => {}
        }
    }
    let digest = match digest {
        Some(d) => d,
        None => repo_digest(docker, &name)
            .await
            .ok_or_else(|| format!("pushed {shown} but the registry reported no digest"))?,
    };
    on_event(PushEvent::Pushed { target: shown.to_string(), digest: digest.clone(), uploaded, existing });
    Ok(digest)
}

/// `latest: digest: sha256:… size: 528` → `sha256:…`.
fn digest_in(status: &str) -> Option<String> {
    let rest = status.split_once("digest: ")?.1;
    let d = rest.split_whitespace().next()?;
    (d.starts_with("sha256:") && d.len() == 71).then(|| d.to_string())
}

/// The digest Docker recorded for `name` after the push.
async fn repo_digest(docker: &Docker, name: &str) -> Option<String> {
    let inspected = docker.inspect_image(name).await.ok()?;
    inspected.repo_digests?.into_iter().find_map(|d| d.strip_prefix(&format!("{name}@")).map(str::to_string))
}

/// The engine's push error with what to do about it.
fn push_error(shown: &str, server: &str, message: &str) -> String {
    format!("cannot push {shown}: {message}{}", registry_hint(server, message))
}

/// What to check when the engine's registry error (a push or a pull) says `message`.
pub fn registry_hint(server: &str, message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("unauthorized") || lower.contains("authentication required") || lower.contains("denied")
    {
        format!(
            "; the registry at {server} refused the ECR token: check that the AWS credentials belong to the image's account and may use the repository"
        )
    } else if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("dial tcp")
    {
        format!("; is the registry at {server} reachable from the Docker engine?")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_push_status() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(digest_in(&format!("v1: digest: {d} size: 528")), Some(d.clone()));
        assert_eq!(digest_in("Pushed"), None);
        assert_eq!(digest_in("v1: digest: sha256:short size: 1"), None);
    }

    #[test]
    fn push_errors_say_what_to_check() {
        assert!(
            push_error("x", "r:5000", "unauthorized: authentication required")
                .contains("refused the ECR token")
        );
        assert!(
            push_error("x", "r:5000", "dial tcp 127.0.0.1:1: connect: connection refused")
                .contains("reachable")
        );
        assert_eq!(push_error("x", "r", "boom"), "cannot push x: boom");
    }
}
