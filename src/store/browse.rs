//! Reading the job history a page at a time: jobs under filters, newest or
//! oldest first, by keyset (a page after or before a job's start time and
//! id), so a page costs the same at the first job and the 100,000th.

use super::jobs::{JOB_COLUMNS, job_from_row};
use super::sql::{Value, args};
use super::{JobRecord, JobStore, Status, StoreError};

/// Which jobs a page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<Status>,
    pub operation: Option<String>,
    pub workflow: Option<String>,
    pub run: Option<String>,
    /// Jobs started on or after this day (`YYYY-MM-DD`, UTC).
    pub since: Option<jiff::civil::Date>,
    /// Jobs started on or before this day (`YYYY-MM-DD`, UTC).
    pub until: Option<jiff::civil::Date>,
    /// Jobs of these runs only (running jobs of the runs a process executes,
    /// or of those none does: interrupted).
    pub of_runs: Option<Vec<String>>,
}

/// A job's place in the order pages are cut from: its start time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: String,
    pub id: String,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    First,
    /// The page that follows this job in the chosen order.
    After(Cursor),
    /// The page that comes before this job in the chosen order.
    Before(Cursor),
}

/// One page of jobs.
#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// How many jobs match the filter in all.
    pub matching: u64,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
    /// Where the previous page ends, if there is one.
    pub previous: Option<Cursor>,
}

/// What a run asked of Microsoft Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
}

fn cursor_of(job: &JobRecord, stored: &str) -> Cursor {
    Cursor {
        started_at: stored.to_owned(),
        id: job.id.clone(),
    }
}

/// The `WHERE` conditions of a filter, with their values (numbered from 1
/// in the order of `values`).
fn conditions(filter: &JobFilter) -> (Vec<String>, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut add = |clause: &str, value: String| {
        values.push(Value::Text(value));
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(status) = filter.status {
        // An interrupted job is recorded as running; `of_runs` tells them apart.
        let stored = if status == Status::Interrupted {
            Status::Running
        } else {
            status
        };
        add("status = ?", stored.key().to_owned());
    }
    if let Some(operation) = &filter.operation {
        add("operation = ?", operation.clone());
    }
    if let Some(workflow) = &filter.workflow {
        add("workflow = ?", workflow.clone());
    }
    if let Some(run) = &filter.run {
        add("run_id = ?", run.clone());
    }
    if let Some(since) = filter.since {
        add("started_at >= ?", since.to_string());
    }
    if let Some(next_day) = filter.until.and_then(|until| until.tomorrow().ok()) {
        add("started_at < ?", next_day.to_string());
    }
    if let Some(runs) = &filter.of_runs {
        if runs.is_empty() {
            clauses.push("1 = 0".to_owned());
        } else {
            let marks: Vec<String> = runs
                .iter()
                .enumerate()
                .map(|(offset, _)| format!("?{}", values.len() + offset + 1))
                .collect();
            clauses.push(format!("run_id IN ({})", marks.join(", ")));
            values.extend(runs.iter().cloned().map(Value::Text));
        }
    }
    (clauses, values)
}

impl JobStore {
    /// A page of at most `limit` jobs under `filter`, newest first unless
    /// `oldest_first`.
    pub fn job_page(
        &self,
        filter: &JobFilter,
        oldest_first: bool,
        anchor: &Anchor,
        limit: usize,
    ) -> Result<JobPage, StoreError> {
        let (mut clauses, mut values) = conditions(filter);
        let matching = self.count_jobs(&clauses, &values)?;
        // Walking backwards (a previous page) reads in the opposite order.
        let backwards = matches!(anchor, Anchor::Before(_));
        let ascending = oldest_first != backwards;
        if let Anchor::After(cursor) | Anchor::Before(cursor) = anchor {
            let compare = if ascending { ">" } else { "<" };
            clauses.push(format!(
                "(started_at, id) {compare} (?{}, ?{})",
                values.len() + 1,
                values.len() + 2
            ));
            values.push(Value::Text(cursor.started_at.clone()));
            values.push(Value::Text(cursor.id.clone()));
        }
        let direction = if ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {JOB_COLUMNS}, started_at FROM jobs {} ORDER BY started_at {direction}, id {direction} LIMIT {}",
            where_clause(&clauses),
            limit + 1
        );
        let mut found: Vec<(JobRecord, String)> = self
            .sql()
            .query(&sql, values)?
            .iter()
            .map(|row| Ok((job_from_row(row)?, row.text(18)?)))
            .collect::<Result<_, StoreError>>()?;
        let more = found.len() > limit;
        found.truncate(limit);
        if backwards {
            found.reverse();
        }
        let first = found.first().map(|(job, stored)| cursor_of(job, stored));
        let last = found.last().map(|(job, stored)| cursor_of(job, stored));
        let mut jobs: Vec<JobRecord> = found.into_iter().map(|(job, _)| job).collect();
        self.settle_open_jobs(&mut jobs)?;
        let (next, previous) = match anchor {
            Anchor::First => (last.filter(|_| more), None),
            Anchor::After(_) => (last.filter(|_| more), first),
            Anchor::Before(_) => (last, first.filter(|_| more)),
        };
        Ok(JobPage {
            jobs,
            matching,
            next,
            previous,
        })
    }

    fn count_jobs(&self, clauses: &[String], values: &[Value]) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM jobs {}", where_clause(clauses));
        self.sql().query_one(&sql, values.to_vec())?.count(0)
    }

    /// The runs recorded as running: executed by a process, or interrupted.
    pub fn running_runs(&self) -> Result<Vec<String>, StoreError> {
        self.sql()
            .query(
                "SELECT id FROM runs WHERE status = 'running' ORDER BY id",
                args![],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
    }

    /// The workflows and operations jobs were recorded for, for filters.
    pub fn job_kinds(&self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let distinct = |column: &str| -> Result<Vec<String>, StoreError> {
            // Each value is one seek in the column's index, however many
            // jobs have it.
            self.sql()
                .query(
                    &format!(
                        "WITH RECURSIVE seen(value) AS ( \
                           SELECT min({column}) FROM jobs \
                           UNION ALL \
                           SELECT (SELECT min({column}) FROM jobs WHERE {column} > seen.value) FROM seen WHERE seen.value IS NOT NULL) \
                         SELECT value FROM seen WHERE value IS NOT NULL"
                    ),
                    args![],
                )?
                .iter()
                .map(|row| row.text(0))
                .collect()
        };
        Ok((distinct("workflow")?, distinct("operation")?))
    }

    /// Records how many rows a job is to process, shown as its total while
    /// it runs.
    pub fn set_planned_rows(&self, job_id: &str, rows: u64) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "UPDATE jobs SET planned = ?2 WHERE id = ?1",
                args![job_id, rows],
            )
        })?;
        Ok(())
    }

    /// The rows a job is to process, when it recorded them.
    pub fn planned_rows(&self, job_id: &str) -> Result<Option<u64>, StoreError> {
        self.sql()
            .query_opt("SELECT planned FROM jobs WHERE id = ?1", args![job_id])?
            .ok_or_else(|| StoreError::UnknownJob {
                id: job_id.to_owned(),
            })?
            .opt_count(0)
    }

    /// Asks the process executing a running run to stop it as on the first
    /// Ctrl-C; returns whether the run was running.
    /// A run still queued for workers (none took it yet) is withdrawn at
    /// once: it ends cancelled and no worker takes it.
    pub fn request_cancel(&self, run_id: &str, at: jiff::Timestamp) -> Result<bool, StoreError> {
        self.run(run_id)?;
        let withdrawn = self.sql().execute(
            "UPDATE runs SET status = 'cancelled', queue = 'done', finished_at = ?2, \
             reason = 'cancelled before a worker started it' \
             WHERE id = ?1 AND status = 'queued' AND queue = 'queued'",
            args![run_id, at.to_string()],
        )?;
        if withdrawn == 1 {
            return Ok(true);
        }
        // A running run, or one handed back by a stopping worker.
        let changed = self.sql().execute(
            "UPDATE runs SET cancel_requested = coalesce(cancel_requested, ?2) WHERE id = ?1 \
             AND (status = 'running' OR (status = 'cancelled' AND queue = 'resume'))",
            args![run_id, at.to_string()],
        )?;
        Ok(changed == 1)
    }

    /// Whether the run waits for a worker (queued, handed back, or taken by
    /// a worker that died): a cancel then holds for the worker that takes it.
    pub fn waits_for_worker(&self, run_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .sql()
            .query_opt(
                "SELECT 1 FROM runs WHERE id = ?1 AND queue IN ('queued', 'resume', 'taken')",
                args![run_id],
            )?
            .is_some())
    }

    /// Whether someone asked to cancel the run.
    pub fn cancel_requested(&self, run_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .sql()
            .query_opt(
                "SELECT cancel_requested IS NOT NULL FROM runs WHERE id = ?1",
                args![run_id],
            )
            .ok()
            .flatten()
            .is_some_and(|row| row.flag(0).unwrap_or(false)))
    }

    /// Records what the run has asked of Microsoft Graph so far.
    pub fn record_traffic(&self, run_id: &str, traffic: Traffic) -> Result<(), StoreError> {
        self.fenced(run_id, |sql| {
            sql.execute(
                "INSERT INTO run_traffic (run_id, requests, throttled, retries) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (run_id) DO UPDATE SET requests = excluded.requests, \
                 throttled = excluded.throttled, retries = excluded.retries",
                args![run_id, traffic.requests, traffic.throttled, traffic.retries],
            )
        })?;
        Ok(())
    }

    /// What the run asked of Microsoft Graph, if it used Graph.
    pub fn traffic(&self, run_id: &str) -> Result<Option<Traffic>, StoreError> {
        self.sql()
            .query_opt(
                "SELECT requests, throttled, retries FROM run_traffic WHERE run_id = ?1",
                args![run_id],
            )?
            .map(|row| {
                Ok(Traffic {
                    requests: row.count(0)?,
                    throttled: row.count(1)?,
                    retries: row.count(2)?,
                })
            })
            .transpose()
    }
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}
