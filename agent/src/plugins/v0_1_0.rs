//! Host side of `wit/v0.1.0` (`runspec:plugin@0.1.0`): the generated bindings, the host
//! functions, and conversions between the generated types and the version-neutral ones in
//! [`super`]. This module is frozen with its WIT: a new WIT version gets a new module.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::sandbox::StepState;
use super::{ArgValue, LogLevel, PluginEvent, StepFailure, StepSuccess};

wasmtime::component::bindgen!({
    world: "step",
    path: "../wit/v0.1.0",
    // Async: a host call that waits (the log queue is full) is a point where a stop or a
    // deadline can end the step. Trappable: a call the host refuses ends the step.
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::runspec::plugin::host;
use self::runspec::plugin::types;

pub use self::Step as Bindings;

/// The longest `host.log` line kept; the rest is cut with a note.
const MAX_LOG_LINE: usize = 16 << 10;

pub(super) fn add_to_linker(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    Step::add_to_linker::<StepState, HasSelf<StepState>>(linker, |s| s)
}

impl types::Host for StepState {}

impl host::Host for StepState {
    async fn log(&mut self, level: host::LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            host::LogLevel::Trace => LogLevel::Trace,
            host::LogLevel::Debug => LogLevel::Debug,
            host::LogLevel::Info => LogLevel::Info,
            host::LogLevel::Warn => LogLevel::Warn,
            host::LogLevel::Error => LogLevel::Error,
        };
        // One line of the log, whatever the plugin put in it.
        let message = crate::log::escape::one_line(&message, MAX_LOG_LINE);
        let _ = self.events.send(PluginEvent::Log(level, message)).await;
        Ok(())
    }

    async fn mask_secret(&mut self, value: String) -> wasmtime::Result<()> {
        if value.is_empty() {
            return Ok(());
        }
        self.secrets.admit(&value).map_err(|why| wasmtime::Error::new(super::step::Refused(why)))?;
        let _ = self.events.send(PluginEvent::Mask(value)).await;
        Ok(())
    }

    async fn get_build_metadata(&mut self) -> wasmtime::Result<host::BuildMetadata> {
        let m = &self.metadata;
        Ok(host::BuildMetadata {
            build_id: m.build_id.clone(),
            build_number: m.build_number,
            project_name: m.project_name.clone(),
            source_version: m.source_version.clone(),
            initiator: m.initiator.clone(),
            region: m.region.clone(),
        })
    }
}

fn arg(v: &ArgValue) -> types::ArgValue {
    match v {
        ArgValue::Str(s) => types::ArgValue::Str(s.clone()),
        ArgValue::Int(i) => types::ArgValue::Int(*i),
        ArgValue::Float(f) => types::ArgValue::Float(*f),
        ArgValue::Boolean(b) => types::ArgValue::Boolean(*b),
        ArgValue::Strings(l) => types::ArgValue::Strings(l.clone()),
        ArgValue::Json(j) => types::ArgValue::Json(j.clone()),
    }
}

/// Instantiates the plugin in `store` and calls `run` once.
pub(super) async fn call(
    pre: &StepPre<StepState>,
    store: &mut Store<StepState>,
    req: &super::StepRequest,
) -> wasmtime::Result<Result<StepSuccess, StepFailure>> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let ctx = types::StepContext {
        step_name: req.step_name.clone(),
        args: req.args.iter().map(|(k, v)| (k.clone(), arg(v))).collect(),
        env: req.env.clone(),
        working_dir: super::GUEST_SRC_DIR.to_string(),
    };
    Ok(match instance.call_run(&mut *store, &ctx).await? {
        Ok(out) => {
            Ok(StepSuccess { message: out.message, exported_env: out.exported_env, artifacts: out.artifacts })
        }
        Err(types::StepError::Failed(m)) => Err(StepFailure::Failed(m)),
        Err(types::StepError::InvalidArgs(m)) => Err(StepFailure::InvalidArgs(m)),
        Err(types::StepError::Internal(m)) => Err(StepFailure::Internal(m)),
    })
}
