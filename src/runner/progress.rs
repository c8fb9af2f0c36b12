//! Progress on a terminal: one line per running step, with a bar of rows for
//! membership jobs. Off a terminal (CI, cron, a pipe), nothing is drawn and the
//! log lines tell the story instead.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes: bars on stderr, or nowhere.
#[derive(Clone, Default)]
pub struct Progress {
    bars: Option<Arc<MultiProgress>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.bars.is_some() {
            "Progress(bars)"
        } else {
            "Progress(hidden)"
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
        }
    }

    /// No progress display.
    pub fn hidden() -> Self {
        Self::default()
    }

    /// A line for a step that has started.
    pub fn step(&self, id: &str, kind: &str) -> StepProgress {
        let Some(bars) = &self.bars else {
            return StepProgress::default();
        };
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<24} {msg}").expect("a valid template"),
        );
        bar.set_prefix(id.to_owned());
        bar.set_message(kind.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        StepProgress { bar: Some(bar) }
    }
}

/// One step's line.
#[derive(Clone, Default)]
pub struct StepProgress {
    bar: Option<ProgressBar>,
}

impl StepProgress {
    /// Turns the line into a bar of `rows` rows for one target.
    pub fn rows(&self, target: &str, rows: u64) {
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
        if let Some(bar) = &self.bar {
            bar.inc(rows);
        }
    }

    /// Ends the line with how the step ended.
    pub fn finish(&self, outcome: &str) {
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template("  {prefix:<24} {msg}").expect("a valid template"),
            );
            bar.finish_with_message(outcome.to_owned());
        }
    }
}
