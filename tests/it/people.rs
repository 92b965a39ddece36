//! For people and pipelines (issue 7): live progress on a terminal (recorded
//! under tmux), clean output off one, the JUnit report against an XML schema,
//! the JSON events against docs/events.schema.json, and the generated docs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Dir, Run, bin};

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

pub(crate) fn schema() -> jsonschema::Validator {
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
pub(crate) fn assert_valid(
    v: &jsonschema::Validator,
    line: &str,
    origin: &str,
) -> serde_json::Value {
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

/// A sandbox run in a real terminal (tmux): the live spinner and the KDD
/// progress bar appear on screen while the run goes, then the recap.
#[test]
fn a_terminal_session_shows_live_progress_and_the_recap() {
    if !have("tmux", "tmux") {
        return;
    }
    let d = Dir::new();
    let session = format!("mkeprep-it-{}", std::process::id());
    let socket = d.join("tmux.sock");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux: {e}"))
    };
    let script = d.write(
        "session.sh",
        &format!(
            "cd '{}' && '{}' run '{STANDARD}' --sandbox --yes --sandbox-set kdd_seconds_per_node=2 --sandbox-set nodes=3; echo \"EXIT=$?\"; sleep 30\n",
            d.path().display(),
            bin().display()
        ),
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "50",
        "-s",
        &session,
        &format!(
            "env -u NO_COLOR TERM=xterm-256color sh '{}'",
            script.display()
        ),
    ]);
    assert!(
        started.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    while Instant::now() < deadline {
        let cap = tmux(&["capture-pane", "-p", "-t", &session]);
        last = String::from_utf8_lossy(&cap.stdout).into_owned();
        frames.push(last.clone());
        if last.contains("EXIT=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let _ = tmux(&["kill-session", "-t", &session]);
    let _ = std::fs::write(d.join("frames.txt"), frames.join("\n-----\n"));
    assert!(
        last.contains("EXIT=0"),
        "the run did not finish with 0:\n{last}"
    );

    // While the KDD conversion ran, a bar with elapsed and expected time.
    // (3 nodes at the sandbox's 2 s per node: "0:04 of ~0:06".)
    let bar = frames.iter().find(|f| {
        f.lines()
            .any(|l| l.contains("migrate-kdd") && l.contains(" of ~0:06") && l.contains("=>"))
    });
    assert!(
        bar.is_some(),
        "no KDD progress bar in {} frames; the last:\n{last}",
        frames.len()
    );
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
        !last.contains(" of ~1:00"),
        "a bar was left on screen:\n{last}"
    );
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
