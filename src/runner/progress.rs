//! Progress on a terminal: one line per running step, with a bar of rows for
//! membership jobs. Off a terminal (CI, cron, a pipe), a log line per running
//! step at least every 10 seconds (`BULKOPS_PROGRESS_EVERY` sets another
//! interval): rows done of the total, the rate, and Microsoft Graph's
//! requests and throttling, so a CI log never goes silent on long work.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often progress is logged off a terminal, unless `BULKOPS_PROGRESS_EVERY` says otherwise.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Where progress goes: bars on stderr, log lines, or nowhere.
#[derive(Clone, Default)]
pub struct Progress {
    bars: Option<Arc<MultiProgress>>,
    log: Option<Arc<Board>>,
}

/// The running steps' counts, for progress log lines.
#[derive(Debug, Default)]
pub struct Board {
    steps: Mutex<BTreeMap<String, Counts>>,
}

#[derive(Debug, Clone)]
struct Counts {
    kind: String,
    target: String,
    done: u64,
    total: u64,
    started: Instant,
    since_rows: Instant,
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Counts>> {
        self.steps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs one line per running step; `graph` adds Graph's counters.
    pub fn log_now(&self, graph: Option<(u64, u64)>) {
        for (step, counts) in self.lock().iter() {
            let running = counts.started.elapsed().as_secs();
            let seconds = counts.since_rows.elapsed().as_secs_f64().max(0.001);
            #[expect(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a rate for people to read"
            )]
            let rate = (counts.done as f64 / seconds) as u64;
            if let Some((requests, throttled)) = graph {
                tracing::info!(
                    step = %step, kind = %counts.kind, target = %counts.target, rows_done = counts.done,
                    rows_total = counts.total, rows_per_second = rate, running_seconds = running,
                    graph_requests = requests, graph_throttled = throttled, "progress"
                );
            } else {
                tracing::info!(
                    step = %step, kind = %counts.kind, target = %counts.target, rows_done = counts.done,
                    rows_total = counts.total, rows_per_second = rate, running_seconds = running, "progress"
                );
            }
        }
    }

    /// The steps running now.
    pub fn running(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

/// The board of this process's run, made on first use: what a Ctrl-C waits for.
static CURRENT: Mutex<Option<Arc<Board>>> = Mutex::new(None);

fn current_board() -> Arc<Board> {
    let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(current.get_or_insert_with(|| Arc::new(Board::default())))
}

/// The steps running now in this process.
pub fn running_steps() -> Vec<String> {
    CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|board| board.running())
        .unwrap_or_default()
}

/// The interval of progress log lines: `BULKOPS_PROGRESS_EVERY` or [`LOG_EVERY`].
pub fn log_every() -> Duration {
    std::env::var("BULKOPS_PROGRESS_EVERY")
        .ok()
        .and_then(|text| crate::manifest::duration::DurationSpec::parse(&text).ok())
        .map(crate::manifest::duration::DurationSpec::as_duration)
        .filter(|every| !every.is_zero())
        .unwrap_or(LOG_EVERY)
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (&self.bars, &self.log) {
            (Some(_), _) => "Progress(bars)",
            (None, Some(_)) => "Progress(log)",
            (None, None) => "Progress(hidden)",
        })
    }
}

impl Progress {
    /// Bars on stderr.
    pub fn on_stderr() -> Self {
        Self {
            bars: Some(Arc::new(MultiProgress::with_draw_target(
                ProgressDrawTarget::stderr(),
            ))),
            log: Some(current_board()),
        }
    }

    /// No progress display.
    pub fn hidden() -> Self {
        Self::default()
    }

    /// Log lines, for a run without a terminal; the caller logs the board.
    pub fn in_log() -> Self {
        Self {
            bars: None,
            log: Some(current_board()),
        }
    }

    /// The board of the log mode.
    pub fn board(&self) -> Option<Arc<Board>> {
        self.log.clone()
    }

    /// A line for a step that has started.
    pub fn step(&self, id: &str, kind: &str) -> StepProgress {
        let log = self.log.as_ref().map(|board| {
            let now = Instant::now();
            board.lock().insert(
                id.to_owned(),
                Counts {
                    kind: kind.to_owned(),
                    target: String::new(),
                    done: 0,
                    total: 0,
                    started: now,
                    since_rows: now,
                },
            );
            (Arc::clone(board), id.to_owned())
        });
        let Some(bars) = &self.bars else {
            return StepProgress { bar: None, log };
        };
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<24} {msg}").expect("a valid template"),
        );
        bar.set_prefix(id.to_owned());
        bar.set_message(kind.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        StepProgress {
            bar: Some(bar),
            log,
        }
    }
}

/// One step's line.
#[derive(Clone, Default)]
pub struct StepProgress {
    bar: Option<ProgressBar>,
    log: Option<(Arc<Board>, String)>,
}

impl StepProgress {
    /// Turns the line into a bar of `rows` rows for one target.
    pub fn rows(&self, target: &str, rows: u64) {
        if let Some((board, step)) = &self.log
            && let Some(counts) = board.lock().get_mut(step)
        {
            target.clone_into(&mut counts.target);
            counts.total = rows;
            counts.done = 0;
            counts.since_rows = Instant::now();
        }
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix:<24} [{bar:30}] {pos}/{len} rows {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_length(rows);
            bar.set_position(0);
            bar.set_message(target.to_owned());
        }
    }

    /// Counts rows done.
    pub fn advance(&self, rows: u64) {
        if let Some((board, step)) = &self.log
            && let Some(counts) = board.lock().get_mut(step)
        {
            counts.done += rows;
        }
        if let Some(bar) = &self.bar {
            bar.inc(rows);
        }
    }

    /// Ends the line with how the step ended.
    pub fn finish(&self, outcome: &str) {
        if let Some((board, step)) = &self.log {
            board.lock().remove(step);
        }
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template("  {prefix:<24} {msg}").expect("a valid template"),
            );
            bar.finish_with_message(outcome.to_owned());
        }
    }
}
