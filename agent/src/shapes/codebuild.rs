//! The codebuild API's shapes (CodeBuild_20161006), as botocore's model defines
//! them: one struct per structure shape the server reaches, members in the model's order.
//! Required members are plain values (the model check requires them in requests; read
//! elsewhere they default); every other is optional and left out when absent.
//! Enums are strings (checked against the model where they come in).
//!
//! Written by `scripts/wire_model.py` from botocore's model; do not edit.

use serde::{Deserialize, Serialize};

/// `AutoRetryConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutoRetryConfig {
    #[serde(rename = "autoRetryLimit", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit: Option<i64>,
    #[serde(rename = "autoRetryNumber", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_number: Option<i64>,
    #[serde(rename = "nextAutoRetry", default, skip_serializing_if = "Option::is_none")]
    pub next_auto_retry: Option<String>,
    #[serde(rename = "previousAutoRetry", default, skip_serializing_if = "Option::is_none")]
    pub previous_auto_retry: Option<String>,
}

/// `BatchDeleteBuildsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchDeleteBuildsInput {
    #[serde(rename = "ids", default)]
    pub ids: Vec<String>,
}

/// `BatchDeleteBuildsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchDeleteBuildsOutput {
    #[serde(rename = "buildsDeleted", default, skip_serializing_if = "Option::is_none")]
    pub builds_deleted: Option<Vec<String>>,
    #[serde(rename = "buildsNotDeleted", default, skip_serializing_if = "Option::is_none")]
    pub builds_not_deleted: Option<Vec<BuildNotDeleted>>,
}

/// `BatchGetBuildBatchesInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetBuildBatchesInput {
    #[serde(rename = "ids", default)]
    pub ids: Vec<String>,
}

/// `BatchGetBuildBatchesOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetBuildBatchesOutput {
    #[serde(rename = "buildBatches", default, skip_serializing_if = "Option::is_none")]
    pub build_batches: Option<Vec<BuildBatch>>,
    #[serde(rename = "buildBatchesNotFound", default, skip_serializing_if = "Option::is_none")]
    pub build_batches_not_found: Option<Vec<String>>,
}

/// `BatchGetBuildsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetBuildsInput {
    #[serde(rename = "ids", default)]
    pub ids: Vec<String>,
}

/// `BatchGetBuildsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetBuildsOutput {
    #[serde(rename = "builds", default, skip_serializing_if = "Option::is_none")]
    pub builds: Option<Vec<Build>>,
    #[serde(rename = "buildsNotFound", default, skip_serializing_if = "Option::is_none")]
    pub builds_not_found: Option<Vec<String>>,
}

/// `BatchGetProjectsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetProjectsInput {
    #[serde(rename = "names", default)]
    pub names: Vec<String>,
}

/// `BatchGetProjectsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetProjectsOutput {
    #[serde(rename = "projects", default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<Project>>,
    #[serde(rename = "projectsNotFound", default, skip_serializing_if = "Option::is_none")]
    pub projects_not_found: Option<Vec<String>>,
}

/// `BatchRestrictions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchRestrictions {
    #[serde(rename = "maximumBuildsAllowed", default, skip_serializing_if = "Option::is_none")]
    pub maximum_builds_allowed: Option<i64>,
    #[serde(rename = "computeTypesAllowed", default, skip_serializing_if = "Option::is_none")]
    pub compute_types_allowed: Option<Vec<String>>,
    #[serde(rename = "fleetsAllowed", default, skip_serializing_if = "Option::is_none")]
    pub fleets_allowed: Option<Vec<String>>,
}

/// `Build`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "arn", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "buildNumber", default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<i64>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(rename = "currentPhase", default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    #[serde(rename = "buildStatus", default, skip_serializing_if = "Option::is_none")]
    pub build_status: Option<String>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "resolvedSourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub resolved_source_version: Option<String>,
    #[serde(rename = "projectName", default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(rename = "phases", default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Vec<BuildPhase>>,
    #[serde(rename = "source", default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProjectSource>,
    #[serde(rename = "secondarySources", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources: Option<Vec<ProjectSource>>,
    #[serde(rename = "secondarySourceVersions", default, skip_serializing_if = "Option::is_none")]
    pub secondary_source_versions: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "artifacts", default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<BuildArtifacts>,
    #[serde(rename = "secondaryArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<BuildArtifacts>>,
    #[serde(rename = "cache", default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    #[serde(rename = "environment", default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<ProjectEnvironment>,
    #[serde(rename = "serviceRole", default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(rename = "logs", default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsLocation>,
    #[serde(rename = "timeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes: Option<i64>,
    #[serde(rename = "buildComplete", default, skip_serializing_if = "Option::is_none")]
    pub build_complete: Option<bool>,
    #[serde(rename = "initiator", default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    #[serde(rename = "vpcConfig", default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(rename = "networkInterface", default, skip_serializing_if = "Option::is_none")]
    pub network_interface: Option<NetworkInterface>,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(rename = "exportedEnvironmentVariables", default, skip_serializing_if = "Option::is_none")]
    pub exported_environment_variables: Option<Vec<ExportedEnvironmentVariable>>,
    #[serde(rename = "reportArns", default, skip_serializing_if = "Option::is_none")]
    pub report_arns: Option<Vec<String>>,
    #[serde(rename = "fileSystemLocations", default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<ProjectFileSystemLocation>>,
    #[serde(rename = "debugSession", default, skip_serializing_if = "Option::is_none")]
    pub debug_session: Option<DebugSession>,
    #[serde(rename = "buildBatchArn", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_arn: Option<String>,
    #[serde(rename = "autoRetryConfig", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_config: Option<AutoRetryConfig>,
}

/// `BuildArtifacts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildArtifacts {
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "sha256sum", default, skip_serializing_if = "Option::is_none")]
    pub sha256sum: Option<String>,
    #[serde(rename = "md5sum", default, skip_serializing_if = "Option::is_none")]
    pub md5sum: Option<String>,
    #[serde(rename = "overrideArtifactName", default, skip_serializing_if = "Option::is_none")]
    pub override_artifact_name: Option<bool>,
    #[serde(rename = "encryptionDisabled", default, skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
    #[serde(rename = "artifactIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub artifact_identifier: Option<String>,
    #[serde(rename = "bucketOwnerAccess", default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner_access: Option<String>,
}

/// `BuildBatch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildBatch {
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "arn", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(rename = "currentPhase", default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    #[serde(rename = "buildBatchStatus", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_status: Option<String>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "resolvedSourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub resolved_source_version: Option<String>,
    #[serde(rename = "projectName", default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(rename = "phases", default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Vec<BuildBatchPhase>>,
    #[serde(rename = "source", default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProjectSource>,
    #[serde(rename = "secondarySources", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources: Option<Vec<ProjectSource>>,
    #[serde(rename = "secondarySourceVersions", default, skip_serializing_if = "Option::is_none")]
    pub secondary_source_versions: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "artifacts", default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<BuildArtifacts>,
    #[serde(rename = "secondaryArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<BuildArtifacts>>,
    #[serde(rename = "cache", default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    #[serde(rename = "environment", default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<ProjectEnvironment>,
    #[serde(rename = "serviceRole", default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(rename = "logConfig", default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<LogsConfig>,
    #[serde(rename = "buildTimeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub build_timeout_in_minutes: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes: Option<i64>,
    #[serde(rename = "complete", default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    #[serde(rename = "initiator", default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    #[serde(rename = "vpcConfig", default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(rename = "buildBatchNumber", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_number: Option<i64>,
    #[serde(rename = "fileSystemLocations", default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<ProjectFileSystemLocation>>,
    #[serde(rename = "buildBatchConfig", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_config: Option<ProjectBuildBatchConfig>,
    #[serde(rename = "buildGroups", default, skip_serializing_if = "Option::is_none")]
    pub build_groups: Option<Vec<BuildGroup>>,
    #[serde(rename = "debugSessionEnabled", default, skip_serializing_if = "Option::is_none")]
    pub debug_session_enabled: Option<bool>,
    #[serde(rename = "reportArns", default, skip_serializing_if = "Option::is_none")]
    pub report_arns: Option<Vec<String>>,
}

/// `BuildBatchFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildBatchFilter {
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `BuildBatchPhase`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildBatchPhase {
    #[serde(rename = "phaseType", default, skip_serializing_if = "Option::is_none")]
    pub phase_type: Option<String>,
    #[serde(rename = "phaseStatus", default, skip_serializing_if = "Option::is_none")]
    pub phase_status: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(rename = "durationInSeconds", default, skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<i64>,
    #[serde(rename = "contexts", default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Vec<PhaseContext>>,
}

/// `BuildGroup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildGroup {
    #[serde(rename = "identifier", default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(rename = "dependsOn", default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    #[serde(rename = "ignoreFailure", default, skip_serializing_if = "Option::is_none")]
    pub ignore_failure: Option<bool>,
    #[serde(rename = "currentBuildSummary", default, skip_serializing_if = "Option::is_none")]
    pub current_build_summary: Option<BuildSummary>,
    #[serde(rename = "priorBuildSummaryList", default, skip_serializing_if = "Option::is_none")]
    pub prior_build_summary_list: Option<Vec<BuildSummary>>,
}

/// `BuildNotDeleted`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildNotDeleted {
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "statusCode", default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
}

/// `BuildPhase`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildPhase {
    #[serde(rename = "phaseType", default, skip_serializing_if = "Option::is_none")]
    pub phase_type: Option<String>,
    #[serde(rename = "phaseStatus", default, skip_serializing_if = "Option::is_none")]
    pub phase_status: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(rename = "durationInSeconds", default, skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<i64>,
    #[serde(rename = "contexts", default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Vec<PhaseContext>>,
}

/// `BuildStatusConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildStatusConfig {
    #[serde(rename = "context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(rename = "targetUrl", default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
}

/// `BuildSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildSummary {
    #[serde(rename = "arn", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "requestedOn", default, skip_serializing_if = "Option::is_none")]
    pub requested_on: Option<f64>,
    #[serde(rename = "buildStatus", default, skip_serializing_if = "Option::is_none")]
    pub build_status: Option<String>,
    #[serde(rename = "primaryArtifact", default, skip_serializing_if = "Option::is_none")]
    pub primary_artifact: Option<ResolvedArtifact>,
    #[serde(rename = "secondaryArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<ResolvedArtifact>>,
}

/// `CloudWatchLogsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CloudWatchLogsConfig {
    #[serde(rename = "status", default)]
    pub status: String,
    #[serde(rename = "groupName", default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(rename = "streamName", default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
}

/// `ComputeConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComputeConfiguration {
    #[serde(rename = "vCpu", default, skip_serializing_if = "Option::is_none")]
    pub v_cpu: Option<i64>,
    #[serde(rename = "memory", default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(rename = "disk", default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
    #[serde(rename = "machineType", default, skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
    #[serde(rename = "instanceType", default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
}

/// `CreateProjectInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateProjectInput {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "description", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "source", default)]
    pub source: ProjectSource,
    #[serde(rename = "secondarySources", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources: Option<Vec<ProjectSource>>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "secondarySourceVersions", default, skip_serializing_if = "Option::is_none")]
    pub secondary_source_versions: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "artifacts", default)]
    pub artifacts: ProjectArtifacts,
    #[serde(rename = "secondaryArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<ProjectArtifacts>>,
    #[serde(rename = "cache", default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    #[serde(rename = "environment", default)]
    pub environment: ProjectEnvironment,
    #[serde(rename = "serviceRole", default)]
    pub service_role: String,
    #[serde(rename = "timeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes: Option<i64>,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "vpcConfig", default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(rename = "badgeEnabled", default, skip_serializing_if = "Option::is_none")]
    pub badge_enabled: Option<bool>,
    #[serde(rename = "logsConfig", default, skip_serializing_if = "Option::is_none")]
    pub logs_config: Option<LogsConfig>,
    #[serde(rename = "fileSystemLocations", default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<ProjectFileSystemLocation>>,
    #[serde(rename = "buildBatchConfig", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_config: Option<ProjectBuildBatchConfig>,
    #[serde(rename = "concurrentBuildLimit", default, skip_serializing_if = "Option::is_none")]
    pub concurrent_build_limit: Option<i64>,
    #[serde(rename = "autoRetryLimit", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit: Option<i64>,
}

/// `CreateProjectOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateProjectOutput {
    #[serde(rename = "project", default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
}

/// `CreateWebhookInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhookInput {
    #[serde(rename = "projectName", default)]
    pub project_name: String,
    #[serde(rename = "branchFilter", default, skip_serializing_if = "Option::is_none")]
    pub branch_filter: Option<String>,
    #[serde(rename = "filterGroups", default, skip_serializing_if = "Option::is_none")]
    pub filter_groups: Option<Vec<Vec<WebhookFilter>>>,
    #[serde(rename = "buildType", default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    #[serde(rename = "manualCreation", default, skip_serializing_if = "Option::is_none")]
    pub manual_creation: Option<bool>,
    #[serde(rename = "scopeConfiguration", default, skip_serializing_if = "Option::is_none")]
    pub scope_configuration: Option<ScopeConfiguration>,
    #[serde(rename = "pullRequestBuildPolicy", default, skip_serializing_if = "Option::is_none")]
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

/// `CreateWebhookOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhookOutput {
    #[serde(rename = "webhook", default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
}

/// `DebugSession`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DebugSession {
    #[serde(rename = "sessionEnabled", default, skip_serializing_if = "Option::is_none")]
    pub session_enabled: Option<bool>,
    #[serde(rename = "sessionTarget", default, skip_serializing_if = "Option::is_none")]
    pub session_target: Option<String>,
}

/// `DeleteBuildBatchInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteBuildBatchInput {
    #[serde(rename = "id", default)]
    pub id: String,
}

/// `DeleteBuildBatchOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteBuildBatchOutput {
    #[serde(rename = "statusCode", default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(rename = "buildsDeleted", default, skip_serializing_if = "Option::is_none")]
    pub builds_deleted: Option<Vec<String>>,
    #[serde(rename = "buildsNotDeleted", default, skip_serializing_if = "Option::is_none")]
    pub builds_not_deleted: Option<Vec<BuildNotDeleted>>,
}

/// `DeleteProjectInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteProjectInput {
    #[serde(rename = "name", default)]
    pub name: String,
}

/// `DeleteProjectOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteProjectOutput {}

/// `DeleteWebhookInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteWebhookInput {
    #[serde(rename = "projectName", default)]
    pub project_name: String,
}

/// `DeleteWebhookOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteWebhookOutput {}

/// `DockerServer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerServer {
    #[serde(rename = "computeType", default)]
    pub compute_type: String,
    #[serde(rename = "securityGroupIds", default, skip_serializing_if = "Option::is_none")]
    pub security_group_ids: Option<Vec<String>>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DockerServerStatus>,
}

/// `DockerServerStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerServerStatus {
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `EnvironmentVariable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "value", default)]
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `ExportedEnvironmentVariable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportedEnvironmentVariable {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `GitSubmodulesConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitSubmodulesConfig {
    #[serde(rename = "fetchSubmodules", default)]
    pub fetch_submodules: bool,
}

/// `ListBuildBatchesForProjectInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildBatchesForProjectInput {
    #[serde(rename = "projectName", default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(rename = "filter", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<BuildBatchFilter>,
    #[serde(rename = "maxResults", default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(rename = "sortOrder", default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildBatchesForProjectOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildBatchesForProjectOutput {
    #[serde(rename = "ids", default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildBatchesInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildBatchesInput {
    #[serde(rename = "filter", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<BuildBatchFilter>,
    #[serde(rename = "maxResults", default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(rename = "sortOrder", default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildBatchesOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildBatchesOutput {
    #[serde(rename = "ids", default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildsForProjectInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildsForProjectInput {
    #[serde(rename = "projectName", default)]
    pub project_name: String,
    #[serde(rename = "sortOrder", default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildsForProjectOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildsForProjectOutput {
    #[serde(rename = "ids", default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildsInput {
    #[serde(rename = "sortOrder", default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListBuildsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListBuildsOutput {
    #[serde(rename = "ids", default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListProjectsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListProjectsInput {
    #[serde(rename = "sortBy", default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    #[serde(rename = "sortOrder", default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListProjectsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListProjectsOutput {
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "projects", default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
}

/// `LogsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsConfig {
    #[serde(rename = "cloudWatchLogs", default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<CloudWatchLogsConfig>,
    #[serde(rename = "s3Logs", default, skip_serializing_if = "Option::is_none")]
    pub s3_logs: Option<S3LogsConfig>,
}

/// `LogsLocation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsLocation {
    #[serde(rename = "groupName", default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(rename = "streamName", default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    #[serde(rename = "deepLink", default, skip_serializing_if = "Option::is_none")]
    pub deep_link: Option<String>,
    #[serde(rename = "s3DeepLink", default, skip_serializing_if = "Option::is_none")]
    pub s3_deep_link: Option<String>,
    #[serde(rename = "cloudWatchLogsArn", default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs_arn: Option<String>,
    #[serde(rename = "s3LogsArn", default, skip_serializing_if = "Option::is_none")]
    pub s3_logs_arn: Option<String>,
    #[serde(rename = "cloudWatchLogs", default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<CloudWatchLogsConfig>,
    #[serde(rename = "s3Logs", default, skip_serializing_if = "Option::is_none")]
    pub s3_logs: Option<S3LogsConfig>,
}

/// `NetworkInterface`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterface {
    #[serde(rename = "subnetId", default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(rename = "networkInterfaceId", default, skip_serializing_if = "Option::is_none")]
    pub network_interface_id: Option<String>,
}

/// `PhaseContext`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseContext {
    #[serde(rename = "statusCode", default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `Project`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "arn", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "description", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "source", default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProjectSource>,
    #[serde(rename = "secondarySources", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources: Option<Vec<ProjectSource>>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "secondarySourceVersions", default, skip_serializing_if = "Option::is_none")]
    pub secondary_source_versions: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "artifacts", default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ProjectArtifacts>,
    #[serde(rename = "secondaryArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<ProjectArtifacts>>,
    #[serde(rename = "cache", default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    #[serde(rename = "environment", default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<ProjectEnvironment>,
    #[serde(rename = "serviceRole", default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(rename = "timeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes: Option<i64>,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    #[serde(rename = "lastModified", default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<f64>,
    #[serde(rename = "webhook", default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    #[serde(rename = "vpcConfig", default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(rename = "badge", default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<ProjectBadge>,
    #[serde(rename = "logsConfig", default, skip_serializing_if = "Option::is_none")]
    pub logs_config: Option<LogsConfig>,
    #[serde(rename = "fileSystemLocations", default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<ProjectFileSystemLocation>>,
    #[serde(rename = "buildBatchConfig", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_config: Option<ProjectBuildBatchConfig>,
    #[serde(rename = "concurrentBuildLimit", default, skip_serializing_if = "Option::is_none")]
    pub concurrent_build_limit: Option<i64>,
    #[serde(rename = "projectVisibility", default, skip_serializing_if = "Option::is_none")]
    pub project_visibility: Option<String>,
    #[serde(rename = "publicProjectAlias", default, skip_serializing_if = "Option::is_none")]
    pub public_project_alias: Option<String>,
    #[serde(rename = "resourceAccessRole", default, skip_serializing_if = "Option::is_none")]
    pub resource_access_role: Option<String>,
    #[serde(rename = "autoRetryLimit", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit: Option<i64>,
}

/// `ProjectArtifacts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectArtifacts {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "path", default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(rename = "namespaceType", default, skip_serializing_if = "Option::is_none")]
    pub namespace_type: Option<String>,
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "packaging", default, skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    #[serde(rename = "overrideArtifactName", default, skip_serializing_if = "Option::is_none")]
    pub override_artifact_name: Option<bool>,
    #[serde(rename = "encryptionDisabled", default, skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
    #[serde(rename = "artifactIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub artifact_identifier: Option<String>,
    #[serde(rename = "bucketOwnerAccess", default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner_access: Option<String>,
}

/// `ProjectBadge`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectBadge {
    #[serde(rename = "badgeEnabled", default, skip_serializing_if = "Option::is_none")]
    pub badge_enabled: Option<bool>,
    #[serde(rename = "badgeRequestUrl", default, skip_serializing_if = "Option::is_none")]
    pub badge_request_url: Option<String>,
}

/// `ProjectBuildBatchConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectBuildBatchConfig {
    #[serde(rename = "serviceRole", default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(rename = "combineArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub combine_artifacts: Option<bool>,
    #[serde(rename = "restrictions", default, skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<BatchRestrictions>,
    #[serde(rename = "timeoutInMins", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_mins: Option<i64>,
    #[serde(rename = "batchReportMode", default, skip_serializing_if = "Option::is_none")]
    pub batch_report_mode: Option<String>,
}

/// `ProjectCache`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectCache {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "modes", default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<Vec<String>>,
    #[serde(rename = "cacheNamespace", default, skip_serializing_if = "Option::is_none")]
    pub cache_namespace: Option<String>,
}

/// `ProjectEnvironment`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectEnvironment {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "image", default)]
    pub image: String,
    #[serde(rename = "computeType", default)]
    pub compute_type: String,
    #[serde(rename = "computeConfiguration", default, skip_serializing_if = "Option::is_none")]
    pub compute_configuration: Option<ComputeConfiguration>,
    #[serde(rename = "fleet", default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<ProjectFleet>,
    #[serde(rename = "environmentVariables", default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
    #[serde(rename = "privilegedMode", default, skip_serializing_if = "Option::is_none")]
    pub privileged_mode: Option<bool>,
    #[serde(rename = "certificate", default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(rename = "registryCredential", default, skip_serializing_if = "Option::is_none")]
    pub registry_credential: Option<RegistryCredential>,
    #[serde(rename = "imagePullCredentialsType", default, skip_serializing_if = "Option::is_none")]
    pub image_pull_credentials_type: Option<String>,
    #[serde(rename = "dockerServer", default, skip_serializing_if = "Option::is_none")]
    pub docker_server: Option<DockerServer>,
    #[serde(rename = "hostKernel", default, skip_serializing_if = "Option::is_none")]
    pub host_kernel: Option<String>,
}

/// `ProjectFileSystemLocation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectFileSystemLocation {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "mountPoint", default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    #[serde(rename = "identifier", default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(rename = "mountOptions", default, skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<String>,
}

/// `ProjectFleet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectFleet {
    #[serde(rename = "fleetArn", default, skip_serializing_if = "Option::is_none")]
    pub fleet_arn: Option<String>,
}

/// `ProjectSource`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectSource {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "gitCloneDepth", default, skip_serializing_if = "Option::is_none")]
    pub git_clone_depth: Option<i64>,
    #[serde(rename = "gitSubmodulesConfig", default, skip_serializing_if = "Option::is_none")]
    pub git_submodules_config: Option<GitSubmodulesConfig>,
    #[serde(rename = "buildspec", default, skip_serializing_if = "Option::is_none")]
    pub buildspec: Option<String>,
    #[serde(rename = "auth", default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<SourceAuth>,
    #[serde(rename = "reportBuildStatus", default, skip_serializing_if = "Option::is_none")]
    pub report_build_status: Option<bool>,
    #[serde(rename = "buildStatusConfig", default, skip_serializing_if = "Option::is_none")]
    pub build_status_config: Option<BuildStatusConfig>,
    #[serde(rename = "insecureSsl", default, skip_serializing_if = "Option::is_none")]
    pub insecure_ssl: Option<bool>,
    #[serde(rename = "sourceIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub source_identifier: Option<String>,
}

/// `ProjectSourceVersion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectSourceVersion {
    #[serde(rename = "sourceIdentifier", default)]
    pub source_identifier: String,
    #[serde(rename = "sourceVersion", default)]
    pub source_version: String,
}

/// `PullRequestBuildPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullRequestBuildPolicy {
    #[serde(rename = "requiresCommentApproval", default)]
    pub requires_comment_approval: String,
    #[serde(rename = "approverRoles", default, skip_serializing_if = "Option::is_none")]
    pub approver_roles: Option<Vec<String>>,
}

/// `RegistryCredential`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryCredential {
    #[serde(rename = "credential", default)]
    pub credential: String,
    #[serde(rename = "credentialProvider", default)]
    pub credential_provider: String,
}

/// `ResolvedArtifact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolvedArtifact {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "identifier", default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

/// `RetryBuildBatchInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryBuildBatchInput {
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "idempotencyToken", default, skip_serializing_if = "Option::is_none")]
    pub idempotency_token: Option<String>,
    #[serde(rename = "retryType", default, skip_serializing_if = "Option::is_none")]
    pub retry_type: Option<String>,
}

/// `RetryBuildBatchOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryBuildBatchOutput {
    #[serde(rename = "buildBatch", default, skip_serializing_if = "Option::is_none")]
    pub build_batch: Option<BuildBatch>,
}

/// `RetryBuildInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryBuildInput {
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "idempotencyToken", default, skip_serializing_if = "Option::is_none")]
    pub idempotency_token: Option<String>,
}

/// `RetryBuildOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryBuildOutput {
    #[serde(rename = "build", default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// `S3LogsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct S3LogsConfig {
    #[serde(rename = "status", default)]
    pub status: String,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "encryptionDisabled", default, skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
    #[serde(rename = "bucketOwnerAccess", default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner_access: Option<String>,
}

/// `ScopeConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeConfiguration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "domain", default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "scope", default)]
    pub scope: String,
}

/// `SourceAuth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceAuth {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "resource", default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// `StartBuildBatchInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartBuildBatchInput {
    #[serde(rename = "projectName", default)]
    pub project_name: String,
    #[serde(rename = "secondarySourcesOverride", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources_override: Option<Vec<ProjectSource>>,
    #[serde(rename = "secondarySourcesVersionOverride", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources_version_override: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "artifactsOverride", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_override: Option<ProjectArtifacts>,
    #[serde(rename = "secondaryArtifactsOverride", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts_override: Option<Vec<ProjectArtifacts>>,
    #[serde(rename = "environmentVariablesOverride", default, skip_serializing_if = "Option::is_none")]
    pub environment_variables_override: Option<Vec<EnvironmentVariable>>,
    #[serde(rename = "sourceTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub source_type_override: Option<String>,
    #[serde(rename = "sourceLocationOverride", default, skip_serializing_if = "Option::is_none")]
    pub source_location_override: Option<String>,
    #[serde(rename = "sourceAuthOverride", default, skip_serializing_if = "Option::is_none")]
    pub source_auth_override: Option<SourceAuth>,
    #[serde(rename = "gitCloneDepthOverride", default, skip_serializing_if = "Option::is_none")]
    pub git_clone_depth_override: Option<i64>,
    #[serde(rename = "gitSubmodulesConfigOverride", default, skip_serializing_if = "Option::is_none")]
    pub git_submodules_config_override: Option<GitSubmodulesConfig>,
    #[serde(rename = "buildspecOverride", default, skip_serializing_if = "Option::is_none")]
    pub buildspec_override: Option<String>,
    #[serde(rename = "insecureSslOverride", default, skip_serializing_if = "Option::is_none")]
    pub insecure_ssl_override: Option<bool>,
    #[serde(rename = "reportBuildBatchStatusOverride", default, skip_serializing_if = "Option::is_none")]
    pub report_build_batch_status_override: Option<bool>,
    #[serde(rename = "environmentTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub environment_type_override: Option<String>,
    #[serde(rename = "imageOverride", default, skip_serializing_if = "Option::is_none")]
    pub image_override: Option<String>,
    #[serde(rename = "computeTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub compute_type_override: Option<String>,
    #[serde(rename = "certificateOverride", default, skip_serializing_if = "Option::is_none")]
    pub certificate_override: Option<String>,
    #[serde(rename = "cacheOverride", default, skip_serializing_if = "Option::is_none")]
    pub cache_override: Option<ProjectCache>,
    #[serde(rename = "serviceRoleOverride", default, skip_serializing_if = "Option::is_none")]
    pub service_role_override: Option<String>,
    #[serde(rename = "privilegedModeOverride", default, skip_serializing_if = "Option::is_none")]
    pub privileged_mode_override: Option<bool>,
    #[serde(rename = "buildTimeoutInMinutesOverride", default, skip_serializing_if = "Option::is_none")]
    pub build_timeout_in_minutes_override: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutesOverride", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes_override: Option<i64>,
    #[serde(rename = "encryptionKeyOverride", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_override: Option<String>,
    #[serde(rename = "idempotencyToken", default, skip_serializing_if = "Option::is_none")]
    pub idempotency_token: Option<String>,
    #[serde(rename = "logsConfigOverride", default, skip_serializing_if = "Option::is_none")]
    pub logs_config_override: Option<LogsConfig>,
    #[serde(rename = "registryCredentialOverride", default, skip_serializing_if = "Option::is_none")]
    pub registry_credential_override: Option<RegistryCredential>,
    #[serde(rename = "imagePullCredentialsTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub image_pull_credentials_type_override: Option<String>,
    #[serde(rename = "buildBatchConfigOverride", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_config_override: Option<ProjectBuildBatchConfig>,
    #[serde(rename = "debugSessionEnabled", default, skip_serializing_if = "Option::is_none")]
    pub debug_session_enabled: Option<bool>,
}

/// `StartBuildBatchOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartBuildBatchOutput {
    #[serde(rename = "buildBatch", default, skip_serializing_if = "Option::is_none")]
    pub build_batch: Option<BuildBatch>,
}

/// `StartBuildInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartBuildInput {
    #[serde(rename = "projectName", default)]
    pub project_name: String,
    #[serde(rename = "secondarySourcesOverride", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources_override: Option<Vec<ProjectSource>>,
    #[serde(rename = "secondarySourcesVersionOverride", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources_version_override: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "artifactsOverride", default, skip_serializing_if = "Option::is_none")]
    pub artifacts_override: Option<ProjectArtifacts>,
    #[serde(rename = "secondaryArtifactsOverride", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts_override: Option<Vec<ProjectArtifacts>>,
    #[serde(rename = "environmentVariablesOverride", default, skip_serializing_if = "Option::is_none")]
    pub environment_variables_override: Option<Vec<EnvironmentVariable>>,
    #[serde(rename = "sourceTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub source_type_override: Option<String>,
    #[serde(rename = "sourceLocationOverride", default, skip_serializing_if = "Option::is_none")]
    pub source_location_override: Option<String>,
    #[serde(rename = "sourceAuthOverride", default, skip_serializing_if = "Option::is_none")]
    pub source_auth_override: Option<SourceAuth>,
    #[serde(rename = "gitCloneDepthOverride", default, skip_serializing_if = "Option::is_none")]
    pub git_clone_depth_override: Option<i64>,
    #[serde(rename = "gitSubmodulesConfigOverride", default, skip_serializing_if = "Option::is_none")]
    pub git_submodules_config_override: Option<GitSubmodulesConfig>,
    #[serde(rename = "buildspecOverride", default, skip_serializing_if = "Option::is_none")]
    pub buildspec_override: Option<String>,
    #[serde(rename = "insecureSslOverride", default, skip_serializing_if = "Option::is_none")]
    pub insecure_ssl_override: Option<bool>,
    #[serde(rename = "reportBuildStatusOverride", default, skip_serializing_if = "Option::is_none")]
    pub report_build_status_override: Option<bool>,
    #[serde(rename = "buildStatusConfigOverride", default, skip_serializing_if = "Option::is_none")]
    pub build_status_config_override: Option<BuildStatusConfig>,
    #[serde(rename = "environmentTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub environment_type_override: Option<String>,
    #[serde(rename = "imageOverride", default, skip_serializing_if = "Option::is_none")]
    pub image_override: Option<String>,
    #[serde(rename = "computeTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub compute_type_override: Option<String>,
    #[serde(rename = "certificateOverride", default, skip_serializing_if = "Option::is_none")]
    pub certificate_override: Option<String>,
    #[serde(rename = "cacheOverride", default, skip_serializing_if = "Option::is_none")]
    pub cache_override: Option<ProjectCache>,
    #[serde(rename = "serviceRoleOverride", default, skip_serializing_if = "Option::is_none")]
    pub service_role_override: Option<String>,
    #[serde(rename = "privilegedModeOverride", default, skip_serializing_if = "Option::is_none")]
    pub privileged_mode_override: Option<bool>,
    #[serde(rename = "timeoutInMinutesOverride", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes_override: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutesOverride", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes_override: Option<i64>,
    #[serde(rename = "encryptionKeyOverride", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_override: Option<String>,
    #[serde(rename = "idempotencyToken", default, skip_serializing_if = "Option::is_none")]
    pub idempotency_token: Option<String>,
    #[serde(rename = "logsConfigOverride", default, skip_serializing_if = "Option::is_none")]
    pub logs_config_override: Option<LogsConfig>,
    #[serde(rename = "registryCredentialOverride", default, skip_serializing_if = "Option::is_none")]
    pub registry_credential_override: Option<RegistryCredential>,
    #[serde(rename = "imagePullCredentialsTypeOverride", default, skip_serializing_if = "Option::is_none")]
    pub image_pull_credentials_type_override: Option<String>,
    #[serde(rename = "debugSessionEnabled", default, skip_serializing_if = "Option::is_none")]
    pub debug_session_enabled: Option<bool>,
    #[serde(rename = "fleetOverride", default, skip_serializing_if = "Option::is_none")]
    pub fleet_override: Option<ProjectFleet>,
    #[serde(rename = "autoRetryLimitOverride", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit_override: Option<i64>,
    #[serde(rename = "hostKernelOverride", default, skip_serializing_if = "Option::is_none")]
    pub host_kernel_override: Option<String>,
}

/// `StartBuildOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartBuildOutput {
    #[serde(rename = "build", default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// `StopBuildBatchInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopBuildBatchInput {
    #[serde(rename = "id", default)]
    pub id: String,
}

/// `StopBuildBatchOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopBuildBatchOutput {
    #[serde(rename = "buildBatch", default, skip_serializing_if = "Option::is_none")]
    pub build_batch: Option<BuildBatch>,
}

/// `StopBuildInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopBuildInput {
    #[serde(rename = "id", default)]
    pub id: String,
}

/// `StopBuildOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopBuildOutput {
    #[serde(rename = "build", default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// `Tag`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `UpdateProjectInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateProjectInput {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "description", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "source", default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProjectSource>,
    #[serde(rename = "secondarySources", default, skip_serializing_if = "Option::is_none")]
    pub secondary_sources: Option<Vec<ProjectSource>>,
    #[serde(rename = "sourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(rename = "secondarySourceVersions", default, skip_serializing_if = "Option::is_none")]
    pub secondary_source_versions: Option<Vec<ProjectSourceVersion>>,
    #[serde(rename = "artifacts", default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ProjectArtifacts>,
    #[serde(rename = "secondaryArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub secondary_artifacts: Option<Vec<ProjectArtifacts>>,
    #[serde(rename = "cache", default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<ProjectCache>,
    #[serde(rename = "environment", default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<ProjectEnvironment>,
    #[serde(rename = "serviceRole", default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(rename = "timeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
    #[serde(rename = "queuedTimeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub queued_timeout_in_minutes: Option<i64>,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "vpcConfig", default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(rename = "badgeEnabled", default, skip_serializing_if = "Option::is_none")]
    pub badge_enabled: Option<bool>,
    #[serde(rename = "logsConfig", default, skip_serializing_if = "Option::is_none")]
    pub logs_config: Option<LogsConfig>,
    #[serde(rename = "fileSystemLocations", default, skip_serializing_if = "Option::is_none")]
    pub file_system_locations: Option<Vec<ProjectFileSystemLocation>>,
    #[serde(rename = "buildBatchConfig", default, skip_serializing_if = "Option::is_none")]
    pub build_batch_config: Option<ProjectBuildBatchConfig>,
    #[serde(rename = "concurrentBuildLimit", default, skip_serializing_if = "Option::is_none")]
    pub concurrent_build_limit: Option<i64>,
    #[serde(rename = "autoRetryLimit", default, skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit: Option<i64>,
}

/// `UpdateProjectOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateProjectOutput {
    #[serde(rename = "project", default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
}

/// `UpdateWebhookInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateWebhookInput {
    #[serde(rename = "projectName", default)]
    pub project_name: String,
    #[serde(rename = "branchFilter", default, skip_serializing_if = "Option::is_none")]
    pub branch_filter: Option<String>,
    #[serde(rename = "rotateSecret", default, skip_serializing_if = "Option::is_none")]
    pub rotate_secret: Option<bool>,
    #[serde(rename = "filterGroups", default, skip_serializing_if = "Option::is_none")]
    pub filter_groups: Option<Vec<Vec<WebhookFilter>>>,
    #[serde(rename = "buildType", default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    #[serde(rename = "pullRequestBuildPolicy", default, skip_serializing_if = "Option::is_none")]
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

/// `UpdateWebhookOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateWebhookOutput {
    #[serde(rename = "webhook", default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
}

/// `VpcConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VpcConfig {
    #[serde(rename = "vpcId", default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(rename = "subnets", default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
    #[serde(rename = "securityGroupIds", default, skip_serializing_if = "Option::is_none")]
    pub security_group_ids: Option<Vec<String>>,
}

/// `Webhook`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    #[serde(rename = "url", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "payloadUrl", default, skip_serializing_if = "Option::is_none")]
    pub payload_url: Option<String>,
    #[serde(rename = "secret", default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(rename = "branchFilter", default, skip_serializing_if = "Option::is_none")]
    pub branch_filter: Option<String>,
    #[serde(rename = "filterGroups", default, skip_serializing_if = "Option::is_none")]
    pub filter_groups: Option<Vec<Vec<WebhookFilter>>>,
    #[serde(rename = "buildType", default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    #[serde(rename = "manualCreation", default, skip_serializing_if = "Option::is_none")]
    pub manual_creation: Option<bool>,
    #[serde(rename = "lastModifiedSecret", default, skip_serializing_if = "Option::is_none")]
    pub last_modified_secret: Option<f64>,
    #[serde(rename = "scopeConfiguration", default, skip_serializing_if = "Option::is_none")]
    pub scope_configuration: Option<ScopeConfiguration>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "statusMessage", default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(rename = "pullRequestBuildPolicy", default, skip_serializing_if = "Option::is_none")]
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

/// `WebhookFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookFilter {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "pattern", default)]
    pub pattern: String,
    #[serde(rename = "excludeMatchedPattern", default, skip_serializing_if = "Option::is_none")]
    pub exclude_matched_pattern: Option<bool>,
}
