//! A progress bar for long builds: shown on a terminal once a build has run for a second,
//! never in CI logs (indicatif hides itself when stderr is not a terminal).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct Bar {
    bar: ProgressBar,
    started: Mutex<Option<Instant>>,
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new("bundles verified")
    }
}

impl Bar {
    /// A bar counting `what` (`bundles verified`).
    pub fn new(what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what}"
            ))
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        Bar {
            bar,
            started: Mutex::new(None),
        }
    }
}

impl mpk_registry::site::Progress for Bar {
    fn begin(&self, total: u64) {
        self.bar.set_length(total);
        *self.started.lock().expect("progress lock") = Some(Instant::now());
    }

    fn advance(&self) {
        self.bar.inc(1);
        let mut started = self.started.lock().expect("progress lock");
        if started.is_some_and(|t| t.elapsed() >= SHOW_AFTER) {
            *started = None;
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn end(&self) {
        self.bar.finish_and_clear();
    }
}
