//! The job store (`.bulkops/state.db`): runs, bulk jobs, the journal of row
//! outcomes that makes interrupted runs resumable, and the files jobs wrote.
//! Only this module writes SQL for it.
//!
//! Membership jobs journal rows in chunks. Before a chunk touches the
//! directory, its planned outcomes are committed (who will be added, who is a
//! member already, who was not found); after the directory has the change,
//! the chunk is marked applied. A run resumed after a crash re-applies planned
//! chunks, which is harmless because adding a member twice or removing one
//! twice changes nothing, and reports the planned outcomes, so the results are
//! those of a run that was never interrupted.

mod schema;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::directory::outcome::RowOutcome;

/// Where the job store lives unless told otherwise.
pub const DEFAULT_PATH: &str = ".bulkops/state.db";

/// What can go wrong with the job store.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    #[error("the job store failed")]
    #[diagnostic(
        code(bulkops::store::sqlite),
        help("check that `.bulkops/` is writable and the disk is not full")
    )]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot use `{}`", path.display())]
    #[diagnostic(
        code(bulkops::store::io),
        help("check that the folder exists and is writable")
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` was written by a newer bulkops (schema {found}, this one knows {supported})", path.display())]
    #[diagnostic(code(bulkops::store::newer), help("upgrade bulkops"))]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("no run has the id `{id}`")]
    #[diagnostic(
        code(bulkops::store::unknown_run),
        help("`bulkops jobs list` shows the runs and their ids")
    )]
    UnknownRun { id: String },
    #[error("no job has the id `{id}`")]
    #[diagnostic(
        code(bulkops::store::unknown_job),
        help("`bulkops jobs list` shows the jobs and their ids")
    )]
    UnknownJob { id: String },
}

/// The status of a run or a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    /// The word stored and shown.
    pub fn key(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn from_key(key: &str) -> Self {
        match key {
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Running,
        }
    }
}

/// The reason a job failed because some rows did, as the admin center words it.
pub const NOT_ALL_ROWS: &str = "NotAllRowsSuccessfullyProcessed";

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub id: String,
    pub workflow: String,
    pub manifest_path: String,
    #[serde(skip)]
    pub manifest_text: String,
    pub directory: String,
    pub output_root: String,
    pub trigger_file: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A new run's identity and inputs.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub workflow: &'a str,
    pub manifest_path: &'a str,
    pub manifest_text: &'a str,
    pub directory: &'a str,
    pub output_root: &'a str,
    pub trigger_file: Option<&'a str>,
    pub started_at: Timestamp,
}

/// A bulk job: one step's work on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub run_id: String,
    pub workflow: String,
    pub step: String,
    pub operation: String,
    pub target_id: String,
    pub target_name: Option<String>,
    pub input_file: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub changed: u64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl JobRecord {
    /// The job's name as `deleteJobs` matches it: `WORKFLOW/STEP`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.workflow, self.step)
    }
}

/// A new job's identity.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub run_id: &'a str,
    pub workflow: &'a str,
    pub step: &'a str,
    pub operation: &'a str,
    pub target_id: &'a str,
    pub target_name: Option<&'a str>,
    pub input_file: Option<&'a str>,
    pub started_at: Timestamp,
}

/// A job's final counts and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobCounts {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub changed: u64,
}

/// A file a job wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFile {
    pub kind: String,
    pub path: String,
    pub rows: u64,
}

/// A journaled chunk of row outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub index: u64,
    pub first_row: u64,
    pub outcomes: Vec<RowOutcome>,
    pub applied: bool,
}

/// The open job store.
pub struct JobStore {
    connection: Connection,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    value.unsigned_abs()
}

fn time(text: Option<String>) -> Option<Timestamp> {
    text.and_then(|text| text.parse().ok())
}

impl JobStore {
    /// Opens (and creates or upgrades) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut connection = Connection::open(path)?;
        // Several bulkops processes may share a store (a watcher and a person);
        // wait for a lock rather than fail at once.
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut connection, path)?;
        Ok(Self { connection })
    }

    /// Records the start of a run.
    pub fn start_run(&self, run: &NewRun<'_>) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO runs (id, workflow, manifest_path, manifest_text, directory, output_root, trigger_file, status, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)",
            params![
                run.id,
                run.workflow,
                run.manifest_path,
                run.manifest_text,
                run.directory,
                run.output_root,
                run.trigger_file,
                run.started_at.to_string()
            ],
        )?;
        Ok(())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        id: &str,
        status: Status,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE runs SET status = ?2, reason = ?3, finished_at = ?4 WHERE id = ?1",
            params![id, status.key(), reason, at.to_string()],
        )?;
        Ok(())
    }

    /// Marks a run as running again, for `--resume`.
    pub fn reopen_run(&self, id: &str) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// The run with this id.
    pub fn run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, workflow, manifest_path, manifest_text, directory, output_root, trigger_file, status, reason, started_at, finished_at \
             FROM runs WHERE id = ?1",
        )?;
        let run = statement
            .query_row([id], |row| {
                Ok(RunRecord {
                    id: row.get(0)?,
                    workflow: row.get(1)?,
                    manifest_path: row.get(2)?,
                    manifest_text: row.get(3)?,
                    directory: row.get(4)?,
                    output_root: row.get(5)?,
                    trigger_file: row.get(6)?,
                    status: Status::from_key(&row.get::<_, String>(7)?),
                    reason: row.get(8)?,
                    started_at: time(row.get(9)?).unwrap_or(Timestamp::UNIX_EPOCH),
                    finished_at: time(row.get(10)?),
                })
            })
            .optional()?;
        run.ok_or_else(|| StoreError::UnknownRun { id: id.to_owned() })
    }

    /// Creates a job, or returns the existing one of the same run, step and
    /// target (a resumed run continues its jobs).
    pub fn start_job(&self, job: &NewJob<'_>) -> Result<JobRecord, StoreError> {
        let id = format!("{}-{}-{}", job.run_id, job.step, short_hash(job.target_id));
        self.connection.execute(
            "INSERT INTO jobs (id, run_id, workflow, step, operation, target_id, target_name, input_file, status, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9) \
             ON CONFLICT (run_id, step, target_id) DO UPDATE SET status = 'running', reason = NULL, finished_at = NULL",
            params![
                id,
                job.run_id,
                job.workflow,
                job.step,
                job.operation,
                job.target_id,
                job.target_name,
                job.input_file,
                job.started_at.to_string()
            ],
        )?;
        self.job(&id)
    }

    /// Records how a job ended and its counts.
    pub fn finish_job(
        &self,
        id: &str,
        status: Status,
        reason: Option<&str>,
        counts: JobCounts,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE jobs SET status = ?2, reason = ?3, total = ?4, succeeded = ?5, failed = ?6, changed = ?7, finished_at = ?8 \
             WHERE id = ?1",
            params![
                id,
                status.key(),
                reason,
                to_i64(counts.total),
                to_i64(counts.succeeded),
                to_i64(counts.failed),
                to_i64(counts.changed),
                at.to_string()
            ],
        )?;
        Ok(())
    }

    /// Ends a step's jobs that are still running as failed, for a step that
    /// was stopped from outside (a timeout); returns how many there were.
    pub fn fail_running_jobs(
        &self,
        run_id: &str,
        step: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        Ok(self.connection.execute(
            "UPDATE jobs SET status = 'failed', reason = ?3, finished_at = ?4 \
             WHERE run_id = ?1 AND step = ?2 AND status = 'running'",
            params![run_id, step, reason, at.to_string()],
        )?)
    }

    /// The job with this id.
    pub fn job(&self, id: &str) -> Result<JobRecord, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let job = statement.query_row([id], job_from_row).optional()?;
        job.ok_or_else(|| StoreError::UnknownJob { id: id.to_owned() })
    }

    /// Every job, newest first.
    pub fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY started_at DESC, id");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let jobs = statement
            .query_map([], job_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(jobs)
    }

    /// The jobs of one run, in the order they started.
    pub fn jobs_of_run(&self, run_id: &str) -> Result<Vec<JobRecord>, StoreError> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = ?1 ORDER BY started_at, id");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let jobs = statement
            .query_map([run_id], job_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(jobs)
    }

    /// Journals a chunk's planned outcomes before it changes the directory.
    pub fn plan_chunk(&self, job_id: &str, chunk: &Chunk) -> Result<(), StoreError> {
        let bytes: Vec<u8> = chunk
            .outcomes
            .iter()
            .map(|outcome| outcome_byte(*outcome))
            .collect();
        self.connection.execute(
            "INSERT OR REPLACE INTO job_chunks (job_id, chunk, first_row, outcomes, applied) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![job_id, to_i64(chunk.index), to_i64(chunk.first_row), bytes, chunk.applied],
        )?;
        Ok(())
    }

    /// Marks a journaled chunk as applied to the directory.
    pub fn mark_chunk_applied(&self, job_id: &str, chunk: u64) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE job_chunks SET applied = 1 WHERE job_id = ?1 AND chunk = ?2",
            params![job_id, to_i64(chunk)],
        )?;
        Ok(())
    }

    /// Marks a chunk applied, with the outcomes the directory reported: a row
    /// planned as a change that the directory refused keeps the refusal.
    pub fn mark_chunk_applied_with(
        &self,
        job_id: &str,
        chunk: u64,
        outcomes: &[RowOutcome],
    ) -> Result<(), StoreError> {
        let bytes: Vec<u8> = outcomes
            .iter()
            .map(|outcome| outcome_byte(*outcome))
            .collect();
        self.connection.execute(
            "UPDATE job_chunks SET applied = 1, outcomes = ?3 WHERE job_id = ?1 AND chunk = ?2",
            params![job_id, to_i64(chunk), bytes],
        )?;
        Ok(())
    }

    /// The journaled chunks of a job, in order.
    pub fn chunks(&self, job_id: &str) -> Result<Vec<Chunk>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT chunk, first_row, outcomes, applied FROM job_chunks WHERE job_id = ?1 ORDER BY chunk",
        )?;
        let chunks = statement
            .query_map([job_id], |row| {
                let bytes: Vec<u8> = row.get(2)?;
                Ok(Chunk {
                    index: to_u64(row.get(0)?),
                    first_row: to_u64(row.get(1)?),
                    outcomes: bytes.into_iter().map(outcome_from_byte).collect(),
                    applied: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(chunks)
    }

    /// Records a file a job wrote.
    pub fn add_file(&self, job_id: &str, file: &JobFile) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT OR REPLACE INTO job_files (job_id, kind, path, rows) VALUES (?1, ?2, ?3, ?4)",
            params![job_id, file.kind, file.path, to_i64(file.rows)],
        )?;
        Ok(())
    }

    /// The files a job wrote.
    pub fn files(&self, job_id: &str) -> Result<Vec<JobFile>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT kind, path, rows FROM job_files WHERE job_id = ?1 ORDER BY kind, path",
        )?;
        let files = statement
            .query_map([job_id], |row| {
                Ok(JobFile {
                    kind: row.get(0)?,
                    path: row.get(1)?,
                    rows: to_u64(row.get(2)?),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(files)
    }

    /// Deletes a job with its journal and file records; returns the files it wrote.
    pub fn delete_job(&self, id: &str) -> Result<Vec<JobFile>, StoreError> {
        let files = self.files(id)?;
        self.connection
            .execute("DELETE FROM jobs WHERE id = ?1", [id])?;
        Ok(files)
    }
}

const JOB_COLUMNS: &str = "id, run_id, workflow, step, operation, target_id, target_name, input_file, status, reason, \
     total, succeeded, failed, changed, started_at, finished_at";

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        run_id: row.get(1)?,
        workflow: row.get(2)?,
        step: row.get(3)?,
        operation: row.get(4)?,
        target_id: row.get(5)?,
        target_name: row.get(6)?,
        input_file: row.get(7)?,
        status: Status::from_key(&row.get::<_, String>(8)?),
        reason: row.get(9)?,
        total: to_u64(row.get(10)?),
        succeeded: to_u64(row.get(11)?),
        failed: to_u64(row.get(12)?),
        changed: to_u64(row.get(13)?),
        started_at: time(row.get(14)?).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: time(row.get(15)?),
    })
}

fn outcome_byte(outcome: RowOutcome) -> u8 {
    let index = RowOutcome::ALL
        .iter()
        .position(|known| *known == outcome)
        .unwrap_or(0);
    u8::try_from(index).unwrap_or(0)
}

fn outcome_from_byte(byte: u8) -> RowOutcome {
    RowOutcome::ALL
        .get(usize::from(byte))
        .copied()
        .unwrap_or(RowOutcome::NotFound)
}

/// Eight hex digits that tell the targets of one step apart in job ids.
fn short_hash(text: &str) -> String {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, JobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn run(store: &JobStore) {
        store
            .start_run(&NewRun {
                id: "r1",
                workflow: "quickstart",
                manifest_path: "manifests/quickstart.yaml",
                manifest_text: "apiVersion: bulkops/v1",
                directory: "local",
                output_root: ".",
                trigger_file: None,
                started_at: now(),
            })
            .unwrap();
    }

    fn job(store: &JobStore) -> JobRecord {
        store
            .start_job(&NewJob {
                run_id: "r1",
                workflow: "quickstart",
                step: "add",
                operation: "importMembers",
                target_id: "g1",
                target_name: Some("eng-platform"),
                input_file: Some("add.csv"),
                started_at: now(),
            })
            .unwrap()
    }

    #[test]
    fn records_runs_and_jobs() {
        let (_dir, store) = store();
        run(&store);
        let job = job(&store);
        assert_eq!(job.status, Status::Running);
        assert_eq!(job.name(), "quickstart/add");
        let counts = JobCounts {
            total: 3,
            succeeded: 2,
            failed: 1,
            changed: 1,
        };
        store
            .finish_job(&job.id, Status::Failed, Some(NOT_ALL_ROWS), counts, now())
            .unwrap();
        let stored = store.job(&job.id).unwrap();
        assert_eq!(
            (stored.status, stored.reason.as_deref(), stored.failed),
            (Status::Failed, Some(NOT_ALL_ROWS), 1)
        );
        store
            .finish_run("r1", Status::Failed, Some("1 job failed"), now())
            .unwrap();
        assert_eq!(store.run("r1").unwrap().status, Status::Failed);
        assert!(matches!(
            store.run("nope"),
            Err(StoreError::UnknownRun { .. })
        ));
    }

    #[test]
    fn a_resumed_job_is_the_same_job() {
        let (_dir, store) = store();
        run(&store);
        let first = job(&store);
        let again = job(&store);
        assert_eq!(first.id, again.id);
        assert_eq!(store.jobs_of_run("r1").unwrap().len(), 1);
    }

    #[test]
    fn journals_chunks_of_outcomes() {
        let (_dir, store) = store();
        run(&store);
        let job = job(&store);
        let chunk = Chunk {
            index: 0,
            first_row: 0,
            outcomes: vec![
                RowOutcome::Added,
                RowOutcome::AlreadyMember,
                RowOutcome::InvalidId,
            ],
            applied: false,
        };
        store.plan_chunk(&job.id, &chunk).unwrap();
        assert_eq!(store.chunks(&job.id).unwrap(), std::slice::from_ref(&chunk));
        store.mark_chunk_applied(&job.id, 0).unwrap();
        assert!(store.chunks(&job.id).unwrap()[0].applied);
        let reported = [
            RowOutcome::NotFound,
            RowOutcome::AlreadyMember,
            RowOutcome::InvalidId,
        ];
        store
            .mark_chunk_applied_with(&job.id, 0, &reported)
            .unwrap();
        assert_eq!(store.chunks(&job.id).unwrap()[0].outcomes, reported);
        store
            .add_file(
                &job.id,
                &JobFile {
                    kind: "results".into(),
                    path: "r.csv".into(),
                    rows: 3,
                },
            )
            .unwrap();
        let files = store.delete_job(&job.id).unwrap();
        assert_eq!(files.len(), 1);
        assert!(
            store.chunks(&job.id).unwrap().is_empty(),
            "the journal goes with the job"
        );
    }
}
