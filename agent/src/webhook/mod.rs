//! Webhooks: what a forge's delivery means to a project (pure). [`filter`] decides whether an
//! event starts a build, as CodeBuild's `filterGroups` and `branchFilter` decide it; [`github`]
//! and [`gitlab`] read each forge's deliveries into the same [`Delivery`].

pub mod filter;
pub mod github;
pub mod gitlab;

use serde_json::Value;

use filter::Event;

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// GitHub's `ping`, sent when a webhook is made: answered, nothing started.
    Ping,
    /// An event the filters decide on.
    Event(Box<Trigger>),
    /// Nothing a webhook builds (another event or action, a deleted branch), and why.
    Ignored(String),
}

/// An event that may start a build: what the filters see, and what the build gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub event: Event,
    /// The build's `sourceVersion`.
    pub source_version: String,
    /// `CODEBUILD_WEBHOOK_*` (and `CODEBUILD_SOURCE_VERSION` where it is not the commit).
    pub variables: Vec<(String, String)>,
}

pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `refs/heads/x` → `branch/x`, `refs/tags/v1` → `tag/v1`.
pub(crate) fn trigger_of(reference: &str) -> String {
    match (reference.strip_prefix("refs/heads/"), reference.strip_prefix("refs/tags/")) {
        (Some(branch), _) => format!("branch/{branch}"),
        (_, Some(tag)) => format!("tag/{tag}"),
        _ => reference.to_string(),
    }
}

/// How a webhook build was started, for people: a sentence, and links to the commit and the
/// pull request on the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub summary: String,
    pub commit_url: Option<String>,
    pub pull_request_url: Option<String>,
}

/// The origin of a build from its `CODEBUILD_WEBHOOK_*` variables, its source (`type`,
/// `location`) and the commit it built. Links are made only for `https://` locations, and only
/// from a commit id (hex) and a pull request number (digits).
pub fn origin(variables: &[(String, String)], source: (&str, &str), commit: Option<&str>) -> Option<Origin> {
    let var = |name: &str| variables.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let event = var("CODEBUILD_WEBHOOK_EVENT")?;
    let trigger = var("CODEBUILD_WEBHOOK_TRIGGER").unwrap_or_default();
    let actor =
        var("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID").map(|a| format!(" by account {a}")).unwrap_or_default();
    let number =
        trigger.strip_prefix("pr/").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let branch = |r: Option<&str>| r.map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_string());
    let summary = match (event, number) {
        ("PUSH", _) => match (trigger.strip_prefix("branch/"), trigger.strip_prefix("tag/")) {
            (Some(b), _) => format!("push to branch {b}{actor}"),
            (_, Some(t)) => format!("push of tag {t}{actor}"),
            _ => format!("push{actor}"),
        },
        ("RELEASED" | "PRERELEASED", _) => {
            format!("{} of {}{actor}", event.to_lowercase(), trigger.strip_prefix("tag/").unwrap_or(trigger))
        }
        (_, Some(n)) => {
            let what = event.strip_prefix("PULL_REQUEST_").unwrap_or(event).to_lowercase();
            let head = branch(var("CODEBUILD_WEBHOOK_HEAD_REF")).unwrap_or_default();
            let base = branch(var("CODEBUILD_WEBHOOK_BASE_REF")).unwrap_or_default();
            format!("pull request #{n} {what}: {head} into {base}{actor}")
        }
        _ => format!("{event}{actor}"),
    };
    let (kind, location) = source;
    let base = location
        .strip_prefix("https://")
        .filter(|rest| !rest.is_empty() && !rest.contains(['"', '\'', '<', '>', ' ', '\\', '?', '#']))
        .map(|rest| format!("https://{}", rest.trim_end_matches('/').trim_end_matches(".git")));
    let (commit_path, pr_path) = match kind {
        "GITHUB" | "GITHUB_ENTERPRISE" => ("commit", "pull"),
        "GITLAB" | "GITLAB_SELF_MANAGED" => ("-/commit", "-/merge_requests"),
        "BITBUCKET" => ("commits", "pull-requests"),
        _ => return Some(Origin { summary, commit_url: None, pull_request_url: None }),
    };
    let commit = commit.filter(|c| c.len() >= 7 && c.bytes().all(|b| b.is_ascii_hexdigit()));
    Some(Origin {
        summary,
        commit_url: base.as_ref().zip(commit).map(|(b, c)| format!("{b}/{commit_path}/{c}")),
        pull_request_url: base.as_ref().zip(number).map(|(b, n)| format!("{b}/{pr_path}/{n}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn origins_for_people_with_safe_links() {
        let sha = "9049f1265b7d61be4a8904a9a27120d2064dab3b";
        let push = vars(&[
            ("CODEBUILD_WEBHOOK_EVENT", "PUSH"),
            ("CODEBUILD_WEBHOOK_TRIGGER", "branch/main"),
            ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID", "21031067"),
        ]);
        let o = origin(&push, ("GITHUB", "https://github.com/me/app.git"), Some(sha)).unwrap();
        assert_eq!(o.summary, "push to branch main by account 21031067");
        assert_eq!(
            o.commit_url.as_deref(),
            Some("https://github.com/me/app/commit/9049f1265b7d61be4a8904a9a27120d2064dab3b")
        );
        assert_eq!(o.pull_request_url, None);
        let pr = vars(&[
            ("CODEBUILD_WEBHOOK_EVENT", "PULL_REQUEST_CREATED"),
            ("CODEBUILD_WEBHOOK_TRIGGER", "pr/12"),
            ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/feature"),
            ("CODEBUILD_WEBHOOK_BASE_REF", "refs/heads/main"),
        ]);
        let o = origin(&pr, ("GITLAB", "https://gitlab.example.com/team/app"), Some(sha)).unwrap();
        assert_eq!(o.summary, "pull request #12 created: feature into main");
        assert_eq!(
            o.pull_request_url.as_deref(),
            Some("https://gitlab.example.com/team/app/-/merge_requests/12")
        );
        assert_eq!(
            o.commit_url.as_deref(),
            Some(&*format!("https://gitlab.example.com/team/app/-/commit/{sha}"))
        );
        let tag = vars(&[("CODEBUILD_WEBHOOK_EVENT", "PUSH"), ("CODEBUILD_WEBHOOK_TRIGGER", "tag/v1.0")]);
        assert_eq!(
            origin(&tag, ("GITHUB", "https://github.com/me/app"), None).unwrap().summary,
            "push of tag v1.0"
        );
        // No links from a location that is not https, or a value that could break out of one.
        for location in [
            "/srv/repos/app",
            "javascript:alert(1)",
            "https://x\"onmouseover=\"a",
            "git@github.com:me/app.git",
        ] {
            let o = origin(&pr, ("GITHUB", location), Some(sha)).unwrap();
            assert_eq!((o.commit_url, o.pull_request_url), (None, None), "{location}");
        }
        let odd = vars(&[
            ("CODEBUILD_WEBHOOK_EVENT", "PULL_REQUEST_CREATED"),
            ("CODEBUILD_WEBHOOK_TRIGGER", "pr/1\"><script>"),
        ]);
        assert_eq!(
            origin(&odd, ("GITHUB", "https://github.com/me/app"), Some("zz")).unwrap().pull_request_url,
            None
        );
        assert_eq!(
            origin(&[], ("GITHUB", "https://github.com/me/app"), Some(sha)),
            None,
            "not a webhook build"
        );
    }
}
