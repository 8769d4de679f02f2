//! Webhooks: CreateWebhook, UpdateWebhook, DeleteWebhook, and the deliveries they receive. A
//! project's webhook is kept in the project (its `webhook`), its filters checked as
//! [`crate::webhook::filter`] reads them; the secret the forge signs deliveries with is made
//! here and shown once, by CreateWebhook (and by UpdateWebhook when it rotates it), never by
//! BatchGetProjects. A delivery ([`Service::deliver`]) is checked against that secret before
//! anything in it is read, then read ([`crate::webhook::github`]) and filtered; a matching one
//! starts a build (or a batch) once per delivery id.

use std::sync::Arc;

use super::{Result, Service, ServiceError, invalid, name_of, now_s};
use crate::serve::request::Started;
use crate::shapes::codebuild as cb;
use crate::webhook::filter::Filters;
use crate::webhook::{Delivery, github, gitlab};

/// The source types a webhook can watch (CodeBuild's: the forges).
const FORGES: &[&str] = &["GITHUB", "GITHUB_ENTERPRISE", "GITLAB", "GITLAB_SELF_MANAGED", "BITBUCKET"];

/// A project as the API shows it: without its webhook's secret.
pub fn shown(mut p: cb::Project) -> cb::Project {
    if let Some(w) = p.webhook.as_mut() {
        w.secret = None;
    }
    p
}

fn build_type(given: Option<&str>) -> Result<String> {
    match given.unwrap_or("BUILD") {
        t @ ("BUILD" | "BUILD_BATCH") => Ok(t.to_string()),
        other => Err(invalid(format!("buildType {other}: runspec starts BUILD or BUILD_BATCH builds"))),
    }
}

impl Service {
    /// Where a project's deliveries are sent: `<public URL>/webhooks/<project>`.
    pub fn payload_url(&self, project: &str) -> String {
        let encoded = percent_encoding::utf8_percent_encode(project, percent_encoding::NON_ALPHANUMERIC);
        format!("{}/webhooks/{encoded}", self.public_url().trim_end_matches('/'))
    }

    pub fn create_webhook(&self, i: cb::CreateWebhookInput) -> Result<cb::Webhook> {
        let name = name_of(&i.project_name, "project").to_string();
        let mut p = self.project(&name)?;
        let kind = p.source.as_ref().map(|s| s.kind.clone()).unwrap_or_default();
        if !FORGES.contains(&kind.as_str()) {
            return Err(invalid(format!(
                "a webhook watches a repository of a forge (a source of type {}); the project {name}'s source is {kind}",
                FORGES.join(", ")
            )));
        }
        if p.webhook.is_some() {
            return Err(ServiceError::AlreadyExists(format!("The project {name} already has a webhook")));
        }
        let groups = i.filter_groups.clone().unwrap_or_default();
        Filters::new(&groups, i.branch_filter.as_deref()).map_err(invalid)?;
        let now = now_s();
        let webhook = cb::Webhook {
            url: None,
            payload_url: Some(self.payload_url(&name)),
            secret: Some(crate::serve::random_token()),
            branch_filter: i.branch_filter.filter(|b| !b.is_empty()),
            filter_groups: i.filter_groups.filter(|g| !g.is_empty()),
            build_type: Some(build_type(i.build_type.as_deref())?),
            manual_creation: Some(true),
            last_modified_secret: Some(now),
            status: Some("ACTIVE".into()),
            ..Default::default()
        };
        p.webhook = Some(webhook.clone());
        p.last_modified = Some(now);
        self.store.update_project(&name, &p)?;
        Ok(webhook)
    }

    pub fn update_webhook(&self, i: cb::UpdateWebhookInput) -> Result<cb::Webhook> {
        let name = name_of(&i.project_name, "project").to_string();
        let mut p = self.project(&name)?;
        let Some(mut webhook) = p.webhook.clone() else {
            return Err(ServiceError::NotFound(format!(
                "The project {name} has no webhook: create it first"
            )));
        };
        if let Some(groups) = i.filter_groups {
            webhook.filter_groups = Some(groups).filter(|g| !g.is_empty());
        }
        if let Some(branch) = i.branch_filter {
            webhook.branch_filter = Some(branch).filter(|b| !b.is_empty());
        }
        if i.build_type.is_some() {
            webhook.build_type = Some(build_type(i.build_type.as_deref())?);
        }
        Filters::new(&webhook.filter_groups.clone().unwrap_or_default(), webhook.branch_filter.as_deref())
            .map_err(invalid)?;
        let rotated = i.rotate_secret == Some(true);
        if rotated {
            webhook.secret = Some(crate::serve::random_token());
            webhook.last_modified_secret = Some(now_s());
        }
        p.webhook = Some(webhook.clone());
        p.last_modified = Some(now_s());
        self.store.update_project(&name, &p)?;
        if !rotated {
            webhook.secret = None;
        }
        Ok(webhook)
    }

    pub fn delete_webhook(&self, project: &str) -> Result<()> {
        let name = name_of(project, "project").to_string();
        let mut p = self.project(&name)?;
        if p.webhook.take().is_none() {
            return Err(ServiceError::NotFound(format!("The project {name} has no webhook")));
        }
        p.last_modified = Some(now_s());
        self.store.update_project(&name, &p)?;
        Ok(())
    }
}

/// How long a delivery's id names the build it started: GitHub lets a delivery be redelivered
/// for 3 days ("Redelivering webhooks").
const DELIVERY_WINDOW_S: f64 = 3.0 * 24.0 * 3600.0;

/// The headers of a delivery that matter.
#[derive(Debug, Clone, Default)]
pub struct DeliveryHeaders {
    /// `X-GitHub-Event`.
    pub event: Option<String>,
    /// `X-Hub-Signature-256`.
    pub signature: Option<String>,
    /// `X-GitHub-Delivery`.
    pub delivery: Option<String>,
    /// `User-Agent` (`GitHub-Hookshot/…`): the build's initiator, as on CodeBuild.
    pub user_agent: Option<String>,
    /// `X-Gitlab-Event`: a GitLab delivery.
    pub gitlab_event: Option<String>,
    /// `X-Gitlab-Token`.
    pub gitlab_token: Option<String>,
    /// `Idempotency-Key` (GitLab's, the same on a retry), else `X-Gitlab-Event-UUID`.
    pub gitlab_delivery: Option<String>,
}

/// What a delivery got: the HTTP status, a sentence, the build it started.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub status: u16,
    pub message: String,
    pub build: Option<String>,
}

fn answer(status: u16, message: impl Into<String>) -> Delivered {
    Delivered { status, message: message.into(), build: None }
}

/// A header value as a name: letters, digits and `-_./: ` only, bounded, else `None`.
fn plain(value: Option<&String>, max: usize) -> Option<String> {
    value
        .filter(|v| !v.is_empty() && v.len() <= max)
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./: ".contains(&b)))
        .map(|v| v.trim().to_string())
}

impl Service {
    /// A forge's delivery for `project`: checked against the webhook's secret, read, filtered;
    /// a build started when it matches (once per delivery id).
    pub fn deliver(self: &Arc<Self>, project: &str, headers: &DeliveryHeaders, body: &[u8]) -> Delivered {
        let refused = |why: &str| {
            tracing::warn!("a webhook delivery for {project} was refused: {why}");
            answer(401, why)
        };
        let p = match self.store.project(project) {
            Ok(Some(p)) => p,
            Ok(None) => return answer(404, format!("there is no project {project}")),
            Err(e) => return answer(500, e.to_string()),
        };
        let Some(webhook) = p.webhook.clone() else {
            return answer(404, format!("the project {project} has no webhook"));
        };
        let secret = webhook.secret.clone().unwrap_or_default();
        // GitLab names itself; any other forge speaks GitHub's protocol (GitHub Enterprise,
        // Gitea, Forgejo).
        let gitlab = headers.gitlab_event.is_some();
        let signed = match gitlab {
            true => gitlab::signed(&secret, headers.gitlab_token.as_deref()),
            false => github::signed(&secret, body, headers.signature.as_deref()),
        };
        if secret.is_empty() || !signed {
            return refused(if gitlab {
                "the X-Gitlab-Token header is missing or is not the webhook's secret"
            } else {
                "the X-Hub-Signature-256 header is missing or is not the body's signature with the webhook's secret"
            });
        }
        let named = if gitlab { &headers.gitlab_event } else { &headers.event };
        let Some(event) = plain(named.as_ref(), 64) else {
            return answer(400, "the event header (X-GitHub-Event, X-Gitlab-Event) is missing");
        };
        let payload: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return answer(400, format!("the delivery is not JSON: {e}")),
        };
        let read = if gitlab { gitlab::read(&event, &payload) } else { github::read(&event, &payload) };
        let trigger = match read {
            Delivery::Ping => return answer(200, "pong"),
            Delivery::Ignored(why) => return answer(202, why),
            Delivery::Event(t) => t,
        };
        let groups = webhook.filter_groups.clone().unwrap_or_default();
        let filters = match Filters::new(&groups, webhook.branch_filter.as_deref()) {
            Ok(f) => f,
            Err(e) => return answer(500, format!("the webhook's filters: {e}")),
        };
        if !filters.matches(&trigger.event) {
            return answer(
                202,
                format!("{}: no filter group of the webhook matches; no build", trigger.event.kind.as_str()),
            );
        }
        let initiator = plain(headers.user_agent.as_ref(), 128).unwrap_or_else(|| "webhook".into());
        let delivery = if gitlab { &headers.gitlab_delivery } else { &headers.delivery };
        let token = plain(delivery.as_ref(), 128).map(|d| format!("webhook-{d}"));
        if webhook.build_type.as_deref() == Some("BUILD_BATCH") {
            let input = cb::StartBuildBatchInput {
                project_name: project.to_string(),
                source_version: Some(trigger.source_version.clone()),
                idempotency_token: token,
                ..Default::default()
            };
            return match self.start_build_batch(input, &initiator) {
                Ok(b) => Delivered { status: 201, message: "a batch build started".into(), build: b.id },
                Err(e) => answer(400, format!("{e:?}")),
            };
        }
        let start = Started {
            input: cb::StartBuildInput {
                project_name: project.to_string(),
                source_version: Some(trigger.source_version.clone()),
                ..Default::default()
            },
            webhook: trigger.variables.clone(),
            ..Default::default()
        };
        match self.submit_within(
            project,
            &p,
            start,
            token.as_deref().map(|t| (t, DELIVERY_WINDOW_S)),
            &initiator,
        ) {
            Ok(row) => {
                Delivered { status: 201, message: format!("build {} started", row.id), build: Some(row.id) }
            }
            Err(e) => answer(400, format!("{e:?}")),
        }
    }
}
