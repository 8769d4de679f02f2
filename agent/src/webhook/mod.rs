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
