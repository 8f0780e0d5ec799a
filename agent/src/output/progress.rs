//! Progress on standard error as targets finish: "[N of M] scanned TARGET (...); still
//! running: ...". On a terminal, a multi-target scan also gets a progress bar (`indicatif`)
//! under those lines, showing N of M and what is still running; elsewhere (a pipe, a log)
//! the lines alone.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use posture_policies::model::Observation;

use crate::runner::Plan;

/// The progress report of one scan.
pub(crate) struct Progress {
    /// Whether to say anything at all.
    enabled: bool,
    /// The targets asked for, as [`Plan::key_of`] names them.
    asked: Vec<String>,
    /// The ones that have finished.
    finished: Vec<String>,
    /// The bar, on a terminal with more than one target.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Report on `asked` when `enabled`; the bar is drawn only when standard error is a
    /// terminal and there is more than one target.
    pub fn new(enabled: bool, asked: Vec<String>) -> Progress {
        let target = ProgressDrawTarget::stderr();
        let bar = (enabled && asked.len() > 1 && !target.is_hidden()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(asked.len() as u64), target);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos} of {len} {elapsed} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let progress = Progress {
            enabled,
            asked,
            finished: Vec::new(),
            bar,
        };
        progress.set_message();
        progress
    }

    /// `o` has finished (endpoints of a domain, which nobody asked for by name, count for
    /// the line only).
    pub fn finished(&mut self, o: &Observation) {
        if !self.enabled {
            return;
        }
        let key = Plan::key_of(&o.target);
        if self.asked.contains(&key) && !self.finished.contains(&key) {
            self.finished.push(key);
        }
        let line = self.line(o);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.finished.len() as u64);
                bar.println(line);
            }
            None => eprintln!("{line}"),
        }
        self.set_message();
    }

    /// The scan is over: the bar goes away, the lines stay.
    pub fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn running(&self) -> Vec<&String> {
        self.asked
            .iter()
            .filter(|a| !self.finished.contains(a))
            .collect()
    }

    fn set_message(&self) {
        if let Some(bar) = &self.bar {
            let running = self.running();
            bar.set_message(if running.is_empty() {
                String::new()
            } else {
                format!("running: {}", join_some(&running))
            });
        }
    }

    /// "posture-agent: [N of M] scanned TARGET (C connections, S s[, problems]); still
    /// running: ...".
    fn line(&self, o: &Observation) -> String {
        let seconds = (o.scan.finished - o.scan.started).num_milliseconds() as f64 / 1000.0;
        let problems = if o.scan.errors.is_empty() {
            String::new()
        } else {
            format!(", {} probe(s) did not finish", o.scan.errors.len())
        };
        let running = self.running();
        let still = if running.is_empty() {
            String::new()
        } else {
            format!("; still running: {}", join_some(&running))
        };
        crate::output::escape_controls(&format!(
            "posture-agent: [{} of {}] scanned {} ({} connections, {seconds:.1}s{problems}){still}",
            self.asked.len() - running.len(),
            self.asked.len(),
            o.target,
            o.scan.connections
        ))
    }
}

/// Up to three names, then "and N more".
fn join_some(names: &[&String]) -> String {
    match names {
        [a, b, c, rest @ ..] if !rest.is_empty() => {
            format!("{a}, {b}, {c} and {} more", rest.len())
        }
        some => some
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut_after_three() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let refs: Vec<&String> = names.iter().collect();
        assert_eq!(join_some(&refs), "a, b, c and 2 more");
        assert_eq!(join_some(&refs[..3]), "a, b, c");
        assert_eq!(join_some(&refs[..1]), "a");
    }
}
