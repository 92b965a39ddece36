//! The runner driving scripted fake modules (src/tasks/fake.rs): each
//! outcome of a step, a real run against `--check`, an interrupted apply,
//! and the resume of each.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::watch;

use super::approve::{ApproveAll, RefuseAll};
use super::journal::{self, Inputs, Record};
use super::{Approver, RunOptions, RunStatus, Runner};
use crate::model::Status;
use crate::model::events::{Event, Reporter, spawn_reporter};
use crate::playbook::{self, Playbook};
use crate::tasks::Connections;
use crate::tasks::fake::{self, Answer, Apply, Script};
use crate::template::{Scope, Templates};

struct Collect(Arc<Mutex<Vec<Event>>>);

impl Reporter for Collect {
    fn event(&mut self, ev: &Event) {
        self.0.lock().unwrap().push(ev.clone());
    }
}

/// A playbook of fake steps: (step id, script name).
fn playbook_text(steps: &[(&str, &str)]) -> String {
    let mut text = String::from("steps:\n");
    for (id, script) in steps {
        text.push_str(&format!(
            "  - id: {id}\n    fake:\n      script: {script}\n"
        ));
    }
    text
}

/// One finished run: its status, the step_end events (key, status,
/// from_journal), and the journal's records afterwards.
struct Ran {
    status: RunStatus,
    ends: Vec<(String, Status, bool)>,
    records: Vec<Record>,
}

impl Ran {
    fn statuses(&self) -> Vec<(&str, Status)> {
        self.ends.iter().map(|(k, s, _)| (k.as_str(), *s)).collect()
    }
}

struct Bench {
    dir: tempfile::TempDir,
    text: String,
}

impl Bench {
    fn new(steps: &[(&str, &str)]) -> Bench {
        Bench {
            dir: tempfile::tempdir().unwrap(),
            text: playbook_text(steps),
        }
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// Writes and loads the playbook; the options of a run of it.
    fn load(&self, check: bool) -> (Playbook, Templates, RunOptions) {
        let path = self.dir.path().join("pb.yaml");
        std::fs::write(&path, &self.text).unwrap();
        let templates = Templates::new();
        let pb = playbook::load(&path, &IndexMap::new(), &Default::default(), &templates)
            .unwrap_or_else(|e| panic!("{e}"));
        let opts = RunOptions {
            check,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            start_at: None,
            fresh: false,
            resend: Vec::new(),
            forget_unknown: false,
            state_dir: self.state(),
            inputs: Inputs {
                playbook: path.display().to_string(),
                playbook_digest: pb.digest.clone(),
                ..Inputs::default()
            },
        };
        (pb, templates, opts)
    }

    /// Runs the playbook; `interrupt_when` sends SIGINT's stand-in once the
    /// given script has logged an apply.
    async fn run(&self, check: bool, approver: &dyn Approver, interrupt_when: Option<&str>) -> Ran {
        let (pb, templates, opts) = self.load(check);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (events, reporter) = spawn_reporter(Box::new(Collect(seen.clone())));
        let conn = Connections::default();
        let (tx, rx) = watch::channel(false);
        if let Some(script) = interrupt_when {
            let script = script.to_string();
            tokio::spawn(async move {
                for _ in 0..500 {
                    if fake::calls(&script).iter().any(|c| c == "apply") {
                        let _ = tx.send(true);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("the apply of `{script}` never started");
            });
        }
        let runner = Runner {
            pb: &pb,
            opts: &opts,
            templates: &templates,
            scope: Scope::new(IndexMap::new(), IndexMap::new(), Default::default()),
            events,
            conn: &conn,
            approver,
            lock: None,
        };
        let status = runner.run(rx).await.unwrap_or_else(|e| panic!("{e}"));
        reporter.join().unwrap().unwrap();
        let ends = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::StepEnd(s) => Some((s.step.clone(), s.status, s.from_journal)),
                _ => None,
            })
            .collect();
        Ran {
            status,
            ends,
            records: journal::read(&self.state()).unwrap().records,
        }
    }
}

fn unique(name: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{name}-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn kinds(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r {
            Record::RunStart { .. } => "run_start".to_string(),
            Record::ApplyStart { step, .. } => format!("apply_start {step}"),
            Record::ApplyEnd {
                step, ok, unknown, ..
            } => format!("apply_end {step} ok={ok} unknown={unknown}"),
            Record::StepEnd { step, status, .. } => format!("{step} {}", status.json_name()),
            Record::Checkpoint { step, name, .. } => format!("checkpoint {step} {name}"),
            Record::RunEnd { status, .. } => format!("run_end {status}"),
        })
        .collect()
}

#[tokio::test]
async fn in_sync_is_ok_and_applies_nothing() {
    let s = unique("sync");
    fake::script(&s, Script::new(&[Answer::InSync], Apply::Ok));
    let b = Bench::new(&[("a", &s)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(r.statuses(), [("a", Status::Ok)]);
    assert_eq!(fake::calls(&s), ["check"]);
    assert_eq!(kinds(&r.records), ["run_start", "a ok", "run_end ok"]);
}

#[tokio::test]
async fn drift_is_applied_inside_a_bracket_and_re_checked() {
    let s = unique("drift");
    fake::script(&s, Script::new(&[Answer::Drift, Answer::InSync], Apply::Ok));
    let b = Bench::new(&[("a", &s)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(r.statuses(), [("a", Status::Changed)]);
    assert_eq!(fake::calls(&s), ["check", "apply", "check"]);
    assert_eq!(
        kinds(&r.records),
        [
            "run_start",
            "apply_start a",
            "apply_end a ok=true unknown=false",
            "a changed",
            "run_end ok"
        ]
    );
    // The next run finds it in sync and applies nothing.
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.statuses(), [("a", Status::Ok)]);
    assert_eq!(fake::calls(&s), ["check", "apply", "check", "check"]);
}

#[tokio::test]
async fn check_mode_reports_would_change_applies_nothing_and_writes_no_journal() {
    let s = unique("dry");
    fake::script(&s, Script::new(&[Answer::Drift], Apply::Ok));
    let b = Bench::new(&[("a", &s)]);
    let r = b.run(true, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::WouldChange);
    assert_eq!(r.statuses(), [("a", Status::WouldChange)]);
    assert_eq!(fake::calls(&s), ["check"]);
    assert!(r.records.is_empty());
    assert!(!b.state().exists(), "a dry run creates no state directory");
}

#[tokio::test]
async fn blocked_stops_the_run_and_later_steps_are_not_run() {
    let (s1, s2) = (unique("blocked"), unique("after"));
    fake::script(&s1, Script::new(&[Answer::Blocked], Apply::Ok));
    fake::script(&s2, Script::new(&[Answer::InSync], Apply::Ok));
    let b = Bench::new(&[("a", &s1), ("b", &s2)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        r.statuses(),
        [("a", Status::Blocked), ("b", Status::Skipped)]
    );
    assert!(fake::calls(&s2).is_empty());
    // Nothing was finished, so the next run checks `a` again.
    b.run(false, &ApproveAll, None).await;
    assert_eq!(fake::calls(&s1), ["check", "check"]);
}

#[tokio::test]
async fn a_failing_check_or_apply_fails_the_step_with_a_known_outcome() {
    let (s1, s2) = (unique("checkfail"), unique("applyfail"));
    fake::script(&s1, Script::new(&[Answer::Fail], Apply::Ok));
    fake::script(&s2, Script::new(&[Answer::Drift], Apply::Fail));
    let b = Bench::new(&[("a", &s1)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.statuses(), [("a", Status::Failed)]);
    let b = Bench::new(&[("b", &s2)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.statuses(), [("b", Status::Failed)]);
    assert!(kinds(&r.records).contains(&"apply_end b ok=false unknown=false".to_string()));
    // A failed apply with a known outcome is not carried to the next run.
    b.run(false, &ApproveAll, None).await;
    assert_eq!(fake::calls(&s2), ["check", "apply", "check", "apply"]);
}

#[tokio::test]
async fn an_apply_whose_re_check_still_drifts_fails() {
    let s = unique("recheck");
    fake::script(&s, Script::new(&[Answer::Drift], Apply::Ok));
    let b = Bench::new(&[("a", &s)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.statuses(), [("a", Status::Failed)]);
    assert_eq!(fake::calls(&s), ["check", "apply", "check"]);
}

#[tokio::test]
async fn a_refused_disruptive_step_applies_nothing() {
    let s = unique("disruptive");
    let mut script = Script::new(&[Answer::Drift], Apply::Ok);
    script.disruptive = true;
    fake::script(&s, script);
    let b = Bench::new(&[("a", &s)]);
    let r = b
        .run(false, &RefuseAll("no terminal to ask on".into()), None)
        .await;
    assert_eq!(r.statuses(), [("a", Status::Failed)]);
    assert_eq!(fake::calls(&s), ["check"]);
    assert!(!kinds(&r.records).iter().any(|k| k.starts_with("apply")));
}

#[tokio::test]
async fn an_interrupted_apply_is_closed_unknown_and_checked_again_on_resume() {
    let (s1, s2, s3) = (unique("done"), unique("hang"), unique("later"));
    fake::script(
        &s1,
        Script::new(&[Answer::Drift, Answer::InSync], Apply::Ok),
    );
    fake::script(
        &s2,
        Script::new(&[Answer::Drift], Apply::CheckpointThenHang("sent")),
    );
    fake::script(&s3, Script::new(&[Answer::InSync], Apply::Ok));
    let b = Bench::new(&[("a", &s1), ("b", &s2), ("c", &s3)]);
    let r = b.run(false, &ApproveAll, Some(&s2)).await;
    assert_eq!(r.status, RunStatus::Interrupted);
    assert_eq!(
        r.statuses(),
        [("a", Status::Changed), ("b", Status::Failed)]
    );
    let k = kinds(&r.records);
    assert!(
        k.ends_with(&[
            "apply_start b".to_string(),
            "checkpoint b sent".to_string(),
            "apply_end b ok=false unknown=true".to_string(),
            "run_end interrupted".to_string(),
        ]),
        "{k:?}"
    );

    // The resume: `a`, applied by the first run, is checked again (not
    // applied again) and reported as changed from the journal; `b` is
    // checked first, knowing the earlier apply reached `sent`, and found
    // in sync its bracket is closed; `c` runs.
    fake::script(&s2, {
        let mut s = Script::new(&[Answer::InSync], Apply::Ok);
        s.calls = fake::calls(&s2);
        s
    });
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(
        r.ends,
        [
            ("a".to_string(), Status::Changed, true),
            ("b".to_string(), Status::Ok, false),
            ("c".to_string(), Status::Ok, false)
        ]
    );
    assert_eq!(fake::calls(&s1), ["check", "apply", "check", "check"]);
    assert_eq!(fake::calls(&s2), ["check", "apply", "check:earlier"]);
    let k = kinds(&r.records);
    assert!(
        k.contains(&"apply_end b ok=true unknown=false".to_string()),
        "the carried bracket is closed once read back: {k:?}"
    );
    // So a third run sees no open apply.
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(fake::calls(&s2).last().unwrap(), "check");
}

#[tokio::test]
async fn an_apply_of_unknown_outcome_is_carried_past_a_finished_run() {
    let s = unique("unknown");
    fake::script(&s, Script::new(&[Answer::Drift], Apply::Unknown));
    let b = Bench::new(&[("a", &s)]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Failed);
    // The run ended (failed), so nothing resumes, but the next run's check
    // knows the earlier apply may have taken effect.
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        fake::calls(&s),
        ["check", "apply", "check:earlier", "apply"]
    );
    assert!(
        kinds(&r.records)[1] == "apply_start a",
        "carried: {:?}",
        kinds(&r.records)
    );
}

#[tokio::test]
async fn a_resume_refuses_changed_inputs() {
    let s = unique("inputs");
    fake::script(
        &s,
        Script::new(&[Answer::Drift], Apply::CheckpointThenHang("x")),
    );
    let mut b = Bench::new(&[("a", &s)]);
    let r = b.run(false, &ApproveAll, Some(&s)).await;
    assert_eq!(r.status, RunStatus::Interrupted);
    b.text.push_str("# edited\n");
    let (pb, templates, opts) = b.load(false);
    let conn = Connections::default();
    let runner = Runner {
        pb: &pb,
        opts: &opts,
        templates: &templates,
        scope: Scope::new(IndexMap::new(), IndexMap::new(), Default::default()),
        events: crate::model::events::Events::discard(),
        conn: &conn,
        approver: &ApproveAll,
        lock: None,
    };
    let e = runner.run(watch::channel(false).1).await.unwrap_err();
    assert_eq!(e.exit_code(), crate::model::exit::USAGE);
    assert!(e.to_string().contains("was edited"), "{e}");
    assert!(Path::new(&b.state()).join("journal.jsonl").exists());
}

#[tokio::test]
async fn a_resume_checks_every_step_again_and_never_applies_twice() {
    let (done, gate, hang) = (unique("applied"), unique("gate"), unique("hang2"));
    // `a` changes; `gate` (read-only) passes; `b` is cut off.
    fake::script(
        &done,
        Script::new(&[Answer::Drift, Answer::InSync], Apply::Ok),
    );
    fake::script(&gate, Script::new(&[Answer::InSync], Apply::Ok));
    fake::script(
        &hang,
        Script::new(&[Answer::Drift], Apply::CheckpointThenHang("x")),
    );
    let b = Bench::new(&[("a", &done), ("gate", &gate), ("b", &hang)]);
    let r = b.run(false, &ApproveAll, Some(&hang)).await;
    assert_eq!(r.status, RunStatus::Interrupted);

    // Since then the target of `a` drifted back, and the gate fails: the
    // resumed run finds both. `a` fails (never applied a second time) and
    // stops the run before `b`.
    let again = |name: &str, answers: &[Answer]| {
        let mut s = Script::new(answers, Apply::Ok);
        s.calls = fake::calls(name);
        fake::script(name, s);
    };
    again(&done, &[Answer::Drift]);
    again(&gate, &[Answer::Blocked]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        r.statuses(),
        [
            ("a", Status::Failed),
            ("gate", Status::Skipped),
            ("b", Status::Skipped)
        ]
    );
    assert_eq!(
        fake::calls(&done),
        ["check", "apply", "check", "check"],
        "no second apply"
    );

    // A read-only step is never taken from the journal: a stale pass does
    // not stand in for a failing check.
    let (ro, hang3) = (unique("readonly"), unique("hang3"));
    fake::script(&ro, Script::new(&[Answer::InSync], Apply::Ok));
    fake::script(
        &hang3,
        Script::new(&[Answer::Drift], Apply::CheckpointThenHang("x")),
    );
    let b = Bench::new(&[("gate", &ro), ("b", &hang3)]);
    b.run(false, &ApproveAll, Some(&hang3)).await;
    again(&ro, &[Answer::Blocked]);
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.statuses()[0], ("gate", Status::Blocked));
    assert_eq!(
        fake::calls(&hang3),
        ["check", "apply"],
        "`b` did not run after the gate failed"
    );
}

#[tokio::test]
async fn a_change_nothing_can_check_again_is_taken_from_the_journal() {
    let (s, hang) = (unique("unverifiable"), unique("hang4"));
    let mut script = Script::new(&[Answer::Drift], Apply::Ok);
    script.verifiable = false;
    fake::script(&s, script);
    fake::script(
        &hang,
        Script::new(&[Answer::Drift], Apply::CheckpointThenHang("x")),
    );
    let b = Bench::new(&[("a", &s), ("b", &hang)]);
    b.run(false, &ApproveAll, Some(&hang)).await;
    assert_eq!(fake::calls(&s), ["check", "apply"]);
    fake::script(&hang, {
        let mut h = Script::new(&[Answer::InSync], Apply::Ok);
        h.calls = fake::calls(&hang);
        h
    });
    let r = b.run(false, &ApproveAll, None).await;
    assert_eq!(r.ends[0], ("a".to_string(), Status::Changed, true));
    assert_eq!(
        fake::calls(&s),
        ["check", "apply"],
        "not checked, not run again"
    );
}
