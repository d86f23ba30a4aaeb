//! Live progress of a run on a terminal: a spinner per running check, on
//! stderr, shown only once the run has taken a second (a quick run stays
//! silent) and cleared before the report is printed. Never drawn when
//! stderr is not a terminal, so pipes and CI logs get none of it.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before its progress shows.
const QUIET_START: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(120);

/// The progress display of a run; `Progress::default()` shows nothing.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    multi: MultiProgress,
    reveal: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// Progress on stderr if it is a terminal, else none. Call inside the
    /// tokio runtime.
    pub fn on_terminal() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::default();
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let shown = multi.clone();
        let reveal = tokio::spawn(async move {
            tokio::time::sleep(QUIET_START).await;
            shown.set_draw_target(ProgressDrawTarget::stderr());
        });
        Progress {
            inner: Some(Arc::new(Inner {
                multi,
                reveal: Mutex::new(Some(reveal)),
            })),
        }
    }

    /// A spinner for a check while it runs; it goes away when dropped.
    pub fn start(&self, policy: &str, check: &str) -> Spinner {
        let Some(inner) = &self.inner else {
            return Spinner(None);
        };
        let style = ProgressStyle::with_template("  {spinner} {prefix}  {elapsed}")
            .expect("the template is valid");
        let bar = inner
            .multi
            .add(ProgressBar::new_spinner().with_style(style));
        bar.set_prefix(format!("{policy}/{check}"));
        bar.enable_steady_tick(TICK);
        Spinner(Some(bar))
    }

    /// Stops and clears the display, before the report is written.
    pub fn finish(&self) {
        if let Some(inner) = &self.inner {
            if let Some(reveal) = inner.reveal.lock().expect("not poisoned").take() {
                reveal.abort();
            }
            let _ = inner.multi.clear();
        }
    }
}

/// One running check's spinner.
pub struct Spinner(Option<ProgressBar>);

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
