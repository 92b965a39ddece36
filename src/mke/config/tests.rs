use super::*;
use proptest::prelude::*;

const SAMPLE: &str = include_str!("../testdata/sample.toml");
const FULL: &str = include_str!("../testdata/full-3.8.toml");
const CRLF: &str = include_str!("../testdata/crlf-tabs.toml");
const DOTTED: &str = include_str!("../testdata/dotted.toml");
const INLINE: &str = include_str!("../testdata/inline.toml");
const OLD: &str = include_str!("../testdata/old-no-kdd.toml");
const STRING_FALSE: &str = include_str!("../testdata/string-false.toml");

/// `doc` with the five bytes `false` at `offset` replaced by `true`: the
/// only output a correct edit may produce. Computed without the parser.
fn expected(doc: &str, offset: usize) -> String {
    assert_eq!(&doc[offset..offset + 5], "false", "test setup: offset");
    format!("{}true{}", &doc[..offset], &doc[offset + 5..])
}

/// The offset of the value in the one line that holds `needle`, which
/// must occur exactly once.
fn offset_in(doc: &str, needle: &str) -> usize {
    assert_eq!(doc.matches(needle).count(), 1, "test setup: {needle:?}");
    doc.find(needle).unwrap() + needle.rfind("false").unwrap()
}

#[test]
fn fixtures_change_only_the_value_bytes() {
    for (name, doc, needle) in [
        ("sample", SAMPLE, "  calico_kdd = false\n  calico_ebpf"),
        ("full", FULL, "calico_kdd=false"),
        ("crlf", CRLF, "calico_kdd   =   false # switched"),
        ("dotted", DOTTED, "cluster_config.\"calico_kdd\" = false"),
        ("inline", INLINE, "calico_kdd = false"),
    ] {
        let out = set_calico_kdd(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out, expected(doc, offset_in(doc, needle)), "{name}");
        assert_eq!(
            read_cluster_bool(&out, "calico_kdd"),
            Ok(Some(true)),
            "{name}"
        );
        // A second edit is a no-op.
        assert_eq!(set_calico_kdd(&out).as_deref(), Ok(out.as_str()), "{name}");
    }
}

#[test]
fn full_fixture_keeps_decoys_and_secrets_in_place() {
    let out = set_calico_kdd(FULL).unwrap();
    // Comments, strings and sub-tables that mention the key are untouched.
    assert_eq!(
        out.matches("calico_kdd = false").count(),
        FULL.matches("calico_kdd = false").count()
    );
    assert!(out.contains("calico_kdd=true\n"));
    assert!(out.contains("disable_tracking = true   \n"));
    assert!(out.contains(r#"calico_vxlan_port = "4789""#));
    assert_eq!(out.len() + 1, FULL.len());
}

#[test]
fn crlf_line_ends_survive() {
    let out = set_calico_kdd(CRLF).unwrap();
    assert_eq!(out.matches("\r\n").count(), CRLF.matches("\r\n").count());
    assert!(out.contains("\tcalico_kdd   =   true # switched by mkeprep\r\n"));
}

#[test]
fn already_true_returns_the_document_unchanged() {
    let doc = SAMPLE.replace("calico_kdd = false", "calico_kdd = true");
    assert_eq!(set_calico_kdd(&doc), Ok(doc.clone()));
}

#[test]
fn missing_key_means_mke_is_too_old() {
    let err = set_calico_kdd(OLD).unwrap_err();
    assert_eq!(err, ConfigError::KddUnsupported);
    assert!(err.to_string().contains("3.7.15"), "{err}");
    assert_eq!(
        set_calico_kdd("title = 1\n"),
        Err(ConfigError::KddUnsupported)
    );
    assert_eq!(read_cluster_bool(OLD, "calico_kdd"), Ok(None));
    assert_eq!(read_cluster_bool("", "calico_kdd"), Ok(None));
    assert_eq!(
        set_cluster_bool(OLD, "unmanaged_cni", false),
        Err(ConfigError::MissingKey {
            key: "unmanaged_cni".into()
        })
    );
}

#[test]
fn a_quoted_false_is_refused_with_its_line() {
    let err = set_calico_kdd(STRING_FALSE).unwrap_err();
    assert_eq!(
        err,
        ConfigError::WrongType {
            key: "calico_kdd".into(),
            expected: "a boolean (true or false)",
            found: "the string \"false\"".into(),
            line: 3,
            column: 16,
        }
    );
    assert!(err.to_string().contains("line 3, column 16"), "{err}");
    assert!(read_cluster_bool(STRING_FALSE, "calico_kdd").is_err());
    let err = read_cluster_string("[cluster_config]\nkube_proxy_mode = 1\n", "kube_proxy_mode")
        .unwrap_err();
    assert!(err.to_string().contains("an integer"), "{err}");
    let err = read_cluster_bool("[cluster_config.calico_kdd]\nx = 1\n", "calico_kdd").unwrap_err();
    assert!(err.to_string().contains("a table"), "{err}");
}

#[test]
fn cluster_config_that_is_not_a_table() {
    let err = read_cluster_bool("a = 1\ncluster_config = 5\n", "calico_kdd").unwrap_err();
    assert_eq!(
        err,
        ConfigError::NotATable {
            found: "an integer".into(),
            line: 2,
            column: 18
        }
    );
}

#[test]
fn malformed_toml_reports_line_and_column_without_quoting_the_document() {
    let doc = "[auth]\npassphrase = \"hunter2-secret\"\n[cluster_config]\ncalico_kdd = fals\n";
    let err = set_calico_kdd(doc).unwrap_err();
    let ConfigError::Parse { line, column, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((*line, *column), (4, 14));
    let text = err.to_string();
    assert!(text.starts_with("the MKE configuration is not valid TOML: line 4, column 14"));
    assert!(!text.contains("hunter2"), "{text}");

    let dup = "[cluster_config]\ncalico_kdd = false\ncalico_kdd = true\n";
    let err = read_cluster_bool(dup, "calico_kdd").unwrap_err();
    assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err:?}");
    // Unterminated multi-line string, non-ASCII before the error.
    let err = read_cluster_bool("# ééé\nx = \"\"\"open\n", "calico_kdd").unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
}

#[test]
fn settings_read_all_four_keys() {
    assert_eq!(
        ClusterSettings::read(SAMPLE),
        Ok(ClusterSettings {
            calico_kdd: Some(false),
            unmanaged_cni: Some(false),
            calico_ebpf_enabled: Some(false),
            kube_proxy_mode: Some("iptables".into()),
        })
    );
    assert_eq!(
        ClusterSettings::read(INLINE),
        Ok(ClusterSettings {
            calico_kdd: Some(false),
            unmanaged_cni: Some(true),
            calico_ebpf_enabled: None,
            kube_proxy_mode: Some("ipvs".into()),
        })
    );
    assert_eq!(
        ClusterSettings::read("[auth]\n"),
        Ok(ClusterSettings::default())
    );
    assert_eq!(
        read_cluster_string(DOTTED, "kube_proxy_mode"),
        Ok(Some("iptables".into()))
    );
}

#[test]
fn set_cluster_bool_both_ways() {
    let out = set_cluster_bool(SAMPLE, "enabled", true);
    assert_eq!(
        out,
        Err(ConfigError::MissingKey {
            key: "enabled".into()
        }),
        "sub-table keys are not [cluster_config] keys"
    );
    let on = SAMPLE.replace("unmanaged_cni = false", "unmanaged_cni = true");
    assert_eq!(
        set_cluster_bool(&on, "unmanaged_cni", false),
        Ok(SAMPLE.to_string())
    );
}

#[test]
fn byte_order_mark_is_kept() {
    let doc = format!("\u{feff}{SAMPLE}");
    let out = set_calico_kdd(&doc).unwrap();
    assert!(out.starts_with('\u{feff}'));
    assert_eq!(out, expected(&doc, offset_in(&doc, "calico_kdd = false")));
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
    assert_eq!(line_col("é\nxé", 5), (2, 3));
    assert_eq!(line_col("abc", 99), (1, 4));
}

// ----------------------------------------------------------- properties

/// Values as MKE writes them, and some TOML it could: quoted numbers,
/// arrays over several lines, inline tables, multi-line strings, dates.
const VALUES: &[&str] = &[
    "443",
    "\"1480\"",
    "\"\"",
    "''",
    "false",
    "true",
    "1.5",
    "\"calico_kdd = false\"",
    "'literal calico_kdd=false'",
    "[\"--http-check-frequency=20s\", \"--x\"]",
    "[\n    \"--event-ttl=1h0m0s\",  # keep\n    \"--b\",\n]",
    "[]",
    "{ cpu = \"250m\", memory = \"1Gi\" }",
    "[ { name = \"high\", flags = [\"--a\"] }, {name=\"low\",flags=[]} ]",
    "\"\"\"\nmulti\ncalico_kdd = false\n\"\"\"",
    "'''\nraw \\ text\n'''",
    "1979-05-27T07:32:00Z",
    "\"unicode é ü 雪\"",
    "10_000",
    "{ calico_kdd = false }",
    "[false, false]",
    "\"a # not a comment\"",
    "\"[cluster_config]\"",
    "\"escaped \\\" calico_kdd = false\"",
    "-0.0",
    "0xdead_beef",
];

fn value() -> impl Strategy<Value = &'static str> {
    prop::sample::select(VALUES)
}

#[derive(Debug, Clone)]
enum Line {
    Blank(&'static str),
    Comment(&'static str),
    Key(&'static str),
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        prop::sample::select(&["", "   ", "\t"][..]).prop_map(Line::Blank),
        prop::sample::select(
            &[
                "# plain comment",
                "#calico_kdd = false",
                "  # calico_kdd = true (a comment)",
                "# [cluster_config]",
                "# é comment",
            ][..]
        )
        .prop_map(Line::Comment),
        value().prop_map(Line::Key),
    ]
}

/// How one document is laid out.
#[derive(Debug, Clone)]
struct Layout {
    eol: &'static str,
    indent: &'static str,
    key: &'static str,
    sep: &'static str,
    tail: &'static str,
    header_tail: &'static str,
    /// How the `[cluster_config]` header is spelt.
    header: &'static str,
    /// Keys before the first table.
    root: Vec<Line>,
    before_tables: Vec<Vec<Line>>,
    before_key: Vec<Line>,
    after_key: Vec<Line>,
    sub_tables: Vec<Vec<Line>>,
    after_tables: Vec<Vec<Line>>,
}

fn layout() -> impl Strategy<Value = Layout> {
    let lines = || prop::collection::vec(line(), 0..6);
    let tables = move || prop::collection::vec(lines(), 0..3);
    (
        (
            prop::sample::select(&["\n", "\r\n"][..]),
            prop::sample::select(&["", "  ", "    ", "\t"][..]),
            prop::sample::select(&["calico_kdd", "\"calico_kdd\"", "'calico_kdd'"][..]),
            prop::sample::select(&[" = ", "=", "   =   ", "\t=\t", " =", "= "][..]),
            prop::sample::select(&["", "  ", "\t", " # comment", "#c", "   # é"][..]),
            prop::sample::select(&["", "  ", " # cluster settings"][..]),
            prop::sample::select(
                &[
                    "[cluster_config]",
                    "[ cluster_config ]",
                    "[\"cluster_config\"]",
                    "['cluster_config']",
                ][..],
            ),
            prop::collection::vec(line(), 0..4),
        ),
        (tables(), lines(), lines(), tables(), tables()),
    )
        .prop_map(
            |(
                (eol, indent, key, sep, tail, header_tail, header, root),
                (before_tables, before_key, after_key, sub_tables, after_tables),
            )| Layout {
                eol,
                indent,
                key,
                sep,
                tail,
                header_tail,
                header,
                root,
                before_tables,
                before_key,
                after_key,
                sub_tables,
                after_tables,
            },
        )
}

/// Writes the document; returns it with the byte offset of the value of
/// `[cluster_config] calico_kdd`, known by construction.
fn render(l: &Layout, kdd: &str) -> (String, usize) {
    let mut doc = String::new();
    let mut n = 0;
    // `decoy`: the first key of the table is named calico_kdd (only for
    // tables other than [cluster_config], where it would be a duplicate).
    let mut put_lines = |doc: &mut String, lines: &[Line], indent: &str, decoy: bool| {
        let mut first = decoy;
        for line in lines {
            match line {
                Line::Blank(b) => doc.push_str(b),
                Line::Comment(c) => {
                    doc.push_str(indent);
                    doc.push_str(c);
                }
                Line::Key(v) => {
                    n += 1;
                    let name = if std::mem::take(&mut first) {
                        "calico_kdd".to_string()
                    } else {
                        format!("key_{n}")
                    };
                    doc.push_str(&format!("{indent}{name} = {v}"));
                }
            }
            doc.push_str(l.eol);
        }
    };
    put_lines(&mut doc, &l.root, "", false);
    for (i, t) in l.before_tables.iter().enumerate() {
        doc.push_str(&format!("[table_before_{i}]{}", l.eol));
        put_lines(&mut doc, t, l.indent, true);
    }
    doc.push_str(&format!("{}{}{}", l.header, l.header_tail, l.eol));
    put_lines(&mut doc, &l.before_key, l.indent, false);
    let offset = doc.len() + l.indent.len() + l.key.len() + l.sep.len();
    doc.push_str(&format!(
        "{}{}{}{kdd}{}{}",
        l.indent, l.key, l.sep, l.tail, l.eol
    ));
    put_lines(&mut doc, &l.after_key, l.indent, false);
    for (i, t) in l.sub_tables.iter().enumerate() {
        doc.push_str(&format!("{}[cluster_config.sub_{i}]{}", l.indent, l.eol));
        put_lines(&mut doc, t, l.indent, true);
    }
    for (i, t) in l.after_tables.iter().enumerate() {
        doc.push_str(&format!("[[array_of_tables]]{}", l.eol));
        doc.push_str(&format!("name = \"t{i}\"{}", l.eol));
        put_lines(&mut doc, t, "", true);
    }
    (doc, offset)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn edit_replaces_exactly_the_value(l in layout()) {
        let (doc, offset) = render(&l, "false");
        prop_assume!(Document::parse(doc.as_str()).is_ok());
        let out = set_calico_kdd(&doc);
        prop_assert_eq!(out, Ok(expected(&doc, offset)));
    }

    #[test]
    fn true_is_left_alone(l in layout()) {
        let (doc, _) = render(&l, "true");
        prop_assume!(Document::parse(doc.as_str()).is_ok());
        prop_assert_eq!(set_calico_kdd(&doc), Ok(doc.clone()));
        prop_assert_eq!(read_cluster_bool(&doc, "calico_kdd"), Ok(Some(true)));
    }
}

/// Characters and words that make TOML documents odd or invalid.
const TOML_TOKENS: &[&str] = &[
    "=",
    " = ",
    "[",
    "]",
    "[[",
    "]]",
    ".",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "#",
    "# x",
    "\n",
    "\r\n",
    "\r",
    "\t",
    " ",
    "{",
    "}",
    ",",
    "false",
    "true",
    "calico_kdd",
    "cluster_config",
    "[cluster_config]",
    "calico_kdd = false\n",
    "\\",
    "é",
    "\u{feff}",
    "\u{0}",
];

/// The one change `set_calico_kdd` may make, whatever the document: none,
/// or the five bytes `false` of `[cluster_config] calico_kdd` become `true`.
fn only_the_value_changed(doc: &str, out: &str) -> Result<(), TestCaseError> {
    if out == doc {
        prop_assert_eq!(read_cluster_bool(doc, "calico_kdd"), Ok(Some(true)));
        return Ok(());
    }
    let prefix = doc
        .bytes()
        .zip(out.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    prop_assert_eq!(doc.get(prefix..prefix + 5), Some("false"), "{:?}", doc);
    prop_assert_eq!(&out[..prefix], &doc[..prefix]);
    prop_assert_eq!(&out[prefix..prefix + 4], "true");
    prop_assert_eq!(&out[prefix + 4..], &doc[prefix + 5..]);
    // …and those bytes were the key's value, not a decoy.
    prop_assert_eq!(read_cluster_bool(doc, "calico_kdd"), Ok(Some(false)));
    prop_assert_eq!(read_cluster_bool(out, "calico_kdd"), Ok(Some(true)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated documents, valid or not: an error, or only the one value
    /// changed; never a panic, never another byte.
    #[test]
    fn whatever_the_document_no_other_byte_changes(
        l in layout(),
        kdd in prop::sample::select(&["false", "true"][..]),
        e in crate::testing::edits_of(TOML_TOKENS),
    ) {
        let doc = crate::testing::mutate(&render(&l, kdd).0, &e);
        if let Ok(out) = set_calico_kdd(&doc) {
            only_the_value_changed(&doc, &out)?;
        }
    }
}

/// The generator must produce parseable documents most of the time, or the
/// properties above would pass vacuously through `prop_assume!`.
#[test]
fn generated_documents_mostly_parse() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = layout();
    let mut parsed = 0;
    for _ in 0..200 {
        let l = strategy.new_tree(&mut runner).unwrap().current();
        if Document::parse(render(&l, "false").0.as_str()).is_ok() {
            parsed += 1;
        }
    }
    assert!(parsed >= 190, "only {parsed}/200 generated documents parse");
}

/// The mutation property above must see real edits, not only errors.
#[test]
fn mutated_documents_are_often_still_edited() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (layout(), crate::testing::edits_of(TOML_TOKENS));
    let mut edited = 0;
    for _ in 0..300 {
        let (l, e) = strategy.new_tree(&mut runner).unwrap().current();
        let doc = crate::testing::mutate(&render(&l, "false").0, &e);
        if set_calico_kdd(&doc).is_ok_and(|out| out != doc) {
            edited += 1;
        }
    }
    // About one in seven: 512 cases make some 70 real edits per run.
    assert!(
        edited >= 30,
        "only {edited}/300 mutated documents were edited"
    );
}
