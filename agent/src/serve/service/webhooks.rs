//! Webhooks: CreateWebhook, UpdateWebhook, DeleteWebhook. A project's webhook is kept in the
//! project (its `webhook`), its filters checked as [`crate::webhook::filter`] reads them; the
//! secret the forge signs deliveries with is made here and shown once, by CreateWebhook (and by
//! UpdateWebhook when it rotates it), never by BatchGetProjects.

use super::{Result, Service, ServiceError, invalid, name_of, now_s};
use crate::shapes::codebuild as cb;
use crate::webhook::filter::Filters;

/// The source types a webhook can watch (CodeBuild's: the forges).
const FORGES: &[&str] = &["GITHUB", "GITHUB_ENTERPRISE", "GITLAB", "GITLAB_SELF_MANAGED", "BITBUCKET"];

/// A new secret: 244 random bits, as hex.
fn secret() -> String {
    (0..2).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect()
}

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
            secret: Some(secret()),
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
            webhook.secret = Some(secret());
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
