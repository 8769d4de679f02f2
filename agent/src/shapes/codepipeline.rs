//! The codepipeline API's shapes (CodePipeline_20150709), as botocore's model defines
//! them: one struct per structure shape the server reaches, members in the model's order.
//! Required members are plain values (the model check requires them in requests; read
//! elsewhere they default); every other is optional and left out when absent.
//! Enums are strings (checked against the model where they come in).
//!
//! Written by `scripts/wire_model.py` from botocore's model; do not edit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `AWSSessionCredentials`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AWSSessionCredentials {
    #[serde(rename = "accessKeyId", default)]
    pub access_key_id: String,
    #[serde(rename = "secretAccessKey", default)]
    pub secret_access_key: String,
    #[serde(rename = "sessionToken", default)]
    pub session_token: String,
}

/// `AcknowledgeJobInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeJobInput {
    #[serde(rename = "jobId", default)]
    pub job_id: String,
    #[serde(rename = "nonce", default)]
    pub nonce: String,
}

/// `AcknowledgeJobOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeJobOutput {
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `ActionConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionConfiguration {
    #[serde(rename = "configuration", default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<BTreeMap<String, String>>,
}

/// `ActionContext`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionContext {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "actionExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub action_execution_id: Option<String>,
}

/// `ActionDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionDeclaration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "actionTypeId", default)]
    pub action_type_id: ActionTypeId,
    #[serde(rename = "runOrder", default, skip_serializing_if = "Option::is_none")]
    pub run_order: Option<i64>,
    #[serde(rename = "configuration", default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<BTreeMap<String, String>>,
    #[serde(rename = "commands", default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    #[serde(rename = "outputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub output_artifacts: Option<Vec<OutputArtifact>>,
    #[serde(rename = "inputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<InputArtifact>>,
    #[serde(rename = "outputVariables", default, skip_serializing_if = "Option::is_none")]
    pub output_variables: Option<Vec<String>>,
    #[serde(rename = "roleArn", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(rename = "region", default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(rename = "namespace", default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(rename = "timeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
    #[serde(rename = "environmentVariables", default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
}

/// `ActionExecution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionExecution {
    #[serde(rename = "actionExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub action_execution_id: Option<String>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "summary", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(rename = "lastStatusChange", default, skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<f64>,
    #[serde(rename = "token", default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(rename = "lastUpdatedBy", default, skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(rename = "externalExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(rename = "externalExecutionUrl", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(rename = "percentComplete", default, skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<i64>,
    #[serde(rename = "errorDetails", default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
    #[serde(rename = "logStreamARN", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_arn: Option<String>,
}

/// `ActionExecutionDetail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionExecutionDetail {
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    #[serde(rename = "actionExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub action_execution_id: Option<String>,
    #[serde(rename = "pipelineVersion", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_version: Option<i64>,
    #[serde(rename = "stageName", default, skip_serializing_if = "Option::is_none")]
    pub stage_name: Option<String>,
    #[serde(rename = "actionName", default, skip_serializing_if = "Option::is_none")]
    pub action_name: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(rename = "lastUpdateTime", default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<f64>,
    #[serde(rename = "updatedBy", default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "input", default, skip_serializing_if = "Option::is_none")]
    pub input: Option<ActionExecutionInput>,
    #[serde(rename = "output", default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ActionExecutionOutput>,
}

/// `ActionExecutionFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionExecutionFilter {
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    #[serde(rename = "latestInPipelineExecution", default, skip_serializing_if = "Option::is_none")]
    pub latest_in_pipeline_execution: Option<LatestInPipelineExecutionFilter>,
}

/// `ActionExecutionInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionExecutionInput {
    #[serde(rename = "actionTypeId", default, skip_serializing_if = "Option::is_none")]
    pub action_type_id: Option<ActionTypeId>,
    #[serde(rename = "configuration", default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<BTreeMap<String, String>>,
    #[serde(rename = "resolvedConfiguration", default, skip_serializing_if = "Option::is_none")]
    pub resolved_configuration: Option<BTreeMap<String, String>>,
    #[serde(rename = "roleArn", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(rename = "region", default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(rename = "inputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<ArtifactDetail>>,
    #[serde(rename = "namespace", default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `ActionExecutionOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionExecutionOutput {
    #[serde(rename = "outputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub output_artifacts: Option<Vec<ArtifactDetail>>,
    #[serde(rename = "executionResult", default, skip_serializing_if = "Option::is_none")]
    pub execution_result: Option<ActionExecutionResult>,
    #[serde(rename = "outputVariables", default, skip_serializing_if = "Option::is_none")]
    pub output_variables: Option<BTreeMap<String, String>>,
}

/// `ActionExecutionResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionExecutionResult {
    #[serde(rename = "externalExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(rename = "externalExecutionSummary", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
    #[serde(rename = "externalExecutionUrl", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(rename = "errorDetails", default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
    #[serde(rename = "logStreamARN", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_arn: Option<String>,
}

/// `ActionRevision`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionRevision {
    #[serde(rename = "revisionId", default)]
    pub revision_id: String,
    #[serde(rename = "revisionChangeId", default)]
    pub revision_change_id: String,
    #[serde(rename = "created", default)]
    pub created: f64,
}

/// `ActionState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionState {
    #[serde(rename = "actionName", default, skip_serializing_if = "Option::is_none")]
    pub action_name: Option<String>,
    #[serde(rename = "currentRevision", default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<ActionRevision>,
    #[serde(rename = "latestExecution", default, skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<ActionExecution>,
    #[serde(rename = "entityUrl", default, skip_serializing_if = "Option::is_none")]
    pub entity_url: Option<String>,
    #[serde(rename = "revisionUrl", default, skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// `ActionTypeId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionTypeId {
    #[serde(rename = "category", default)]
    pub category: String,
    #[serde(rename = "owner", default)]
    pub owner: String,
    #[serde(rename = "provider", default)]
    pub provider: String,
    #[serde(rename = "version", default)]
    pub version: String,
}

/// `ApprovalResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalResult {
    #[serde(rename = "summary", default)]
    pub summary: String,
    #[serde(rename = "status", default)]
    pub status: String,
}

/// `Artifact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "revision", default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(rename = "location", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<ArtifactLocation>,
}

/// `ArtifactDetail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactDetail {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "s3location", default, skip_serializing_if = "Option::is_none")]
    pub s3location: Option<S3Location>,
}

/// `ArtifactLocation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactLocation {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(rename = "s3Location", default, skip_serializing_if = "Option::is_none")]
    pub s3_location: Option<S3ArtifactLocation>,
}

/// `ArtifactRevision`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRevision {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "revisionId", default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    #[serde(rename = "revisionChangeIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub revision_change_identifier: Option<String>,
    #[serde(rename = "revisionSummary", default, skip_serializing_if = "Option::is_none")]
    pub revision_summary: Option<String>,
    #[serde(rename = "created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    #[serde(rename = "revisionUrl", default, skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// `ArtifactStore`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactStore {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "location", default)]
    pub location: String,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<EncryptionKey>,
}

/// `BeforeEntryConditions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BeforeEntryConditions {
    #[serde(rename = "conditions", default)]
    pub conditions: Vec<Condition>,
}

/// `BlockerDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockerDeclaration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// `Condition`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "result", default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(rename = "rules", default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleDeclaration>>,
}

/// `ConditionExecution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditionExecution {
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "summary", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(rename = "lastStatusChange", default, skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<f64>,
}

/// `ConditionState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditionState {
    #[serde(rename = "latestExecution", default, skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<ConditionExecution>,
    #[serde(rename = "ruleStates", default, skip_serializing_if = "Option::is_none")]
    pub rule_states: Option<Vec<RuleState>>,
}

/// `CreatePipelineInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreatePipelineInput {
    #[serde(rename = "pipeline", default)]
    pub pipeline: PipelineDeclaration,
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// `CreatePipelineOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreatePipelineOutput {
    #[serde(rename = "pipeline", default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineDeclaration>,
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// `CurrentRevision`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CurrentRevision {
    #[serde(rename = "revision", default)]
    pub revision: String,
    #[serde(rename = "changeIdentifier", default)]
    pub change_identifier: String,
    #[serde(rename = "created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    #[serde(rename = "revisionSummary", default, skip_serializing_if = "Option::is_none")]
    pub revision_summary: Option<String>,
}

/// `DeletePipelineInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeletePipelineInput {
    #[serde(rename = "name", default)]
    pub name: String,
}

/// `EncryptionKey`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncryptionKey {
    #[serde(rename = "id", default)]
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
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

/// `ErrorDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetails {
    #[serde(rename = "code", default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `ExecutionDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionDetails {
    #[serde(rename = "summary", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(rename = "externalExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(rename = "percentComplete", default, skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<i64>,
}

/// `ExecutionTrigger`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionTrigger {
    #[serde(rename = "triggerType", default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<String>,
    #[serde(rename = "triggerDetail", default, skip_serializing_if = "Option::is_none")]
    pub trigger_detail: Option<String>,
}

/// `FailureConditions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureConditions {
    #[serde(rename = "result", default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(rename = "retryConfiguration", default, skip_serializing_if = "Option::is_none")]
    pub retry_configuration: Option<RetryConfiguration>,
    #[serde(rename = "conditions", default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// `FailureDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureDetails {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "message", default)]
    pub message: String,
    #[serde(rename = "externalExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
}

/// `GetPipelineExecutionInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPipelineExecutionInput {
    #[serde(rename = "pipelineName", default)]
    pub pipeline_name: String,
    #[serde(rename = "pipelineExecutionId", default)]
    pub pipeline_execution_id: String,
}

/// `GetPipelineExecutionOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPipelineExecutionOutput {
    #[serde(rename = "pipelineExecution", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution: Option<PipelineExecution>,
}

/// `GetPipelineInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPipelineInput {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// `GetPipelineOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPipelineOutput {
    #[serde(rename = "pipeline", default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineDeclaration>,
    #[serde(rename = "metadata", default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PipelineMetadata>,
}

/// `GetPipelineStateInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPipelineStateInput {
    #[serde(rename = "name", default)]
    pub name: String,
}

/// `GetPipelineStateOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPipelineStateOutput {
    #[serde(rename = "pipelineName", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_name: Option<String>,
    #[serde(rename = "pipelineVersion", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_version: Option<i64>,
    #[serde(rename = "stageStates", default, skip_serializing_if = "Option::is_none")]
    pub stage_states: Option<Vec<StageState>>,
    #[serde(rename = "created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    #[serde(rename = "updated", default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<f64>,
}

/// `GitBranchFilterCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitBranchFilterCriteria {
    #[serde(rename = "includes", default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<String>>,
    #[serde(rename = "excludes", default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Vec<String>>,
}

/// `GitConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitConfiguration {
    #[serde(rename = "sourceActionName", default)]
    pub source_action_name: String,
    #[serde(rename = "push", default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Vec<GitPushFilter>>,
    #[serde(rename = "pullRequest", default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Vec<GitPullRequestFilter>>,
}

/// `GitFilePathFilterCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitFilePathFilterCriteria {
    #[serde(rename = "includes", default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<String>>,
    #[serde(rename = "excludes", default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Vec<String>>,
}

/// `GitPullRequestFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitPullRequestFilter {
    #[serde(rename = "events", default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(rename = "branches", default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<GitBranchFilterCriteria>,
    #[serde(rename = "filePaths", default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<GitFilePathFilterCriteria>,
}

/// `GitPushFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitPushFilter {
    #[serde(rename = "tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<GitTagFilterCriteria>,
    #[serde(rename = "branches", default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<GitBranchFilterCriteria>,
    #[serde(rename = "filePaths", default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<GitFilePathFilterCriteria>,
}

/// `GitTagFilterCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitTagFilterCriteria {
    #[serde(rename = "includes", default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<String>>,
    #[serde(rename = "excludes", default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Vec<String>>,
}

/// `InputArtifact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputArtifact {
    #[serde(rename = "name", default)]
    pub name: String,
}

/// `Job`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<JobData>,
    #[serde(rename = "nonce", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// `JobData`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobData {
    #[serde(rename = "actionTypeId", default, skip_serializing_if = "Option::is_none")]
    pub action_type_id: Option<ActionTypeId>,
    #[serde(rename = "actionConfiguration", default, skip_serializing_if = "Option::is_none")]
    pub action_configuration: Option<ActionConfiguration>,
    #[serde(rename = "pipelineContext", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_context: Option<PipelineContext>,
    #[serde(rename = "inputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<Artifact>>,
    #[serde(rename = "outputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub output_artifacts: Option<Vec<Artifact>>,
    #[serde(rename = "artifactCredentials", default, skip_serializing_if = "Option::is_none")]
    pub artifact_credentials: Option<AWSSessionCredentials>,
    #[serde(rename = "continuationToken", default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(rename = "encryptionKey", default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<EncryptionKey>,
}

/// `LatestInPipelineExecutionFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatestInPipelineExecutionFilter {
    #[serde(rename = "pipelineExecutionId", default)]
    pub pipeline_execution_id: String,
    #[serde(rename = "startTimeRange", default)]
    pub start_time_range: String,
}

/// `ListActionExecutionsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListActionExecutionsInput {
    #[serde(rename = "pipelineName", default)]
    pub pipeline_name: String,
    #[serde(rename = "filter", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ActionExecutionFilter>,
    #[serde(rename = "maxResults", default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListActionExecutionsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListActionExecutionsOutput {
    #[serde(rename = "actionExecutionDetails", default, skip_serializing_if = "Option::is_none")]
    pub action_execution_details: Option<Vec<ActionExecutionDetail>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListPipelineExecutionsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListPipelineExecutionsInput {
    #[serde(rename = "pipelineName", default)]
    pub pipeline_name: String,
    #[serde(rename = "maxResults", default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(rename = "filter", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PipelineExecutionFilter>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListPipelineExecutionsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListPipelineExecutionsOutput {
    #[serde(rename = "pipelineExecutionSummaries", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_summaries: Option<Vec<PipelineExecutionSummary>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListPipelinesInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListPipelinesInput {
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "maxResults", default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
}

/// `ListPipelinesOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListPipelinesOutput {
    #[serde(rename = "pipelines", default, skip_serializing_if = "Option::is_none")]
    pub pipelines: Option<Vec<PipelineSummary>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `OutputArtifact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputArtifact {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "files", default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
}

/// `PipelineContext`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineContext {
    #[serde(rename = "pipelineName", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_name: Option<String>,
    #[serde(rename = "stage", default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<StageContext>,
    #[serde(rename = "action", default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionContext>,
    #[serde(rename = "pipelineArn", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_arn: Option<String>,
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
}

/// `PipelineDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineDeclaration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "roleArn", default)]
    pub role_arn: String,
    #[serde(rename = "artifactStore", default, skip_serializing_if = "Option::is_none")]
    pub artifact_store: Option<ArtifactStore>,
    #[serde(rename = "artifactStores", default, skip_serializing_if = "Option::is_none")]
    pub artifact_stores: Option<BTreeMap<String, ArtifactStore>>,
    #[serde(rename = "stages", default)]
    pub stages: Vec<StageDeclaration>,
    #[serde(rename = "version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(rename = "executionMode", default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    #[serde(rename = "pipelineType", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_type: Option<String>,
    #[serde(rename = "variables", default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<PipelineVariableDeclaration>>,
    #[serde(rename = "triggers", default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Vec<PipelineTriggerDeclaration>>,
}

/// `PipelineExecution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineExecution {
    #[serde(rename = "pipelineName", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_name: Option<String>,
    #[serde(rename = "pipelineVersion", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_version: Option<i64>,
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "statusSummary", default, skip_serializing_if = "Option::is_none")]
    pub status_summary: Option<String>,
    #[serde(rename = "artifactRevisions", default, skip_serializing_if = "Option::is_none")]
    pub artifact_revisions: Option<Vec<ArtifactRevision>>,
    #[serde(rename = "variables", default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<ResolvedPipelineVariable>>,
    #[serde(rename = "trigger", default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<ExecutionTrigger>,
    #[serde(rename = "executionMode", default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    #[serde(rename = "executionType", default, skip_serializing_if = "Option::is_none")]
    pub execution_type: Option<String>,
    #[serde(rename = "rollbackMetadata", default, skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<PipelineRollbackMetadata>,
}

/// `PipelineExecutionFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineExecutionFilter {
    #[serde(rename = "succeededInStage", default, skip_serializing_if = "Option::is_none")]
    pub succeeded_in_stage: Option<SucceededInStageFilter>,
}

/// `PipelineExecutionSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineExecutionSummary {
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "statusSummary", default, skip_serializing_if = "Option::is_none")]
    pub status_summary: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(rename = "lastUpdateTime", default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<f64>,
    #[serde(rename = "sourceRevisions", default, skip_serializing_if = "Option::is_none")]
    pub source_revisions: Option<Vec<SourceRevision>>,
    #[serde(rename = "trigger", default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<ExecutionTrigger>,
    #[serde(rename = "stopTrigger", default, skip_serializing_if = "Option::is_none")]
    pub stop_trigger: Option<StopExecutionTrigger>,
    #[serde(rename = "executionMode", default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    #[serde(rename = "executionType", default, skip_serializing_if = "Option::is_none")]
    pub execution_type: Option<String>,
    #[serde(rename = "rollbackMetadata", default, skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<PipelineRollbackMetadata>,
}

/// `PipelineMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineMetadata {
    #[serde(rename = "pipelineArn", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_arn: Option<String>,
    #[serde(rename = "created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    #[serde(rename = "updated", default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<f64>,
    #[serde(rename = "pollingDisabledAt", default, skip_serializing_if = "Option::is_none")]
    pub polling_disabled_at: Option<f64>,
}

/// `PipelineRollbackMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineRollbackMetadata {
    #[serde(rename = "rollbackTargetPipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub rollback_target_pipeline_execution_id: Option<String>,
}

/// `PipelineSummary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineSummary {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(rename = "pipelineType", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_type: Option<String>,
    #[serde(rename = "executionMode", default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    #[serde(rename = "created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<f64>,
    #[serde(rename = "updated", default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<f64>,
}

/// `PipelineTriggerDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineTriggerDeclaration {
    #[serde(rename = "providerType", default)]
    pub provider_type: String,
    #[serde(rename = "gitConfiguration", default)]
    pub git_configuration: GitConfiguration,
}

/// `PipelineVariable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineVariable {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "value", default)]
    pub value: String,
}

/// `PipelineVariableDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineVariableDeclaration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "defaultValue", default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(rename = "description", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PollForJobsInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollForJobsInput {
    #[serde(rename = "actionTypeId", default)]
    pub action_type_id: ActionTypeId,
    #[serde(rename = "maxBatchSize", default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<i64>,
    #[serde(rename = "queryParam", default, skip_serializing_if = "Option::is_none")]
    pub query_param: Option<BTreeMap<String, String>>,
}

/// `PollForJobsOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollForJobsOutput {
    #[serde(rename = "jobs", default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<Job>>,
}

/// `PutApprovalResultInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutApprovalResultInput {
    #[serde(rename = "pipelineName", default)]
    pub pipeline_name: String,
    #[serde(rename = "stageName", default)]
    pub stage_name: String,
    #[serde(rename = "actionName", default)]
    pub action_name: String,
    #[serde(rename = "result", default)]
    pub result: ApprovalResult,
    #[serde(rename = "token", default)]
    pub token: String,
}

/// `PutApprovalResultOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutApprovalResultOutput {
    #[serde(rename = "approvedAt", default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<f64>,
}

/// `PutJobFailureResultInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutJobFailureResultInput {
    #[serde(rename = "jobId", default)]
    pub job_id: String,
    #[serde(rename = "failureDetails", default)]
    pub failure_details: FailureDetails,
}

/// `PutJobSuccessResultInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutJobSuccessResultInput {
    #[serde(rename = "jobId", default)]
    pub job_id: String,
    #[serde(rename = "currentRevision", default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<CurrentRevision>,
    #[serde(rename = "continuationToken", default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(rename = "executionDetails", default, skip_serializing_if = "Option::is_none")]
    pub execution_details: Option<ExecutionDetails>,
    #[serde(rename = "outputVariables", default, skip_serializing_if = "Option::is_none")]
    pub output_variables: Option<BTreeMap<String, String>>,
}

/// `ResolvedPipelineVariable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolvedPipelineVariable {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "resolvedValue", default, skip_serializing_if = "Option::is_none")]
    pub resolved_value: Option<String>,
}

/// `RetryConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryConfiguration {
    #[serde(rename = "retryMode", default, skip_serializing_if = "Option::is_none")]
    pub retry_mode: Option<String>,
}

/// `RetryStageMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryStageMetadata {
    #[serde(rename = "autoStageRetryAttempt", default, skip_serializing_if = "Option::is_none")]
    pub auto_stage_retry_attempt: Option<i64>,
    #[serde(rename = "manualStageRetryAttempt", default, skip_serializing_if = "Option::is_none")]
    pub manual_stage_retry_attempt: Option<i64>,
    #[serde(rename = "latestRetryTrigger", default, skip_serializing_if = "Option::is_none")]
    pub latest_retry_trigger: Option<String>,
}

/// `RuleDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleDeclaration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "ruleTypeId", default)]
    pub rule_type_id: RuleTypeId,
    #[serde(rename = "configuration", default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<BTreeMap<String, String>>,
    #[serde(rename = "commands", default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    #[serde(rename = "inputArtifacts", default, skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<InputArtifact>>,
    #[serde(rename = "roleArn", default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(rename = "region", default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(rename = "timeoutInMinutes", default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<i64>,
}

/// `RuleExecution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleExecution {
    #[serde(rename = "ruleExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub rule_execution_id: Option<String>,
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "summary", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(rename = "lastStatusChange", default, skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<f64>,
    #[serde(rename = "token", default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(rename = "lastUpdatedBy", default, skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(rename = "externalExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(rename = "externalExecutionUrl", default, skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(rename = "errorDetails", default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

/// `RuleRevision`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleRevision {
    #[serde(rename = "revisionId", default)]
    pub revision_id: String,
    #[serde(rename = "revisionChangeId", default)]
    pub revision_change_id: String,
    #[serde(rename = "created", default)]
    pub created: f64,
}

/// `RuleState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    #[serde(rename = "ruleName", default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(rename = "currentRevision", default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<RuleRevision>,
    #[serde(rename = "latestExecution", default, skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<RuleExecution>,
    #[serde(rename = "entityUrl", default, skip_serializing_if = "Option::is_none")]
    pub entity_url: Option<String>,
    #[serde(rename = "revisionUrl", default, skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// `RuleTypeId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleTypeId {
    #[serde(rename = "category", default)]
    pub category: String,
    #[serde(rename = "owner", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(rename = "provider", default)]
    pub provider: String,
    #[serde(rename = "version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `S3ArtifactLocation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct S3ArtifactLocation {
    #[serde(rename = "bucketName", default)]
    pub bucket_name: String,
    #[serde(rename = "objectKey", default)]
    pub object_key: String,
}

/// `S3Location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct S3Location {
    #[serde(rename = "bucket", default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(rename = "key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `SourceRevision`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceRevision {
    #[serde(rename = "actionName", default)]
    pub action_name: String,
    #[serde(rename = "revisionId", default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    #[serde(rename = "revisionSummary", default, skip_serializing_if = "Option::is_none")]
    pub revision_summary: Option<String>,
    #[serde(rename = "revisionUrl", default, skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// `SourceRevisionOverride`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceRevisionOverride {
    #[serde(rename = "actionName", default)]
    pub action_name: String,
    #[serde(rename = "revisionType", default)]
    pub revision_type: String,
    #[serde(rename = "revisionValue", default)]
    pub revision_value: String,
}

/// `StageConditionState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageConditionState {
    #[serde(rename = "latestExecution", default, skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<StageConditionsExecution>,
    #[serde(rename = "conditionStates", default, skip_serializing_if = "Option::is_none")]
    pub condition_states: Option<Vec<ConditionState>>,
}

/// `StageConditionsExecution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageConditionsExecution {
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "summary", default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// `StageContext`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageContext {
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `StageDeclaration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageDeclaration {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "blockers", default, skip_serializing_if = "Option::is_none")]
    pub blockers: Option<Vec<BlockerDeclaration>>,
    #[serde(rename = "actions", default)]
    pub actions: Vec<ActionDeclaration>,
    #[serde(rename = "onFailure", default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<FailureConditions>,
    #[serde(rename = "onSuccess", default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<SuccessConditions>,
    #[serde(rename = "beforeEntry", default, skip_serializing_if = "Option::is_none")]
    pub before_entry: Option<BeforeEntryConditions>,
}

/// `StageExecution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageExecution {
    #[serde(rename = "pipelineExecutionId", default)]
    pub pipeline_execution_id: String,
    #[serde(rename = "status", default)]
    pub status: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `StageState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    #[serde(rename = "stageName", default, skip_serializing_if = "Option::is_none")]
    pub stage_name: Option<String>,
    #[serde(rename = "inboundExecution", default, skip_serializing_if = "Option::is_none")]
    pub inbound_execution: Option<StageExecution>,
    #[serde(rename = "inboundExecutions", default, skip_serializing_if = "Option::is_none")]
    pub inbound_executions: Option<Vec<StageExecution>>,
    #[serde(rename = "inboundTransitionState", default, skip_serializing_if = "Option::is_none")]
    pub inbound_transition_state: Option<TransitionState>,
    #[serde(rename = "actionStates", default, skip_serializing_if = "Option::is_none")]
    pub action_states: Option<Vec<ActionState>>,
    #[serde(rename = "latestExecution", default, skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<StageExecution>,
    #[serde(rename = "beforeEntryConditionState", default, skip_serializing_if = "Option::is_none")]
    pub before_entry_condition_state: Option<StageConditionState>,
    #[serde(rename = "onSuccessConditionState", default, skip_serializing_if = "Option::is_none")]
    pub on_success_condition_state: Option<StageConditionState>,
    #[serde(rename = "onFailureConditionState", default, skip_serializing_if = "Option::is_none")]
    pub on_failure_condition_state: Option<StageConditionState>,
    #[serde(rename = "retryStageMetadata", default, skip_serializing_if = "Option::is_none")]
    pub retry_stage_metadata: Option<RetryStageMetadata>,
}

/// `StartPipelineExecutionInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartPipelineExecutionInput {
    #[serde(rename = "name", default)]
    pub name: String,
    #[serde(rename = "variables", default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<PipelineVariable>>,
    #[serde(rename = "clientRequestToken", default, skip_serializing_if = "Option::is_none")]
    pub client_request_token: Option<String>,
    #[serde(rename = "sourceRevisions", default, skip_serializing_if = "Option::is_none")]
    pub source_revisions: Option<Vec<SourceRevisionOverride>>,
}

/// `StartPipelineExecutionOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartPipelineExecutionOutput {
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
}

/// `StopExecutionTrigger`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopExecutionTrigger {
    #[serde(rename = "reason", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `StopPipelineExecutionInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopPipelineExecutionInput {
    #[serde(rename = "pipelineName", default)]
    pub pipeline_name: String,
    #[serde(rename = "pipelineExecutionId", default)]
    pub pipeline_execution_id: String,
    #[serde(rename = "abandon", default, skip_serializing_if = "Option::is_none")]
    pub abandon: Option<bool>,
    #[serde(rename = "reason", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `StopPipelineExecutionOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopPipelineExecutionOutput {
    #[serde(rename = "pipelineExecutionId", default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
}

/// `SucceededInStageFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SucceededInStageFilter {
    #[serde(rename = "stageName", default, skip_serializing_if = "Option::is_none")]
    pub stage_name: Option<String>,
}

/// `SuccessConditions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuccessConditions {
    #[serde(rename = "conditions", default)]
    pub conditions: Vec<Condition>,
}

/// `Tag`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "key", default)]
    pub key: String,
    #[serde(rename = "value", default)]
    pub value: String,
}

/// `TransitionState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransitionState {
    #[serde(rename = "enabled", default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(rename = "lastChangedBy", default, skip_serializing_if = "Option::is_none")]
    pub last_changed_by: Option<String>,
    #[serde(rename = "lastChangedAt", default, skip_serializing_if = "Option::is_none")]
    pub last_changed_at: Option<f64>,
    #[serde(rename = "disabledReason", default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// `UpdatePipelineInput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdatePipelineInput {
    #[serde(rename = "pipeline", default)]
    pub pipeline: PipelineDeclaration,
}

/// `UpdatePipelineOutput`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdatePipelineOutput {
    #[serde(rename = "pipeline", default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineDeclaration>,
}
