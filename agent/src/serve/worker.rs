//! `runspec worker`: one machine of a fleet. It long-polls the SQS queue, claims a build
//! through the DynamoDB store (a duplicate message fails to claim and is deleted), deletes
//! the message, and runs the build exactly as `runspec serve` and `runspec run` do. While the
//! build runs it renews its lease every third of the lease, ships the log into the table for
//! every server to read, and stops the build when a heartbeat says StopBuild was asked for or
//! that the lease was lost (then it writes nothing more). It also runs the reaper.
//!
//! A message no worker can use (not a build's, or a build the store does not have) is left on
//! the queue, comes back after a second, and goes to the dead-letter queue after
//! [`super::sqs::MAX_RECEIVES`] receives.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::dynamo::{Claim, DynamoStore, Fence};
use super::fleet::Fleet;
use super::runner::{self, Recorder};
use super::service::Service;
use super::service::builds::provisioning;
use super::sqs::Message;
use super::store::{BuildRow, Store, StoreError, now_s};
use super::{logs, request};
use crate::engine::Status;
use crate::shapes::codebuild as cb;

/// What `runspec worker` was told.
#[derive(Debug, Clone)]
pub struct Options {
    pub store: String,
    pub queue: String,
    /// Build sources and logs while they run.
    pub state_dir: PathBuf,
    /// Builds run at once on this machine.
    pub concurrency: usize,
    /// Seconds a claim holds without a heartbeat (heartbeats come every third of it).
    pub lease_s: f64,
    /// Longest SQS long poll, in seconds (0-20).
    pub wait_s: i32,
    pub region: String,
    pub account: String,
    /// How builds run here.
    pub builds: super::BuildOptions,
}

/// How soon a build that had to wait for a free slot (its project's or the fleet's limit) is
/// offered again, and a message no worker can use is received again.
const THROTTLED_RETRY_S: i32 = 2;
const POISON_RETRY_S: i32 = 1;
/// How often a running build's new log lines are shipped.
const LOG_TICK: Duration = Duration::from_millis(250);
/// The largest log chunk (DynamoDB items are at most 400 KB).
const LOG_CHUNK: usize = 256 * 1024;

/// How much sooner than the store's lease this worker's own clock ends it: the reaper reads
/// `leaseUntil` on another machine's clock, so the holder stops a fifth of the lease early.
fn local_deadline(sent: Instant, lease_s: f64) -> Instant {
    sent + Duration::from_secs_f64(lease_s * 0.8)
}

/// This worker's name in leases: host, process and a random part.
fn owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &tag[..8])
}

/// Runs until SIGTERM or Ctrl-C, then stops taking builds and waits for the running ones.
pub fn run(options: Options, ready: impl FnOnce(&str)) -> Result<(), String> {
    super::private_dir(&options.state_dir)?;
    if let Some(user) = &options.builds.build_user {
        super::check_build_user(user)?;
    }
    let fleet = Arc::new(Fleet::connect(&options.store, &options.queue, &options.region)?);
    let owner = owner_name();
    let mut service = Service::new(
        Arc::clone(&fleet.store) as Arc<dyn Store>,
        options.state_dir.clone(),
        options.concurrency.max(1),
        options.region.clone(),
        options.account.clone(),
        options.builds.clone(),
    );
    service.policy = crate::source::Policy::service(&options.builds.local_sources, &options.state_dir)?;
    service.fleet = Some(Arc::clone(&fleet));
    crate::exec::docker::owned::sweep_at_start("runspec worker");
    let service = Arc::new(service);
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let stopping = Arc::clone(&stopping);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(crate::exec::stop_requested());
                    stopping.store(true, Ordering::SeqCst);
                    eprintln!("runspec worker: stopping: no new builds; waiting for the running ones");
                }
            })
            .map_err(|e| e.to_string())?;
    }
    spawn_reaper(&service, &fleet, options.lease_s, &stopping)?;
    ready(&owner);
    let active = Arc::new(AtomicUsize::new(0));
    let worker = Worker { service, fleet, owner, lease_s: options.lease_s, active: Arc::clone(&active) };
    while !stopping.load(Ordering::SeqCst) {
        if active.load(Ordering::SeqCst) >= options.concurrency.max(1) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        // Hidden long enough to be claimed; the claim, not the message, holds the build.
        let hide = (options.lease_s.ceil() as i32).max(30);
        match worker.fleet.queue.receive(&worker.fleet.queue.url, options.wait_s.clamp(0, 20), hide) {
            Ok(messages) => {
                for m in messages {
                    worker.take(m);
                }
            }
            Err(e) => {
                tracing::warn!("the queue: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    while active.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Starts the reaper on a thread of its own, until `stopping` is set (workers and servers).
pub fn spawn_reaper(
    service: &Arc<Service>,
    fleet: &Arc<Fleet>,
    lease_s: f64,
    stopping: &Arc<AtomicBool>,
) -> Result<(), String> {
    let (service, fleet, stopping) = (Arc::clone(service), Arc::clone(fleet), Arc::clone(stopping));
    std::thread::Builder::new()
        .name("reaper".into())
        .spawn(move || reap_until(&service, &fleet, lease_s, &stopping))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The reaper's loop: a pass every third of the lease.
fn reap_until(service: &Arc<Service>, fleet: &Fleet, lease_s: f64, stopping: &AtomicBool) {
    let period = Duration::from_secs_f64((lease_s / 3.0).max(0.2));
    while !stopping.load(Ordering::SeqCst) {
        if let Err(e) = super::reaper::reap(service, fleet) {
            tracing::warn!("the reaper: {e}");
        }
        std::thread::sleep(period);
    }
}

struct Worker {
    service: Arc<Service>,
    fleet: Arc<Fleet>,
    owner: String,
    lease_s: f64,
    active: Arc<AtomicUsize>,
}

impl Worker {
    /// One message: claim its build and start it, or say why not.
    fn take(&self, m: Message) {
        let queue = &self.fleet.queue;
        let poison = |why: &str| {
            eprintln!("runspec worker: a message no worker can use ({why}): {:.200}", m.body);
            if let Err(e) = queue.retry_later(&m.receipt, POISON_RETRY_S) {
                tracing::warn!("the queue: {e}");
            }
        };
        let Some(id) = m.build.clone() else {
            return poison("it names no build");
        };
        let row = match self.fleet.store.build(&id) {
            Ok(Some(row)) => row,
            Ok(None) => return poison("the store has no such build"),
            Err(e) => {
                // Comes back once its visibility runs out.
                tracing::warn!("cannot read {id}: {e}");
                return;
            }
        };
        match self.claim(row) {
            Ok(Taken::Started) | Ok(Taken::Done) => {
                if let Err(e) = queue.delete(&m.receipt) {
                    tracing::warn!("cannot delete the message of {id}: {e}");
                }
            }
            Ok(Taken::Later) => {
                if let Err(e) = queue.retry_later(&m.receipt, THROTTLED_RETRY_S) {
                    tracing::warn!("the queue: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot take {id}: {e}"),
        }
    }

    fn claim(&self, row: BuildRow) -> Result<Taken, StoreError> {
        if row.status != "IN_PROGRESS" || row.build.current_phase.as_deref() != Some("QUEUED") {
            return Ok(Taken::Done);
        }
        let store = &self.fleet.store;
        let project = store.project(&row.project)?.unwrap_or_default();
        let effective = request::effective_project(&project, &row.request.input);
        let queued_limit = effective.queued_timeout_in_minutes.unwrap_or(480) as f64;
        if now_s() - row.submitted > super::queue_seconds(queued_limit) {
            self.service
                .end_queued(&row, Status::TimedOut, "BUILD_TIMED_OUT", "Build has timed out while queued")
                .map_err(|e| StoreError::Remote(format!("{e:?}")))?;
            return Ok(Taken::Done);
        }
        let limits =
            [effective.concurrent_build_limit.filter(|l| *l > 0).map(|l| l as u64), store.fleet_limit()?];
        // The lease runs from before the claim was asked for, on this machine's clock.
        let sent = Instant::now();
        let attempt = match store.claim(&row.id, &self.owner, self.lease_s, limits)? {
            Claim::Won(attempt) => attempt,
            Claim::Taken => return Ok(Taken::Done),
            Claim::Throttled => return Ok(Taken::Later),
        };
        eprintln!("runspec worker: {} claimed (attempt {attempt})", row.id);
        self.active.fetch_add(1, Ordering::SeqCst);
        let (service, fleet, owner, lease_s, active) = (
            Arc::clone(&self.service),
            Arc::clone(&self.fleet),
            self.owner.clone(),
            self.lease_s,
            Arc::clone(&self.active),
        );
        let id = row.id.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("build {id}"))
            .stack_size(super::BUILD_STACK)
            .spawn(move || {
                let clock = crate::exec::LeaseClock::new(local_deadline(sent, lease_s));
                run_claimed(&service, &fleet, row, effective, Held { owner, attempt, lease_s, clock });
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            // The lease runs out and the reaper ends the build.
            self.active.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("cannot start a thread for {id}: {e}");
        }
        Ok(Taken::Started)
    }
}

enum Taken {
    Started,
    /// Nothing to run (ended, or claimed by another worker): the message is done with.
    Done,
    /// Its project or the fleet is at its limit.
    Later,
}

/// A claim this worker holds.
struct Held {
    owner: String,
    attempt: u64,
    lease_s: f64,
    /// When it ends on this machine's clock; past it nothing is written or run.
    clock: Arc<crate::exec::LeaseClock>,
}

/// Writes under the lease; a refused write means another worker or the reaper has the build:
/// it is stopped and nothing more is written.
struct Fenced<'a> {
    /// The build's id.
    id: &'a str,
    store: &'a DynamoStore,
    held: &'a Held,
    lost: AtomicBool,
    stop: watch::Sender<bool>,
}

impl Fenced<'_> {
    fn lose(&self, id: &str) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            eprintln!(
                "runspec worker: {id}: the lease was lost (the reaper or another worker took the build); stopping it, writing nothing more"
            );
            let _ = self.stop.send(true);
        }
    }

    /// Whether the lease is gone: a write was refused, or this machine's clock says it ran
    /// out (a worker paused past it must not act before any write tells it so).
    fn lost(&self) -> bool {
        if self.held.clock.expired() && !self.lost.load(Ordering::SeqCst) {
            self.lose_expired();
        }
        self.lost.load(Ordering::SeqCst)
    }

    fn lose_expired(&self) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            eprintln!(
                "runspec worker: {}: the lease was lost: it ran out on this machine's clock (no heartbeat got through in time); stopping the build, writing nothing more",
                self.id
            );
            let _ = self.stop.send(true);
        }
    }

    /// A fenced write; `Ok(false)` once the lease is gone.
    fn check(&self, id: &str, written: Result<Result<(), Fence>, StoreError>) -> bool {
        match written {
            Ok(Ok(())) => true,
            Ok(Err(Fence::Lost)) => {
                self.lose(id);
                false
            }
            Err(e) => {
                tracing::warn!("{id}: {e}");
                false
            }
        }
    }
}

impl Recorder for Fenced<'_> {
    fn lease(&self) -> Option<Arc<crate::exec::LeaseClock>> {
        Some(Arc::clone(&self.held.clock))
    }

    fn record(&self, id: &str, status: &str, build: &cb::Build) {
        if self.lost() {
            return;
        }
        let written = self.store.update_build_as(id, &self.held.owner, self.held.attempt, status, build);
        self.check(id, written);
    }
}

fn run_claimed(service: &Arc<Service>, fleet: &Fleet, row: BuildRow, effective: cb::Project, held: Held) {
    let (identity, build) = provisioning(&row);
    let (stop_tx, stop_rx) = watch::channel(false);
    let fenced =
        Fenced { id: &row.id, store: &fleet.store, held: &held, lost: AtomicBool::new(false), stop: stop_tx };
    fenced.record(&row.id, "IN_PROGRESS", &build);
    let uuid = crate::result::uuid_of(&row.id).to_string();
    let log_path = logs::path(&service.logs_dir(), &uuid);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let final_build = std::thread::scope(|scope| {
        let keeper = scope.spawn(|| keep_lease(&fenced, &row.id, &log_path, done_rx));
        let ended = runner::execute(service, &row, &effective, identity, build, stop_rx, &fenced);
        drop(done_tx);
        let _ = keeper.join();
        ended
    });
    let status = final_build.build_status.clone().unwrap_or_else(|| "FAULT".into());
    fenced.record(&row.id, &status, &final_build);
    if fenced.lost() {
        eprintln!("runspec worker: {}: ended {status} here; not recorded (the lease was lost)", row.id);
    } else {
        eprintln!("runspec worker: {}: {status}", row.id);
        service.auto_retry(&row, &final_build);
    }
    let _ = std::fs::remove_file(&log_path);
}

/// While the build runs: heartbeats every third of the lease (they bring StopBuild), and the
/// log's new bytes shipped every [`LOG_TICK`]; once `done` closes, the rest of the log.
fn keep_lease(fenced: &Fenced<'_>, id: &str, log: &Path, done: mpsc::Receiver<()>) {
    let held = fenced.held;
    let every = Duration::from_secs_f64((held.lease_s / 3.0).max(0.1));
    let mut next_beat = Instant::now() + every;
    let mut shipped = 0u64;
    let mut seq = 0u64;
    loop {
        let finished = matches!(done.recv_timeout(LOG_TICK), Err(mpsc::RecvTimeoutError::Disconnected));
        if fenced.lost() {
            return;
        }
        ship(fenced, id, log, &mut shipped, &mut seq, finished);
        if finished {
            return;
        }
        if Instant::now() >= next_beat {
            next_beat = Instant::now() + every;
            let sent = Instant::now();
            match fenced.store.heartbeat(id, &held.owner, held.attempt, held.lease_s) {
                // Renewed in the store, but too late for this machine's clock: lost all the same.
                Ok(Ok(_)) if !held.clock.renew(local_deadline(sent, held.lease_s)) => fenced.lose_expired(),
                Ok(Ok(beat)) if beat.stop_requested => {
                    let _ = fenced.stop.send(true);
                }
                Ok(Ok(_)) => {}
                Ok(Err(Fence::Lost)) => fenced.lose(id),
                // A blip: the lease outlasts a few missed beats.
                Err(e) => tracing::warn!("{id}: heartbeat: {e}"),
            }
        }
    }
}

/// Ships the log's bytes after `shipped`: complete lines only, unless `all`.
fn ship(fenced: &Fenced<'_>, id: &str, log: &Path, shipped: &mut u64, seq: &mut u64, all: bool) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(log) else { return };
    if file.seek(SeekFrom::Start(*shipped)).is_err() {
        return;
    }
    let mut buf = vec![0u8; LOG_CHUNK];
    loop {
        if fenced.lost() {
            return;
        }
        let mut got = 0;
        while got < buf.len() {
            match file.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => return,
            }
        }
        let take = if got == buf.len() || all {
            got
        } else {
            // A line still being written waits for the next tick.
            buf[..got].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)
        };
        if take == 0 {
            return;
        }
        let written =
            fenced.store.append_log_as(id, &fenced.held.owner, fenced.held.attempt, *seq, &buf[..take]);
        if !fenced.check(id, written) {
            return;
        }
        *seq += 1;
        *shipped += take as u64;
        if take < got || got < buf.len() {
            return;
        }
        if file.seek(SeekFrom::Start(*shipped)).is_err() {
            return;
        }
    }
}
