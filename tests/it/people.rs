//! For people and pipelines (issue 7): live progress on a terminal (recorded
//! under tmux), clean output off one, the JUnit report against an XML schema,
//! the JSON events against docs/events.schema.json, and the generated docs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Dir, Run, bin, wait_until};

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Whether a tool the test needs is there; under CI its absence fails the
/// test, elsewhere the test is skipped with a note.
fn have(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "{tool} is missing: CI must install {package} (see .ci/run)"
        );
        eprintln!("note: {tool} is not installed ({package}); skipping this test");
    }
    found
}

fn sandbox(d: &Dir, args: &[&str]) -> Run {
    let mut all = vec!["run", STANDARD, "--sandbox"];
    all.extend_from_slice(args);
    d.cmd(&all).run()
}

// ---------------------------------------------------------------- JSON

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(format!("{ROOT}/docs/events.schema.json"))
        .unwrap_or_else(|e| panic!("docs/events.schema.json: {e}"));
    let schema: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("events.schema.json: {e}"));
    jsonschema::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("events.schema.json is not a valid JSON Schema: {e}"));
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("events.schema.json does not compile: {e}"))
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, line: &str, origin: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{origin}: not JSON ({e}): {line}"));
    let errors: Vec<String> = v
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{origin}: does not match docs/events.schema.json:\n{line}\n{}",
        errors.join("\n")
    );
    value
}

#[test]
fn json_events_of_real_sandbox_runs_match_the_schema() {
    let v = schema();
    let d = Dir::new();
    let mut seen = std::collections::BTreeSet::new();
    // --check (exit 3), --insecure for a warning, then the real run and a
    // second one in sync, and a blocked run.
    let runs = [
        (vec!["--check", "--insecure"], 3),
        (vec!["--yes"], 0),
        (vec![], 0),
        (vec!["--fresh", "--sandbox-set", "mkectl_version=3.0.0"], 1),
    ];
    for (args, code) in runs {
        let mut all = vec!["--output", "json"];
        all.extend(args.iter().copied());
        let r = sandbox(&d, &all);
        r.code(code);
        assert!(!r.stdout.is_empty(), "no events for {args:?}");
        for line in r.stdout.lines() {
            let ev = assert_valid(&v, line, &format!("run {args:?}"));
            if let Some(e) = ev["event"].as_str() {
                seen.insert(e.to_string());
            }
        }
    }
    for e in ["run_start", "step_start", "step_end", "warning", "run_end"] {
        assert!(seen.contains(e), "no {e} event in the runs: {seen:?}");
    }
}

#[test]
fn the_schema_rejects_what_is_not_an_event() {
    let v = schema();
    for bad in [
        r#"{"v":2,"event":"warning","ts":"2026-01-01T00:00:00.000Z","message":"x"}"#,
        r#"{"v":1,"event":"nope","ts":"2026-01-01T00:00:00.000Z"}"#,
        r#"{"v":1,"event":"step_end","ts":"2026-01-01T00:00:00.000Z","step":"a","module":"m","status":"great","changes":[],"message":"","duration_ms":1,"output":{}}"#,
        r#"{"v":1,"event":"run_end","ts":"2026-01-01T00:00:00.000Z","status":"ok","exit_code":3,"counts":{"ok":1,"changed":0,"would_change":0,"skipped":0,"blocked":0,"failed":0},"duration_ms":1}"#,
        r#"{"v":1,"event":"warning","ts":"2026-01-01T00:00:00.000Z","message":"x","extra":1}"#,
    ] {
        let value: serde_json::Value = serde_json::from_str(bad).unwrap_or_default();
        assert!(!v.is_valid(&value), "accepted: {bad}");
    }
}

/// docs/events.md shows an example of every event in the schema, and every
/// example validates.
#[test]
fn docs_events_md_has_a_valid_example_of_every_event() {
    let v = schema();
    let md = std::fs::read_to_string(format!("{ROOT}/docs/events.md")).unwrap_or_default();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{ROOT}/docs/events.schema.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let kinds: Vec<String> = schema["properties"]["event"]["enum"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(kinds.len() >= 7, "the schema lists {kinds:?}");
    let mut examples = std::collections::BTreeSet::new();
    let mut in_json = false;
    for line in md.lines() {
        match line.trim() {
            "```json" => in_json = true,
            "```" => in_json = false,
            l if in_json && l.starts_with('{') => {
                let ev = assert_valid(&v, l, "docs/events.md");
                examples.insert(ev["event"].as_str().unwrap_or("").to_string());
            }
            _ => {}
        }
    }
    for k in &kinds {
        assert!(examples.contains(k), "docs/events.md has no example of {k}");
        assert!(
            md.contains(&format!("## `{k}`")),
            "docs/events.md has no section for {k}"
        );
    }
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap_or_default();
    assert!(
        readme.contains("docs/events.md"),
        "README does not link docs/events.md"
    );
}

// ---------------------------------------------------------------- JUnit

#[test]
fn junit_reports_pass_the_junit_xml_schema() {
    if !have("xmllint", "libxml2-utils") {
        return;
    }
    let d = Dir::new();
    // Blocked (old mkectl), skipped (--skip-tags), ok and would-change steps,
    // then a real run with changed steps.
    sandbox(
        &d,
        &[
            "--check",
            "--sandbox-set",
            "mkectl_version=3.0.0",
            "--skip-tags",
            "network",
            "--junit",
            "blocked.xml",
        ],
    )
    .code(1);
    sandbox(&d, &["--check", "--junit", "check.xml"]).code(3);
    sandbox(&d, &["--yes", "--junit", "apply.xml"]).code(0);
    let xsd = format!("{ROOT}/tests/data/junit.xsd");
    for f in ["blocked.xml", "check.xml", "apply.xml"] {
        let path = d.join(f);
        let xml = d.read(f);
        assert!(xml.contains("<testcase"), "{f}:\n{xml}");
        let out = Command::new("xmllint")
            .args(["--noout", "--schema", &xsd])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("xmllint: {e}"));
        assert!(
            out.status.success(),
            "{f} fails the JUnit schema:\n{}\n{xml}",
            String::from_utf8_lossy(&out.stderr)
        );
        // What the schema cannot say: the counts match the test cases.
        let cases = xml.matches("<testcase ").count();
        let failures = xml.matches("<failure ").count();
        let skipped = xml.matches("<skipped ").count();
        assert!(
            xml.contains(&format!("tests=\"{cases}\" failures=\"{failures}\"")),
            "{f}: counts do not match {cases} cases / {failures} failures:\n{xml}"
        );
        assert!(
            xml.contains(&format!("skipped=\"{skipped}\"")),
            "{f}:\n{xml}"
        );
    }
    let blocked = d.read("blocked.xml");
    assert!(blocked.contains("<failure "), "{blocked}");
    assert!(blocked.contains("<skipped "), "{blocked}");
    assert!(blocked.contains("what to do:"), "{blocked}");
}

/// Every way `run` stops outside its steps still ends its machine outputs:
/// an `error` and a `run_end` (status `error`, the exit code) in the JSON
/// events, a JUnit file with one failing case naming the error, and the
/// report. Input errors found by the CLI, by the sandbox's knobs and by the
/// engine (an unknown --start-at), and a locked state directory.
#[test]
fn a_run_stopped_outside_its_steps_still_ends_its_json_junit_and_report() {
    let v = schema();
    let d = Dir::new();
    d.write("bad.yaml", "steps:\n  - id: a\n    calico_kd: {}\n");
    d.write("good.yaml", "steps:\n  - id: a\n    debug: {msg: hi}\n");
    // A run that holds the sandbox's state directory (its lock) for a while.
    std::fs::create_dir_all(d.join("held")).unwrap();
    let mut holder = d
        .cmd(&[
            "run",
            STANDARD,
            "--sandbox",
            "--yes",
            "--state-dir",
            "held",
            "--sandbox-set",
            "kdd_seconds_per_node=20",
        ])
        .spawn(d.path(), "holder");
    assert!(
        wait_until(Duration::from_secs(60), || d
            .join("held/journal.jsonl")
            .exists()),
        "the holding run did not start"
    );
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &["run", "bad.yaml"],
            2,
            "bad.yaml:3:5: unknown module or step key `calico_kd`",
        ),
        (
            &["run", STANDARD, "--sandbox", "--sandbox-set", "nodes=zero"],
            2,
            "invalid sandbox knob `nodes`",
        ),
        (
            &["run", "good.yaml", "--start-at", "nosuch"],
            2,
            "--start-at `nosuch`: no step has that id",
        ),
        (
            &["run", STANDARD, "--sandbox", "--state-dir", "held"],
            4,
            "holds the lock",
        ),
    ];
    for (i, (args, code, names)) in cases.iter().enumerate() {
        let (junit, report) = (format!("j{i}.xml"), format!("r{i}.html"));
        let mut all = args.to_vec();
        all.extend(["--output", "json", "--junit", &junit, "--report", &report]);
        let r = d.cmd(&all).run();
        r.code(*code).stderr_has(names);
        let events: Vec<serde_json::Value> = r
            .stdout
            .lines()
            .map(|l| assert_valid(&v, l, &format!("{args:?}")))
            .collect();
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(kinds, ["error", "run_end"], "{args:?}: {}", r.stdout);
        assert!(events[0]["message"].as_str().unwrap().contains(names));
        assert_eq!(events[1]["status"], "error");
        assert_eq!(events[1]["exit_code"], *code);

        let xml = d.read(&junit);
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        let failure = xml.split("<failure message=\"").nth(1).unwrap_or_default();
        let escaped = names
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            failure.contains(&escaped),
            "{args:?}: the case does not name the error:\n{xml}"
        );
        if have("xmllint", "libxml2-utils") {
            let out = Command::new("xmllint")
                .args([
                    "--noout",
                    "--schema",
                    &format!("{ROOT}/tests/data/junit.xsd"),
                ])
                .arg(d.join(&junit))
                .output()
                .unwrap_or_else(|e| panic!("xmllint: {e}"));
            assert!(
                out.status.success(),
                "{}\n{xml}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let html = d.read(&report);
        assert!(html.contains("<h1><span class=\"verdict-word\">Not ready</span></h1>"));
        assert!(html.contains("<h2>Why the run stopped</h2>"), "{html}");
        assert!(html.contains(&escaped), "{args:?}: {html}");
    }
    // People: the error once on stderr, no recap of steps that never ran.
    let r = d.cmd(&["run", "bad.yaml"]).run();
    r.code(2);
    assert_eq!(
        r.stderr.matches("unknown module or step key").count(),
        1,
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("RECAP"), "{}", r.stdout);
    holder.signal(libc::SIGTERM);
    assert!(
        holder.wait(Duration::from_secs(60)).is_some(),
        "the holding run did not stop"
    );
}

// ---------------------------------------------------------------- terminals

/// Bytes that must not appear in output meant for pipes and log files.
fn control_characters(s: &str) -> Vec<(usize, char)> {
    s.char_indices()
        .filter(|&(_, c)| c != '\n' && c != '\t' && (c.is_control() || c == '\u{7f}'))
        .collect()
}

#[test]
fn output_through_pipes_has_no_control_characters() {
    let d = Dir::new();
    // A real run with a visible KDD wait (progress lines), a blocked run with
    // a remedy, and a check.
    let runs = [
        (
            vec![
                "--yes",
                "--sandbox-set",
                "kdd_seconds_per_node=2",
                "--sandbox-set",
                "nodes=3",
            ],
            0,
        ),
        (vec!["--check", "--diff", "-v", "--insecure"], 0),
        (vec!["--fresh", "--sandbox-set", "mkectl_version=3.0.0"], 1),
    ];
    let mut all_out = String::new();
    for (args, code) in runs {
        let r = sandbox(&d, &args);
        r.code(code);
        for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            let bad = control_characters(text);
            assert!(
                bad.is_empty(),
                "{name} of {args:?} has control characters {bad:?}:\n{text:?}"
            );
        }
        all_out.push_str(&r.both());
    }
    // The progress is there, as timestamped lines on stderr.
    assert!(
        all_out.contains("Z migrate-kdd: PUT /api/ucp/config-toml"),
        "no timestamped progress line:\n{all_out}"
    );
    assert!(all_out.contains("RECAP"), "{all_out}");
    assert!(all_out.contains("what to do:"), "{all_out}");
}

/// A shell script in a real terminal: a tmux session of 200×50 on its own
/// socket, killed when dropped.
struct Tmux {
    socket: std::path::PathBuf,
    session: String,
}

impl Tmux {
    /// Runs `script` (bash) in a new session, colour allowed.
    fn start(d: &Dir, name: &str, script: &str) -> Tmux {
        let t = Tmux {
            socket: d.join(&format!("{name}.sock")),
            session: format!("mkeprep-it-{name}-{}", std::process::id()),
        };
        let file = d.write(&format!("{name}.sh"), script);
        let started = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-s",
            &t.session,
            &format!(
                "env -u NO_COLOR TERM=xterm-256color bash '{}'",
                file.display()
            ),
        ]);
        assert!(
            started.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux: {e}"))
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// Screens every 150 ms until one satisfies `until` (it is the last) or
    /// 90 s pass.
    fn frames(&self, until: impl Fn(&str) -> bool) -> Vec<String> {
        let mut frames = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let screen = self.screen();
            let done = until(&screen);
            frames.push(screen);
            if done {
                break;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        frames
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-session", "-t", &self.session]);
    }
}

/// `mkeprep run STANDARD --sandbox --yes KNOBS…` in `d`, then `EXIT=code`;
/// the shell survives Ctrl-C (a trap), so the exit code shows.
fn terminal_run(d: &Dir, knobs: &str) -> String {
    format!(
        "trap 'true' INT\ncd '{}' && '{}' run '{STANDARD}' --sandbox --yes {knobs}; echo \"EXIT=$?\"; sleep 30\n",
        d.path().display(),
        bin().display()
    )
}

/// A line of the live KDD bar (`⠋ migrate-kdd [===>   ] 0:04 of ~0:06 …`).
fn kdd_bar_line(line: &str) -> bool {
    line.contains("migrate-kdd") && line.contains(" of ~0:") && line.contains("=>")
}

/// A sandbox run in a real terminal (tmux): the live spinner and the KDD
/// progress bar appear on screen while the run goes, then the recap.
#[test]
fn a_terminal_session_shows_live_progress_and_the_recap() {
    if !have("tmux", "tmux") {
        return;
    }
    let d = Dir::new();
    let t = Tmux::start(
        &d,
        "live",
        &terminal_run(
            &d,
            "--sandbox-set kdd_seconds_per_node=3 --sandbox-set nodes=3",
        ),
    );
    let frames = t.frames(|s| s.contains("EXIT="));
    drop(t);
    let last = frames.last().cloned().unwrap_or_default();
    let _ = std::fs::write(d.join("frames.txt"), frames.join("\n-----\n"));
    assert!(
        last.contains("EXIT=0"),
        "the run did not finish with 0:\n{last}"
    );

    // While the KDD conversion ran, a bar with elapsed and expected time.
    // (3 nodes at the sandbox's 3 s per node: "0:07 of ~0:09".)
    let bars: Vec<&str> = frames
        .iter()
        .flat_map(|f| f.lines())
        .filter(|l| kdd_bar_line(l) && l.contains(" of ~0:09"))
        .collect();
    assert!(
        !bars.is_empty(),
        "no KDD progress bar in {} frames; the last:\n{last}",
        frames.len()
    );
    // The bar's text never goes stale: the time is the bar's own (it moves
    // every tick), and the message carries no count of its own (it said
    // "5s elapsed" at 0:08 when the text came from the 5-second event).
    assert!(
        bars.iter()
            .any(|l| l.contains(" 0:06 of ") || l.contains(" 0:07 of ")),
        "the bar did not move past the first progress event: {bars:?}"
    );
    for l in &bars {
        assert!(!l.contains("elapsed"), "a count in the bar's text: {l}");
    }
    // A spinner (a Braille frame) before the step id.
    let spinner = frames.iter().any(|f| {
        f.lines().any(|l| {
            let mut words = l.split_whitespace();
            words
                .next()
                .and_then(|w| w.chars().next())
                .is_some_and(|c| ('\u{2800}'..='\u{28ff}').contains(&c))
                && words.next() == Some("migrate-kdd")
        })
    });
    assert!(spinner, "no step spinner seen; the last frame:\n{last}");
    // The recap table, and no bar left on screen at the end.
    assert!(last.contains("RECAP"), "{last}");
    assert!(last.contains("STEP") && last.contains("STATUS"), "{last}");
    assert!(last.contains("changed"), "{last}");
    assert!(
        !last.lines().any(kdd_bar_line),
        "a bar was left on screen:\n{last}"
    );
}

/// Ctrl-C in a terminal during the KDD conversion: the run stops (130) and
/// no spinner or bar stays on screen. (The terminal echoes `^C` where the
/// cursor is; a bar drawn to the last column made it wrap, and the bar
/// was never cleared.)
#[test]
fn ctrl_c_in_a_terminal_leaves_no_spinner_on_screen() {
    if !have("tmux", "tmux") {
        return;
    }
    let d = Dir::new();
    let t = Tmux::start(
        &d,
        "ctrlc",
        &terminal_run(&d, "--sandbox-set kdd_seconds_per_node=10"),
    );
    let frames = t.frames(|s| s.lines().any(kdd_bar_line) || s.contains("EXIT="));
    assert!(
        frames.last().is_some_and(|s| s.lines().any(kdd_bar_line)),
        "no KDD bar to interrupt:\n{}",
        frames.last().cloned().unwrap_or_default()
    );
    t.tmux(&["send-keys", "-t", &t.session, "C-c"]);
    let frames = t.frames(|s| s.contains("EXIT="));
    drop(t);
    let last = frames.last().cloned().unwrap_or_default();
    assert!(last.contains("EXIT=130"), "{last}");
    assert!(last.contains("interrupted"), "{last}");
    let left: Vec<&str> = last
        .lines()
        .filter(|l| {
            kdd_bar_line(l)
                || l.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| ('\u{2800}'..='\u{28ff}').contains(&c))
        })
        .collect();
    assert!(
        left.is_empty(),
        "left on screen after Ctrl-C: {left:?}\n{last}"
    );
}

/// The disruptive step's prompt in a real terminal takes `y` (as `[y/N]`
/// says) and the run applies; no terminal and no --yes refuses.
#[test]
fn the_migration_prompt_takes_y() {
    if !have("tmux", "tmux") {
        return;
    }
    let d = Dir::new();
    let script = format!(
        "cd '{}' && '{}' run '{STANDARD}' --sandbox --sandbox-set kdd_seconds_per_node=0.1; echo \"EXIT=$?\"; sleep 30\n",
        d.path().display(),
        bin().display()
    );
    let t = Tmux::start(&d, "prompt", &script);
    let frames = t.frames(|s| s.contains("[y/N]") || s.contains("EXIT="));
    let last = frames.last().cloned().unwrap_or_default();
    assert!(last.contains("Apply them now? [y/N]"), "{last}");
    t.tmux(&["send-keys", "-t", &t.session, "y", "Enter"]);
    let frames = t.frames(|s| s.contains("EXIT="));
    drop(t);
    let last = frames.last().cloned().unwrap_or_default();
    assert!(last.contains("EXIT=0"), "{last}");
    assert_eq!(d.config_puts().len(), 1);
}

// ---------------------------------------------------------------- docs

#[test]
fn the_man_page_is_generated_and_current() {
    let d = Dir::new();
    let r = d.cmd(&["man"]).run();
    r.code(0);
    assert!(r.stdout.contains("\n.TH mkeprep 1 "), "{}", r.stdout);
    for s in [
        ".SH \"MKEPREP RUN\"",
        "\\-\\-junit",
        "\\-\\-sandbox\\-set",
        "EXIT STATUS",
        "MKE_PASSWORD",
    ] {
        assert!(r.stdout.contains(s), "the man page lacks {s}");
    }
    let checked_in = std::fs::read_to_string(format!("{ROOT}/docs/mkeprep.1")).unwrap_or_default();
    assert!(
        checked_in == r.stdout,
        "docs/mkeprep.1 is stale: run `cargo run -- man > docs/mkeprep.1`"
    );
    // It renders without warnings where groff is installed.
    if Path::new("/usr/bin/groff").exists() {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(format!("{ROOT}/docs/mkeprep.1"))
            .output()
            .unwrap_or_else(|e| panic!("groff: {e}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "groff: {err}"
        );
    }
}

#[test]
fn the_ci_examples_gate_on_check_and_keep_the_state_dir() {
    for f in [
        "examples/ci/gitlab-ci.yml",
        "examples/ci/github-actions.yml",
    ] {
        let text = std::fs::read_to_string(format!("{ROOT}/{f}")).unwrap_or_default();
        for s in ["--check", "--yes", "--junit", ".mkeprep", "exit"] {
            assert!(text.contains(s), "{f} lacks {s}");
        }
        // Valid YAML.
        let src = mkeprep::diag::Source::new(f, text.clone());
        if let Err(e) = mkeprep::yaml::parse(&src) {
            panic!("{f} is not valid YAML: {}", e.message);
        }
    }
}
