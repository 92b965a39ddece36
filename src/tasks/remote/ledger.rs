//! Per-host journal checkpoints of a `remote` action, so that a run cut
//! off while the action runs on many hosts resumes without running it again
//! where it finished.
//!
//! Each host's apply records `remote:start ADDR` (fsynced, and waited for,
//! before the command is sent), then `remote:done ADDR` or
//! `remote:failed ADDR` once its result is known. Records that arrive
//! together are written as one checkpoint naming several hosts
//! (`remote:start A B C`), so a fan-out of hundreds costs a few fsyncs per
//! batch, not two per host. Every checkpoint name carries a serial
//! (`remote:start#3 A`), so a host started again after a failure is told
//! apart from its first start (the journal keeps distinct names in order).
//!
//! What a resumed run makes of them ([`Earlier`]): a host recorded done is
//! not run again; a failed one is run again (its result was known: it ran
//! and failed, as a new run would find); a host that started and has no
//! result was *in flight*: the action is re-checked there through
//! `creates`/`unless`, and without them the step fails naming the host,
//! since running a non-idempotent command twice is not mkeprep's call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::tasks::StepContext;

const START: &str = "remote:start";
const DONE: &str = "remote:done";
const FAILED: &str = "remote:failed";

/// One record to write; `ack` waits for it to be durable.
struct Mark {
    tag: &'static str,
    host: String,
    ack: Option<oneshot::Sender<Result<(), String>>>,
}

/// The hosts' side: asks for records to be written.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::UnboundedSender<Mark>,
}

/// The step's side: writes what the hosts ask for.
pub struct Writer {
    rx: mpsc::UnboundedReceiver<Mark>,
}

pub fn ledger() -> (Ledger, Writer) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Ledger { tx }, Writer { rx })
}

impl Ledger {
    /// Records, durably, that the action starts on `host`.
    pub async fn started(&self, host: &str) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Mark {
                tag: START,
                host: host.to_string(),
                ack: Some(ack),
            })
            .map_err(|_| "the step stopped recording".to_string())?;
        done.await
            .unwrap_or_else(|_| Err("the step stopped recording".into()))
    }

    /// Records that the action's result on `host` is known (without
    /// waiting: a record lost to a crash leaves the host "in flight", which
    /// a resumed run re-checks, the safe side).
    pub fn finished(&self, host: &str, ok: bool) {
        let _ = self.tx.send(Mark {
            tag: if ok { DONE } else { FAILED },
            host: host.to_string(),
            ack: None,
        });
    }
}

/// Makes checkpoint names unique within the process (and, with the time,
/// across the runs that resume one another).
static SERIAL: AtomicU64 = AtomicU64::new(0);

fn serial() -> String {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}.{n}", t.as_micros())
}

impl Writer {
    /// Writes records as they come, batching what is waiting, until every
    /// [`Ledger`] is gone.
    pub async fn serve(mut self, cx: &StepContext<'_>) {
        while let Some(first) = self.rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = self.rx.try_recv() {
                batch.push(more);
            }
            for tag in [START, DONE, FAILED] {
                let hosts: Vec<&str> = batch
                    .iter()
                    .filter(|m| m.tag == tag)
                    .map(|m| m.host.as_str())
                    .collect();
                if hosts.is_empty() {
                    continue;
                }
                let result = cx
                    .checkpoint(&format!("{tag}#{} {}", serial(), hosts.join(" ")))
                    .map_err(|e| e.message);
                for m in batch.iter_mut().filter(|m| m.tag == tag) {
                    if let Some(ack) = m.ack.take() {
                        let _ = ack.send(result.clone());
                    }
                }
            }
        }
    }
}

/// Where the last record left a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    Started,
    Done,
    Failed,
}

/// What an interrupted earlier apply of this step recorded per host (the
/// last record of each).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub last: BTreeMap<String, Last>,
}

impl Earlier {
    /// Reads the checkpoints of the interrupted apply (none when there
    /// was no such apply).
    pub fn of(cx: &StepContext<'_>) -> Earlier {
        if !cx.interrupted_apply {
            return Earlier::default();
        }
        Earlier::from_names(cx.earlier_checkpoints)
    }

    /// Reads checkpoint names in the order they were recorded.
    pub fn from_names(names: &[String]) -> Earlier {
        let mut e = Earlier::default();
        for name in names {
            let Some((tag, hosts)) = name.split_once(' ') else {
                continue;
            };
            let last = match tag.split('#').next().unwrap_or(tag) {
                START => Last::Started,
                DONE => Last::Done,
                FAILED => Last::Failed,
                _ => continue,
            };
            for h in hosts.split(' ').filter(|h| !h.is_empty()) {
                e.last.insert(h.to_string(), last);
            }
        }
        e
    }

    /// Whether the action finished on `host` (recorded done).
    pub fn done(&self, host: &str) -> bool {
        self.last.get(host) == Some(&Last::Done)
    }

    /// Hosts whose action started and whose result was never recorded.
    pub fn in_flight(&self) -> Vec<String> {
        self.last
            .iter()
            .filter(|(_, l)| **l == Last::Started)
            .map(|(h, _)| h.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_started_without_a_result() {
        let names: Vec<String> = [
            "remote:start#a.1 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.5",
            "remote:done#a.2 10.0.0.1",
            "remote:start#a.3 10.0.0.4",
            "remote:failed#a.4 10.0.0.3 10.0.0.5",
            "put-sent",
            // 10.0.0.5 failed, was started again, and was cut off.
            "remote:start#b.1 10.0.0.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let e = Earlier::from_names(&names);
        assert_eq!(e.in_flight(), ["10.0.0.2", "10.0.0.4", "10.0.0.5"]);
        assert!(e.done("10.0.0.1") && !e.done("10.0.0.3"));
        assert_eq!(e.last.get("10.0.0.3"), Some(&Last::Failed));
    }
}
