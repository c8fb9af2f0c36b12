//! The journal: each chunk of a job's rows with its planned outcomes, written
//! before the chunk changes the directory and marked applied after; and what
//! a run has charged against its guards so far.

use super::sql::args;
use super::{JobStore, StoreError};
use crate::directory::outcome::RowOutcome;

/// A journaled chunk of row outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub index: u64,
    pub first_row: u64,
    pub outcomes: Vec<RowOutcome>,
    pub applied: bool,
}

/// The destructive changes a run has journaled: each planned chunk counts
/// once, applied or not (a planned chunk is applied when the run resumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Charged {
    pub removals: u64,
    pub device_deletions: u64,
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

fn bytes_of(outcomes: &[RowOutcome]) -> Vec<u8> {
    outcomes
        .iter()
        .map(|outcome| outcome_byte(*outcome))
        .collect()
}

impl JobStore {
    /// Journals a chunk's planned outcomes before it changes the directory.
    pub fn plan_chunk(&self, job_id: &str, chunk: &Chunk) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "INSERT INTO job_chunks (job_id, chunk, first_row, outcomes, applied) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (job_id, chunk) DO UPDATE SET first_row = excluded.first_row, \
                 outcomes = excluded.outcomes, applied = excluded.applied",
                args![
                    job_id,
                    chunk.index,
                    chunk.first_row,
                    bytes_of(&chunk.outcomes),
                    chunk.applied
                ],
            )
        })?;
        Ok(())
    }

    /// Marks a journaled chunk as applied to the directory.
    pub fn mark_chunk_applied(&self, job_id: &str, chunk: u64) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "UPDATE job_chunks SET applied = 1 WHERE job_id = ?1 AND chunk = ?2",
                args![job_id, chunk],
            )
        })?;
        Ok(())
    }

    /// Marks a chunk applied, with the outcomes the directory reported.
    pub fn mark_chunk_applied_with(
        &self,
        job_id: &str,
        chunk: u64,
        outcomes: &[RowOutcome],
    ) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "UPDATE job_chunks SET applied = 1, outcomes = ?3 WHERE job_id = ?1 AND chunk = ?2",
                args![job_id, chunk, bytes_of(outcomes)],
            )
        })?;
        Ok(())
    }

    /// The journaled chunks of a job, in order.
    pub fn chunks(&self, job_id: &str) -> Result<Vec<Chunk>, StoreError> {
        self.sql()
            .query(
                "SELECT chunk, first_row, outcomes, applied FROM job_chunks WHERE job_id = ?1 ORDER BY chunk",
                args![job_id],
            )?
            .iter()
            .map(|row| {
                Ok(Chunk {
                    index: row.count(0)?,
                    first_row: row.count(1)?,
                    outcomes: row.bytes(2)?.into_iter().map(outcome_from_byte).collect(),
                    applied: row.flag(3)?,
                })
            })
            .collect()
    }

    /// The counts of a job's journaled rows.
    pub fn journal_counts(&self, job_id: &str) -> Result<super::JobCounts, StoreError> {
        let mut counts = super::JobCounts::default();
        for chunk in self.chunks(job_id)? {
            for outcome in chunk.outcomes {
                counts.total += 1;
                counts.succeeded += u64::from(outcome.is_success());
                counts.failed += u64::from(!outcome.is_success());
                counts.changed += u64::from(outcome.is_change());
            }
        }
        Ok(counts)
    }

    /// What the run's journal holds against its guards.
    pub fn charged(&self, run_id: &str) -> Result<Charged, StoreError> {
        let rows = self.sql().query(
            "SELECT c.outcomes FROM job_chunks c JOIN jobs j ON j.id = c.job_id WHERE j.run_id = ?1",
            args![run_id],
        )?;
        let (removed, deleted) = (
            outcome_byte(RowOutcome::Removed),
            outcome_byte(RowOutcome::Deleted),
        );
        let mut charged = Charged::default();
        for row in rows {
            for byte in row.bytes(0)? {
                charged.removals += u64::from(byte == removed);
                charged.device_deletions += u64::from(byte == deleted);
            }
        }
        Ok(charged)
    }
}
