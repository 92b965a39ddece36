//! Live progress for people at a terminal: a spinner per running step (step
//! id, elapsed time), a bar with elapsed and expected time for waits whose
//! length is known (the KDD conversion), and "12/50 hosts" during host
//! fan-out. Drawn on stderr with indicatif, and only when stderr is a
//! terminal; stdout never carries a bar.
//!
//! Anything else that writes to the terminal while a bar may be drawn (the
//! step lines, warnings, the approval prompt) goes through [`suspend`], which
//! clears the bars, runs the write and draws them again.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{
    MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike,
};

use crate::util::secret::redact;

/// The bars of the running reporter, for [`suspend`] from other threads.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Runs `f` with any live bars cleared from the terminal (for prompts and
/// other writes to the terminal from outside the reporter). Without live
/// bars it just runs `f`.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let mp = ACTIVE.lock().ok().and_then(|g| g.clone());
    match mp {
        Some(mp) => mp.suspend(f),
        None => f(),
    }
}

/// A bar that fills with the time since `started` against `expected`.
#[derive(Clone)]
struct TimeBar {
    started: Instant,
    expected: Duration,
    width: usize,
}

impl indicatif::style::ProgressTracker for TimeBar {
    fn clone_box(&self) -> Box<dyn indicatif::style::ProgressTracker> {
        Box::new(self.clone())
    }

    fn tick(&mut self, _: &ProgressState, _: Instant) {}

    fn reset(&mut self, _: &ProgressState, _: Instant) {}

    fn write(&self, _: &ProgressState, w: &mut dyn std::fmt::Write) {
        let _ = w.write_str(&time_bar(self.started.elapsed(), self.expected, self.width));
    }
}

/// `[=======>        ] 0:42 of ~1:00` (or `… 1:10, expected ~1:00` once
/// the expected time has passed).
pub fn time_bar(elapsed: Duration, expected: Duration, width: usize) -> String {
    let frac = if expected.is_zero() {
        1.0
    } else {
        (elapsed.as_secs_f64() / expected.as_secs_f64()).min(1.0)
    };
    let filled = ((frac * width as f64) as usize).min(width);
    let mut bar = String::with_capacity(width + 2);
    bar.push('[');
    for i in 0..width {
        bar.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    bar.push(']');
    if elapsed > expected {
        let _ = write!(bar, " {}, expected ~{}", clock(elapsed), clock(expected));
    } else {
        let _ = write!(bar, " {} of ~{}", clock(elapsed), clock(expected));
    }
    bar
}

/// `m:ss`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// Columns kept free at the end of a live line: the terminal echoes Ctrl-C
/// as `^C` where the cursor is. A line drawn to the last column leaves the
/// cursor there, the echo wraps to a new line, and indicatif, which does not
/// know, clears that new line instead of its own: the spinner stayed on
/// screen after Ctrl-C.
const ECHO_ROOM: u16 = 3;

/// A terminal that tells indicatif it is [`ECHO_ROOM`] columns narrower than
/// it is.
#[derive(Debug)]
struct EchoRoom<T: TermLike>(T);

impl<T: TermLike> TermLike for EchoRoom<T> {
    fn width(&self) -> u16 {
        self.0.width().saturating_sub(ECHO_ROOM).max(1)
    }
    fn height(&self) -> u16 {
        self.0.height()
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A wait's text for a log line: the message, then the time the event
/// carries (`…: 12s elapsed of about 60s expected`).
pub fn wait_text(message: &str, elapsed_s: Option<f64>, expected_s: Option<f64>) -> String {
    let secs = |s: f64| s.max(0.0).round() as u64;
    match (
        elapsed_s.filter(|e| e.is_finite()),
        expected_s.filter(|e| e.is_finite()),
    ) {
        (Some(e), Some(x)) => format!(
            "{message}: {}s elapsed of about {}s expected",
            secs(e),
            secs(x)
        ),
        (Some(e), None) => format!("{message}: {}s elapsed", secs(e)),
        _ => message.to_string(),
    }
}

/// The live display of one run.
pub struct Live {
    mp: MultiProgress,
    color: bool,
    step: Option<(String, ProgressBar)>,
    /// Whether [`suspend`] knows these bars.
    registered: bool,
}

impl Live {
    /// Bars on stderr (indicatif draws nothing when it is not a terminal).
    /// Registers them for [`suspend`].
    pub fn stderr(color: bool) -> Live {
        let term = EchoRoom(console::Term::stderr());
        let mut live = Live::with_target(
            ProgressDrawTarget::term_like_with_hz(Box::new(term), 20),
            color,
        );
        if let Ok(mut g) = ACTIVE.lock() {
            *g = Some(live.mp.clone());
            live.registered = true;
        }
        live
    }

    /// Bars drawn nowhere (for tests of the reporter).
    pub fn hidden() -> Live {
        Live::with_target(ProgressDrawTarget::hidden(), false)
    }

    fn with_target(target: ProgressDrawTarget, color: bool) -> Live {
        Live {
            mp: MultiProgress::with_draw_target(target),
            color,
            step: None,
            registered: false,
        }
    }

    fn spinner_style(&self) -> ProgressStyle {
        let t = if self.color {
            "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg}"
        } else {
            "{spinner} {prefix} {elapsed:>4} {wide_msg}"
        };
        ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn bar_style(&self, started: Instant, expected: Duration) -> ProgressStyle {
        let t = if self.color {
            "{spinner:.cyan} {prefix:.bold} {timebar:.green} {wide_msg}"
        } else {
            "{spinner} {prefix} {timebar} {wide_msg}"
        };
        ProgressStyle::with_template(t)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "timebar",
                TimeBar {
                    started,
                    expected,
                    width: 24,
                },
            )
    }

    /// A step started: a spinner with its id and elapsed time.
    pub fn step_start(&mut self, id: &str) {
        self.step_end();
        let pb = self.mp.add(
            ProgressBar::new_spinner()
                .with_style(self.spinner_style())
                .with_prefix(id.to_string()),
        );
        pb.enable_steady_tick(Duration::from_millis(120));
        self.step = Some((id.to_string(), pb));
    }

    /// The bar of `step`, started if it is not the running one.
    fn bar_for(&mut self, step: &str) -> ProgressBar {
        match &self.step {
            Some((id, pb)) if id == step => pb.clone(),
            _ => {
                self.step_start(step);
                self.step
                    .as_ref()
                    .map(|(_, pb)| pb.clone())
                    .unwrap_or_else(ProgressBar::hidden)
            }
        }
    }

    /// Progress of a wait: with an expected time, the spinner becomes a bar.
    pub fn progress(
        &mut self,
        step: &str,
        message: &str,
        elapsed_s: Option<f64>,
        expected_s: Option<f64>,
    ) {
        let style = match expected_s {
            Some(exp) if exp.is_finite() && exp >= 0.0 => {
                let elapsed = Duration::from_secs_f64(
                    elapsed_s
                        .filter(|e| e.is_finite() && *e >= 0.0)
                        .unwrap_or(0.0),
                );
                let started = Instant::now()
                    .checked_sub(elapsed)
                    .unwrap_or_else(Instant::now);
                Some(self.bar_style(started, Duration::from_secs_f64(exp)))
            }
            _ => None,
        };
        let plain = self.spinner_style();
        let pb = self.bar_for(step);
        pb.set_style(style.unwrap_or(plain));
        pb.set_message(one_line(message));
    }

    /// A host of a fan-out step finished.
    pub fn hosts(&mut self, step: &str, done: usize, total: Option<usize>, failed: usize) {
        let text = host_count(done, total, failed);
        self.bar_for(step).set_message(text);
    }

    /// The running step ended: its spinner goes away (the step line says
    /// the rest).
    pub fn step_end(&mut self) {
        if let Some((_, pb)) = self.step.take() {
            pb.finish_and_clear();
            self.mp.remove(&pb);
        }
    }

    /// Runs `f` (a write to the terminal) with the bars cleared.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.mp.suspend(f)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.step_end();
        let _ = self.mp.clear();
        if self.registered
            && let Ok(mut g) = ACTIVE.lock()
        {
            *g = None;
        }
    }
}

/// `12/50 hosts (2 failed)`.
pub fn host_count(done: usize, total: Option<usize>, failed: usize) -> String {
    let mut s = match total {
        Some(t) => format!("{done}/{t} hosts"),
        None => format!("{done} hosts"),
    };
    if failed > 0 {
        let _ = write!(s, " ({failed} failed)");
    }
    s
}

/// The message on one line, secrets masked, terminal-safe.
pub fn one_line(message: &str) -> String {
    crate::util::text::terminal_line(&redact(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bar_fills_and_says_when_it_overruns() {
        let b = time_bar(Duration::from_secs(30), Duration::from_secs(60), 10);
        assert_eq!(b, "[=====>    ] 0:30 of ~1:00");
        let b = time_bar(Duration::from_secs(70), Duration::from_secs(60), 4);
        assert_eq!(b, "[====] 1:10, expected ~1:00");
        let b = time_bar(Duration::ZERO, Duration::ZERO, 2);
        assert_eq!(b, "[==] 0:00 of ~0:00");
    }

    #[test]
    fn host_counts() {
        assert_eq!(host_count(12, Some(50), 0), "12/50 hosts");
        assert_eq!(host_count(3, None, 1), "3 hosts (1 failed)");
    }

    #[test]
    fn one_line_drops_control_characters() {
        assert_eq!(one_line("a\nb\x1b[1m\r"), "a b\\x1b[1m\\r");
    }

    #[test]
    fn wait_text_shows_the_times_the_event_carries() {
        assert_eq!(
            wait_text("converting", Some(5.4), Some(60.0)),
            "converting: 5s elapsed of about 60s expected"
        );
        assert_eq!(
            wait_text("backup b1 is IN_PROGRESS", Some(12.0), None),
            "backup b1 is IN_PROGRESS: 12s elapsed"
        );
        assert_eq!(wait_text("reading", None, None), "reading");
        assert_eq!(wait_text("x", Some(f64::NAN), None), "x");
    }
}
