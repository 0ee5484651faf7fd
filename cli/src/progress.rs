//! The progress bar of the command line: on stderr, only when stderr is a
//! terminal and `--quiet` is not given, and only once a run has taken more
//! than a second (a short run prints nothing extra). The wall clock is read
//! here, in the command line, never in the core.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How long a run goes before its bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Ticks between two looks at the clock: cheap enough per event.
const TICKS_PER_UPDATE: u64 = 1 << 14;

pub struct Progress {
    /// `None` when no bar may be drawn.
    started: Option<Instant>,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    unit: &'static str,
    count: u64,
    since_update: u64,
}

impl Progress {
    /// A bar counting `unit`s up to `total` (a spinner when unknown).
    pub fn new(total: Option<u64>, unit: &'static str, quiet: bool) -> Progress {
        let drawable = !quiet && std::io::stderr().is_terminal();
        Progress {
            started: drawable.then(Instant::now),
            bar: None,
            total,
            unit,
            count: 0,
            since_update: 0,
        }
    }

    /// Counts `n` more units. Called once per event: the common case is two
    /// additions and a comparison.
    #[inline]
    pub fn add(&mut self, n: u64) {
        self.count += n;
        self.since_update += n;
        if self.since_update >= TICKS_PER_UPDATE {
            self.since_update = 0;
            self.update();
        }
    }

    #[cold]
    fn update(&mut self) {
        let Some(started) = self.started else {
            return;
        };
        if self.bar.is_none() && started.elapsed() >= SHOW_AFTER {
            self.bar = Some(self.make_bar(started));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.count);
        }
    }

    fn make_bar(&self, started: Instant) -> ProgressBar {
        let (bar, template) = match self.total {
            Some(total) => (
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                format!(
                    "{{elapsed_precise}} [{{bar:40}}] {{human_pos}}/{{human_len}} {} ({{rate}}, {{eta}} left)",
                    self.unit
                ),
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                format!("{{elapsed_precise}} {{spinner}} {{human_pos}} {} ({{rate}})", self.unit),
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            let style = style.progress_chars("=> ").with_key(
                "rate",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{:.0}/s", state.per_sec());
                },
            );
            bar.set_style(style);
        }
        bar.set_elapsed(started.elapsed());
        bar
    }

    /// Removes the bar, if one was drawn, before the results are printed.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
