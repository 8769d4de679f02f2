//! Webhooks: what a forge's delivery means to a project (pure). [`filter`] decides whether an
//! event starts a build, as CodeBuild's `filterGroups` and `branchFilter` decide it.

pub mod filter;
pub mod github;
