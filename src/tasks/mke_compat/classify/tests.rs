use super::*;

const SAMPLE: &str = include_str!("../../../mke/testdata/sample.toml");
const FULL: &str = include_str!("../../../mke/testdata/full-3.8.toml");

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn rows(doc: &str, target: &str, fixed_later: bool) -> Vec<(String, Class)> {
    let catalog = Catalog::builtin().unwrap();
    let settings = flatten(doc).unwrap();
    let policy = Policy {
        target: v(target),
        fixed_later,
    };
    classify(catalog, &settings, &policy)
        .into_iter()
        .map(|r| (r.key, r.class))
        .collect()
}

fn class_of(rows: &[(String, Class)], key: &str) -> Class {
    rows.iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} not classified: {rows:?}"))
        .1
}

#[test]
fn flatten_walks_tables_and_keeps_arrays_and_empty_tables_as_leaves() {
    let s = flatten(FULL).unwrap();
    let keys: Vec<&str> = s.iter().map(|s| s.key.as_str()).collect();
    assert!(keys.contains(&"auth.sessions.per_user_limit"));
    assert!(keys.contains(&"cluster_config.ingress_controller.ingress_extra_args.http_port"));
    assert!(
        keys.contains(&"registries"),
        "an array of tables is one leaf"
    );
    assert!(keys.contains(&"cluster_config.custom_kubelet_flags_profiles"));
    assert!(keys.contains(&"cluster_config.k8s_event_rate_limit.enabled"));
    let empty = flatten("[custom_api_server_headers]\n[a]\nb = 1\n").unwrap();
    assert_eq!(
        empty[0].key, "custom_api_server_headers",
        "an empty table is a leaf"
    );
    assert_eq!(empty[0].value, serde_json::json!({}));
    let kdd = s
        .iter()
        .find(|s| s.key == "cluster_config.calico_kdd")
        .unwrap();
    assert_eq!(kdd.value, Value::Bool(false));
}

#[test]
fn flatten_errors_give_the_place_not_the_text() {
    let e = flatten("[auth]\npassword = \"hunter2\nx").unwrap_err();
    assert!(e.contains("line ") && e.contains("column "), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn the_sample_classifies_as_the_reference_says() {
    let r = rows(SAMPLE, "4.1.5", false);
    assert_eq!(class_of(&r, "cluster_config.calico_kdd"), Class::Blocker);
    assert_eq!(
        class_of(&r, "cluster_config.kube_proxy_mode"),
        Class::Supported
    );
    // Not supported, but at the MKE 3 default: nothing is lost.
    assert_eq!(
        class_of(&r, "cluster_config.controller_port"),
        Class::Skipped
    );
    assert_eq!(
        class_of(&r, "scheduling_configuration.enable_admin_ucp_scheduling"),
        Class::Skipped
    );
    assert_eq!(class_of(&r, "cluster_config.pod_cidr"), Class::Supported);
    assert_eq!(
        class_of(&r, "cluster_config.calico_ebpf_enabled"),
        Class::Skipped
    );
    assert_eq!(
        class_of(&r, "cluster_config.custom_kubelet_flags"),
        Class::Supported
    );
    // A later step converts Calico: pending, not a blocker.
    let r = rows(SAMPLE, "4.1.5", true);
    assert_eq!(class_of(&r, "cluster_config.calico_kdd"), Class::Pending);
}

#[test]
fn blockers_depend_on_value_and_target() {
    let doc = "[cluster_config]\ncalico_kdd = true\ncalico_ebpf_enabled = true\nkube_proxy_mode = \"ipvs\"\nunmanaged_cni = true\n";
    let r = rows(doc, "4.1.5", false);
    assert_eq!(class_of(&r, "cluster_config.calico_kdd"), Class::Supported);
    assert_eq!(
        class_of(&r, "cluster_config.calico_ebpf_enabled"),
        Class::Blocker
    );
    assert_eq!(
        class_of(&r, "cluster_config.kube_proxy_mode"),
        Class::Blocker
    );
    assert_eq!(
        class_of(&r, "cluster_config.unmanaged_cni"),
        Class::Supported
    );
    let r = rows(doc, "4.1.0", false);
    assert_eq!(class_of(&r, "cluster_config.unmanaged_cni"), Class::Blocker);
    let r = rows(
        "[cluster_config]\nkube_proxy_mode = \"disabled\"\n",
        "4.2.1",
        false,
    );
    assert_eq!(
        class_of(&r, "cluster_config.kube_proxy_mode"),
        Class::Blocker
    );
}

#[test]
fn set_means_off_default_and_switches_gate_their_settings() {
    let doc = r#"
[cluster_config]
  etcd_storage_quota = "8GB"
  calico_mtu = 1480
  metrics_scrape_interval = "1m"
  no_such_key = true
  other_unknown = ""
[backup_schedule_config]
  enabled = false
  cron_spec = "0 0 * * * *"
[hardening_configuration]
  hardening_enabled = true
  pid_limit = 100
"#;
    let r = rows(doc, "4.1.5", false);
    assert_eq!(
        class_of(&r, "cluster_config.etcd_storage_quota"),
        Class::NotSupported
    );
    assert_eq!(
        class_of(&r, "cluster_config.metrics_scrape_interval"),
        Class::Skipped
    );
    assert_eq!(class_of(&r, "cluster_config.calico_mtu"), Class::Supported);
    assert_eq!(class_of(&r, "cluster_config.no_such_key"), Class::Unknown);
    assert_eq!(class_of(&r, "cluster_config.other_unknown"), Class::Skipped);
    assert_eq!(
        class_of(&r, "backup_schedule_config.cron_spec"),
        Class::Skipped
    );
    assert_eq!(
        class_of(&r, "hardening_configuration.hardening_enabled"),
        Class::Unknown
    );
    assert_eq!(
        class_of(&r, "hardening_configuration.pid_limit"),
        Class::Unknown
    );
}

#[test]
fn supported_keys_with_a_caution_say_so_when_set() {
    let catalog = Catalog::builtin().unwrap();
    let settings = flatten("[cluster_config.ingress_controller]\nenabled = true\n").unwrap();
    let policy = Policy {
        target: v("4.1.5"),
        fixed_later: false,
    };
    let r = classify(catalog, &settings, &policy);
    assert_eq!(r[0].class, Class::Supported);
    assert!(r[0].caution);
    assert!(r[0].remedy.as_deref().unwrap().contains("NodePorts"));
    let policy = Policy {
        target: v("4.1.2"),
        fixed_later: false,
    };
    assert_eq!(
        classify(catalog, &settings, &policy)[0].class,
        Class::NotSupported
    );
}

#[test]
fn secrets_are_never_shown() {
    let catalog = Catalog::builtin().unwrap();
    let doc = "[backup_schedule_config]\nenabled = true\npassphrase = \"s3cret\"\n[auth.samlProxy.credentials.basic]\npassword = \"pw\"\n[x]\napi_token = \"t\"\n";
    let settings = flatten(doc).unwrap();
    let policy = Policy {
        target: v("4.1.5"),
        fixed_later: false,
    };
    for row in classify(catalog, &settings, &policy) {
        if row.key != "backup_schedule_config.enabled" {
            assert!(row.secret, "{}", row.key);
            assert_eq!(show(&row.value, row.secret), "(hidden)");
        }
    }
}

#[test]
fn show_keeps_lines_short() {
    assert_eq!(show(&Value::String("8GB".into()), false), "\"8GB\"");
    assert_eq!(
        show(&Value::String("a\nb\nc".into()), false),
        "(3 lines of text)"
    );
    let long = Value::String("x".repeat(100));
    assert!(show(&long, false).chars().count() <= 48);
    assert_eq!(show(&serde_json::json!({}), false), "{}");
    assert!(loose_eq(
        &serde_json::json!("1480"),
        &serde_json::json!(1480)
    ));
    assert!(!loose_eq(
        &serde_json::json!("1480"),
        &serde_json::json!(1450)
    ));
    assert!(!truthy(&serde_json::json!(" ")));
}
