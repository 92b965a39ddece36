//! Properties of the `calico_kdd` edit over generated documents: MKE-like
//! layouts change only the value bytes, and mutated or odd TOML is either
//! edited exactly so or refused.

use super::*;

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
