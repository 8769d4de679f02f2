//! Many machines: builds are kept in DynamoDB ([`super::dynamo`]) and handed out through SQS
//! ([`super::sqs`]). `runspec serve --store dynamodb://TABLE --queue sqs://QUEUE` answers the
//! API without running builds; `runspec worker` ([`super::worker`]) on any number of machines
//! claims them, holds a lease it renews, and streams their logs into the table.
//!
//! What every process of a fleet shares ([`Fleet`]): handing a queued build to the queue,
//! StopBuild through the lease (the worker reads it in its next heartbeat), a build's log read
//! back from the table by any server, and the reaper, which ends builds whose worker stopped
//! renewing its lease and re-sends queued builds whose message was lost.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::dynamo::DynamoStore;
use super::sqs::Queue;
use super::store::{Store, StoreError, now_s};

/// The shared store and queue of a fleet.
pub struct Fleet {
    pub store: Arc<DynamoStore>,
    pub queue: Queue,
    /// One log brought in from the table at a time (they append to the same files).
    log_sync: Mutex<()>,
    /// When this process last re-sent a queued build's message (the reaper's).
    pub(super) resent: Mutex<HashMap<String, f64>>,
}

/// A queued build no worker claimed for this long gets its message again (one was lost, or
/// every worker is busy; a duplicate is harmless: it fails to claim).
pub const RESEND_AFTER_S: f64 = 30.0;

/// How long a server's hold on a batch it coordinates lasts; it renews it every second. A batch
/// whose server stopped renewing ends FAULT, and its running children are stopped.
pub const BATCH_LEASE_S: f64 = 10.0;

/// `dynamodb://TABLE`: the table's name.
pub fn table_of(url: &str) -> Result<String, String> {
    let name = url.strip_prefix("dynamodb://").ok_or_else(|| {
        format!("--store `{url}`: write dynamodb://TABLE (the table is created when missing)")
    })?;
    if name.is_empty()
        || name.len() > 255
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(format!("--store `{url}`: a DynamoDB table name is 3-255 of A-Z a-z 0-9 _ - ."));
    }
    Ok(name.to_string())
}

/// `sqs://QUEUE`, or the queue's URL: the queue's name.
pub fn queue_of(url: &str) -> Result<String, String> {
    let name = match url.strip_prefix("sqs://") {
        Some(n) => n,
        None if url.starts_with("https://") || url.starts_with("http://") => {
            url.trim_end_matches('/').rsplit('/').next().unwrap_or_default()
        }
        None => {
            return Err(format!(
                "--queue `{url}`: write sqs://QUEUE or the queue's URL (the queue and QUEUE-dlq are created when missing)"
            ));
        }
    };
    if name.is_empty()
        || name.len() > 76
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        return Err(format!("--queue `{url}`: an SQS queue name is 1-76 of A-Z a-z 0-9 _ -"));
    }
    Ok(name.to_string())
}

impl Fleet {
    /// Connects through the standard credential chain (and `AWS_ENDPOINT_URL`), creating the
    /// table and the queues when they are missing.
    pub fn connect(store_url: &str, queue_url: &str, region: &str) -> Result<Fleet, String> {
        let table = table_of(store_url)?;
        let queue = queue_of(queue_url)?;
        let store = DynamoStore::open(&table, region).map_err(|e| format!("{store_url}: {e}"))?;
        let runtime = DynamoStore::runtime().map_err(|e| e.to_string())?;
        let config = super::block_on_own(&runtime, crate::aws::sdk_config(region, None));
        let queue = Queue::ensure(aws_sdk_sqs::Client::new(&config), &queue)
            .map_err(|e| format!("{queue_url}: {e}"))?;
        Ok(Fleet::new(Arc::new(store), queue))
    }

    pub fn new(store: Arc<DynamoStore>, queue: Queue) -> Fleet {
        Fleet { store, queue, log_sync: Mutex::new(()), resent: Mutex::new(HashMap::new()) }
    }

    /// A build was queued: a worker is woken through the queue. When the message cannot be
    /// sent the reaper sends it again later.
    pub fn submitted(&self, id: &str) {
        if let Err(e) = self.queue.send(id) {
            tracing::warn!("cannot queue {id} (it is sent again within {RESEND_AFTER_S} s): {e}");
        }
    }

    /// Whether a build is still going, on any machine.
    pub fn is_running(&self, id: &str) -> bool {
        matches!(self.store.build(id), Ok(Some(row)) if row.status == "IN_PROGRESS")
    }

    /// StopBuild: a claimed build's worker reads the request in its next heartbeat; `false`
    /// when no worker holds the build (it is still queued).
    /// StopBuildBatch for a batch another server coordinates; `false` when it is not running.
    pub fn stop_batch(&self, id: &str) -> bool {
        self.store.request_batch_stop(id).unwrap_or_else(|e| {
            tracing::warn!("cannot ask batch {id} to stop: {e}");
            false
        })
    }

    /// The coordinating server's hold on a running batch, renewed for [`BATCH_LEASE_S`]:
    /// `Some(true)` when StopBuildBatch reached it through any server, `None` when the batch
    /// no longer runs (a reaper ended it). A store that cannot be reached changes nothing.
    pub fn hold_batch(&self, id: &str) -> Option<bool> {
        let owner = format!("server-{}", std::process::id());
        match self.store.batch_heartbeat(id, &owner, now_s() + BATCH_LEASE_S) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!("cannot renew the hold on batch {id}: {e}");
                Some(false)
            }
        }
    }

    pub fn stop(&self, id: &str) -> bool {
        match self.store.lease(id) {
            Ok(Some(_)) => match self.store.request_stop(id) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("cannot ask {id} to stop: {e}");
                    false
                }
            },
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("cannot read the lease of {id}: {e}");
                false
            }
        }
    }

    /// Brings this machine's copy of a build's log (`path`) up to date from the table. The
    /// copy is the chunks in order, so byte offsets (the log tokens) mean the same on every
    /// server.
    pub fn sync_log(&self, path: &Path, uuid: &str) -> Result<(), StoreError> {
        let _one = self.log_sync.lock().unwrap_or_else(|p| p.into_inner());
        let seq_file = path.with_extension("seq");
        let after = std::fs::read_to_string(&seq_file).ok().and_then(|t| t.trim().parse().ok());
        let chunks = self.store.log_chunks(uuid, after)?;
        let Some(last) = chunks.last().map(|(seq, _)| *seq) else {
            return Ok(());
        };
        let io =
            |e: std::io::Error| StoreError::Remote(format!("cannot keep the log {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        for (_, data) in &chunks {
            file.write_all(data).map_err(io)?;
        }
        std::fs::write(&seq_file, last.to_string()).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_queue_addresses() {
        assert_eq!(table_of("dynamodb://runspec-builds").unwrap(), "runspec-builds");
        assert!(table_of("runspec-builds").unwrap_err().contains("dynamodb://TABLE"));
        assert!(table_of("dynamodb://a b").is_err());
        assert_eq!(queue_of("sqs://builds").unwrap(), "builds");
        assert_eq!(queue_of("https://sqs.us-east-1.amazonaws.com/123456789012/builds").unwrap(), "builds");
        assert!(queue_of("builds").unwrap_err().contains("sqs://QUEUE"));
        assert!(queue_of("sqs://").is_err());
    }
}
