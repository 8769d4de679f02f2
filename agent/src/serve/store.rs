//! Where `runspec serve` keeps projects and builds: one SQLite file in the state directory
//! (rusqlite, bundled: nothing to install). Behind [`Store`] so a shared store (DynamoDB) can
//! take its place for many machines.
//!
//! A build is kept as the `Build` object the API returns (JSON, epoch-second times) plus the
//! columns the queue and the listings need, and the StartBuild input that made it (to run it,
//! and for RetryBuild).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::request::Started;
use crate::shapes::codebuild as cb;
use crate::shapes::codepipeline as cp;

/// A build as stored.
#[derive(Debug, Clone)]
pub struct BuildRow {
    pub id: String,
    pub project: String,
    pub number: u64,
    /// `buildStatus`.
    pub status: String,
    /// The `Build` object.
    pub build: cb::Build,
    /// What started it (the StartBuild input).
    pub request: Started,
    /// Epoch seconds.
    pub submitted: f64,
}

/// A batch build as stored: the `BuildBatch` object and the StartBuildBatch input.
#[derive(Debug, Clone)]
pub struct BatchRow {
    pub id: String,
    pub arn: String,
    pub project: String,
    pub number: u64,
    pub status: String,
    pub batch: cb::BuildBatch,
    pub request: cb::StartBuildBatchInput,
    pub submitted: f64,
}

/// A pipeline as stored: its declaration (`version` counts its updates) and when it was made
/// and last changed (epoch seconds).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PipelineRow {
    pub declaration: cp::PipelineDeclaration,
    pub created: f64,
    pub updated: f64,
}

/// One pipeline execution as stored: its record as the API shows it, written as it runs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionRow {
    pub pipeline: String,
    pub id: String,
    /// `InProgress`, `Stopping`, `Stopped`, `Succeeded`, `Failed`.
    pub status: String,
    /// Epoch seconds.
    pub started: f64,
    /// `PipelineExecution`.
    pub execution: cp::PipelineExecution,
    /// The stages entered so far, with their status (`StageExecution.status`).
    #[serde(default)]
    pub stages: Vec<(String, String)>,
    /// Each action that started, as `list-action-executions` shows it (in progress, or ended).
    #[serde(default)]
    pub actions: Vec<cp::ActionExecutionDetail>,
    /// The approval tokens of the approvals that wait: (stage, action, token).
    #[serde(default)]
    pub approvals: Vec<(String, String, String)>,
    /// StopPipelineExecution's reason, once it was asked to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

/// A record as a store keeps it (JSON text).
pub fn to_text<T: Serialize>(t: &T) -> String {
    // Plain data: serializing it cannot fail.
    serde_json::to_string(t).unwrap_or_default()
}

/// A record read back.
pub fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the build store failed: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the build store holds a record that is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the shared build store failed: {0}")]
    Remote(String),
}

/// What the service needs from its store.
pub trait Store: Send + Sync {
    /// Adds a project; an existing name is [`StoreError::AlreadyExists`].
    fn create_project(&self, name: &str, project: &cb::Project) -> Result<(), StoreError>;
    /// Replaces a project; a missing name is [`StoreError::NotFound`].
    fn update_project(&self, name: &str, project: &cb::Project) -> Result<(), StoreError>;
    fn project(&self, name: &str) -> Result<Option<cb::Project>, StoreError>;
    /// Names, sorted by name.
    fn project_names(&self) -> Result<Vec<String>, StoreError>;
    /// Whether it existed. Its builds stay.
    fn delete_project(&self, name: &str) -> Result<bool, StoreError>;

    /// Stores a new build: `make` gets the project's next build number and returns the row.
    /// With an idempotency token seen within `token_window_s`, returns that build instead
    /// (`false`: nothing new).
    fn insert_build(
        &self,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> BuildRow,
    ) -> Result<(BuildRow, bool), StoreError>;
    /// Replaces a build's object and status.
    fn update_build(&self, id: &str, status: &str, build: &cb::Build) -> Result<(), StoreError>;
    /// Ends a build no machine has claimed (stopped or timed out in the queue); `false` when
    /// one has claimed it meanwhile (a shared store; here the queue is this process's own).
    fn end_unclaimed(&self, id: &str, status: &str, build: &cb::Build) -> Result<bool, StoreError> {
        self.update_build(id, status, build).map(|()| true)
    }
    fn build(&self, id: &str) -> Result<Option<BuildRow>, StoreError>;
    /// Ids, newest first unless `ascending`; all projects when `project` is `None`.
    fn build_ids(&self, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError>;
    /// Builds whose status is IN_PROGRESS, oldest first (queued and running ones).
    fn unfinished(&self) -> Result<Vec<BuildRow>, StoreError>;
    fn delete_build(&self, id: &str) -> Result<bool, StoreError>;
    /// The newest builds of all projects, for the web page.
    fn recent(&self, limit: usize) -> Result<Vec<BuildRow>, StoreError>;

    /// Stores a new batch, numbered per project like builds (with idempotency tokens).
    fn insert_batch(
        &self,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> BatchRow,
    ) -> Result<(BatchRow, bool), StoreError>;
    fn update_batch(&self, id: &str, status: &str, batch: &cb::BuildBatch) -> Result<(), StoreError>;
    fn batch(&self, id: &str) -> Result<Option<BatchRow>, StoreError>;
    /// Ids, newest first unless `ascending`.
    fn batch_ids(&self, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError>;
    fn unfinished_batches(&self) -> Result<Vec<BatchRow>, StoreError>;
    fn delete_batch(&self, id: &str) -> Result<bool, StoreError>;

    /// Adds a pipeline; an existing name is [`StoreError::AlreadyExists`].
    fn create_pipeline(&self, row: &PipelineRow) -> Result<(), StoreError>;
    /// Replaces a pipeline; a missing name is [`StoreError::NotFound`].
    fn update_pipeline(&self, row: &PipelineRow) -> Result<(), StoreError>;
    fn pipeline(&self, name: &str) -> Result<Option<PipelineRow>, StoreError>;
    /// Names, sorted.
    fn pipeline_names(&self) -> Result<Vec<String>, StoreError>;
    /// Whether it existed; its executions go with it (as CodePipeline's do).
    fn delete_pipeline(&self, name: &str) -> Result<bool, StoreError>;
    /// Writes an execution's record (new or replaced).
    fn put_execution(&self, row: &ExecutionRow) -> Result<(), StoreError>;
    fn execution(&self, pipeline: &str, id: &str) -> Result<Option<ExecutionRow>, StoreError>;
    /// A pipeline's executions, newest first.
    fn executions(&self, pipeline: &str) -> Result<Vec<ExecutionRow>, StoreError>;
}

pub struct SqliteStore {
    db: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    json TEXT NOT NULL,
    request TEXT NOT NULL,
    token TEXT,
    submitted REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS builds_by_project ON builds (project, number);
CREATE INDEX IF NOT EXISTS builds_by_status ON builds (status, seq);
CREATE INDEX IF NOT EXISTS builds_by_token ON builds (project, token);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    json TEXT NOT NULL,
    request TEXT NOT NULL,
    token TEXT,
    submitted REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_project ON batches (project, number);
CREATE TABLE IF NOT EXISTS pipelines (
    name TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    started REAL NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_pipeline ON executions (pipeline, started);
CREATE TABLE IF NOT EXISTS counters (
    project TEXT PRIMARY KEY,
    number INTEGER NOT NULL
);
";

impl SqliteStore {
    /// Opens (or makes) the database; it and its WAL files are the server user's alone (0600).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Made 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
        let made = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path);
        if let Err(e) =
            made.and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        {
            return Err(StoreError::Remote(format!("cannot make {}: {e}", path.display())));
        }
        let db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.execute_batch(SCHEMA)?;
        Ok(SqliteStore { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written row (SQLite rolls back).
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn to_build(t: Raw) -> Result<BuildRow, StoreError> {
    Ok(BuildRow {
        id: t.0,
        project: t.1,
        number: t.2,
        status: t.3,
        build: from_text(&t.4)?,
        request: from_text(&t.5)?,
        submitted: t.6,
    })
}

const BUILD_COLUMNS: &str = "id, project, number, status, json, request, submitted";

/// A row of `builds` or `batches` as stored: id, project, number, status, json, request, submitted.
type Raw = (String, String, u64, String, String, String, f64);

impl SqliteStore {
    /// Inserts into `builds` or `batches`: a token seen within the window gives back that row
    /// (`false`); otherwise `make` gets the next number of `counter` and its row is stored.
    fn insert_row(
        &self,
        table: &str,
        counter: &str,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> Raw,
    ) -> Result<(Raw, bool), StoreError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        if let Some(token) = token {
            let seen = tx
                .query_row(
                    &format!(
                        "SELECT {BUILD_COLUMNS} FROM {table} WHERE project = ?1 AND token = ?2 AND submitted >= ?3 ORDER BY seq DESC LIMIT 1"
                    ),
                    params![project, token, now_s() - token_window_s],
                    row,
                )
                .optional()?;
            if let Some(seen) = seen {
                return Ok((seen, false));
            }
        }
        let number: u64 = tx.query_row(
            "INSERT INTO counters (project, number) VALUES (?1, 1)
             ON CONFLICT (project) DO UPDATE SET number = number + 1 RETURNING number",
            params![counter],
            |r| r.get(0),
        )?;
        let r = make(number);
        tx.execute(
            &format!(
                "INSERT INTO {table} (id, project, number, status, json, request, token, submitted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![r.0, r.1, r.2, r.3, r.4, r.5, token, r.6],
        )?;
        tx.commit()?;
        Ok((r, true))
    }

    /// Ids of `builds` or `batches`, by number within a project, else by submission.
    fn ids(&self, table: &str, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError> {
        let order = if ascending { "ASC" } else { "DESC" };
        let db = self.db();
        let ids = match project {
            Some(p) => {
                let mut q = db.prepare(&format!(
                    "SELECT id FROM {table} WHERE project = ?1 ORDER BY number {order}, seq {order}"
                ))?;
                q.query_map(params![p], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?
            }
            None => {
                let mut q = db.prepare(&format!("SELECT id FROM {table} ORDER BY seq {order}"))?;
                q.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?
            }
        };
        Ok(ids)
    }

    /// Rows of `builds` or `batches` still IN_PROGRESS, oldest first.
    fn in_progress(&self, table: &str) -> Result<Vec<Raw>, StoreError> {
        let db = self.db();
        let mut q = db.prepare(&format!(
            "SELECT {BUILD_COLUMNS} FROM {table} WHERE status = 'IN_PROGRESS' ORDER BY seq"
        ))?;
        let rows = q.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

fn raw_build(b: &BuildRow) -> Raw {
    (
        b.id.clone(),
        b.project.clone(),
        b.number,
        b.status.clone(),
        to_text(&b.build),
        to_text(&b.request),
        b.submitted,
    )
}

fn raw_batch(b: &BatchRow) -> Raw {
    (
        b.id.clone(),
        b.project.clone(),
        b.number,
        b.status.clone(),
        to_text(&b.batch),
        to_text(&b.request),
        b.submitted,
    )
}

fn to_batch(t: Raw) -> Result<BatchRow, StoreError> {
    let batch: cb::BuildBatch = from_text(&t.4)?;
    Ok(BatchRow {
        arn: batch.arn.clone().unwrap_or_default(),
        id: t.0,
        project: t.1,
        number: t.2,
        status: t.3,
        batch,
        request: from_text(&t.5)?,
        submitted: t.6,
    })
}

impl Store for SqliteStore {
    fn create_project(&self, name: &str, project: &cb::Project) -> Result<(), StoreError> {
        let db = self.db();
        let done = db.execute(
            "INSERT INTO projects (name, json) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, to_text(project)],
        )?;
        if done == 0 {
            return Err(StoreError::AlreadyExists(format!("Project already exists: {name}")));
        }
        Ok(())
    }

    fn update_project(&self, name: &str, project: &cb::Project) -> Result<(), StoreError> {
        let done = self
            .db()
            .execute("UPDATE projects SET json = ?2 WHERE name = ?1", params![name, to_text(project)])?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("Project cannot be found: {name}")));
        }
        Ok(())
    }

    fn project(&self, name: &str) -> Result<Option<cb::Project>, StoreError> {
        let text: Option<String> = self
            .db()
            .query_row("SELECT json FROM projects WHERE name = ?1", params![name], |r| r.get(0))
            .optional()?;
        text.map(|t| from_text(&t)).transpose()
    }

    fn project_names(&self) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let mut q = db.prepare("SELECT name FROM projects ORDER BY name")?;
        let names = q.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    fn delete_project(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.db().execute("DELETE FROM projects WHERE name = ?1", params![name])? > 0)
    }

    fn insert_build(
        &self,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> BuildRow,
    ) -> Result<(BuildRow, bool), StoreError> {
        let mut made = None;
        let (raw, new) = self.insert_row("builds", project, project, token, token_window_s, &mut |n| {
            let b = make(n);
            let raw = raw_build(&b);
            made = Some(b);
            raw
        })?;
        match made {
            Some(b) if new => Ok((b, true)),
            _ => Ok((to_build(raw)?, false)),
        }
    }

    fn update_build(&self, id: &str, status: &str, build: &cb::Build) -> Result<(), StoreError> {
        let done = self.db().execute(
            "UPDATE builds SET status = ?2, json = ?3 WHERE id = ?1",
            params![id, status, to_text(build)],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("Build {id} cannot be found")));
        }
        Ok(())
    }

    fn build(&self, id: &str) -> Result<Option<BuildRow>, StoreError> {
        let found = self
            .db()
            .query_row(&format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"), params![id], row)
            .optional()?;
        found.map(to_build).transpose()
    }

    fn build_ids(&self, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError> {
        self.ids("builds", project, ascending)
    }

    fn unfinished(&self) -> Result<Vec<BuildRow>, StoreError> {
        self.in_progress("builds")?.into_iter().map(to_build).collect()
    }

    fn delete_build(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.db().execute("DELETE FROM builds WHERE id = ?1", params![id])? > 0)
    }

    fn recent(&self, limit: usize) -> Result<Vec<BuildRow>, StoreError> {
        let db = self.db();
        let mut q = db.prepare(&format!("SELECT {BUILD_COLUMNS} FROM builds ORDER BY seq DESC LIMIT ?1"))?;
        let rows = q.query_map(params![limit as i64], row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_build).collect()
    }

    fn insert_batch(
        &self,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> BatchRow,
    ) -> Result<(BatchRow, bool), StoreError> {
        let mut made = None;
        let counter = format!("batch:{project}");
        let (raw, new) = self.insert_row("batches", &counter, project, token, token_window_s, &mut |n| {
            let b = make(n);
            let raw = raw_batch(&b);
            made = Some(b);
            raw
        })?;
        match made {
            Some(b) if new => Ok((b, true)),
            _ => Ok((to_batch(raw)?, false)),
        }
    }

    fn update_batch(&self, id: &str, status: &str, batch: &cb::BuildBatch) -> Result<(), StoreError> {
        let done = self.db().execute(
            "UPDATE batches SET status = ?2, json = ?3 WHERE id = ?1",
            params![id, status, to_text(batch)],
        )?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("Build batch {id} cannot be found")));
        }
        Ok(())
    }

    fn batch(&self, id: &str) -> Result<Option<BatchRow>, StoreError> {
        let found = self
            .db()
            .query_row(&format!("SELECT {BUILD_COLUMNS} FROM batches WHERE id = ?1"), params![id], row)
            .optional()?;
        found.map(to_batch).transpose()
    }

    fn batch_ids(&self, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError> {
        self.ids("batches", project, ascending)
    }

    fn unfinished_batches(&self) -> Result<Vec<BatchRow>, StoreError> {
        self.in_progress("batches")?.into_iter().map(to_batch).collect()
    }

    fn delete_batch(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.db().execute("DELETE FROM batches WHERE id = ?1", params![id])? > 0)
    }

    fn create_pipeline(&self, row: &PipelineRow) -> Result<(), StoreError> {
        let name = &row.declaration.name;
        let done = self.db().execute(
            "INSERT INTO pipelines (name, json) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, to_text(row)],
        )?;
        if done == 0 {
            return Err(StoreError::AlreadyExists(format!(
                "A pipeline with the name '{name}' already exists"
            )));
        }
        Ok(())
    }

    fn update_pipeline(&self, row: &PipelineRow) -> Result<(), StoreError> {
        let name = &row.declaration.name;
        let done = self
            .db()
            .execute("UPDATE pipelines SET json = ?2 WHERE name = ?1", params![name, to_text(row)])?;
        if done == 0 {
            return Err(StoreError::NotFound(format!("Account does not have a pipeline with name '{name}'")));
        }
        Ok(())
    }

    fn pipeline(&self, name: &str) -> Result<Option<PipelineRow>, StoreError> {
        let text: Option<String> = self
            .db()
            .query_row("SELECT json FROM pipelines WHERE name = ?1", params![name], |r| r.get(0))
            .optional()?;
        text.map(|t| from_text(&t)).transpose()
    }

    fn pipeline_names(&self) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let mut q = db.prepare("SELECT name FROM pipelines ORDER BY name")?;
        let names = q.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    fn delete_pipeline(&self, name: &str) -> Result<bool, StoreError> {
        let db = self.db();
        db.execute("DELETE FROM executions WHERE pipeline = ?1", params![name])?;
        Ok(db.execute("DELETE FROM pipelines WHERE name = ?1", params![name])? > 0)
    }

    fn put_execution(&self, row: &ExecutionRow) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO executions (id, pipeline, started, json) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json",
            params![row.id, row.pipeline, row.started, to_text(row)],
        )?;
        Ok(())
    }

    fn execution(&self, pipeline: &str, id: &str) -> Result<Option<ExecutionRow>, StoreError> {
        let text: Option<String> = self
            .db()
            .query_row(
                "SELECT json FROM executions WHERE id = ?1 AND pipeline = ?2",
                params![id, pipeline],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| from_text(&t)).transpose()
    }

    fn executions(&self, pipeline: &str) -> Result<Vec<ExecutionRow>, StoreError> {
        let db = self.db();
        let mut q =
            db.prepare("SELECT json FROM executions WHERE pipeline = ?1 ORDER BY started DESC, rowid DESC")?;
        let texts = q.query_map(params![pipeline], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        texts.iter().map(|t| from_text(t)).collect()
    }
}

/// Now, in epoch seconds.
pub fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(project: &str, n: u64) -> BuildRow {
        BuildRow {
            id: format!("{project}:{n}"),
            project: project.into(),
            number: n,
            status: "IN_PROGRESS".into(),
            build: cb::Build { id: Some(format!("{project}:{n}")), ..Default::default() },
            request: Started::new(cb::StartBuildInput { project_name: project.into(), ..Default::default() }),
            submitted: now_s(),
        }
    }

    fn project(name: &str) -> cb::Project {
        cb::Project { name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn projects_builds_numbers_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        s.create_project("p", &project("p")).unwrap();
        assert!(matches!(s.create_project("p", &project("p")), Err(StoreError::AlreadyExists(_))));
        assert!(matches!(s.update_project("q", &project("q")), Err(StoreError::NotFound(_))));
        let (a, new) = s.insert_build("p", None, 300.0, &mut |n| build("p", n)).unwrap();
        assert!(new);
        assert_eq!(a.number, 1);
        let (b, _) = s.insert_build("p", Some("t1"), 300.0, &mut |n| build("p", n)).unwrap();
        assert_eq!(b.number, 2);
        // The same token within the window: the same build, no new number.
        let (again, new) = s.insert_build("p", Some("t1"), 300.0, &mut |n| build("p", n)).unwrap();
        assert!(!new);
        assert_eq!(again.id, b.id);
        let (c, _) = s.insert_build("p", Some("t1"), -1.0, &mut |n| build("p", n)).unwrap();
        assert_eq!(c.number, 3, "outside the window the token is new");
        assert_eq!(s.build_ids(Some("p"), false).unwrap(), ["p:3", "p:2", "p:1"]);
        assert_eq!(s.build_ids(None, true).unwrap(), ["p:1", "p:2", "p:3"]);
        let done = cb::Build {
            id: Some("p:1".into()),
            build_status: Some("SUCCEEDED".into()),
            ..Default::default()
        };
        s.update_build("p:1", "SUCCEEDED", &done).unwrap();
        assert_eq!(s.unfinished().unwrap().len(), 2);
        assert!(s.delete_build("p:2").unwrap());
        assert!(s.build("p:2").unwrap().is_none());
        // Numbers keep counting after a delete, and survive reopening.
        drop(s);
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let (d, _) = s.insert_build("p", None, 300.0, &mut |n| build("p", n)).unwrap();
        assert_eq!(d.number, 4);
        assert_eq!(s.build("p:1").unwrap().unwrap().status, "SUCCEEDED");
    }
}
