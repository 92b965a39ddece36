//! What a run needs from the terminal and the process: the approval prompt
//! for disruptive steps, and the interrupt signals.

use std::io::IsTerminal;

use tokio::sync::watch;

use crate::engine::{Approval, ApprovalFuture, Approver};
use crate::model::{Change, exit};

/// Whether prompts can be shown and answered.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on the terminal before a disruptive apply; `y` or `yes` approves.
pub struct Prompt;

/// Whether an answer at the prompt approves.
fn approves(answer: &str) -> bool {
    let a = answer.trim();
    a.eq_ignore_ascii_case("yes") || a.eq_ignore_ascii_case("y")
}

impl Approver for Prompt {
    fn approve<'a>(&'a self, key: &'a str, changes: &'a [Change]) -> ApprovalFuture<'a> {
        let mut text = format!("\nStep `{key}` is disruptive and makes these changes:\n");
        for c in changes {
            text.push_str(&format!("  - {}\n", c.summary));
        }
        text.push_str("Apply them now? [y/N] ");
        let text =
            crate::util::text::terminal_safe(&crate::util::secret::redact(&text)).into_owned();
        Box::pin(async move {
            let answered = tokio::task::spawn_blocking(move || {
                use std::io::{BufRead, Write};
                // Live progress bars stay off the terminal while the question is open.
                crate::report::live::suspend(|| {
                    let mut err = std::io::stderr();
                    let _ = err.write_all(text.as_bytes());
                    let _ = err.flush();
                    let mut line = String::new();
                    if std::io::stdin().lock().read_line(&mut line).is_err() {
                        return false;
                    }
                    approves(&line)
                })
            })
            .await
            .unwrap_or(false);
            if answered {
                Approval::Approved
            } else {
                Approval::Refused("not approved at the prompt".into())
            }
        })
    }
}

/// Listens for SIGINT/SIGTERM; the receiver turns true on the first one.
/// A second signal ends the process at once (exit 130).
pub fn interrupt_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let _ = tx.send(true);
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            std::process::exit(exit::INTERRUPTED);
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    #[test]
    fn y_and_yes_approve_anything_else_refuses() {
        for a in ["y\n", "Y", "yes", " YES \n"] {
            assert!(super::approves(a), "{a:?}");
        }
        for a in ["", "\n", "n", "no", "yess", "ye", "sure"] {
            assert!(!super::approves(a), "{a:?}");
        }
    }
}
