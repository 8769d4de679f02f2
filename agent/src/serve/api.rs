//! The CodeBuild API (AWS JSON 1.1, `X-Amz-Target: CodeBuild_20161006.<Op>`) and the CloudWatch
//! Logs reads (`Logs_20140328.<Op>`) on one `POST /`, with AWS's error shapes: HTTP 400 and
//! `{"__type": "...", "message": "..."}`, which the AWS CLI and the SDKs print the AWS way.
//! Shapes and names follow botocore's model (`codebuild/2016-10-06/service-2.json`).

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::dispatch::{Dispatch, Service};
use super::logs;
use super::request;
use super::store::{BuildRow, StoreError, now_s};
use crate::engine::{BuildPhase, BuildReport, Status};
use crate::result::{self, BuildIdentity, Times};

/// An error as AWS sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError { status: 400, kind: "InvalidInputException", message: message.into() }
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError { status: 400, kind: "ResourceNotFoundException", message: message.into() }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(m) => {
                ApiError { status: 400, kind: "ResourceAlreadyExistsException", message: m }
            }
            StoreError::NotFound(m) => not_found(m),
            other => ApiError { status: 500, kind: "InternalFailure", message: other.to_string() },
        }
    }
}

/// One call: the target, the JSON body, who signed it.
pub fn call(service: &Arc<Service>, target: &str, body: &Value, caller: &str) -> Result<Value, ApiError> {
    let op = target
        .strip_prefix("CodeBuild_20161006.")
        .map(|op| ("codebuild", op))
        .or_else(|| target.strip_prefix("Logs_20140328.").map(|op| ("logs", op)));
    let api = Api { service, caller };
    match op {
        Some(("codebuild", "CreateProject")) => api.create_project(body),
        Some(("codebuild", "UpdateProject")) => api.update_project(body),
        Some(("codebuild", "BatchGetProjects")) => api.batch_get_projects(body),
        Some(("codebuild", "ListProjects")) => api.list_projects(body),
        Some(("codebuild", "DeleteProject")) => api.delete_project(body),
        Some(("codebuild", "StartBuild")) => api.start_build(body),
        Some(("codebuild", "BatchGetBuilds")) => api.batch_get_builds(body),
        Some(("codebuild", "StopBuild")) => api.stop_build(body),
        Some(("codebuild", "RetryBuild")) => api.retry_build(body),
        Some(("codebuild", "ListBuilds")) => api.list_builds(body, None),
        Some(("codebuild", "ListBuildsForProject")) => {
            let name = api.project_name(body, "projectName")?;
            api.list_builds(body, Some(&name))
        }
        Some(("codebuild", "BatchDeleteBuilds")) => api.batch_delete_builds(body),
        Some(("codebuild", "StartBuildBatch")) => api.start_build_batch(body),
        Some(("codebuild", "BatchGetBuildBatches")) => api.batch_get_build_batches(body),
        Some(("codebuild", "StopBuildBatch")) => api.stop_build_batch(body),
        Some(("codebuild", "RetryBuildBatch")) => api.retry_build_batch(body),
        Some(("codebuild", "ListBuildBatches")) => api.list_build_batches(body, None),
        Some(("codebuild", "ListBuildBatchesForProject")) => {
            let name = api.project_name(body, "projectName")?;
            api.list_build_batches(body, Some(&name))
        }
        Some(("codebuild", "DeleteBuildBatch")) => api.delete_build_batch(body),
        Some(("logs", "GetLogEvents")) => api.get_log_events(body),
        Some(("logs", "FilterLogEvents")) => api.filter_log_events(body),
        Some(("logs", "DescribeLogStreams")) => api.describe_log_streams(body),
        _ => Err(ApiError {
            status: 400,
            kind: "UnknownOperationException",
            message: format!("runspec serve does not implement `{target}`"),
        }),
    }
}

struct Api<'a> {
    service: &'a Arc<Service>,
    caller: &'a str,
}

fn str_of<'v>(body: &'v Value, key: &str) -> Result<&'v str, ApiError> {
    body.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| {
        invalid(format!("1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"))
    })
}

fn ids_of(body: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let list =
        body.get(key).and_then(Value::as_array).ok_or_else(|| invalid(format!("`{key}` must be a list")))?;
    if list.is_empty() || list.len() > 100 {
        return Err(invalid(format!(
            "1 validation error detected: Value at '{key}' failed to satisfy constraint: Member must have length between 1 and 100"
        )));
    }
    list.iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(|| invalid(format!("`{key}` must be strings"))))
        .collect()
}

/// Pages of 100 with a token that is the offset.
fn page(ids: Vec<String>, body: &Value) -> Result<Value, ApiError> {
    let from = match body.get("nextToken").and_then(Value::as_str) {
        Some(t) => t.parse::<usize>().map_err(|_| invalid("the nextToken is not one this server gave"))?,
        None => 0,
    };
    let end = (from + 100).min(ids.len());
    let mut out = json!({"ids": ids.get(from..end).unwrap_or_default()});
    if end < ids.len() {
        out["nextToken"] = json!(end.to_string());
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && name.len() <= 150
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Api<'_> {
    fn arn(&self, kind: &str, name: &str) -> String {
        format!("arn:aws:codebuild:{}:{}:{kind}/{name}", self.service.region, self.service.account)
    }

    /// A project named by name or ARN.
    fn project_name(&self, body: &Value, key: &str) -> Result<String, ApiError> {
        let given = str_of(body, key)?;
        Ok(given.rsplit_once(":project/").map_or(given, |(_, n)| n).to_string())
    }

    fn project(&self, name: &str) -> Result<Value, ApiError> {
        self.service
            .store
            .project(name)?
            .ok_or_else(|| not_found(format!("Project cannot be found: {}", self.arn("project", name))))
    }

    /// A project as CreateProject / UpdateProject give it back.
    fn check_project(&self, p: &Value) -> Result<(), ApiError> {
        self.check_sources(p)?;
        crate::project::parse(&p.to_string()).map_err(|e| invalid(e.to_string()))?;
        Ok(())
    }

    /// Every source of a (project or effective) project: its values checked, and a directory of
    /// this machine only where the operator allows it.
    fn check_sources(&self, p: &Value) -> Result<(), ApiError> {
        let primary = request::source(p).map_err(invalid)?;
        let secondary = request::secondary_sources(p).map_err(invalid)?;
        for spec in std::iter::once(&primary).chain(secondary.iter().map(|(_, s)| s)) {
            let local = match spec {
                request::SourceSpec::Local(path) => Some(path.clone()),
                request::SourceSpec::Git {
                    location: crate::source::location::GitLocation::Local(p), ..
                } => Some(p.display().to_string()),
                _ => None,
            };
            if let Some(path) = local {
                self.service.policy.allows(&path).map_err(invalid)?;
            }
        }
        Ok(())
    }

    fn create_project(&self, body: &Value) -> Result<Value, ApiError> {
        let name = str_of(body, "name")?;
        if !valid_name(name) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9][A-Za-z0-9\\-_]{{1,149}}"
            )));
        }
        for key in ["source", "artifacts", "environment"] {
            if !body[key].is_object() {
                return Err(invalid(format!(
                    "1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"
                )));
            }
        }
        if self.service.store.project(name)?.is_some() {
            return Err(StoreError::AlreadyExists(format!("Project already exists: {name}")).into());
        }
        let mut project = body.clone();
        let now = now_s();
        project["arn"] = json!(self.arn("project", name));
        project["created"] = json!(now);
        project["lastModified"] = json!(now);
        if project.get("timeoutInMinutes").is_none() {
            project["timeoutInMinutes"] = json!(60);
        }
        if project.get("queuedTimeoutInMinutes").is_none() {
            project["queuedTimeoutInMinutes"] = json!(480);
        }
        self.check_project(&project)?;
        self.service.store.create_project(name, &project)?;
        Ok(json!({"project": project}))
    }

    fn update_project(&self, body: &Value) -> Result<Value, ApiError> {
        let name = self.project_name(body, "name")?;
        let mut project = self.project(&name)?;
        for (k, v) in body.as_object().into_iter().flatten() {
            if k != "name" && !v.is_null() {
                project[k] = v.clone();
            }
        }
        project["lastModified"] = json!(now_s());
        self.check_project(&project)?;
        self.service.store.update_project(&name, &project)?;
        Ok(json!({"project": project}))
    }

    fn batch_get_projects(&self, body: &Value) -> Result<Value, ApiError> {
        let mut projects = Vec::new();
        let mut missing = Vec::new();
        for given in ids_of(body, "names")? {
            let name = given.rsplit_once(":project/").map_or(given.as_str(), |(_, n)| n);
            match self.service.store.project(name)? {
                Some(p) => projects.push(p),
                None => missing.push(given),
            }
        }
        Ok(json!({"projects": projects, "projectsNotFound": missing}))
    }

    fn list_projects(&self, body: &Value) -> Result<Value, ApiError> {
        let mut names = self.service.store.project_names()?;
        let sort = body["sortBy"].as_str().unwrap_or("NAME");
        if sort != "NAME" {
            let key = if sort == "CREATED_TIME" { "created" } else { "lastModified" };
            let mut timed: Vec<(f64, String)> = Vec::new();
            for n in names {
                let t = self.service.store.project(&n)?.and_then(|p| p[key].as_f64()).unwrap_or(0.0);
                timed.push((t, n));
            }
            timed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            names = timed.into_iter().map(|(_, n)| n).collect();
        }
        if body["sortOrder"] == "DESCENDING" {
            names.reverse();
        }
        let mut out = page(names, body)?;
        out["projects"] = out["ids"].take();
        out.as_object_mut().map(|o| o.remove("ids"));
        Ok(out)
    }

    fn delete_project(&self, body: &Value) -> Result<Value, ApiError> {
        let name = self.project_name(body, "name")?;
        if !self.service.store.delete_project(&name)? {
            return Err(not_found(format!("Project cannot be found: {}", self.arn("project", &name))));
        }
        Ok(json!({}))
    }

    fn start_build(&self, body: &Value) -> Result<Value, ApiError> {
        let name = self.project_name(body, "projectName")?;
        let project = self.project(&name)?;
        // Only the batch coordinator marks a build as a batch's child.
        let mut body = body.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("buildBatchArn");
        }
        let body = &body;
        let row = self.submit(&name, &project, body, body["idempotencyToken"].as_str())?;
        Ok(json!({"build": row.build}))
    }

    /// Queues a build of `project` for the StartBuild input `start`.
    fn submit(
        &self,
        name: &str,
        project: &Value,
        start: &Value,
        token: Option<&str>,
    ) -> Result<BuildRow, ApiError> {
        let effective = request::effective_project(project, start).map_err(invalid)?;
        self.check_sources(&effective)?;
        crate::project::parse(&effective.to_string()).map_err(|e| invalid(e.to_string()))?;
        let submitted = SystemTime::now();
        let region = self.service.region.clone();
        let account = self.service.account.clone();
        let caller = self.caller.to_string();
        let (row, new) = self.service.store.insert_build(name, token, 5.0 * 60.0, &mut |number| {
            let uuid = uuid::Uuid::new_v4().to_string();
            let id = format!("{name}:{uuid}");
            let identity = BuildIdentity {
                id: id.clone(),
                arn: format!("arn:aws:codebuild:{region}:{account}:build/{id}"),
                project: name.to_string(),
                build_number: Some(number),
                initiator: caller.clone(),
                source_version: None,
                image: effective["environment"]["image"].as_str().unwrap_or("runspec/host").to_string(),
                privileged: effective["environment"]["privilegedMode"].as_bool().unwrap_or(false),
                timeout_minutes: effective["timeoutInMinutes"].as_f64().or(Some(60.0)),
                environment_variables: Vec::new(),
                submitted: Some(submitted),
                dispatched: None,
            };
            let mut build = result::build_json_with(
                &identity,
                &BuildReport::in_progress(submitted, (BuildPhase::Queued, submitted)),
                Times::Epoch,
            );
            build["source"] = effective["source"].clone();
            if let Some(s) = effective.get("secondarySources") {
                build["secondarySources"] = s.clone();
            }
            if let Some(v) = effective["sourceVersion"].as_str() {
                build["sourceVersion"] = json!(v);
            }
            // What a replay of this build needs to run it the same way.
            for key in ["secondarySourceVersions", "cache"] {
                if let Some(v) = effective.get(key).filter(|v| !v.is_null()) {
                    build[key] = v.clone();
                }
            }
            let env = &effective["environment"];
            build["environment"] = json!({
                "type": env["type"].as_str().unwrap_or("LINUX_CONTAINER"),
                "image": env["image"].as_str().unwrap_or("runspec/host"),
                "computeType": env["computeType"].as_str().unwrap_or("BUILD_GENERAL1_SMALL"),
                "environmentVariables": env["environmentVariables"].as_array().cloned().unwrap_or_default(),
                "privilegedMode": env["privilegedMode"].as_bool().unwrap_or(false),
                "imagePullCredentialsType": "CODEBUILD",
            });
            build["queuedTimeoutInMinutes"] =
                json!(effective["queuedTimeoutInMinutes"].as_u64().unwrap_or(480));
            let group = format!("/aws/codebuild/{name}");
            build["logs"] = json!({
                "groupName": group,
                "streamName": uuid,
                "deepLink": "",
                "cloudWatchLogs": {"status": "ENABLED", "groupName": group, "streamName": uuid},
                "s3Logs": {"status": "DISABLED"},
            });
            if let Some(role) = effective["serviceRole"].as_str() {
                build["serviceRole"] = json!(role);
            }
            if let Some(arn) = start.get("buildBatchArn").filter(|a| a.is_string()) {
                build["buildBatchArn"] = arn.clone();
            }
            let retry = &start[AUTO_RETRY];
            let limit = effective["autoRetryLimit"].as_u64().unwrap_or(0);
            let retry_number = retry["number"].as_u64().unwrap_or(0);
            if limit > 0 || retry_number > 0 {
                build["autoRetryConfig"] = json!({"autoRetryLimit": limit, "autoRetryNumber": retry_number});
                if let Some(previous) = retry["previous"].as_str() {
                    build["autoRetryConfig"]["previousAutoRetry"] = json!(previous);
                }
            }
            BuildRow {
                id,
                project: name.to_string(),
                number,
                status: "IN_PROGRESS".into(),
                build,
                request: start.clone(),
                submitted: submitted
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            }
        })?;
        if new {
            self.service.submitted(&row.id);
        }
        Ok(row)
    }

    fn build(&self, id: &str) -> Result<BuildRow, ApiError> {
        self.service.store.build(id)?.ok_or_else(|| not_found(format!("Build {id} cannot be found")))
    }

    fn batch_get_builds(&self, body: &Value) -> Result<Value, ApiError> {
        let mut builds = Vec::new();
        let mut missing = Vec::new();
        for given in ids_of(body, "ids")? {
            let id = given.rsplit_once(":build/").map_or(given.as_str(), |(_, id)| id);
            match self.service.store.build(id)? {
                Some(row) => builds.push(row.build),
                None => missing.push(given),
            }
        }
        Ok(json!({"builds": builds, "buildsNotFound": missing}))
    }

    fn stop_build(&self, body: &Value) -> Result<Value, ApiError> {
        let id = str_of(body, "id")?;
        let row = self.build(id)?;
        if row.status != "IN_PROGRESS" {
            return Ok(json!({"build": row.build}));
        }
        if self.service.stop(id) {
            // The build records STOPPED itself once its commands are gone; wait a little so
            // the answer usually says so.
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(800);
            while self.service.is_running(id) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let now = self.build(id)?;
            return Ok(json!({"build": now.build}));
        }
        if row.build["currentPhase"] == "QUEUED" {
            match self.service.end_queued(&row, Status::Stopped, "BUILD_STOPPED", "Build was stopped")? {
                Some(build) => return Ok(json!({"build": build})),
                // A worker took it meanwhile: it stops at its next heartbeat.
                None => {
                    self.service.stop(id);
                    return Ok(json!({"build": self.build(id)?.build}));
                }
            }
        }
        Ok(json!({"build": row.build}))
    }

    fn retry_build(&self, body: &Value) -> Result<Value, ApiError> {
        let id = str_of(body, "id")?;
        let old = self.build(id)?;
        let project = self.project(&old.project)?;
        let token = body["idempotencyToken"].as_str();
        let mut request = old.request.clone();
        if let Some(o) = request.as_object_mut() {
            o.remove(AUTO_RETRY);
        }
        let row = self.submit(&old.project, &project, &request, token)?;
        Ok(json!({"build": row.build}))
    }

    fn list_builds(&self, body: &Value, project: Option<&str>) -> Result<Value, ApiError> {
        if let Some(p) = project {
            self.project(p)?;
        }
        let ascending = body["sortOrder"] == "ASCENDING";
        page(self.service.store.build_ids(project, ascending)?, body)
    }

    fn batch_delete_builds(&self, body: &Value) -> Result<Value, ApiError> {
        let mut deleted = Vec::new();
        let mut not_deleted = Vec::new();
        for id in ids_of(body, "ids")? {
            match self.service.store.build(&id)? {
                None => not_deleted.push(json!({"id": id, "statusCode": "BUILD_NOT_FOUND"})),
                Some(row) if row.status == "IN_PROGRESS" => {
                    not_deleted.push(json!({"id": id, "statusCode": "BUILD_IN_PROGRESS"}))
                }
                Some(row) => {
                    self.service.store.delete_build(&id)?;
                    if let Some(uuid) = row.build["logs"]["streamName"].as_str() {
                        let _ = std::fs::remove_file(logs::path(&self.service.logs_dir(), uuid));
                    }
                    deleted.push(json!(id));
                }
            }
        }
        Ok(json!({"buildsDeleted": deleted, "buildsNotDeleted": not_deleted}))
    }

    fn start_build_batch(&self, body: &Value) -> Result<Value, ApiError> {
        let name = self.project_name(body, "projectName")?;
        let project = self.project(&name)?;
        let mut start = body.clone();
        if let Some(o) = start.as_object_mut() {
            o.remove("buildBatchArn");
        }
        let mut effective = request::effective_project(&project, &start).map_err(invalid)?;
        if let Some(c) = start.get("buildBatchConfigOverride").filter(|c| c.is_object()) {
            effective["buildBatchConfig"] = c.clone();
        }
        self.check_sources(&effective)?;
        let submitted = now_s();
        let (region, account) = (self.service.region.clone(), self.service.account.clone());
        let caller = self.caller.to_string();
        let (row, new) = self.service.store.insert_batch(
            &name,
            start["idempotencyToken"].as_str(),
            5.0 * 60.0,
            &mut |number| {
                let id = format!("{name}:{}", uuid::Uuid::new_v4());
                let arn = format!("arn:aws:codebuild:{region}:{account}:build-batch/{id}");
                let extra = json!({
                    "source": effective["source"],
                    "sourceVersion": effective["sourceVersion"],
                    "environment": effective["environment"],
                    "buildBatchConfig": effective["buildBatchConfig"],
                    "serviceRole": effective["serviceRole"],
                    "initiator": caller,
                });
                let mut row = super::store::BatchRow {
                    id,
                    arn,
                    project: name.clone(),
                    number,
                    status: "IN_PROGRESS".into(),
                    batch: Value::Null,
                    request: start.clone(),
                    submitted,
                };
                row.batch = super::batches::batch_json(
                    &row,
                    vec![json!({"phaseType": "SUBMITTED", "startTime": submitted})],
                    "IN_PROGRESS",
                    false,
                    Vec::new(),
                    &extra,
                );
                row
            },
        )?;
        if new {
            super::batches::spawn(self.service, row.clone(), None);
        }
        Ok(json!({"buildBatch": row.batch}))
    }

    fn batch(&self, id: &str) -> Result<super::store::BatchRow, ApiError> {
        let id = id.rsplit_once(":build-batch/").map_or(id, |(_, id)| id);
        self.service.store.batch(id)?.ok_or_else(|| not_found(format!("Build batch {id} cannot be found")))
    }

    fn batch_get_build_batches(&self, body: &Value) -> Result<Value, ApiError> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for given in ids_of(body, "ids")? {
            match self.batch(&given) {
                Ok(row) => found.push(row.batch),
                Err(_) => missing.push(given),
            }
        }
        Ok(json!({"buildBatches": found, "buildBatchesNotFound": missing}))
    }

    fn stop_build_batch(&self, body: &Value) -> Result<Value, ApiError> {
        let row = self.batch(str_of(body, "id")?)?;
        // Coordinated here, or (in a fleet) by another server, which reads the flag each second.
        let here = super::batches::stop(self.service.batch_stops(), &row.id);
        let elsewhere = !here && self.service.fleet.as_ref().is_some_and(|f| f.stop_batch(&row.id));
        if here || elsewhere {
            let wait = if here { 2 } else { 4 };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
            while std::time::Instant::now() < deadline && self.batch(&row.id)?.status == "IN_PROGRESS" {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
        }
        Ok(json!({"buildBatch": self.batch(&row.id)?.batch}))
    }

    fn retry_build_batch(&self, body: &Value) -> Result<Value, ApiError> {
        let row = self.batch(str_of(body, "id")?)?;
        if row.status == "IN_PROGRESS" {
            return Err(invalid(format!("Build batch {} is still in progress", row.id)));
        }
        let failed_only = match body["retryType"].as_str().unwrap_or("RETRY_ALL_BUILDS") {
            "RETRY_ALL_BUILDS" => false,
            "RETRY_FAILED_BUILDS" => true,
            other => {
                return Err(invalid(format!(
                    "unknown retryType `{other}`; use RETRY_ALL_BUILDS or RETRY_FAILED_BUILDS"
                )));
            }
        };
        let old = row.batch.clone();
        let mut again = row.clone();
        again.status = "IN_PROGRESS".into();
        again.batch["buildBatchStatus"] = json!("IN_PROGRESS");
        again.batch["complete"] = json!(false);
        self.service.store.update_batch(&row.id, "IN_PROGRESS", &again.batch)?;
        super::batches::spawn(self.service, again.clone(), Some((old, failed_only)));
        Ok(json!({"buildBatch": again.batch}))
    }

    fn list_build_batches(&self, body: &Value, project: Option<&str>) -> Result<Value, ApiError> {
        if let Some(p) = project {
            self.project(p)?;
        }
        page(self.service.store.batch_ids(project, body["sortOrder"] == "ASCENDING")?, body)
    }

    fn delete_build_batch(&self, body: &Value) -> Result<Value, ApiError> {
        let row = self.batch(str_of(body, "id")?)?;
        if row.status == "IN_PROGRESS" {
            return Err(invalid(format!("Build batch {} is still in progress; stop it first", row.id)));
        }
        let mut deleted = Vec::new();
        let mut kept = Vec::new();
        for g in row.batch["buildGroups"].as_array().into_iter().flatten() {
            let Some(id) = g["currentBuildSummary"]["arn"]
                .as_str()
                .and_then(|a| a.rsplit_once(":build/"))
                .map(|(_, id)| id.to_string())
            else {
                continue;
            };
            match self.service.store.build(&id)? {
                Some(b) if b.status != "IN_PROGRESS" => {
                    self.service.store.delete_build(&id)?;
                    if let Some(uuid) = b.build["logs"]["streamName"].as_str() {
                        let _ = std::fs::remove_file(logs::path(&self.service.logs_dir(), uuid));
                    }
                    deleted.push(json!(id));
                }
                Some(_) => kept.push(json!({"id": id, "statusCode": "BUILD_IN_PROGRESS"})),
                None => {}
            }
        }
        self.service.store.delete_batch(&row.id)?;
        Ok(json!({"statusCode": "BATCH_DELETED", "buildsDeleted": deleted, "buildsNotDeleted": kept}))
    }

    /// The streams of a log group: the builds of `/aws/codebuild/<project>`.
    fn streams(&self, group: &str) -> Result<Vec<(String, BuildRow)>, ApiError> {
        let Some(project) = group.strip_prefix("/aws/codebuild/") else {
            return Err(not_found("The specified log group does not exist."));
        };
        let mut out = Vec::new();
        for id in self.service.store.build_ids(Some(project), true)? {
            if let Some(row) = self.service.store.build(&id)?
                && let Some(stream) = row.build["logs"]["streamName"].as_str()
            {
                out.push((stream.to_string(), row));
            }
        }
        if out.is_empty() && self.service.store.project(project)?.is_none() {
            return Err(not_found("The specified log group does not exist."));
        }
        Ok(out)
    }

    fn get_log_events(&self, body: &Value) -> Result<Value, ApiError> {
        let group = str_of(body, "logGroupName")?;
        let stream = str_of(body, "logStreamName")?;
        if !self.streams(group)?.iter().any(|(s, _)| s == stream) {
            return Err(not_found("The specified log stream does not exist."));
        }
        let path = self.service.log_file(stream)?;
        let limit = body["limit"].as_u64().unwrap_or(10_000).clamp(1, 10_000) as usize;
        let token = body["nextToken"].as_str();
        let io = |e: std::io::Error| ApiError {
            status: 500,
            kind: "ServiceUnavailableException",
            message: e.to_string(),
        };
        let (from, events) = match token {
            Some(t) => {
                let offset = t
                    .strip_prefix("f/")
                    .or_else(|| t.strip_prefix("b/"))
                    .and_then(|o| o.parse::<u64>().ok())
                    .ok_or_else(|| invalid("The specified nextToken is invalid."))?;
                if t.starts_with("b/") {
                    // Backwards from there: the `limit` lines before it.
                    let before: Vec<logs::Event> = logs::read(&path, 0, usize::MAX)
                        .map_err(io)?
                        .into_iter()
                        .filter(|e| e.next <= offset)
                        .collect();
                    let skip = before.len().saturating_sub(limit);
                    let start = if skip == 0 { 0 } else { before[skip - 1].next };
                    (start, before.into_iter().skip(skip).collect())
                } else {
                    (offset, logs::read(&path, offset, limit).map_err(io)?)
                }
            }
            None if body["startFromHead"].as_bool() == Some(true) => {
                (0, logs::read(&path, 0, limit).map_err(io)?)
            }
            None => logs::tail(&path, limit).map_err(io)?,
        };
        let start_time = body["startTime"].as_u64().unwrap_or(0);
        let end_time = body["endTime"].as_u64().unwrap_or(u64::MAX);
        let next = events.last().map_or(from, |e| e.next);
        let shown: Vec<Value> = events
            .iter()
            .filter(|e| e.timestamp >= start_time && e.timestamp < end_time)
            .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.timestamp}))
            .collect();
        Ok(
            json!({"events": shown, "nextForwardToken": format!("f/{next}"), "nextBackwardToken": format!("b/{from}")}),
        )
    }

    fn filter_log_events(&self, body: &Value) -> Result<Value, ApiError> {
        let group = str_of(body, "logGroupName")?;
        let wanted: Option<Vec<&str>> =
            body["logStreamNames"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect());
        let prefix = body["logStreamNamePrefix"].as_str();
        let terms = pattern_terms(body["filterPattern"].as_str().unwrap_or(""));
        let start_time = body["startTime"].as_u64().unwrap_or(0);
        let end_time = body["endTime"].as_u64().unwrap_or(u64::MAX);
        let limit = body["limit"].as_u64().unwrap_or(10_000).clamp(1, 10_000) as usize;
        // The token: how far each stream was read.
        let mut offsets: std::collections::BTreeMap<String, u64> = match body["nextToken"].as_str() {
            Some(t) => serde_json::from_str(t).map_err(|_| invalid("The specified nextToken is invalid."))?,
            None => Default::default(),
        };
        let mut events = Vec::new();
        let mut searched = Vec::new();
        let mut more = false;
        for (stream, _) in self.streams(group)? {
            if wanted.as_ref().is_some_and(|w| !w.contains(&stream.as_str()))
                || prefix.is_some_and(|p| !stream.starts_with(p))
            {
                continue;
            }
            let path = self.service.log_file(&stream)?;
            let from = offsets.get(&stream).copied().unwrap_or(0);
            let read = logs::read(&path, from, usize::MAX).map_err(|e| ApiError {
                status: 500,
                kind: "ServiceUnavailableException",
                message: e.to_string(),
            })?;
            let mut last = from;
            for e in read {
                if events.len() >= limit {
                    more = true;
                    break;
                }
                last = e.next;
                if e.timestamp < start_time
                    || e.timestamp >= end_time
                    || !terms.iter().all(|t| e.message.contains(t.as_str()))
                {
                    continue;
                }
                events.push(json!({
                    "logStreamName": stream,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.timestamp,
                    "eventId": format!("{stream}/{}", e.next),
                }));
            }
            offsets.insert(stream.clone(), last);
            searched.push(json!({"logStreamName": stream, "searchedCompletely": !more}));
        }
        events.sort_by_key(|e| e["timestamp"].as_u64().unwrap_or(0));
        let mut out = json!({"events": events, "searchedLogStreams": searched});
        if more {
            out["nextToken"] = json!(serde_json::to_string(&offsets).unwrap_or_default());
        }
        Ok(out)
    }

    fn describe_log_streams(&self, body: &Value) -> Result<Value, ApiError> {
        let group = str_of(body, "logGroupName")?;
        let prefix = body["logStreamNamePrefix"].as_str().unwrap_or("");
        let mut streams = Vec::new();
        for (stream, row) in self.streams(group)? {
            if !stream.starts_with(prefix) {
                continue;
            }
            let created = (row.submitted * 1000.0) as u64;
            let last = logs::tail(&self.service.log_file(&stream)?, 1)
                .ok()
                .and_then(|(_, e)| e.last().map(|e| e.timestamp));
            let mut s = json!({
                "logStreamName": stream,
                "creationTime": created,
                "arn": format!("arn:aws:logs:{}:{}:log-group:{group}:log-stream:{stream}", self.service.region, self.service.account),
            });
            if let Some(t) = last {
                s["firstEventTimestamp"] = json!(created);
                s["lastEventTimestamp"] = json!(t);
                s["lastIngestionTime"] = json!(t);
            }
            streams.push(s);
        }
        if body["descending"].as_bool() == Some(true) {
            streams.reverse();
        }
        Ok(json!({"logStreams": streams}))
    }
}

/// CloudWatch's simple filter pattern: terms that must all appear; `"quoted phrases"` keep
/// their spaces. (JSON and space-delimited patterns are not supported.)
fn pattern_terms(pattern: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = pattern.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (term, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            terms.push(term.to_string());
            rest = after.trim_start();
        } else {
            let (term, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            terms.push(term.to_string());
            rest = after.trim_start();
        }
    }
    terms.retain(|t| !t.is_empty());
    terms
}

/// Queues one child of a batch as an ordinary build; its id.
pub(super) fn submit_child(
    service: &Arc<Service>,
    batch: &super::store::BatchRow,
    child: &crate::batch::plan::Child,
    project: &Value,
) -> Result<String, ApiError> {
    let caller = batch.batch["initiator"].as_str().unwrap_or("runspec").to_string();
    let api = Api { service, caller: &caller };
    let start = super::batches::child_start(&batch.request, child, &batch.arn);
    Ok(api.submit(&batch.project, project, &start, None)?.id)
}

/// Where an automatic retry's StartBuild input records which retry it is and of what.
const AUTO_RETRY: &str = "runspec:autoRetry";

/// CodeBuild's auto-retry: a build that ended FAILED, FAULT or TIMED_OUT with retries left
/// (`autoRetryLimit`) is retried as a new build, as RetryBuild would; the two are linked by
/// `autoRetryConfig.nextAutoRetry` / `previousAutoRetry`. Called once per build, by whoever
/// recorded its end.
pub(super) fn auto_retry(service: &Arc<Service>, row: &BuildRow, ended: &Value) {
    let status = ended["buildStatus"].as_str().unwrap_or_default();
    let config = &ended["autoRetryConfig"];
    let number = config["autoRetryNumber"].as_u64().unwrap_or(0);
    if !matches!(status, "FAILED" | "FAULT" | "TIMED_OUT")
        || number >= config["autoRetryLimit"].as_u64().unwrap_or(0)
    {
        return;
    }
    let project = match service.store.project(&row.project) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("cannot auto-retry {}: {e}", row.id);
            return;
        }
    };
    let mut start = row.request.clone();
    start[AUTO_RETRY] = json!({"number": number + 1, "previous": row.id});
    let caller = ended["initiator"].as_str().unwrap_or("runspec").to_string();
    let api = Api { service, caller: &caller };
    match api.submit(&row.project, &project, &start, None) {
        Ok(next) => {
            let mut linked = ended.clone();
            linked["autoRetryConfig"]["nextAutoRetry"] = json!(next.id);
            if let Err(e) = service.store.update_build(&row.id, status, &linked) {
                tracing::warn!("cannot link {} to its retry {}: {e}", row.id, next.id);
            }
        }
        Err(e) => tracing::warn!("cannot auto-retry {}: {}", row.id, e.message),
    }
}

/// Stops a build wherever it is: running here, or still queued.
pub(super) fn stop_any(service: &Arc<Service>, id: &str) {
    if service.stop(id) {
        return;
    }
    if let Ok(Some(row)) = service.store.build(id)
        && row.status == "IN_PROGRESS"
        && row.build["currentPhase"] == "QUEUED"
        && let Ok(None) = service.end_queued(&row, Status::Stopped, "BUILD_STOPPED", "Build was stopped")
    {
        service.stop(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert!(valid_name("my-app_1"));
        assert!(!valid_name("-x") && !valid_name("a") && !valid_name("a b"));
        assert_eq!(pattern_terms(r#"ERROR "exit status" 2"#), ["ERROR", "exit status", "2"]);
        assert!(pattern_terms("  ").is_empty());
    }
}
