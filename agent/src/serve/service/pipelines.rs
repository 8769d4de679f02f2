//! Pipelines: CreatePipeline, GetPipeline, UpdatePipeline, DeletePipeline, ListPipelines,
//! StartPipelineExecution, StopPipelineExecution, GetPipelineExecution, GetPipelineState,
//! ListPipelineExecutions, ListActionExecutions and PutApprovalResult, with CodePipeline's
//! errors. A definition is checked as `runspec pipeline check` checks it before it is kept;
//! executions run in [`crate::serve::pipelines`] and are read back from their records.

use std::sync::Arc;

use super::{Result, Service, ServiceError, now_s, page};
use crate::serve::store::{ExecutionRow, PipelineRow};
use crate::shapes::codepipeline as cp;

/// CodePipeline's quota of pipelines per account and region.
const MAX_PIPELINES: usize = 1000;

fn named(kind: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Named(kind, message.into())
}

/// `maxResults` within 1..=100 (the model bounds it), 100 when not given.
fn page_size(max: Option<i64>) -> usize {
    max.map_or(100, |m| m.clamp(1, 100) as usize)
}

/// A page of `items` from `token` (an offset the service gave).
fn paged<T: Clone>(items: &[T], token: Option<&str>, size: usize) -> Result<(Vec<T>, Option<String>)> {
    let offsets: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
    let (ids, next) = page(offsets, token, size).map_err(|_| {
        named(
            "InvalidNextTokenException",
            "The next token is not valid: pass the nextToken of the previous answer",
        )
    })?;
    let picked =
        ids.iter().filter_map(|i| i.parse::<usize>().ok()).filter_map(|i| items.get(i).cloned()).collect();
    Ok((picked, next))
}

impl Service {
    pub fn pipeline_arn(&self, name: &str) -> String {
        format!("arn:aws:codepipeline:{}:{}:{name}", self.region, self.account)
    }

    fn pipeline_row(&self, name: &str) -> Result<PipelineRow> {
        self.store.pipeline(name)?.ok_or_else(|| {
            named("PipelineNotFoundException", format!("Account does not have a pipeline with name '{name}'"))
        })
    }

    fn execution_row(&self, pipeline: &str, id: &str) -> Result<ExecutionRow> {
        self.pipeline_row(pipeline)?;
        self.store.execution(pipeline, id)?.ok_or_else(|| {
            named(
                "PipelineExecutionNotFoundException",
                format!(
                    "Pipeline execution with id '{id}' does not exist in pipeline with name '{pipeline}'"
                ),
            )
        })
    }

    /// The problems `runspec pipeline check` finds, as InvalidStructureException.
    fn check_pipeline(&self, p: &cp::PipelineDeclaration) -> Result<()> {
        let problems = crate::pipeline::check::problems(p);
        if problems.is_empty() {
            return Ok(());
        }
        let described: Vec<String> = problems
            .iter()
            .map(|(path, problem)| {
                format!("{}: {}", crate::pipeline::definition::path_text(path), problem.message)
            })
            .collect();
        Err(named("InvalidStructureException", described.join("; ")))
    }

    pub fn create_pipeline(&self, i: cp::CreatePipelineInput) -> Result<cp::CreatePipelineOutput> {
        let mut declaration = i.pipeline;
        self.check_pipeline(&declaration)?;
        if self.store.pipeline_names()?.len() >= MAX_PIPELINES {
            return Err(named(
                "LimitExceededException",
                format!(
                    "an account has at most {MAX_PIPELINES} pipelines (CodePipeline's quota): delete one first"
                ),
            ));
        }
        declaration.version = Some(1);
        let now = now_s();
        let row = PipelineRow { declaration: declaration.clone(), created: now, updated: now };
        self.store.create_pipeline(&row).map_err(|e| match e {
            crate::serve::store::StoreError::AlreadyExists(m) => named("PipelineNameInUseException", m),
            other => other.into(),
        })?;
        Ok(cp::CreatePipelineOutput { pipeline: Some(declaration), tags: i.tags })
    }

    pub fn get_pipeline(&self, i: &cp::GetPipelineInput) -> Result<cp::GetPipelineOutput> {
        let row = self.pipeline_row(&i.name)?;
        if let Some(v) = i.version
            && Some(v) != row.declaration.version
        {
            return Err(named(
                "PipelineVersionNotFoundException",
                format!("Pipeline '{}' has no version {v} (runspec serve keeps the current one)", i.name),
            ));
        }
        Ok(cp::GetPipelineOutput {
            metadata: Some(cp::PipelineMetadata {
                pipeline_arn: Some(self.pipeline_arn(&i.name)),
                created: Some(row.created),
                updated: Some(row.updated),
                polling_disabled_at: None,
            }),
            pipeline: Some(row.declaration),
        })
    }

    pub fn update_pipeline(&self, i: cp::UpdatePipelineInput) -> Result<cp::UpdatePipelineOutput> {
        let mut declaration = i.pipeline;
        let old = self.pipeline_row(&declaration.name)?;
        self.check_pipeline(&declaration)?;
        declaration.version = Some(old.declaration.version.unwrap_or(1) + 1);
        let row = PipelineRow { declaration: declaration.clone(), created: old.created, updated: now_s() };
        self.store.update_pipeline(&row)?;
        Ok(cp::UpdatePipelineOutput { pipeline: Some(declaration) })
    }

    /// DeletePipeline: its running executions stop, its records go.
    pub fn delete_pipeline(&self, name: &str) -> Result<()> {
        self.pipeline_runs.stop_pipeline(name);
        self.store.delete_pipeline(name)?;
        Ok(())
    }

    pub fn list_pipelines(&self, i: &cp::ListPipelinesInput) -> Result<cp::ListPipelinesOutput> {
        let names = self.store.pipeline_names()?;
        let (names, next_token) = paged(&names, i.next_token.as_deref(), page_size(i.max_results))?;
        let mut pipelines = Vec::new();
        for name in names {
            if let Some(row) = self.store.pipeline(&name)? {
                pipelines.push(cp::PipelineSummary {
                    name: Some(name),
                    version: row.declaration.version,
                    pipeline_type: Some(row.declaration.pipeline_type.clone().unwrap_or_else(|| "V1".into())),
                    execution_mode: Some(
                        row.declaration.execution_mode.clone().unwrap_or_else(|| "SUPERSEDED".into()),
                    ),
                    created: Some(row.created),
                    updated: Some(row.updated),
                });
            }
        }
        Ok(cp::ListPipelinesOutput { pipelines: Some(pipelines), next_token })
    }

    pub fn start_pipeline_execution(
        self: &Arc<Self>,
        i: &cp::StartPipelineExecutionInput,
        caller: &str,
    ) -> Result<cp::StartPipelineExecutionOutput> {
        let row = self.pipeline_row(&i.name)?;
        let id = crate::serve::pipelines::start(self, row, i, caller)?;
        Ok(cp::StartPipelineExecutionOutput { pipeline_execution_id: Some(id) })
    }

    pub fn stop_pipeline_execution(
        &self,
        i: &cp::StopPipelineExecutionInput,
    ) -> Result<cp::StopPipelineExecutionOutput> {
        let row = self.execution_row(&i.pipeline_name, &i.pipeline_execution_id)?;
        let reason = i.reason.clone().unwrap_or_default();
        if row.status != "InProgress" || !self.pipeline_runs.stop(&row.id, &reason) {
            return Err(named(
                "PipelineExecutionNotStoppableException",
                format!(
                    "Pipeline execution {} is {}: only one in progress can be stopped",
                    row.id, row.status
                ),
            ));
        }
        // The execution records Stopping, then Stopped, itself (one writer of its record).
        Ok(cp::StopPipelineExecutionOutput { pipeline_execution_id: Some(row.id) })
    }

    pub fn get_pipeline_execution(
        &self,
        i: &cp::GetPipelineExecutionInput,
    ) -> Result<cp::GetPipelineExecutionOutput> {
        let row = self.execution_row(&i.pipeline_name, &i.pipeline_execution_id)?;
        Ok(cp::GetPipelineExecutionOutput { pipeline_execution: Some(row.execution) })
    }

    pub fn list_pipeline_executions(
        &self,
        i: &cp::ListPipelineExecutionsInput,
    ) -> Result<cp::ListPipelineExecutionsOutput> {
        self.pipeline_row(&i.pipeline_name)?;
        let rows = self.store.executions(&i.pipeline_name)?;
        let (rows, next_token) = paged(&rows, i.next_token.as_deref(), page_size(i.max_results))?;
        let summaries = rows.iter().map(summary).collect();
        Ok(cp::ListPipelineExecutionsOutput { pipeline_execution_summaries: Some(summaries), next_token })
    }

    pub fn list_action_executions(
        &self,
        i: &cp::ListActionExecutionsInput,
    ) -> Result<cp::ListActionExecutionsOutput> {
        let rows = match i.filter.as_ref().and_then(|f| f.pipeline_execution_id.as_deref()) {
            Some(id) => vec![self.execution_row(&i.pipeline_name, id)?],
            None => {
                self.pipeline_row(&i.pipeline_name)?;
                self.store.executions(&i.pipeline_name)?
            }
        };
        // Newest first, as CodePipeline lists them.
        let mut details: Vec<cp::ActionExecutionDetail> = rows.into_iter().flat_map(|r| r.actions).collect();
        details.sort_by(|a, b| b.start_time.unwrap_or(0.0).total_cmp(&a.start_time.unwrap_or(0.0)));
        let (details, next_token) = paged(&details, i.next_token.as_deref(), page_size(i.max_results))?;
        Ok(cp::ListActionExecutionsOutput { action_execution_details: Some(details), next_token })
    }

    /// GetPipelineState: each stage with the newest execution that entered it, each action with
    /// its newest execution (an approval that waits shows its token).
    pub fn get_pipeline_state(&self, name: &str) -> Result<cp::GetPipelineStateOutput> {
        let row = self.pipeline_row(name)?;
        let executions = self.store.executions(name)?;
        let stage_states = row
            .declaration
            .stages
            .iter()
            .map(|stage| {
                let latest = executions.iter().find_map(|e| {
                    e.stages.iter().find(|(s, _)| *s == stage.name).map(|(_, status)| cp::StageExecution {
                        pipeline_execution_id: e.id.clone(),
                        status: status.clone(),
                        kind: Some("STANDARD".into()),
                    })
                });
                let action_states = stage
                    .actions
                    .iter()
                    .map(|action| cp::ActionState {
                        action_name: Some(action.name.clone()),
                        latest_execution: latest_action(&executions, &stage.name, &action.name),
                        ..Default::default()
                    })
                    .collect();
                cp::StageState {
                    stage_name: Some(stage.name.clone()),
                    inbound_transition_state: Some(cp::TransitionState {
                        enabled: Some(true),
                        ..Default::default()
                    }),
                    action_states: Some(action_states),
                    latest_execution: latest,
                    ..Default::default()
                }
            })
            .collect();
        Ok(cp::GetPipelineStateOutput {
            pipeline_name: Some(name.to_string()),
            pipeline_version: row.declaration.version,
            stage_states: Some(stage_states),
            created: Some(row.created),
            updated: Some(row.updated),
        })
    }

    /// PutApprovalResult: the answer to an approval that waits for it, by its token.
    pub fn put_approval_result(&self, i: &cp::PutApprovalResultInput) -> Result<cp::PutApprovalResultOutput> {
        let pipeline = self.pipeline_row(&i.pipeline_name)?;
        let Some(stage) = pipeline.declaration.stages.iter().find(|s| s.name == i.stage_name) else {
            return Err(named(
                "StageNotFoundException",
                format!("The stage {} does not exist", i.stage_name),
            ));
        };
        if !stage.actions.iter().any(|a| a.name == i.action_name) {
            return Err(named(
                "ActionNotFoundException",
                format!("The action {} does not exist", i.action_name),
            ));
        }
        let approved = match i.result.status.as_str() {
            "Approved" => true,
            "Rejected" => false,
            other => {
                return Err(named(
                    "ValidationException",
                    format!("result.status {other}: Approved or Rejected"),
                ));
            }
        };
        for row in self.store.executions(&i.pipeline_name)? {
            let waits = row
                .approvals
                .iter()
                .any(|(s, a, t)| *s == i.stage_name && *a == i.action_name && *t == i.token);
            if waits && self.pipeline_runs.answer(&row.id, &i.token, (approved, i.result.summary.clone())) {
                return Ok(cp::PutApprovalResultOutput { approved_at: Some(now_s()) });
            }
        }
        Err(named(
            "InvalidApprovalTokenException",
            format!(
                "The token {} is not the token of an approval of {}/{} that waits (GetPipelineState shows it)",
                i.token, i.stage_name, i.action_name
            ),
        ))
    }
}

/// An execution as ListPipelineExecutions shows it.
fn summary(row: &ExecutionRow) -> cp::PipelineExecutionSummary {
    let e = &row.execution;
    cp::PipelineExecutionSummary {
        pipeline_execution_id: Some(row.id.clone()),
        status: Some(row.status.clone()),
        status_summary: e.status_summary.clone(),
        start_time: Some(row.started),
        last_update_time: row
            .actions
            .iter()
            .filter_map(|a| a.last_update_time)
            .reduce(f64::max)
            .or(Some(row.started)),
        source_revisions: Some(
            e.artifact_revisions
                .iter()
                .flatten()
                .map(|r| cp::SourceRevision {
                    action_name: r.name.clone().unwrap_or_default(),
                    revision_id: r.revision_id.clone(),
                    revision_summary: r.revision_summary.clone(),
                    revision_url: None,
                })
                .collect(),
        ),
        trigger: e.trigger.clone(),
        stop_trigger: row.stop_reason.clone().map(|reason| cp::StopExecutionTrigger { reason: Some(reason) }),
        execution_mode: e.execution_mode.clone(),
        execution_type: e.execution_type.clone(),
        ..Default::default()
    }
}

/// The newest execution of an action, as GetPipelineState shows it.
fn latest_action(executions: &[ExecutionRow], stage: &str, action: &str) -> Option<cp::ActionExecution> {
    executions.iter().find_map(|e| {
        let d =
            e.actions.iter().rev().find(|d| {
                d.stage_name.as_deref() == Some(stage) && d.action_name.as_deref() == Some(action)
            })?;
        let result = d.output.as_ref().and_then(|o| o.execution_result.as_ref());
        let token = e.approvals.iter().find(|(s, a, _)| s == stage && a == action).map(|(_, _, t)| t.clone());
        Some(cp::ActionExecution {
            action_execution_id: d.action_execution_id.clone(),
            status: d.status.clone(),
            summary: result.and_then(|r| r.external_execution_summary.clone()),
            last_status_change: d.last_update_time,
            token,
            external_execution_id: result.and_then(|r| r.external_execution_id.clone()),
            error_details: result.and_then(|r| r.error_details.clone()),
            ..Default::default()
        })
    })
}
