//! Progress of a one-shot `tributary sync` on a terminal: one bar per source pass, advanced
//! stream by stream, with the elapsed time. Hidden when stderr is not a terminal (logs,
//! pipes, CI), so scripts and log collectors see no control characters.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sync::{PassProgress, SourceReport};

pub struct PassBar {
    bar: ProgressBar,
}

impl PassBar {
    pub fn new(source: &'static str) -> Self {
        Self::with_target(source, ProgressDrawTarget::stderr())
    }

    fn with_target(source: &'static str, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {prefix} {wide_bar} {pos}/{len} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(source);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }
}

impl PassBar {
    /// The pass was stopped while it waited for another process to finish the source.
    pub fn stopped_before_start(&self) {
        self.bar
            .abandon_with_message("stopped while waiting for another process");
    }
}

impl PassProgress for PassBar {
    fn stream_started(&self, stream: &'static str, index: usize, of: usize) {
        self.bar.set_length(of as u64);
        self.bar.set_position(index as u64);
        self.bar.set_message(stream);
    }

    fn finished(&self, report: &SourceReport) {
        self.bar.set_position(self.bar.length().unwrap_or(0));
        self.bar.finish_with_message(report.status.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_without_a_terminal() {
        let bar = PassBar::with_target("planningnow", ProgressDrawTarget::hidden());
        assert!(bar.bar.is_hidden());
        bar.stream_started("orders", 0, 6);
        assert_eq!(bar.bar.length(), Some(6));
        assert_eq!(bar.bar.message(), "orders");
    }
}
