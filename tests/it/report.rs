//! The readiness report through the binary: `run --report FILE` (HTML and
//! Markdown) of real sandbox runs, `mkeprep report` from the journal, the
//! page in headless Chromium, and the secret scan over the report files.

// Text as the report writes it: HTML-escaped, Markdown-escaped.
use mkeprep::report::readiness::{html::h, markdown::md};
use serde_json::Value;

use crate::chromium::{self, Browser};
use crate::common::{Dir, Run, assert_no_secrets, sandbox_args};

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");

fn steps(run: &Run) -> Vec<Value> {
    run.events()
        .into_iter()
        .filter(|e| e["event"] == "step_end")
        .collect()
}

fn word(status: &Value) -> String {
    status.as_str().unwrap_or("").replace('_', " ")
}

/// Every step of the run with its status, message and remedy; the hosts of
/// fan-out steps, each with its status and cause.
#[track_caller]
fn html_shows_run(html: &str, run: &Run) {
    for s in steps(run) {
        let id = s["step"].as_str().unwrap();
        let row = html
            .split("<tr class=\"row-")
            .find(|r| r.contains(&format!("<code class=\"id\">{id}</code>")))
            .unwrap_or_else(|| panic!("no row for {id}"));
        assert!(
            row.contains(&format!(">{}</span>", word(&s["status"]))),
            "{id}: status"
        );
        assert!(
            row.contains(&h(s["message"].as_str().unwrap())),
            "{id}: message"
        );
        if let Some(rem) = s["remedy"].as_str() {
            assert!(row.contains(&h(rem)), "{id}: remedy");
        }
        for host in s["output"]["hosts"].as_array().into_iter().flatten() {
            let addr = host["address"].as_str().unwrap();
            let table = html
                .split(&format!("<section id=\"hosts-{id}\">"))
                .nth(1)
                .unwrap_or_else(|| panic!("no host table for {id}"));
            let hrow = table
                .split("<tr>")
                .find(|r| r.contains(&format!("<code>{addr}</code>")))
                .unwrap_or_else(|| panic!("no row for host {addr}"));
            assert!(hrow.contains(&format!(">{}</span>", host["status"].as_str().unwrap())));
            if let Some(cause) = host["cause"].as_str() {
                assert!(hrow.contains(&format!("<td>{cause}</td>")), "{hrow}");
            }
            assert!(hrow.contains(&h(host["message"].as_str().unwrap())));
            assert!(hrow.contains(&format!("<b>role</b> {}", host["role"].as_str().unwrap())));
        }
    }
}

#[track_caller]
fn md_shows_run(text: &str, run: &Run) {
    for s in steps(run) {
        let id = s["step"].as_str().unwrap();
        let row = text
            .lines()
            .find(|l| l.contains(&format!("| `{id}`<br>")))
            .unwrap_or_else(|| panic!("no row for {id}:\n{text}"));
        assert!(
            row.contains(&format!("| {} |", word(&s["status"]))),
            "{row}"
        );
        assert!(row.contains(&md(s["message"].as_str().unwrap())), "{row}");
        if let Some(rem) = s["remedy"].as_str() {
            assert!(row.contains(&format!("What to do: {}", md(rem))), "{row}");
        }
        for host in s["output"]["hosts"].as_array().into_iter().flatten() {
            let addr = host["address"].as_str().unwrap();
            let hrow = text
                .lines()
                .find(|l| l.starts_with(&format!("| {addr} |")))
                .unwrap_or_else(|| panic!("no row for host {addr}"));
            let cause = host["cause"].as_str().unwrap_or("");
            assert!(
                hrow.contains(&format!(
                    "| {} | {cause} |",
                    host["status"].as_str().unwrap()
                )),
                "{hrow}"
            );
            assert!(hrow.contains(&format!("role: {}", host["role"].as_str().unwrap())));
        }
    }
}

/// `mkeprep report -o FILE` in `d`: exit 0, says the verdict.
#[track_caller]
fn from_journal(d: &Dir, file: &str, verdict: &str) -> String {
    d.cmd(&["report", "-o", file])
        .run()
        .code(0)
        .stdout_has(&format!("{file}: {verdict} ("));
    d.read(file)
}

#[test]
fn report_of_a_blocked_run_says_not_ready_with_the_remedy_and_every_host() {
    let d = Dir::new();
    let knobs = ["sudo_password_node=[2]"];
    let run = |report: &str| {
        let r = d
            .cmd(&sandbox_args(
                STANDARD,
                &knobs,
                &["--output", "json", "--report", report],
            ))
            .run();
        r.code(1);
        assert_eq!(r.step("check-hosts")["status"], "blocked");
        r
    };
    let r = run("r.html");
    let html = d.read("r.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h1><span class=\"verdict-word\">Not ready</span></h1>"));
    assert!(html.contains("<p class=\"reason\">blocked check-hosts: see what to do below</p>"));
    assert!(html.contains("<dd>MKE 3.8.10, upgrading to MKE 4k 4.1.5</dd>"));
    // The run stopped at check-hosts: later steps are listed, not run.
    assert_eq!(steps(&r).len(), 11, "every step of the standard playbook");
    html_shows_run(&html, &r);
    let todo = html
        .split("<section id=\"todo\"")
        .nth(1)
        .expect("what to do");
    assert!(todo.contains(&h(r.step("check-hosts")["remedy"].as_str().unwrap())));

    let r = run("r.md");
    let text = d.read("r.md");
    assert!(text.starts_with("# MKE 3 → MKE 4k upgrade readiness: NOT READY\n"));
    assert!(
        text.contains("| Nodes | 3 (1 manager, 2 workers) |"),
        "{text}"
    );
    md_shows_run(&text, &r);

    // From the journal: the same verdict, the same steps that ran.
    let html = from_journal(&d, "j.html", "not ready");
    assert!(html.contains("<h1><span class=\"verdict-word\">Not ready</span></h1>"));
    assert!(html.contains(&format!("the journal in {}", ".mkeprep")));
    let text = from_journal(&d, "j.md", "not ready");
    assert!(text.contains("upgrade readiness: NOT READY"));
    assert!(text.contains(&md(r.step("check-hosts")["remedy"].as_str().unwrap())));
}

#[test]
fn report_of_a_migration_shows_pending_then_ready_with_the_change() {
    let d = Dir::new();
    let check = d
        .cmd(&sandbox_args(
            STANDARD,
            &[],
            &["--check", "--output", "json", "--report", "check.md"],
        ))
        .run();
    check.code(3);
    let text = d.read("check.md");
    assert!(text.starts_with("# MKE 3 → MKE 4k upgrade readiness: PENDING CHANGES\n"));
    assert!(text.contains("## What a real run would change"));
    assert!(
        text.contains(
            "| `migrate-kdd` (would change) | `cluster_config.calico_kdd` | `false` | `true` |"
        ),
        "{text}"
    );
    assert!(text.contains("| Run | dry run (--check): nothing was changed"));
    md_shows_run(&text, &check);

    let run = d
        .cmd(&sandbox_args(
            STANDARD,
            &["kdd_seconds_per_node=0.1"],
            &["--yes", "--output", "json", "--report", "yes.html"],
        ))
        .run();
    run.code(0);
    let html = d.read("yes.html");
    assert!(html.contains("<h1><span class=\"verdict-word\">Ready</span></h1>"));
    assert!(html.contains("every step is in sync; this run applied 1 change"));
    assert!(html.contains("<h2>What this run changed</h2>"));
    assert!(html.contains(
        "<td><code>cluster_config.calico_kdd</code></td><td><code>false</code></td><td><code>true</code></td>"
    ));
    assert!(html.contains("<dd>3 (1 manager, 2 workers)</dd>"));
    html_shows_run(&html, &run);

    for (file, shows) in [
        (
            "j.html",
            "<td><code>false</code></td><td><code>true</code></td>",
        ),
        ("j.md", "| `cluster_config.calico_kdd` | `false` | `true` |"),
    ] {
        let text = from_journal(&d, file, "ready");
        assert!(text.contains(shows), "{file}:\n{text}");
    }
    let text = d.read("j.md");
    md_shows_run(&text, &run);
}

#[test]
fn report_needs_a_known_extension_and_a_recorded_run() {
    let d = Dir::new();
    // A wrong extension is a usage error before anything is contacted: no
    // sandbox started, no state directory.
    let r = d
        .cmd(&["run", STANDARD, "--sandbox", "--report", "r.pdf"])
        .run();
    r.code(2)
        .stderr_has(".html (one self-contained page) or .md");
    assert!(!d.join(".mkeprep").exists());
    d.cmd(&["report", "-o", "r.txt"]).run().code(2);
    // --check writes no journal: the report command says what to do.
    d.cmd(&["report", "-o", "r.html"])
        .run()
        .code(1)
        .stderr_has("a --check run writes no journal, so give it --report FILE");
    assert!(!d.join("r.html").exists());
}

#[test]
fn the_report_of_a_run_with_secrets_holds_none_of_them() {
    const PASSPHRASE: &str = "Backup-Passphrase-7d1e";
    const TOKEN: &str = "Deploy-Token-93af51";
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"name: secrets
steps:
  - id: backup
    mke_backup:
      max_age: 1h
      create: true
      passphrase_env: BACKUP_PASSPHRASE
  - id: show
    debug:
      msg: "token {{ env.DEPLOY_TOKEN }} password {{ env.MKE_PASSWORD }}"
  - id: fail
    assert:
      that: ["env.DEPLOY_TOKEN == 'x'"]
      message: "token {{ env.DEPLOY_TOKEN }} is wrong"
"#,
    );
    let mut runs = Vec::new();
    for (i, report) in ["r.html", "r.md"].iter().enumerate() {
        let mut extra = vec!["--report", report, "-vv", "--fresh"];
        if i == 1 {
            extra.extend(["--output", "json"]);
        }
        let r = d
            .cmd(&sandbox_args(
                "pb.yaml",
                &["backups=absent", "backup_seconds=0.2"],
                &extra,
            ))
            .env("BACKUP_PASSPHRASE", PASSPHRASE)
            .env("DEPLOY_TOKEN", TOKEN)
            .run();
        r.code(1);
        runs.push(r);
    }
    let j = d.cmd(&["report", "-o", "j.html"]).run();
    j.code(0);
    for f in ["r.html", "r.md", "j.html"] {
        let text = d.read(f);
        let mask = if f.ends_with(".md") {
            r"token \*\*\*\*\*\*\*\*"
        } else {
            "token ********"
        };
        assert!(
            text.contains(mask),
            "{f} shows where the secret was:\n{text}"
        );
    }
    let all: Vec<&Run> = runs.iter().chain([&j]).collect();
    let scanned = assert_no_secrets(&d, &all, &[PASSPHRASE, TOKEN]);
    assert!(scanned >= 5, "the reports and the journal were scanned");
}

/// What the test page reports: the verdict, the title, the number of step
/// rows, the page's scroll width against its width, and the right edge of
/// the rightmost box, of all boxes (`right_all`) and of those outside a
/// table's own scroll box (`right`).
const MEASURE: &str = "(() => { const boxes = [...document.querySelectorAll('body *')]; \
const edge = list => Math.ceil(Math.max(0, ...list.map(e => e.getBoundingClientRect().right))); \
return JSON.stringify({h1: document.querySelector('h1') && document.querySelector('h1').textContent, \
title: document.title, rows: document.querySelectorAll('table.steps tbody tr').length, \
scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth, \
right_all: edge(boxes), \
right: edge(boxes.filter(e => !(e.parentElement && e.parentElement.closest('.table-wrap')))) }); })()";

#[test]
fn the_html_report_loads_in_chromium_offline_without_errors_on_a_phone_and_a_desktop() {
    let Some(bin) = chromium::binary_or_skip("the_html_report_loads_in_chromium") else {
        return;
    };
    let d = Dir::new();
    // A report worth looking at: a blocked fan-out step, a host failing.
    d.cmd(&sandbox_args(
        STANDARD,
        &["sudo_password_node=[2]", "nodes=5", "managers=3"],
        &["--report", "report.html"],
    ))
    .run()
    .code(1);
    let url = format!("file://{}", d.join("report.html").display());
    let mut browser = Browser::start(&bin, &d.join("profile"));

    // The detectors see what they are there to see: a page that fetches an
    // image and logs an error is caught on both counts.
    d.write(
        "control.html",
        "<!DOCTYPE html><html><head><title>c</title></head><body><h1>c</h1>\
<img src=\"http://127.0.0.1:9/x.png\"><script>console.error('control error')</script></body></html>",
    );
    let control = format!("file://{}", d.join("control.html").display());
    let load = browser.load(&control, (390, 800, true), "screen", MEASURE);
    assert!(
        load.requests
            .iter()
            .any(|u| u.starts_with("http://127.0.0.1:9/")),
        "{load:?}"
    );
    assert!(
        load.errors.iter().any(|e| e.contains("control error")),
        "{load:?}"
    );

    let mut shots = Vec::new();
    // A phone, a desktop, and an A4 page printed (794 CSS pixels wide).
    for (width, height, mobile, media) in [
        (390, 844, true, "screen"),
        (1000, 900, false, "screen"),
        (794, 1123, false, "print"),
    ] {
        let load = browser.load(&url, (width, height, mobile), media, MEASURE);
        assert_eq!(load.requests, vec![url.clone()], "only the file itself");
        assert!(load.errors.is_empty(), "console errors: {:?}", load.errors);
        let m: Value = serde_json::from_str(load.measured.as_str().unwrap_or("{}")).unwrap();
        assert_eq!(m["h1"], "Not ready", "{m}");
        assert!(
            m["title"].as_str().unwrap().starts_with("Not ready: "),
            "{m}"
        );
        assert_eq!(m["rows"], 11, "{m}");
        assert!(
            m["scroll"].as_u64() <= m["width"].as_u64(),
            "the page scrolls sideways at {width}px ({media}): {m}"
        );
        // Nothing sticks out: on screen a wide table scrolls inside its own
        // box; on paper there is no scrolling, so nothing at all may.
        let right = if media == "print" {
            &m["right_all"]
        } else {
            &m["right"]
        };
        assert!(
            right.as_u64() <= m["width"].as_u64(),
            "a box sticks out at {width}px ({media}): {m}"
        );
        let (w, h) = chromium::png_size(&load.screenshot).expect("a PNG");
        // The page's width, less a desktop scrollbar.
        assert!(w <= width && w + 20 >= width, "screenshot width {w}");
        assert!(h > height / 2, "screenshot height {h}");
        shots.push(load.screenshot);
    }
    // `MKEPREP_UPDATE_DOCS=1 cargo test --test it the_html_report_loads`
    // refreshes the README's screenshot.
    if std::env::var_os("MKEPREP_UPDATE_DOCS").is_some() {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/readiness-report.png");
        std::fs::write(docs, &shots[1]).expect("write docs screenshot");
        let _ = std::fs::write(d.join("phone.png"), &shots[0]);
        let _ = std::fs::write(d.join("print.png"), &shots[2]);
        let kept = std::env::temp_dir().join("mkeprep-report-shots");
        let _ = std::fs::create_dir_all(&kept);
        for (name, shot) in [("phone.png", &shots[0]), ("print.png", &shots[2])] {
            let _ = std::fs::write(kept.join(name), shot);
        }
    }
}
