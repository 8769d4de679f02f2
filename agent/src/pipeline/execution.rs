//! The record of one pipeline execution (pure): what ran, when, how it ended, with what inputs,
//! outputs and variables; written as `aws codepipeline get-pipeline-execution` and
//! `list-action-executions` show it (`--result`, and the local artifact store's record of each
//! execution, which `--from` reads).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::result::epoch;
use crate::shapes::codepipeline as cp;

/// How an action ended, in CodePipeline's words (`ActionExecutionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Succeeded,
    Failed,
    Abandoned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "InProgress",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Abandoned => "Abandoned",
        }
    }
}

/// One action's execution.
#[derive(Debug, Clone)]
pub struct ActionRun {
    pub id: String,
    pub stage: String,
    pub action: String,
    pub action_type: cp::ActionTypeId,
    pub namespace: Option<String>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub status: Status,
    pub summary: String,
    /// The build id of a CodeBuild or Commands action.
    pub external_id: Option<String>,
    pub configuration: BTreeMap<String, String>,
    pub resolved: BTreeMap<String, String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub variables: BTreeMap<String, String>,
    /// `(code, message)` of a failed action (`ErrorDetails`).
    pub error: Option<(String, String)>,
}

/// A source action's revision (`sourceRevisions`, `artifactRevisions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub action: String,
    pub artifact: String,
    pub id: String,
    pub summary: String,
}

/// One execution of a pipeline.
#[derive(Debug, Clone)]
pub struct Execution {
    pub pipeline: String,
    pub version: i64,
    /// The pipeline's `executionMode` (SUPERSEDED when it names none).
    pub mode: String,
    pub id: String,
    pub status: String,
    pub summary: Option<String>,
    pub start: SystemTime,
    pub end: SystemTime,
    /// The pipeline's variables as resolved for this execution.
    pub variables: Vec<(String, String)>,
    pub revisions: Vec<Revision>,
    pub actions: Vec<ActionRun>,
    /// What started it: `(triggerType, triggerDetail)`.
    pub trigger: (String, String),
}

impl Execution {
    /// `{"pipelineExecution": …, "actionExecutionDetails": […]}`: what `get-pipeline-execution`
    /// and `list-action-executions` answer, in the botocore shapes.
    pub fn to_json(&self) -> Value {
        let execution = cp::PipelineExecution {
            pipeline_name: Some(self.pipeline.clone()),
            pipeline_version: Some(self.version),
            pipeline_execution_id: Some(self.id.clone()),
            status: Some(self.status.clone()),
            status_summary: self.summary.clone(),
            artifact_revisions: Some(
                self.revisions
                    .iter()
                    .map(|r| cp::ArtifactRevision {
                        name: Some(r.artifact.clone()),
                        revision_id: Some(r.id.clone()),
                        revision_summary: Some(r.summary.clone()),
                        created: Some(epoch(self.start)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            variables: Some(
                self.variables
                    .iter()
                    .map(|(name, value)| cp::ResolvedPipelineVariable {
                        name: Some(name.clone()),
                        resolved_value: Some(value.clone()),
                    })
                    .collect(),
            ),
            trigger: Some(cp::ExecutionTrigger {
                trigger_type: Some(self.trigger.0.clone()),
                trigger_detail: Some(self.trigger.1.clone()),
            }),
            execution_mode: Some(self.mode.clone()),
            execution_type: Some("STANDARD".into()),
            ..Default::default()
        };
        let details: Vec<cp::ActionExecutionDetail> = self.actions.iter().map(|a| self.detail(a)).collect();
        json!({"pipelineExecution": execution, "actionExecutionDetails": details})
    }

    fn detail(&self, a: &ActionRun) -> cp::ActionExecutionDetail {
        action_detail(&self.id, self.version, a)
    }

    /// The execution's one-line outcome, with each stage's actions.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut stages: Vec<&str> = Vec::new();
        for a in &self.actions {
            if !stages.contains(&a.stage.as_str()) {
                stages.push(&a.stage);
            }
        }
        for stage in stages {
            let actions: Vec<String> = self
                .actions
                .iter()
                .filter(|a| a.stage == stage)
                .map(|a| {
                    let took = a.end.duration_since(a.start).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                    format!("{} {} ({took:.1} s)", a.action, a.status.as_str())
                })
                .collect();
            lines.push(format!("  {stage}: {}", actions.join(", ")));
        }
        lines
    }
}

/// An action's execution as `list-action-executions` shows it.
pub fn action_detail(execution_id: &str, version: i64, a: &ActionRun) -> cp::ActionExecutionDetail {
    let artifacts = |names: &[String]| {
        names.iter().map(|n| cp::ArtifactDetail { name: Some(n.clone()), s3location: None }).collect()
    };
    cp::ActionExecutionDetail {
        pipeline_execution_id: Some(execution_id.to_string()),
        action_execution_id: Some(a.id.clone()),
        pipeline_version: Some(version),
        stage_name: Some(a.stage.clone()),
        action_name: Some(a.action.clone()),
        start_time: Some(epoch(a.start)),
        last_update_time: Some(epoch(a.end)),
        updated_by: None,
        status: Some(a.status.as_str().to_string()),
        input: Some(cp::ActionExecutionInput {
            action_type_id: Some(a.action_type.clone()),
            configuration: Some(a.configuration.clone()),
            resolved_configuration: Some(a.resolved.clone()),
            input_artifacts: Some(artifacts(&a.inputs)),
            namespace: a.namespace.clone(),
            ..Default::default()
        }),
        output: Some(cp::ActionExecutionOutput {
            output_artifacts: Some(artifacts(&a.outputs)),
            execution_result: Some(cp::ActionExecutionResult {
                external_execution_id: a.external_id.clone(),
                external_execution_summary: Some(a.summary.clone()),
                error_details: a.error.as_ref().map(|(code, message)| cp::ErrorDetails {
                    code: Some(code.clone()),
                    message: Some(message.clone()),
                }),
                ..Default::default()
            }),
            output_variables: Some(a.variables.clone()),
        }),
    }
}

/// What a succeeded action left, read back from an execution record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub stage: String,
    pub action: String,
    pub outputs: Vec<String>,
    pub namespace: Option<String>,
    pub variables: BTreeMap<String, String>,
}

/// Reads back an execution record written by [`Execution::to_json`]: the artifacts and
/// variables each succeeded action left, for `--from`.
pub fn succeeded_actions(record: &Value) -> Vec<Left> {
    let mut out = Vec::new();
    for d in record["actionExecutionDetails"].as_array().into_iter().flatten() {
        let Ok(d) = serde_json::from_value::<cp::ActionExecutionDetail>(d.clone()) else { continue };
        if d.status.as_deref() != Some("Succeeded") {
            continue;
        }
        let outputs = d
            .output
            .as_ref()
            .and_then(|o| o.output_artifacts.as_ref())
            .map(|a| a.iter().filter_map(|x| x.name.clone()).collect())
            .unwrap_or_default();
        let variables = d.output.as_ref().and_then(|o| o.output_variables.clone()).unwrap_or_default();
        let namespace = d.input.as_ref().and_then(|i| i.namespace.clone());
        out.push(Left {
            stage: d.stage_name.unwrap_or_default(),
            action: d.action_name.unwrap_or_default(),
            outputs,
            namespace,
            variables,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_record_is_what_the_api_answers_and_reads_back() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let action = |name: &str, status, outputs: &[&str]| ActionRun {
            id: format!("0000000{}-0000-4000-8000-000000000000", name.len()),
            stage: "Build".into(),
            action: name.into(),
            action_type: cp::ActionTypeId {
                category: "Build".into(),
                owner: "AWS".into(),
                provider: "CodeBuild".into(),
                version: "1".into(),
            },
            namespace: Some("BuildVariables".into()),
            start,
            end: start + Duration::from_millis(1500),
            status,
            summary: "done".into(),
            external_id: Some("app:uuid".into()),
            configuration: BTreeMap::from([("ProjectName".into(), "app".into())]),
            resolved: BTreeMap::from([("ProjectName".into(), "app".into())]),
            inputs: vec!["Src".into()],
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            variables: BTreeMap::from([("TAG".into(), "v1".into())]),
            error: (status == Status::Failed).then(|| ("JobFailed".into(), "exit 1".into())),
        };
        let e = Execution {
            pipeline: "p".into(),
            version: 1,
            mode: "QUEUED".into(),
            id: "8c9f3e2a-1b2c-4d5e-8f90-123456789abc".into(),
            status: "Failed".into(),
            summary: None,
            start,
            end: start,
            variables: vec![("Env".into(), "dev".into())],
            revisions: vec![],
            actions: vec![action("A", Status::Succeeded, &["Out"]), action("B", Status::Failed, &[])],
            trigger: ("StartPipelineExecution".into(), "runspec pipeline run".into()),
        };
        let json = e.to_json();
        // The shapes the model holds the API to.
        crate::serve::wire::model::CODEPIPELINE
            .check_shape("PipelineExecution", &json["pipelineExecution"])
            .unwrap();
        for d in json["actionExecutionDetails"].as_array().unwrap() {
            crate::serve::wire::model::CODEPIPELINE.check_shape("ActionExecutionDetail", d).unwrap();
        }
        assert_eq!(
            json["actionExecutionDetails"][1]["output"]["executionResult"]["errorDetails"]["code"],
            "JobFailed"
        );
        let back = succeeded_actions(&json);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].outputs, ["Out"]);
        assert_eq!(back[0].namespace.as_deref(), Some("BuildVariables"));
        assert_eq!(back[0].variables["TAG"], "v1");
        assert_eq!(e.summary_lines(), ["  Build: A Succeeded (1.5 s), B Failed (1.5 s)"]);
    }
}
