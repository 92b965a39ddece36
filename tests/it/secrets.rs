//! Secrets campaign (issue 14): every filter minijinja offers, and the
//! other ways an expression can take a value apart, applied to every kind
//! of secret, through every sink (stdout human and JSON, stderr, the
//! journal, JUnit, every file left in the directory), with `-v` and `-vv`.
//! A secret is opaque in templates: each expression either derives from
//! the mask or fails with the opaque-secret hint; none may reveal any of
//! the value, in any case, order or spelling.

use crate::common::{Dir, Run, assert_no_secrets_except};

/// Every filter of minijinja's builtins (its `defaults.rs`), with the
/// arguments it needs. `urlencode` is behind a feature mkeprep does not
/// enable.
const FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace('a', 'b')",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join(',')",
    "split",
    "split('-')",
    "lines",
    "default('x')",
    "d('x')",
    "round",
    "abs",
    "int",
    "float",
    "attr('x')",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch(2)",
    "slice(2)",
    "sum",
    "indent(2)",
    "select",
    "reject",
    "selectattr('x')",
    "rejectattr('x')",
    "map('upper')",
    "groupby('x')",
    "unique",
    "chain([1])",
    "zip([1])",
    "pprint",
    "tojson",
];

/// Other ways to take a value apart (`S` is the secret).
const EXPRESSIONS: &[&str] = &[
    "S[1:]",
    "S[:-1]",
    "S[0]",
    "S[-1]",
    "S ~ 'x'",
    "S + 'x'",
    "S * 2",
    "'%s' | format(S)",
    "S.upper()",
    "S is startingwith('M')",
    "S == 'x'",
    "S | list | join(',')",
    "S | string | list | reverse | join",
    "S | length > 3",
    "'x' in S",
    "S.__class__",
    "[S] | map('string') | join",
    "dict(k=S) | tojson",
    "namespace(v=S).v",
];

/// A kind of secret: how the playbook names it, and its value. Each value
/// holds a distinctive core (letters that are not hex digits) that the scan
/// looks for in every spelling.
struct Kind {
    name: &'static str,
    expr: &'static str,
    value: &'static str,
    core: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "the MKE password (env)",
        expr: "env.MKE_PASSWORD",
        value: "Mk3\"Pw\\d-QzTvWx81",
        core: "QzTvWx81",
    },
    Kind {
        name: "a secret-named env var, multi-line",
        expr: "env.DB_TOKEN",
        value: "tok-RsYuKm52\nline2-PqNwLz73",
        core: "RsYuKm52",
    },
    Kind {
        name: "a secret-named playbook var, trailing space",
        expr: "db_password",
        value: "Db'Pw-GhJkMn90 ",
        core: "GhJkMn90",
    },
    Kind {
        name: "a secret-named -e var",
        expr: "api_secret",
        value: "ApI<s>&ec-VoRsTu17",
        core: "VoRsTu17",
    },
    Kind {
        name: "a value inside a secret-named -e @FILE mapping",
        expr: "vault_credentials.key",
        value: "Vk%25-XyZoPq63",
        core: "XyZoPq63",
    },
    Kind {
        name: "a secret carried by a registered output",
        expr: "kept.msg",
        value: "Mk3\"Pw\\d-QzTvWx81",
        core: "QzTvWx81",
    },
];

/// The templates tried for one secret expression: each filter on the
/// secret, on a list holding it and on a mapping holding it, and each
/// other expression, once inside text and once as a whole value (which
/// keeps its type, so the marker path is taken).
fn templates(s: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    for f in FILTERS {
        exprs.push(format!("{s} | {f}"));
        exprs.push(format!("[{s}, {s}] | {f}"));
        exprs.push(format!("{{'k': {s}}} | {f}"));
    }
    exprs.extend(EXPRESSIONS.iter().map(|e| e.replace('S', s)));
    let mut out = Vec::new();
    for e in exprs {
        // `steps.first` keeps rendering to run time, so one failing
        // expression fails its step, not the load of the whole playbook.
        out.push(format!("{{{{ steps.first is defined }}}} {{{{ {e} }}}}"));
        out.push(format!(
            "{{{{ ({e}) if steps.first is defined else ({e}) }}}}"
        ));
    }
    out
}

/// The campaign playbook for one kind, leaving out the templates in
/// `skip`, and the line of each template's `msg` with its number (to tell
/// which ones a load refused).
fn playbook(
    kind: &Kind,
    skip: &std::collections::BTreeSet<usize>,
) -> (String, Vec<(usize, usize)>) {
    let mut pb = String::from("vars:\n");
    pb.push_str(&format!(
        "  db_password: {}\n",
        serde_json::to_string(KINDS[2].value).unwrap()
    ));
    pb.push_str("steps:\n  - id: first\n    command:\n      argv: [\"true\"]\n");
    pb.push_str(
        "  - id: keep\n    debug:\n      msg: \"{{ env.MKE_PASSWORD if steps.first is defined else 0 }}\"\n    register: kept\n",
    );
    let mut lines = Vec::new();
    for (i, t) in templates(kind.expr).iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        lines.push((pb.lines().count() + 3, i));
        pb.push_str(&format!(
            "  - id: t{i}\n    debug:\n      msg: {}\n    ignore_errors: true\n",
            serde_json::to_string(t).unwrap()
        ));
    }
    (pb, lines)
}

/// Fails when any text holds `core` in any case, reversed, or spelled with
/// anything between its characters (a list's `'Q', 'z'`, a JSON escape).
#[track_caller]
fn no_core(what: &str, text: &str, core: &str) {
    let squeezed: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let core = core.to_ascii_lowercase();
    let rev: String = core.chars().rev().collect();
    for needle in [&core, &rev] {
        if let Some(at) = squeezed.find(needle.as_str()) {
            panic!("a derived form of a secret ({needle}) in {what}, near squeezed offset {at}");
        }
    }
}

#[test]
fn every_filter_on_every_kind_of_secret_reveals_nothing_in_any_sink() {
    let d = Dir::new();
    d.write(
        "vault.yaml",
        &format!(
            "vault_credentials:\n  user: admin\n  key: {}\n",
            serde_json::to_string(KINDS[4].value).unwrap()
        ),
    );
    let api = format!("api_secret={}", KINDS[3].value);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-e", &api, "-e", "@vault.yaml"]);
        d.cmd(&all)
            .env("MKE_PASSWORD", KINDS[0].value)
            .env("DB_TOKEN", KINDS[1].value)
            .run()
    };
    let per_kind = templates("S").len();
    let (mut at_load, mut masked, mut refused, mut renderings) = (0, 0, 0, 0);
    for kind in KINDS {
        // The load evaluates what it can: the templates it refuses are
        // left out of the runs (after their refusal is scanned too).
        let mut skip = std::collections::BTreeSet::new();
        let mut lines = Vec::new();
        for _ in 0..4 {
            let (pb, l) = playbook(kind, &skip);
            d.write("pb.yaml", &pb);
            lines = l;
            // `validate` only warns about what the environment decides;
            // the run's own load refuses it.
            let v = run(&["validate", "pb.yaml"]);
            scan(&d, &v, kind);
            let r = run(&["run", "pb.yaml", "--check"]);
            scan(&d, &r, kind);
            if r.code != 2 {
                break;
            }
            let v = r;
            let before = skip.len();
            for (line, i) in &lines {
                if v.stderr.contains(&format!("pb.yaml:{line}:")) {
                    skip.insert(*i);
                }
            }
            assert!(
                skip.len() > before,
                "{}: a load error outside the templates:\n{}",
                kind.name,
                v.stderr
            );
        }
        at_load += skip.len();
        for extra in [
            &["-v", "--junit", "j.xml"][..],
            &["-vv", "--junit", "j.xml"][..],
            &["--output", "json", "--junit", "j.xml"][..],
            &["--check", "-vv"][..],
        ] {
            let mut args = vec!["run", "pb.yaml", "--fresh"];
            args.extend_from_slice(extra);
            let r = run(&args);
            assert!(r.code == 0 || r.code == 3, "{}: {}", kind.name, r.both());
            scan(&d, &r, kind);
            renderings += lines.len();
            if extra.contains(&"json") {
                let ends: Vec<_> = r
                    .events()
                    .into_iter()
                    .filter(|e| {
                        e["event"] == "step_end" && e["step"].as_str().unwrap().starts_with('t')
                    })
                    .collect();
                assert_eq!(ends.len(), lines.len(), "{}", kind.name);
                for e in &ends {
                    if e["status"] == "ok" {
                        masked += 1;
                    } else {
                        assert_eq!(e["status"], "failed", "{e}");
                        let msg = e["message"].as_str().unwrap_or_default();
                        assert!(!msg.is_empty(), "{e}");
                        refused += 1;
                    }
                }
            }
        }
    }
    // 48 filters x 3 operands + 19 expressions, in text and whole.
    assert_eq!(per_kind, (48 * 3 + 19) * 2);
    assert_eq!(at_load + masked + refused, per_kind * KINDS.len());
    assert!(masked > 0, "{masked}");
    eprintln!(
        "secrets campaign: {} templates over {} kinds of secret: {at_load} refused at load (validate and run), {masked} derived from the mask and {refused} refused while running; {renderings} renderings through 4 runs (human -v/-vv, JSON, --check, JUnit, journal, files): none revealed anything",
        per_kind * KINDS.len(),
        KINDS.len()
    );
}

/// The raw values (every form) and every derived spelling of their cores
/// appear nowhere: stdout, stderr, and every file but the two the test
/// wrote a secret into.
#[track_caller]
fn scan(d: &Dir, r: &Run, kind: &Kind) {
    let values: Vec<&str> = KINDS.iter().map(|k| k.value.trim()).collect();
    let lines: Vec<&str> = KINDS
        .iter()
        .flat_map(|k| k.value.lines())
        .map(str::trim)
        .collect();
    let mut all = values.clone();
    all.extend(lines);
    assert_no_secrets_except(d, &[r], &all, &["pb.yaml", "vault.yaml"]);
    for k in KINDS {
        no_core(&format!("stdout ({})", kind.name), &r.stdout, k.core);
        no_core(&format!("stderr ({})", kind.name), &r.stderr, k.core);
        for f in d.all_files() {
            if f.ends_with("pb.yaml") || f.ends_with("vault.yaml") {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
            no_core(&f.display().to_string(), &text, k.core);
        }
    }
}

/// Issue 14, item 1: a password holding `"` and `\` reached `--output json`
/// and the journal through a message that already held its JSON-escaped
/// form (a debug of a mapping; a command whose stderr is JSON), escaped
/// again on the way out.
#[test]
fn a_password_with_quotes_and_backslashes_is_masked_in_every_layer_of_escaping() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: mapping
    debug:
      msg: {login: "{{ env.MKE_PASSWORD }}", nested: {again: ["{{ env.MKE_PASSWORD }}"]}}
  - id: json-stderr
    command:
      argv: [python3, -c, 'import json,os,sys; p=os.environ["P"]; s=json.dumps({"p": p}); print(s, file=sys.stderr); print(json.dumps({"inner": s}), file=sys.stderr); print(repr(p)); sys.exit(3)']
      env: {P: "{{ env.MKE_PASSWORD }}"}
    ignore_errors: true
"#,
    );
    for pw in [r"back\slash-pass", r#"qu"ote-pass"#, r#"b\o"th\\"-pass"#] {
        for args in [
            &[
                "run", "pb.yaml", "--fresh", "--output", "json", "--junit", "j.xml",
            ][..],
            &["run", "pb.yaml", "--fresh", "-vv"][..],
        ] {
            let r = d.cmd(args).env("MKE_PASSWORD", pw).run();
            r.code(0);
            assert!(r.stdout.contains("********"), "{}", r.stdout);
            let core = pw.trim_end_matches("-pass");
            let forms = [pw, core];
            assert_no_secrets_except(&d, &[&r], &forms, &["pb.yaml"]);
            // No spelling of it either: the letters around the quote and
            // the backslash never appear together.
            for text in [
                r.stdout.clone(),
                d.read(".mkeprep/journal.jsonl"),
                d.read("j.xml"),
            ] {
                let squeezed: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
                let letters: String = pw.chars().filter(|c| c.is_alphanumeric()).collect();
                assert!(!squeezed.contains(&letters), "{pw}: {text}");
            }
        }
    }
}

/// Issue 14, item 2: values derived from a secret by a filter, a slice or
/// a list were printed. The same expressions now read the mask, or are
/// refused (at load, when they use nothing that a run computes) with the
/// opaque-secret hint.
#[test]
fn derived_values_of_a_secret_are_derived_from_the_mask() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: derived
    debug:
      msg: "{{ env.MKE_PASSWORD | upper }} {{ env.MKE_PASSWORD | string | reverse }} {{ env.MKE_PASSWORD ~ '' }} {{ env.MKE_PASSWORD | string | list | join(',') }}"
"#,
    );
    let pw = "Derived-Pw-8812";
    let needles = [pw, "DERIVED-PW", "2188-wP", "D,e,r,i"];
    let r = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .env("MKE_PASSWORD", pw)
        .run();
    r.code(0);
    // Text made from a secret is a secret itself, shown with its secrets
    // masked.
    assert_eq!(
        r.step("derived")["message"],
        "******** ******** ******** *,*,*,*,*,*,*,*"
    );
    assert_no_secrets_except(&d, &[&r], &needles, &["pb.yaml"]);
    d.write(
        "pb.yaml",
        r#"steps:
  - id: slice
    debug:
      msg: "{{ env.MKE_PASSWORD[2:] }}"
  - id: reverse
    debug:
      msg: "{{ env.MKE_PASSWORD | reverse }}"
"#,
    );
    for cmd in [&["run", "pb.yaml"][..], &["run", "pb.yaml", "--check"][..]] {
        let r = d.cmd(cmd).env("MKE_PASSWORD", pw).run();
        // Refused at load or while running, with the hint either way.
        assert!(r.code == 1 || r.code == 2, "{}", r.both());
        for words in [
            "value of type plain object cannot be sliced",
            "a secret is opaque in templates",
        ] {
            assert!(r.both().contains(words), "{words}: {}", r.both());
        }
        assert_no_secrets_except(&d, &[&r], &needles, &["pb.yaml"]);
    }
}

/// The real value reaches a program only through a command's `env`; on
/// its command line or in a path a secret is refused, naming the field.
#[test]
fn a_secret_reaches_a_program_only_through_env() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"vars:
  db_password: "Var-Pw-3317"
steps:
  - id: via-env
    command:
      argv: [sh, -c, 'test "$A" = "$MKE_PASSWORD" && test "$B" = Var-Pw-3317 && test "$C" = "Key: $MKE_PASSWORD" && test "$D" = plain && touch got-it']
      env: {A: "{{ env.MKE_PASSWORD }}", B: "{{ db_password }}", C: "Key: {{ env.MKE_PASSWORD }}", D: plain}
  - id: via-argv
    command:
      argv: [echo, "{{ db_password }}"]
    ignore_errors: true
  - id: via-argv-text
    command:
      argv: [curl, -H, "X-Key: {{ env.MKE_PASSWORD }}"]
    ignore_errors: true
  - id: via-creates
    command:
      argv: ["true"]
      creates: "{{ env.MKE_PASSWORD }}"
    ignore_errors: true
"#,
    );
    let r = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .env("MKE_PASSWORD", "Env-Pw-5521")
        .run();
    r.code(0);
    assert!(d.join("got-it").exists(), "{}", r.both());
    for (id, field) in [
        ("via-argv", "argv[1]"),
        ("via-argv-text", "argv[2]"),
        ("via-creates", "creates"),
    ] {
        let s = r.step(id);
        assert_eq!(s["status"], "failed", "{s}");
        let msg = s["message"].as_str().unwrap();
        assert!(msg.contains(&format!("`{field}` is a secret")), "{s}");
    }
    assert_no_secrets_except(&d, &[&r], &["Env-Pw-5521", "Var-Pw-3317"], &["pb.yaml"]);
}

/// Issue 14, item 8 (secrets): a trailing space defeated the masking of a
/// command's stderr (its last line is trimmed into the message); a
/// multi-line secret was masked only whole; a 1–2 character password was
/// never masked (it is refused now: it cannot be masked without destroying
/// the output).
#[test]
fn trimmed_and_partial_forms_are_masked_and_a_tiny_password_is_refused() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: trailing
    command:
      argv: [sh, -c, 'printf "%s\n" "$P" >&2; exit 1']
      env: {P: "{{ env.MKE_PASSWORD }}"}
    ignore_errors: true
  - id: one-line
    command:
      argv: [sh, -c, 'printf "%s\n" "$T" | tail -n 1 >&2; exit 1']
      env: {T: "{{ env.APP_TOKEN }}"}
    ignore_errors: true
"#,
    );
    for args in [
        &["run", "pb.yaml", "--fresh", "--output", "json"][..],
        &["run", "pb.yaml", "--fresh", "-vv", "--junit", "j.xml"][..],
    ] {
        let r = d
            .cmd(args)
            .env("MKE_PASSWORD", "Trailing-Pw-6613 ")
            .env("APP_TOKEN", "first-line-QW81\nsecond-line-ZX92")
            .run();
        r.code(0);
        assert_no_secrets_except(
            &d,
            &[&r],
            &["Trailing-Pw-6613", "first-line-QW81", "second-line-ZX92"],
            &["pb.yaml"],
        );
    }
    for pw in ["x", "xy"] {
        let r = d.cmd(&["run", "pb.yaml"]).env("MKE_PASSWORD", pw).run();
        r.code(2)
            .stderr_has(&format!("the MKE password is {} character", pw.len()));
        d.write("pw.txt", pw);
        let r = d
            .cmd(&["run", "pb.yaml", "--password-file", "pw.txt"])
            .run();
        r.code(2).stderr_has("cannot be masked");
    }
}
