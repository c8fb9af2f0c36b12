//! Bulk jobs: one step's work on one target, with counts, status and the
//! files it wrote; and which jobs may be deleted.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use super::sql::{Row, Value, args};
use super::{JobStore, Status, StoreError, quoted_id, time};

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
    /// The file that started the job's run: the name it was dropped under
    /// into a watched folder, or the `--trigger-file` given to `apply`.
    pub trigger_file: Option<String>,
    /// Where a watched folder's file went after the run.
    pub trigger_archived_as: Option<String>,
    /// The process executing the job's run, while one does, as it names
    /// itself (`HOST:PID:RANDOM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
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
    /// The absolute path.
    pub path: String,
    pub rows: u64,
    /// Device, inode, size and time of the file as written (`None` for files
    /// recorded by an older bulkops, which are never deleted).
    #[serde(skip)]
    pub identity: Option<String>,
}

pub(super) const JOB_COLUMNS: &str = "id, run_id, workflow, step, operation, target_id, target_name, input_file, status, reason, \
     total, succeeded, failed, changed, started_at, finished_at, \
     coalesce((SELECT name FROM watch_files WHERE watch_files.run_id = jobs.run_id ORDER BY watch_files.id DESC LIMIT 1), \
              (SELECT trigger_file FROM runs WHERE runs.id = jobs.run_id)), \
     (SELECT archived_as FROM watch_files WHERE watch_files.run_id = jobs.run_id ORDER BY watch_files.id DESC LIMIT 1)";

pub(super) fn job_from_row(row: &Row) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: row.text(0)?,
        run_id: row.text(1)?,
        workflow: row.text(2)?,
        step: row.text(3)?,
        operation: row.text(4)?,
        target_id: row.text(5)?,
        target_name: row.opt_text(6)?,
        input_file: row.opt_text(7)?,
        status: Status::from_key(&row.text(8)?),
        reason: row.opt_text(9)?,
        total: row.count(10)?,
        succeeded: row.count(11)?,
        failed: row.count(12)?,
        changed: row.count(13)?,
        started_at: time(row.opt_text(14)?).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: time(row.opt_text(15)?),
        trigger_file: row.opt_text(16)?,
        trigger_archived_as: row.opt_text(17)?,
        owner: None,
    })
}

/// Eight hex digits that tell the targets of one step apart in job ids.
fn short_hash(text: &str) -> String {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

impl JobStore {
    /// Creates a job, or returns the existing one of the same run, step and
    /// target (a resumed run continues its jobs).
    pub fn start_job(&self, job: &NewJob<'_>) -> Result<JobRecord, StoreError> {
        let id = format!("{}-{}-{}", job.run_id, job.step, short_hash(job.target_id));
        self.remember_job(&id, job.run_id);
        self.fenced(job.run_id, |sql| {
            sql.execute(
                "INSERT INTO jobs (id, run_id, workflow, step, operation, target_id, target_name, input_file, status, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9) \
                 ON CONFLICT (run_id, step, target_id) DO UPDATE SET status = 'running', reason = NULL, finished_at = NULL",
                args![
                    &id,
                    job.run_id,
                    job.workflow,
                    job.step,
                    job.operation,
                    job.target_id,
                    job.target_name,
                    job.input_file,
                    job.started_at.to_string()
                ],
            )
        })?;
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
        self.fenced_job(id, |sql| {
            sql.execute(
                "UPDATE jobs SET status = ?2, reason = ?3, total = ?4, succeeded = ?5, failed = ?6, changed = ?7, finished_at = ?8 \
                 WHERE id = ?1",
                args![
                    id,
                    status.key(),
                    reason,
                    counts.total,
                    counts.succeeded,
                    counts.failed,
                    counts.changed,
                    at.to_string()
                ],
            )
        })?;
        Ok(())
    }

    /// Ends a step's jobs that are still running with `status`, for a step
    /// stopped from outside (a timeout, a cancelled run); returns how many.
    pub fn end_running_jobs(
        &self,
        run_id: &str,
        step: Option<&str>,
        status: Status,
        reason: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let (step_clause, mut values) = match step {
            Some(step) => ("AND step = ?5", args![step]),
            None => ("", Vec::new()),
        };
        values.splice(0..0, args![run_id, status.key(), reason, at.to_string()]);
        let ended = self.fenced(run_id, |sql| {
            sql.execute(
                &format!(
                    "UPDATE jobs SET status = ?2, reason = ?3, finished_at = ?4 \
                     WHERE run_id = ?1 {step_clause} AND status = 'running'"
                ),
                values,
            )
        })?;
        Ok(usize::try_from(ended).unwrap_or(usize::MAX))
    }

    /// The job with this id, with its status as it is now.
    pub fn job(&self, id: &str) -> Result<JobRecord, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        let row = self
            .sql()
            .query_opt(&sql, args![id])?
            .ok_or_else(|| StoreError::UnknownJob { id: quoted_id(id) })?;
        let mut job = job_from_row(&row)?;
        job.status = self.effective_status(&job.run_id, job.status)?;
        if matches!(job.status, Status::Running | Status::Interrupted) {
            self.fill_progress(&mut job)?;
        }
        if job.status == Status::Running {
            job.owner = self.owner_of(&job.run_id)?;
        }
        Ok(job)
    }

    /// Every job, newest first.
    pub fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY started_at DESC, id");
        self.query_jobs(&sql, args![])
    }

    /// The jobs of one run, in the order they started.
    pub fn jobs_of_run(&self, run_id: &str) -> Result<Vec<JobRecord>, StoreError> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = ?1 ORDER BY started_at, id");
        self.query_jobs(&sql, args![run_id])
    }

    fn query_jobs(&self, sql: &str, values: Vec<Value>) -> Result<Vec<JobRecord>, StoreError> {
        let mut jobs = self
            .sql()
            .query(sql, values)?
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.settle_open_jobs(&mut jobs)?;
        Ok(jobs)
    }

    /// Jobs recorded as running, as they are now: interrupted when no process
    /// executes their run, with the counts their journal holds.
    pub(super) fn settle_open_jobs(&self, jobs: &mut [JobRecord]) -> Result<(), StoreError> {
        // Each run's holder, when one holds it, looked up once.
        let mut held: HashMap<String, Option<String>> = HashMap::new();
        for job in jobs.iter_mut().filter(|job| job.status == Status::Running) {
            let holder = if let Some(known) = held.get(&job.run_id) {
                known.clone()
            } else {
                let known = if self.run_is_held(&job.run_id)? {
                    Some(self.owner_of(&job.run_id)?.unwrap_or_default())
                } else {
                    None
                };
                held.insert(job.run_id.clone(), known.clone());
                known
            };
            match holder {
                Some(owner) => job.owner = Some(owner).filter(|owner| !owner.is_empty()),
                None => job.status = Status::Interrupted,
            }
            self.fill_progress(job)?;
        }
        Ok(())
    }

    /// The counts of a job that has not ended, from its journal: the rows
    /// planned so far (a job's counts are written when it ends).
    fn fill_progress(&self, job: &mut JobRecord) -> Result<(), StoreError> {
        let counts = self.journal_counts(&job.id)?;
        job.total = counts.total;
        job.succeeded = counts.succeeded;
        job.failed = counts.failed;
        job.changed = counts.changed;
        Ok(())
    }

    /// Whether a step of a run journaled any rows.
    pub fn step_journaled(&self, run_id: &str, step: &str) -> Result<bool, StoreError> {
        self.sql()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM job_chunks c JOIN jobs j ON j.id = c.job_id \
                 WHERE j.run_id = ?1 AND j.step = ?2)",
                args![run_id, step],
            )?
            .flag(0)
    }

    /// Records a file a job wrote.
    pub fn add_file(&self, job_id: &str, file: &JobFile) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "INSERT INTO job_files (job_id, kind, path, rows, identity) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (job_id, path) DO UPDATE SET kind = excluded.kind, rows = excluded.rows, \
                 identity = excluded.identity",
                args![job_id, &file.kind, &file.path, file.rows, file.identity.as_deref()],
            )
        })?;
        Ok(())
    }

    /// Forgets a file a job wrote (replaced by a resumed attempt).
    pub fn forget_file(&self, job_id: &str, path: &str) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "DELETE FROM job_files WHERE job_id = ?1 AND path = ?2",
                args![job_id, path],
            )
        })?;
        Ok(())
    }

    /// The files a job wrote.
    pub fn files(&self, job_id: &str) -> Result<Vec<JobFile>, StoreError> {
        self.sql()
            .query(
                "SELECT kind, path, rows, identity FROM job_files WHERE job_id = ?1 ORDER BY kind, path",
                args![job_id],
            )?
            .iter()
            .map(|row| {
                Ok(JobFile {
                    kind: row.text(0)?,
                    path: row.text(1)?,
                    rows: row.count(2)?,
                    identity: row.opt_text(3)?,
                })
            })
            .collect()
    }

    /// Why a job must be kept, if it must: its run is being executed, or was
    /// interrupted or cancelled and can still be resumed (deleting its jobs
    /// would lose the journal the resume relies on).
    pub fn why_kept(&self, job: &JobRecord) -> Result<Option<String>, StoreError> {
        let run = self.run(&job.run_id)?;
        if run.status == Status::Running {
            return Ok(Some(format!(
                "its run `{}` is being executed right now",
                run.id
            )));
        }
        Ok(self.resumable(&run)?.then(|| {
            format!(
                "its run `{}` did not finish and can still be resumed with `bulkops apply --resume {}`",
                run.id, run.id
            )
        }))
    }

    /// Whether a run that no process executes has work left that a resume
    /// would do: it was interrupted or cancelled, or it failed before every
    /// step finished (a run whose steps all finished, some with failed rows,
    /// has nothing left to do).
    pub fn resumable(&self, run: &super::RunRecord) -> Result<bool, StoreError> {
        if run.closed.is_some() {
            return Ok(false);
        }
        Ok(match run.status {
            Status::Interrupted | Status::Cancelled => true,
            // A run a worker gave up may be finished by a person.
            Status::Failed => self.has_unfinished_steps(&run.id)? || self.given_up(&run.id)?,
            Status::Queued | Status::Running | Status::Completed => false,
        })
    }

    /// Whether workers gave the run up.
    fn given_up(&self, run_id: &str) -> Result<bool, StoreError> {
        self.sql()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND failures > 0 AND queue = 'done')",
                args![run_id],
            )?
            .flag(0)
    }

    /// Whether a step of the run ended other than finished.
    fn has_unfinished_steps(&self, run_id: &str) -> Result<bool, StoreError> {
        self.sql()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM run_steps WHERE run_id = ?1 AND state != 'finished')",
                args![run_id],
            )?
            .flag(0)
    }

    /// Deletes a job with its journal and file records; returns the files it
    /// wrote. A run that loses a job can no longer be resumed.
    pub fn delete_job(&self, id: &str) -> Result<Vec<JobFile>, StoreError> {
        let job = self.job(id)?;
        let files = self.files(id)?;
        self.sql()
            .execute("DELETE FROM jobs WHERE id = ?1", args![id])?;
        self.close_run(&job.run_id, &format!("job `{id}` of this run was deleted"))?;
        Ok(files)
    }
}
