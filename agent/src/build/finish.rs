//! After the engine: what the result may show (no secret, R-ENV-09) and the identity the
//! result JSON needs.

use std::time::SystemTime;

use super::executor::Provisioning;
use super::{BuildRequest, Notices, cb_source};
use crate::engine::events::{BuildEvent, EventSink};
use crate::engine::{BuildPhase, BuildReport};
use crate::env::{self, BuildFacts};
use crate::log::mask::Masker;
use crate::result::{self, BuildIdentity};

/// R-ENV-09: secret-backed variables are never exported, and no secret value reaches the result
/// (exported values and phase context messages are masked like the log).
pub(super) fn protect_secrets(
    report: &mut crate::engine::BuildReport,
    masker: &Masker,
    requests: &[env::secrets::SecretRequest],
    notices: &dyn Notices,
) {
    report.exported.retain(|(name, _)| {
        let secret = requests.iter().any(|r| &r.var == name);
        if secret {
            notices.warning(&format!(
                "`{name}` comes from Parameter Store or Secrets Manager and is not exported"
            ));
        }
        !secret
    });
    for (_, value) in &mut report.exported {
        *value = masker.mask_str(value).into_owned();
    }
    for phase in &mut report.phases {
        for (_, message) in &mut phase.contexts {
            *message = masker.mask_agent(message).into_owned();
        }
    }
}

/// The build's identity for its result: ids, sources, image, the variables as the project and
/// the overrides named them (types kept, values never resolved).
pub(super) fn identity(req: &BuildRequest, facts: &BuildFacts<'_>) -> BuildIdentity {
    BuildIdentity {
        // The directories the build was given (a service puts its project's sources back).
        source: Some(cb_source(&req.primary, req.project.buildspec.as_deref())),
        secondary_sources: req
            .secondary
            .iter()
            .map(|src| result::local_source(&src.dir, src.id.as_deref()))
            .collect(),
        id: facts.build_id(),
        arn: facts.build_arn(),
        project: req.project_name.clone(),
        build_number: facts.build_number,
        initiator: facts.initiator.to_string(),
        source_version: facts.resolved_source_version.map(str::to_string),
        image: req.image.clone().unwrap_or_else(|| super::HOST_IMAGE.to_string()),
        privileged: req.privileged,
        timeout_minutes: req.timeout.map(|t| t.as_secs_f64() / 60.0),
        environment_variables: req
            .project
            .variables
            .iter()
            .map(|v| result::Variable {
                name: v.name.clone(),
                value: v.value.clone(),
                kind: v.kind.as_str().to_string(),
            })
            .chain(req.overrides.iter().map(|(name, value)| result::Variable {
                name: name.clone(),
                value: value.clone(),
                kind: "PLAINTEXT".to_string(),
            }))
            .collect(),
        submitted: None,
        dispatched: None,
    }
}

/// The report of a build whose machine did not come up: PROVISIONING ended with `failed`'s
/// status and context, after the log says why (the end of the daemon's log).
pub(super) fn provisioning_failed(
    sink: &mut dyn EventSink,
    runner: &str,
    start: SystemTime,
    failed: Provisioning,
) -> BuildReport {
    sink.event(BuildEvent::Note(runner));
    if let Some((heading, lines)) = &failed.log {
        sink.event(BuildEvent::Note(heading));
        for line in lines {
            sink.output(format!("{line}\n").as_bytes());
        }
    }
    let end = SystemTime::now();
    sink.event(BuildEvent::PhaseCompleted {
        phase: BuildPhase::Provisioning,
        status: failed.status,
        code: &failed.code,
        message: &failed.message,
        start,
        end,
    });
    sink.event(BuildEvent::BuildCompleted { status: failed.status });
    BuildReport::ended_in(
        BuildPhase::Provisioning,
        failed.status,
        (start, end),
        (failed.code, failed.message),
    )
}
