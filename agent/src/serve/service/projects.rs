//! Projects: CreateProject, UpdateProject, BatchGetProjects, ListProjects, DeleteProject.

use super::{Result, Service, ServiceError, invalid, name_of, now_s, page};
use crate::serve::request::{self, SourceSpec};
use crate::shapes::codebuild as cb;
use crate::source::location::GitLocation;

impl Service {
    /// A project by name or ARN.
    pub fn project(&self, given: &str) -> Result<cb::Project> {
        let name = name_of(given, "project");
        self.store.project(name)?.ok_or_else(|| {
            ServiceError::NotFound(format!("Project cannot be found: {}", self.arn("project", name)))
        })
    }

    /// Every source of a (stored or effective) project: its values checked, and a directory of
    /// this machine only where the operator allows it; and what runspec runs of it reads.
    pub fn check_project(&self, p: &cb::Project) -> Result<()> {
        // A CODEPIPELINE source is what a pipeline's execution hands the build.
        let in_pipeline = p.source.as_ref().is_some_and(|s| s.kind.eq_ignore_ascii_case("CODEPIPELINE"));
        let primary = if in_pipeline { None } else { Some(request::source(p).map_err(invalid)?) };
        let secondary = request::secondary_sources(p).map_err(invalid)?;
        for spec in primary.iter().chain(secondary.iter().map(|(_, s)| s)) {
            let local = match spec {
                SourceSpec::Local(path) => Some(path.clone()),
                SourceSpec::Git { location: GitLocation::Local(p), .. } => Some(p.display().to_string()),
                _ => None,
            };
            if let Some(path) = local {
                self.policy.allows(&path).map_err(invalid)?;
            }
        }
        crate::project::from_api(p).map_err(|e| invalid(e.to_string()))?;
        Ok(())
    }

    pub fn create_project(&self, i: cb::CreateProjectInput) -> Result<cb::Project> {
        let now = now_s();
        let project = cb::Project {
            arn: Some(self.arn("project", &i.name)),
            name: Some(i.name.clone()),
            description: i.description,
            source: Some(i.source),
            secondary_sources: i.secondary_sources,
            source_version: i.source_version,
            secondary_source_versions: i.secondary_source_versions,
            artifacts: Some(i.artifacts),
            secondary_artifacts: i.secondary_artifacts,
            cache: i.cache,
            environment: Some(i.environment),
            service_role: Some(i.service_role),
            timeout_in_minutes: Some(i.timeout_in_minutes.unwrap_or(60)),
            queued_timeout_in_minutes: Some(i.queued_timeout_in_minutes.unwrap_or(480)),
            encryption_key: i.encryption_key,
            tags: i.tags,
            created: Some(now),
            last_modified: Some(now),
            vpc_config: i.vpc_config,
            badge: i
                .badge_enabled
                .map(|on| cb::ProjectBadge { badge_enabled: Some(on), badge_request_url: None }),
            logs_config: i.logs_config,
            file_system_locations: i.file_system_locations,
            build_batch_config: i.build_batch_config,
            concurrent_build_limit: i.concurrent_build_limit,
            auto_retry_limit: i.auto_retry_limit,
            ..Default::default()
        };
        if self.store.project(&i.name)?.is_some() {
            return Err(ServiceError::AlreadyExists(format!("Project already exists: {}", i.name)));
        }
        self.check_project(&project)?;
        self.store.create_project(&i.name, &project)?;
        Ok(project)
    }

    pub fn update_project(&self, i: cb::UpdateProjectInput) -> Result<cb::Project> {
        let name = name_of(&i.name, "project").to_string();
        let mut p = self.project(&name)?;
        fn set<T>(into: &mut Option<T>, from: Option<T>) {
            if from.is_some() {
                *into = from;
            }
        }
        set(&mut p.description, i.description);
        set(&mut p.source, i.source);
        set(&mut p.secondary_sources, i.secondary_sources);
        set(&mut p.source_version, i.source_version);
        set(&mut p.secondary_source_versions, i.secondary_source_versions);
        set(&mut p.artifacts, i.artifacts);
        set(&mut p.secondary_artifacts, i.secondary_artifacts);
        set(&mut p.cache, i.cache);
        set(&mut p.environment, i.environment);
        set(&mut p.service_role, i.service_role);
        set(&mut p.timeout_in_minutes, i.timeout_in_minutes);
        set(&mut p.queued_timeout_in_minutes, i.queued_timeout_in_minutes);
        set(&mut p.encryption_key, i.encryption_key);
        set(&mut p.tags, i.tags);
        set(&mut p.vpc_config, i.vpc_config);
        set(
            &mut p.badge,
            i.badge_enabled.map(|on| cb::ProjectBadge { badge_enabled: Some(on), badge_request_url: None }),
        );
        set(&mut p.logs_config, i.logs_config);
        set(&mut p.file_system_locations, i.file_system_locations);
        set(&mut p.build_batch_config, i.build_batch_config);
        set(&mut p.auto_retry_limit, i.auto_retry_limit);
        // "To remove this limit, set this value to -1."
        match i.concurrent_build_limit {
            Some(-1) => p.concurrent_build_limit = None,
            other => set(&mut p.concurrent_build_limit, other),
        }
        p.last_modified = Some(now_s());
        self.check_project(&p)?;
        self.store.update_project(&name, &p)?;
        Ok(super::webhooks::shown(p))
    }

    pub fn batch_get_projects(&self, names: &[String]) -> Result<cb::BatchGetProjectsOutput> {
        let mut projects = Vec::new();
        let mut missing = Vec::new();
        for given in names {
            match self.store.project(name_of(given, "project"))? {
                Some(p) => projects.push(super::webhooks::shown(p)),
                None => missing.push(given.clone()),
            }
        }
        Ok(cb::BatchGetProjectsOutput { projects: Some(projects), projects_not_found: Some(missing) })
    }

    pub fn list_projects(&self, i: &cb::ListProjectsInput) -> Result<cb::ListProjectsOutput> {
        let mut names = self.store.project_names()?;
        let sort = i.sort_by.as_deref().unwrap_or("NAME");
        if sort != "NAME" {
            let mut timed: Vec<(f64, String)> = Vec::new();
            for n in names {
                let p = self.store.project(&n)?;
                let t = p.and_then(|p| if sort == "CREATED_TIME" { p.created } else { p.last_modified });
                timed.push((t.unwrap_or(0.0), n));
            }
            timed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            names = timed.into_iter().map(|(_, n)| n).collect();
        }
        if i.sort_order.as_deref() == Some("DESCENDING") {
            names.reverse();
        }
        let (projects, next_token) = page(names, i.next_token.as_deref(), 100)?;
        Ok(cb::ListProjectsOutput { projects: Some(projects), next_token })
    }

    pub fn delete_project(&self, given: &str) -> Result<()> {
        let name = name_of(given, "project");
        if !self.store.delete_project(name)? {
            return Err(ServiceError::NotFound(format!(
                "Project cannot be found: {}",
                self.arn("project", name)
            )));
        }
        Ok(())
    }
}
