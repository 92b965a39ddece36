//! The `calico_kdd` edit and the settings reader on the fixtures in
//! `testdata/`; generated documents in `properties`.

mod properties;

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
