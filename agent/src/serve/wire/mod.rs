//! The wire: what `runspec serve` accepts and answers, in AWS's shapes. Only this module knows
//! JSON. A request's body is checked against the operation's input shape in botocore's model
//! ([`model`]), read into the operation's input type ([`crate::shapes`]), handed to the service
//! ([`super::service`]), and its output type written back; errors take AWS's shapes
//! (`{"__type": …, "message": …}`), so the AWS CLI and the SDKs print them the usual way.

pub mod model;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::service::{Service, ServiceError};
use crate::shapes::codebuild as cb;
use crate::shapes::codepipeline as cp;
use crate::shapes::logs as cw;

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

/// Which model a target (`X-Amz-Target`) belongs to, and its operation name.
pub fn operation(target: &str) -> Option<(&'static model::Model, &str)> {
    for m in [&*model::CODEBUILD, &*model::LOGS, &*model::CODEPIPELINE] {
        if let Some(op) = target.strip_prefix(&m.target_prefix).and_then(|t| t.strip_prefix('.'))
            && m.operations.contains_key(op)
        {
            return Some((m, op));
        }
    }
    None
}

/// Checks a request body against its operation's input shape, answering as the service would:
/// `SerializationException` for a value of the wrong type, CodeBuild's `InvalidInputException`
/// or CloudWatch Logs' `InvalidParameterException` for broken constraints.
pub fn check(target: &str, body: &Value) -> Result<(), ApiError> {
    let Some((m, op)) = operation(target) else { return Ok(()) };
    m.check(op, body).map_err(|e| match e {
        model::Invalid::Serialization(message) => {
            ApiError { status: 400, kind: "SerializationException", message }
        }
        model::Invalid::Constraints(message) => ApiError {
            status: 400,
            kind: match m.service.as_str() {
                "logs" => "InvalidParameterException",
                "codepipeline" => "ValidationException",
                _ => "InvalidInputException",
            },
            message,
        },
    })
}

/// A service error as CodeBuild words it.
fn codebuild(e: ServiceError) -> ApiError {
    match e {
        ServiceError::NotFound(message) => {
            ApiError { status: 400, kind: "ResourceNotFoundException", message }
        }
        ServiceError::AlreadyExists(message) => {
            ApiError { status: 400, kind: "ResourceAlreadyExistsException", message }
        }
        ServiceError::Invalid(message) => ApiError { status: 400, kind: "InvalidInputException", message },
        ServiceError::Mismatch(message) => {
            ApiError { status: 400, kind: "IdempotentParameterMismatchException", message }
        }
        ServiceError::Failed(message) => ApiError { status: 500, kind: "InternalFailure", message },
        ServiceError::Named(kind, message) => ApiError { status: 400, kind, message },
    }
}

/// A service error as CodePipeline words it.
fn codepipeline(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(message) | ServiceError::Mismatch(message) => {
            ApiError { status: 400, kind: "ValidationException", message }
        }
        ServiceError::NotFound(message) => {
            ApiError { status: 400, kind: "ResourceNotFoundException", message }
        }
        other => codebuild(other),
    }
}

/// CodePipeline's job API, in the model for `runspec worker --codepipeline-action` (which calls
/// it); the server answers it `UnknownOperationException`: it hands out no jobs.
pub const JOB_OPERATIONS: &[&str] =
    &["AcknowledgeJob", "PollForJobs", "PutJobFailureResult", "PutJobSuccessResult"];

/// A CodePipeline operation.
fn pipelines(s: &Arc<Service>, target: &str, op: &str, body: Value, caller: &str) -> Result<Value, ApiError> {
    let e = codepipeline;
    match op {
        "CreatePipeline" => output(s.create_pipeline(input(body)?).map_err(e)?),
        "GetPipeline" => output(s.get_pipeline(&input(body)?).map_err(e)?),
        "UpdatePipeline" => output(s.update_pipeline(input(body)?).map_err(e)?),
        "DeletePipeline" => {
            let i: cp::DeletePipelineInput = input(body)?;
            s.delete_pipeline(&i.name).map_err(e)?;
            output(serde_json::json!({}))
        }
        "ListPipelines" => output(s.list_pipelines(&input(body)?).map_err(e)?),
        "StartPipelineExecution" => output(s.start_pipeline_execution(&input(body)?, caller).map_err(e)?),
        "StopPipelineExecution" => output(s.stop_pipeline_execution(&input(body)?).map_err(e)?),
        "GetPipelineExecution" => output(s.get_pipeline_execution(&input(body)?).map_err(e)?),
        "GetPipelineState" => {
            let i: cp::GetPipelineStateInput = input(body)?;
            output(s.get_pipeline_state(&i.name).map_err(e)?)
        }
        "ListPipelineExecutions" => output(s.list_pipeline_executions(&input(body)?).map_err(e)?),
        "ListActionExecutions" => output(s.list_action_executions(&input(body)?).map_err(e)?),
        "PutApprovalResult" => output(s.put_approval_result(&input(body)?).map_err(e)?),
        // The job API is CodePipeline's side of a custom action: `runspec worker
        // --codepipeline-action` calls it; runspec serve does not hand out jobs.
        _ => Err(unimplemented(target)),
    }
}

/// A service error as CloudWatch Logs words it.
fn logs(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(message) => {
            ApiError { status: 400, kind: "InvalidParameterException", message }
        }
        ServiceError::Failed(message) => {
            ApiError { status: 500, kind: "ServiceUnavailableException", message }
        }
        other => codebuild(other),
    }
}

/// The body read into an operation's input type (after [`check`]).
fn input<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError {
        status: 400,
        kind: "SerializationException",
        message: e.to_string(),
    })
}

fn output<T: Serialize>(t: T) -> Result<Value, ApiError> {
    serde_json::to_value(t).map_err(|e| ApiError {
        status: 500,
        kind: "InternalFailure",
        message: e.to_string(),
    })
}

/// One call: the target, the JSON body (checked), who signed it.
pub fn call(service: &Arc<Service>, target: &str, body: Value, caller: &str) -> Result<Value, ApiError> {
    let Some((m, op)) = operation(target) else {
        return Err(ApiError {
            status: 400,
            kind: "UnknownOperationException",
            message: format!("runspec serve does not implement `{target}`"),
        });
    };
    let s = service;
    if m.service == "codepipeline" {
        return pipelines(s, target, op, body, caller);
    }
    if m.service == "logs" {
        return match op {
            "GetLogEvents" => {
                output(s.get_log_events(&input::<cw::GetLogEventsRequest>(body)?).map_err(logs)?)
            }
            "FilterLogEvents" => {
                output(s.filter_log_events(&input::<cw::FilterLogEventsRequest>(body)?).map_err(logs)?)
            }
            "DescribeLogStreams" => {
                output(s.describe_log_streams(&input::<cw::DescribeLogStreamsRequest>(body)?).map_err(logs)?)
            }
            _ => Err(unimplemented(target)),
        };
    }
    let e = codebuild;
    match op {
        "CreateProject" => {
            let project = s.create_project(input(body)?).map_err(e)?;
            output(cb::CreateProjectOutput { project: Some(project) })
        }
        "UpdateProject" => {
            let project = s.update_project(input(body)?).map_err(e)?;
            output(cb::UpdateProjectOutput { project: Some(project) })
        }
        "BatchGetProjects" => {
            let i: cb::BatchGetProjectsInput = input(body)?;
            output(s.batch_get_projects(&i.names).map_err(e)?)
        }
        "ListProjects" => output(s.list_projects(&input(body)?).map_err(e)?),
        "DeleteProject" => {
            let i: cb::DeleteProjectInput = input(body)?;
            s.delete_project(&i.name).map_err(e)?;
            output(cb::DeleteProjectOutput {})
        }
        "CreateWebhook" => {
            output(cb::CreateWebhookOutput { webhook: Some(s.create_webhook(input(body)?).map_err(e)?) })
        }
        "UpdateWebhook" => {
            output(cb::UpdateWebhookOutput { webhook: Some(s.update_webhook(input(body)?).map_err(e)?) })
        }
        "DeleteWebhook" => {
            let i: cb::DeleteWebhookInput = input(body)?;
            s.delete_webhook(&i.project_name).map_err(e)?;
            output(cb::DeleteWebhookOutput {})
        }
        "StartBuild" => {
            output(cb::StartBuildOutput { build: Some(s.start_build(input(body)?, caller).map_err(e)?) })
        }
        "BatchGetBuilds" => {
            let i: cb::BatchGetBuildsInput = input(body)?;
            output(s.batch_get_builds(&i.ids).map_err(e)?)
        }
        "StopBuild" => {
            let i: cb::StopBuildInput = input(body)?;
            output(cb::StopBuildOutput { build: Some(s.stop_build(&i.id).map_err(e)?) })
        }
        "RetryBuild" => {
            let i: cb::RetryBuildInput = input(body)?;
            output(cb::RetryBuildOutput { build: Some(s.retry_build(&i, caller).map_err(e)?) })
        }
        "ListBuilds" => {
            let i: cb::ListBuildsInput = input(body)?;
            output(s.list_builds(None, i.sort_order.as_deref(), i.next_token.as_deref()).map_err(e)?)
        }
        "ListBuildsForProject" => {
            let i: cb::ListBuildsForProjectInput = input(body)?;
            let out = s
                .list_builds(Some(&i.project_name), i.sort_order.as_deref(), i.next_token.as_deref())
                .map_err(e)?;
            output(cb::ListBuildsForProjectOutput { ids: out.ids, next_token: out.next_token })
        }
        "BatchDeleteBuilds" => {
            let i: cb::BatchDeleteBuildsInput = input(body)?;
            output(s.batch_delete_builds(&i.ids).map_err(e)?)
        }
        "StartBuildBatch" => output(cb::StartBuildBatchOutput {
            build_batch: Some(s.start_build_batch(input(body)?, caller).map_err(e)?),
        }),
        "BatchGetBuildBatches" => {
            let i: cb::BatchGetBuildBatchesInput = input(body)?;
            output(s.batch_get_build_batches(&i.ids).map_err(e)?)
        }
        "StopBuildBatch" => {
            let i: cb::StopBuildBatchInput = input(body)?;
            output(cb::StopBuildBatchOutput { build_batch: Some(s.stop_build_batch(&i.id).map_err(e)?) })
        }
        "RetryBuildBatch" => {
            let i: cb::RetryBuildBatchInput = input(body)?;
            output(cb::RetryBuildBatchOutput { build_batch: Some(s.retry_build_batch(&i).map_err(e)?) })
        }
        "ListBuildBatches" => {
            let i: cb::ListBuildBatchesInput = input(body)?;
            let (ids, next_token) = s
                .list_build_batches(None, i.sort_order.as_deref(), i.next_token.as_deref(), i.max_results)
                .map_err(e)?;
            output(cb::ListBuildBatchesOutput { ids: Some(ids), next_token })
        }
        "ListBuildBatchesForProject" => {
            let i: cb::ListBuildBatchesForProjectInput = input(body)?;
            let project = i.project_name.as_deref().ok_or_else(|| invalid("a projectName is needed"))?;
            let (ids, next_token) = s
                .list_build_batches(
                    Some(project),
                    i.sort_order.as_deref(),
                    i.next_token.as_deref(),
                    i.max_results,
                )
                .map_err(e)?;
            output(cb::ListBuildBatchesForProjectOutput { ids: Some(ids), next_token })
        }
        "DeleteBuildBatch" => {
            let i: cb::DeleteBuildBatchInput = input(body)?;
            output(s.delete_build_batch(&i.id).map_err(e)?)
        }
        _ => Err(unimplemented(target)),
    }
}

fn unimplemented(target: &str) -> ApiError {
    ApiError {
        status: 400,
        kind: "UnknownOperationException",
        message: format!("runspec serve does not implement `{target}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_model_has_a_handler() {
        // A service with a store that knows nothing: each operation must get past the dispatch
        // table (an error of the operation is fine; "not implemented" is not).
        let dir = tempfile::tempdir().unwrap();
        let store = crate::serve::store::SqliteStore::open(&dir.path().join("db")).unwrap();
        let service = Arc::new(Service::new(
            Arc::new(store),
            dir.path().to_path_buf(),
            1,
            "us-east-1".into(),
            "000000000000".into(),
            Default::default(),
        ));
        for m in [&*model::CODEBUILD, &*model::LOGS, &*model::CODEPIPELINE] {
            for op in m.operations.keys().filter(|op| !JOB_OPERATIONS.contains(&op.as_str())) {
                let target = format!("{}.{op}", m.target_prefix);
                if let Err(e) = call(&service, &target, serde_json::json!({}), "t") {
                    assert_ne!(e.kind, "UnknownOperationException", "{target}");
                }
            }
        }
    }
}
