//! The service: what `runspec serve` does, on typed data and without JSON. The wire
//! ([`super::wire`]) decodes a request into its operation's input type, calls an operation here
//! and encodes what it answers; the web page ([`super::web`]) calls the same operations. Below
//! it: the stores ([`super::store`], [`super::dynamo`]) and how builds reach a machine
//! ([`Dispatch`]: the threads of this process, [`super::runner`]; or a fleet's queue and
//! leases, [`super::fleet`]).
//!
//! - [`projects`]: CreateProject … DeleteProject;
//! - [`builds`]: StartBuild … BatchDeleteBuilds, automatic retries, and how a build is recorded
//!   when it ends outside a machine (stopped or timed out in the queue, lost with its machine);
//! - [`batches`]: StartBuildBatch … DeleteBuildBatch and each batch's coordinator;
//! - [`logs`]: CloudWatch Logs' reads of the build logs;
//! - [`pipelines`]: CodePipeline's CreatePipeline … PutApprovalResult; executions run in
//!   [`super::pipelines`];
//! - [`webhooks`]: CreateWebhook, UpdateWebhook, DeleteWebhook.

pub mod batches;
pub mod builds;
pub mod logs;
pub mod pipelines;
pub mod projects;
pub mod webhooks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use super::store::{BuildRow, Store, StoreError};

/// Why an operation did not do what it was asked; the wire words each as the API does.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceError {
    /// ResourceNotFoundException.
    NotFound(String),
    /// ResourceAlreadyExistsException.
    AlreadyExists(String),
    /// InvalidInputException (CloudWatch Logs: InvalidParameterException).
    Invalid(String),
    /// IdempotentParameterMismatchException: a token seen before with other parameters.
    Mismatch(String),
    /// The store or the machine failed (InternalFailure, ServiceUnavailableException).
    Failed(String),
    /// An error of the API's own name (CodePipeline's `PipelineNotFoundException`, …).
    Named(&'static str, String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(m) => ServiceError::AlreadyExists(m),
            StoreError::NotFound(m) => ServiceError::NotFound(m),
            other => ServiceError::Failed(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

pub fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(message.into())
}

/// How queued builds reach a machine and how a running one is reached. Here: threads of this
/// process ([`super::runner`]); a fleet ([`super::fleet`]) puts SQS and DynamoDB leases behind
/// the same calls.
pub trait Dispatch: Send + Sync {
    /// A build was queued: hand it to a machine.
    fn submitted(&self, id: &str);
    /// Something changed (a build ended): look at the queue.
    fn wake(&self);
    /// Whether the build is running (here, or on any worker of the fleet).
    fn is_running(&self, id: &str) -> bool;
    /// Asks a running build to stop (its commands' process groups are killed, it ends
    /// STOPPED); `false` when it is not running.
    fn stop(&self, id: &str) -> bool;
}

/// What the queue and the running builds share with the API.
pub struct Service {
    pub store: Arc<dyn Store>,
    pub state_dir: PathBuf,
    pub concurrency: usize,
    pub region: String,
    pub account: String,
    /// How builds run here (the operator's choices).
    pub builds: super::BuildOptions,
    /// Many machines: the shared queue and leases (`None`: builds run in this process).
    pub fleet: Option<Arc<super::fleet::Fleet>>,
    /// Which directories of this machine sources may be read from.
    pub policy: crate::source::Policy,
    pub(super) wake: Notify,
    pub(super) running: Mutex<HashMap<String, Running>>,
    batch_stops: batches::Stops,
    /// The pipeline executions running here, and their builds' requests.
    pub pipeline_runs: super::pipelines::Runs,
    /// The address people and forges reach this server at (`--public-url`, else where it
    /// listens), once it listens.
    pub public_url: std::sync::OnceLock<String>,
}

/// A build running in this process.
pub(super) struct Running {
    pub project: String,
    pub stop: watch::Sender<bool>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        state_dir: PathBuf,
        concurrency: usize,
        region: String,
        account: String,
        builds: super::BuildOptions,
    ) -> Service {
        Service {
            store,
            state_dir,
            concurrency,
            region,
            account,
            builds,
            fleet: None,
            policy: crate::source::Policy::default(),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            batch_stops: Default::default(),
            pipeline_runs: Default::default(),
            public_url: std::sync::OnceLock::new(),
        }
    }

    /// The server's public address (empty until it listens).
    pub fn public_url(&self) -> &str {
        self.public_url.get().map_or("", String::as_str)
    }

    pub fn arn(&self, kind: &str, name: &str) -> String {
        format!("arn:aws:codebuild:{}:{}:{kind}/{name}", self.region, self.account)
    }

    /// The stop flags of the batches coordinated here.
    pub fn batch_stops(&self) -> &batches::Stops {
        &self.batch_stops
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    /// The log file of a build's stream, up to date: a fleet's logs are brought in from the
    /// shared store first, so any server reads any build's log while it runs.
    pub fn log_file(&self, stream: &str) -> std::result::Result<PathBuf, StoreError> {
        let path = super::logs::path(&self.logs_dir(), stream);
        if let Some(fleet) = &self.fleet {
            fleet.sync_log(&path, stream)?;
        }
        Ok(path)
    }

    pub(super) fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn running_count(&self) -> usize {
        self.running().len()
    }

    /// Stops every running build and waits for each to record how it ended.
    pub fn stop_all(&self) {
        let threads: Vec<_> = {
            let mut running = self.running();
            running
                .values_mut()
                .filter_map(|r| {
                    let _ = r.stop.send(true);
                    r.thread.take()
                })
                .collect()
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Dispatch for Service {
    fn submitted(&self, id: &str) {
        match &self.fleet {
            Some(fleet) => fleet.submitted(id),
            None => self.wake.notify_one(),
        }
    }

    fn wake(&self) {
        self.wake.notify_one();
    }

    fn is_running(&self, id: &str) -> bool {
        match &self.fleet {
            Some(fleet) => fleet.is_running(id),
            None => self.running().contains_key(id),
        }
    }

    fn stop(&self, id: &str) -> bool {
        if let Some(fleet) = &self.fleet {
            return fleet.stop(id);
        }
        match self.running().get(id) {
            Some(r) => {
                let _ = r.stop.send(true);
                true
            }
            None => false,
        }
    }
}

/// What the web page shows on its first page.
pub struct Overview {
    /// Each project with its newest build, if any.
    pub projects: Vec<(String, Option<BuildRow>)>,
    pub builds: Vec<BuildRow>,
    pub batches: Vec<super::store::BatchRow>,
}

impl Service {
    /// Projects with their newest build, the newest builds and batches.
    pub fn overview(&self, builds: usize, batches: usize) -> Result<Overview> {
        let mut projects = Vec::new();
        for name in self.store.project_names()? {
            let last = match self.store.build_ids(Some(&name), false)?.first() {
                Some(id) => self.store.build(id)?,
                None => None,
            };
            projects.push((name, last));
        }
        let mut recent_batches = Vec::new();
        for id in self.store.batch_ids(None, false)?.iter().take(batches) {
            recent_batches.extend(self.store.batch(id)?);
        }
        Ok(Overview { projects, builds: self.store.recent(builds)?, batches: recent_batches })
    }
}

/// Now, in epoch seconds.
pub use super::store::now_s;

/// A name or an ARN of `kind` (`project`, `build`, `build-batch`): the name.
pub fn name_of<'a>(given: &'a str, kind: &str) -> &'a str {
    given.rsplit_once(&format!(":{kind}/")).map_or(given, |(_, n)| n)
}

/// Pages of `size` with a token that is the offset (as the service gave it, and nothing else).
pub fn page(ids: Vec<String>, token: Option<&str>, size: usize) -> Result<(Vec<String>, Option<String>)> {
    let from = match token {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|f| *f <= ids.len())
            .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
        None => 0,
    };
    let end = (from + size).min(ids.len());
    let next = (end < ids.len()).then(|| end.to_string());
    Ok((ids.get(from..end).unwrap_or_default().to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_names() {
        let ids: Vec<String> = (0..250).map(|i| i.to_string()).collect();
        let (first, next) = page(ids.clone(), None, 100).unwrap();
        assert_eq!((first.len(), next.as_deref()), (100, Some("100")));
        let (last, next) = page(ids.clone(), Some("200"), 100).unwrap();
        assert_eq!((last.len(), next), (50, None));
        assert!(page(ids.clone(), Some("x"), 100).is_err());
        assert!(page(ids, Some("251"), 100).is_err());
        assert_eq!(name_of("arn:aws:codebuild:us-east-1:1:project/app", "project"), "app");
        assert_eq!(name_of("app", "project"), "app");
    }
}
