//! The simulated MKE 3 configuration file (`/api/ucp/config-toml`): a
//! realistic default modelled on the real sample in the facts file (§B.2),
//! with comments, nested tables, inline tables, arrays and the quoted numbers
//! MKE uses, and the rules a PUT must follow.

use super::options::SandboxOptions;

/// The configuration of a fresh sandbox.
pub fn default_config(opts: &SandboxOptions) -> String {
    let base = base_config(opts);
    let mut sets: Vec<String> = Vec::new();
    if opts.metallb {
        sets.push("cluster_config.metallb_config.enabled=true".into());
        sets.push(
            r#"cluster_config.metallb_config.metallb_ip_addr_pool=[{name = "pool-1", external_ip = "192.0.2.0/28"}]"#
                .into(),
        );
    }
    sets.extend(opts.config_set.iter().cloned());
    if sets.is_empty() {
        return base;
    }
    // Validated knobs: an edit that fails here leaves the base text.
    apply_sets(&base, &sets).unwrap_or(base)
}

/// Splits `KEY=TOML` into the key's path and the parsed value.
pub fn parse_config_set(spec: &str) -> Result<(Vec<String>, toml_edit::Item), String> {
    let (key, value) = spec
        .split_once('=')
        .ok_or("write KEY=TOML, e.g. cluster_config.etcd_storage_quota=\"4GB\"")?;
    let path: Vec<String> = key
        .trim()
        .split('.')
        .map(|p| p.trim().to_string())
        .collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(format!("`{key}` is not a dotted key"));
    }
    let doc: toml_edit::DocumentMut =
        format!("v = {}\n", value.trim())
            .parse()
            .map_err(|e: toml_edit::TomlError| {
                format!("`{}` is not a TOML value: {}", value.trim(), e.message())
            })?;
    let item = doc.get("v").cloned().ok_or("no value")?;
    Ok((path, item))
}

/// Sets each `KEY=TOML` in the document, creating tables on the way.
fn apply_sets(text: &str, sets: &[String]) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    for spec in sets {
        let (path, item) = parse_config_set(spec)?;
        let (last, parents) = path.split_last().ok_or("empty key")?;
        let mut table = doc.as_table_mut();
        for p in parents {
            let entry = table
                .entry(p)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| format!("{p} is not a table"))?;
        }
        table.insert(last, item);
    }
    Ok(doc.to_string())
}

fn base_config(opts: &SandboxOptions) -> String {
    let kube_proxy_mode = if opts.ipvs { "ipvs" } else { "iptables" };
    format!(
        r#"# MKE 3 configuration (mkeprep sandbox), as served by GET /api/ucp/config-toml.
# Edit one key at a time and PUT the whole file back.

[auth]
  backend = "managed"
  default_new_user_role = "restrictedcontrol"
  managedPasswordDisabled = false
  managedPasswordFallbackUser = ""
  samlEnabled = false
  scimEnabled = false

  [auth.sessions]
    lifetime_minutes = 60
    renewal_threshold_minutes = 20
    per_user_limit = 10
    store_token_per_session = false

  [auth.account_lock]
    enabled = false
    failureTriggers = 0
    durationSeconds = 0

[backup_schedule_config]
  backups_limit = 30
  cron_spec = "0 0 0 * * *"
  enabled = false
  include_logs = true
  no_passphrase = false
  notification_delay = 7
  passphrase = ""
  path = "/tmp"

[hardening_configuration]
  hardening_enabled = false
  limit_kernel_capabilities = false
  pids_limit_int = 0
  pids_limit_k8s = false
  pids_limit_swarm = false

[scheduling_configuration]
  enable_admin_ucp_scheduling = true
  default_node_orchestrator = "swarm"

[tracking_configuration]
  disable_usageinfo = false
  disable_tracking = false
  anonymize_tracking = false
  cluster_label = ""

[trust_configuration]
  require_content_trust = false
  require_signature_from = []

[log_configuration]
  level = "INFO"

[license_configuration]
  auto_refresh = true

[audit_log_configuration]
  level = ""
  support_dump_include_audit_logs = false

[custom_api_server_headers]

[etcd_cleanup_schedule_config]
  cleanup_enabled = false
  cron_expression = "0 0 0 ? * SUN *"
  defrag_enabled = false
  defrag_pause_seconds = 60
  defrag_timeout_seconds = 300
  min_ttl_to_keep_seconds = 0

[user_workload_defaults]
  [user_workload_defaults.swarm_defaults]
    [user_workload_defaults.swarm_defaults.tasktemplate.restartpolicy]
      delay = "5s"
      maxattempts = 3

[cluster_config]
  # Calico datastore: false = etcd, true = Kubernetes (KDD). Irreversible.
  calico_kdd = {calico_kdd}
  calico_ebpf_enabled = {calico_ebpf}
  calico_ip_auto_method = ""
  calico_mtu = "1480"
  calico_strict_affinity = false
  calico_vxlan = false
  calico_vxlan_mtu = "1450"
  calico_vxlan_port = "4789"
  calico_vxlan_vni = 10000
  ipip_mtu = "1480"
  cloud_provider = ""
  cluster_name = "kubernetes"
  cni_installer_url = ""
  controller_port = 443
  custom_kube_api_server_flags = ["--event-ttl=4h0m0s"]
  custom_kube_controller_manager_flags = []
  custom_kube_scheduler_flags = []
  custom_kubelet_flags = ["--http-check-frequency=20s"]
  custom_kube_proxy_flags = []
  etcd_storage_quota = "8GB"
  exclude_server_identity_headers = false
  hide_swarm_ui = false
  kube_api_server_auditing = false
  kube_apiserver_port = 6443
  kube_default_drop_masq_bits = false
  kube_protect_kernel_defaults = false
  kube_proxy_mode = "{kube_proxy_mode}"
  kube_proxy_no_cleanup_on_start = false
  kubelet_data_root = "/var/lib/kubelet"
  kubelet_max_pods = 110
  kv_snapshot_count = 20000
  kv_timeout = 5000
  manager_kube_reserved_resources = "cpu=250m,memory=2Gi,ephemeral-storage=4Gi"
  worker_kube_reserved_resources = "cpu=50m,memory=300Mi,ephemeral-storage=500Mi"
  metrics_disk_usage_interval = ""
  metrics_retention_time = "24h"
  metrics_scrape_interval = "1m"
  nodeport_range = "32768-35535"
  nvidia_device_plugin = false
  pod_cidr = "192.168.0.0/16"
  prometheus_memory_limit = "2Gi"
  prometheus_memory_request = "1Gi"
  pubkey_auth_cache_enabled = false
  rethinkdb_cache_size = "1GB"
  secure_overlay = false
  service_cluster_ip_range = "10.96.0.0/16"
  swarm_only = false
  swarm_port = 2376
  swarm_strategy = "spread"
  unmanaged_cni = {unmanaged_cni}
  vxlan_vni = 10000
  custom_kubelet_flags_profiles = [
    {{ name = "high-pods", flags = ["--max-pods=250"] }},
  ]

  [cluster_config.core_dns_lameduck_config]
    enabled = false
    duration = "7s"

  [cluster_config.ingress_controller]
    enabled = false
    ingress_num_replicas = 2
    ingress_replica_settings = {{ cpu = "500m", memory = "512Mi" }}
    ingress_extra_args.http_port = 80
    ingress_extra_args.https_port = 443

  [cluster_config.metallb_config]
    enabled = false

  [cluster_config.policy_enforcement]
    [cluster_config.policy_enforcement.gatekeeper]
      enabled = false
      excluded_namespaces = ["kube-system", "kube-public"]

  [cluster_config.k8s_event_rate_limit]
    enabled = false
"#,
        calico_kdd = opts.calico_kdd,
        calico_ebpf = opts.calico_ebpf,
        unmanaged_cni = opts.unmanaged_cni,
    )
}

/// A TOML text that fails to parse, served when `--malformed-toml` says so:
/// a response cut off in the middle of a table header.
pub fn malformed(config: &str) -> String {
    let cut = config.find("[cluster_config]").unwrap_or(config.len() / 2);
    format!("{}[cluster_config\n  calico_kdd = fal", &config[..cut])
}

/// What a PUT body says about `[cluster_config] calico_kdd`.
#[derive(Debug, PartialEq, Eq)]
pub enum Kdd {
    Absent,
    Value(bool),
}

/// Parses a config text and reads `[cluster_config] calico_kdd`; the error
/// says what is wrong with the text.
pub fn parse_kdd(text: &str) -> Result<Kdd, String> {
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("invalid TOML: {}", e.to_string().trim_end()))?;
    let Some(item) = doc.get("cluster_config").and_then(|t| t.get("calico_kdd")) else {
        return Ok(Kdd::Absent);
    };
    match item.as_bool() {
        Some(value) => Ok(Kdd::Value(value)),
        None => Err("invalid value for cluster_config.calico_kdd: expected a boolean".into()),
    }
}

/// Reads `[auth.sessions]` `lifetime_minutes` and `per_user_limit` (the
/// values MKE applies to login sessions), with MKE's defaults.
pub fn session_settings(text: &str) -> (f64, usize) {
    let doc: Option<toml_edit::DocumentMut> = text.parse().ok();
    let sessions = doc
        .as_ref()
        .and_then(|d| d.get("auth"))
        .and_then(|a| a.get("sessions"));
    let int = |key: &str| {
        sessions
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_integer())
    };
    let lifetime = int("lifetime_minutes").filter(|m| *m > 0).unwrap_or(60);
    let limit = int("per_user_limit").filter(|l| *l > 0).unwrap_or(10);
    (lifetime as f64 * 60.0, usize::try_from(limit).unwrap_or(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses_and_reflects_knobs() {
        let opts = SandboxOptions::default();
        let text = default_config(&opts);
        assert_eq!(parse_kdd(&text), Ok(Kdd::Value(false)));
        assert!(text.contains("kube_proxy_mode = \"iptables\""));
        assert!(text.contains("calico_mtu = \"1480\""));
        let opts = SandboxOptions {
            calico_kdd: true,
            ipvs: true,
            unmanaged_cni: true,
            calico_ebpf: true,
            ..Default::default()
        };
        let text = default_config(&opts);
        assert_eq!(parse_kdd(&text), Ok(Kdd::Value(true)));
        for needle in [
            "kube_proxy_mode = \"ipvs\"",
            "unmanaged_cni = true",
            "calico_ebpf_enabled = true",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert_eq!(session_settings(&text), (3600.0, 10));
    }

    #[test]
    fn initial_settings_are_applied_and_checked() {
        let opts = SandboxOptions {
            metallb: true,
            config_set: vec![
                "cluster_config.etcd_storage_quota=\"4GB\"".into(),
                "cluster_config.custom_kubelet_flags=[\"--keep-terminated-pod-volumes\"]".into(),
                "cluster_config.ingress_controller.enabled=true".into(),
                "new_table.key=1".into(),
            ],
            ..Default::default()
        };
        let text = default_config(&opts);
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        let cc = &doc["cluster_config"];
        assert_eq!(cc["etcd_storage_quota"].as_str(), Some("4GB"));
        assert_eq!(cc["metallb_config"]["enabled"].as_bool(), Some(true));
        assert_eq!(cc["ingress_controller"]["enabled"].as_bool(), Some(true));
        assert_eq!(doc["new_table"]["key"].as_integer(), Some(1));
        assert!(text.contains("# Calico datastore"), "comments stay");
        assert!(parse_config_set("nokey").is_err());
        assert!(parse_config_set("a..b=1").is_err());
        assert!(parse_config_set("a.b=not toml").is_err());
    }

    #[test]
    fn malformed_does_not_parse() {
        let text = default_config(&SandboxOptions::default());
        assert!(parse_kdd(&malformed(&text)).is_err());
    }

    #[test]
    fn kdd_rules() {
        assert_eq!(parse_kdd("[auth]\n"), Ok(Kdd::Absent));
        assert!(parse_kdd("[cluster_config]\ncalico_kdd = \"true\"\n").is_err());
        assert!(
            parse_kdd("[cluster_config\n")
                .unwrap_err()
                .starts_with("invalid TOML")
        );
    }
}
