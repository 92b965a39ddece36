use super::*;

/// Every key of the reference's tables §3.3 and §3.4
/// (reference/mke4k-upgrade-checks.md), `cluster_config.` spelled out.
const REFERENCE_KEYS: &[&str] = &[
    "audit_log_configuration.level",
    "audit_log_configuration.support_bundle_include_audit_logs",
    "auth.account_lock.enabled",
    "auth.backend",
    "auth.default_new_user_role",
    "auth.external_identity_provider.caBundle",
    "auth.external_identity_provider.clientId",
    "auth.external_identity_provider.httpProxy",
    "auth.external_identity_provider.httpsProxy",
    "auth.external_identity_provider.issuer",
    "auth.external_identity_provider.userServiceId",
    "auth.external_identity_provider.usernameClaim",
    "auth.external_identity_provider.wellKnownConfigUrl",
    "auth.managedPasswordDisabled",
    "auth.managedPasswordFallbackUser",
    "auth.samlEnabled",
    "auth.samlProxy.credentials.basic.user",
    "auth.samlProxy.credentials.basic.password",
    "auth.samlProxy.enabled",
    "auth.samlProxy.proxy_url",
    "auth.scimEnabled",
    "auth.sessions.lifetime_minutes",
    "auth.sessions.per_user_limit",
    "auth.sessions.renewal_threshold_minutes",
    "auth.sessions.store_token_per_session",
    "backup_schedule_config.backups_limit",
    "backup_schedule_config.cron_spec",
    "backup_schedule_config.enabled",
    "backup_schedule_config.include_logs",
    "backup_schedule_config.no_passphrase",
    "backup_schedule_config.notification_delay",
    "backup_schedule_config.passphrase",
    "backup_schedule_config.path",
    "cluster_config.azure_ip_count",
    "cluster_config.cadvisor_enabled",
    "cluster_config.calico_controller_liveness_probe_failure_threshold",
    "cluster_config.calico_controller_liveness_probe_initial_delay_seconds",
    "cluster_config.calico_controller_liveness_probe_period_seconds",
    "cluster_config.calico_controller_liveness_probe_success_threshold",
    "cluster_config.calico_controller_liveness_probe_timeout_seconds",
    "cluster_config.calico_controller_probes_tuning",
    "cluster_config.calico_controller_readiness_probe_failure_threshold",
    "cluster_config.calico_controller_readiness_probe_initial_delay_seconds",
    "cluster_config.calico_controller_readiness_probe_period_seconds",
    "cluster_config.calico_controller_readiness_probe_success_threshold",
    "cluster_config.calico_controller_readiness_probe_timeout_seconds",
    "cluster_config.calico_ebpf_enabled",
    "cluster_config.calico_ip_auto_method",
    "cluster_config.calico_kdd",
    "cluster_config.calico_mtu",
    "cluster_config.calico_strict_affinity",
    "cluster_config.calico_vxlan",
    "cluster_config.calico_vxlan_mtu",
    "cluster_config.calico_vxlan_port",
    "cluster_config.cipher_suites_for_etcd_server",
    "cluster_config.cipher_suites_for_kube_api_server",
    "cluster_config.cipher_suites_for_kubelet",
    "cluster_config.cloud_provider",
    "cluster_config.cluster_name",
    "cluster_config.cni_installer_url",
    "cluster_config.containerd_root",
    "cluster_config.controller_port",
    "cluster_config.core_dns_lameduck_config.enabled",
    "cluster_config.cpu_usage_banner_scrape_interval",
    "cluster_config.cpu_usage_banner_threshold",
    "custom_api_server_headers",
    "custom_api_server_headers.name",
    "cluster_config.custom_kube_api_server_flags",
    "cluster_config.custom_kube_controller_manager_flags",
    "cluster_config.custom_kube_scheduler_flags",
    "cluster_config.custom_kubelet_flags",
    "cluster_config.custom_proxy_config_yaml",
    "cluster_config.disable_http2",
    "cluster_config.disable_seccomp_default",
    "etcd_cleanup_schedule_config.cleanup_enabled",
    "etcd_cleanup_schedule_config.min_ttl_to_keep_seconds",
    "etcd_cleanup_schedule_config.cron_expression",
    "etcd_cleanup_schedule_config.defrag_enabled",
    "cluster_config.etcd_storage_quota",
    "cluster_config.exclude_server_identity_headers",
    "cluster_config.external_service_lb",
    "cluster_config.gmsa_allow_non_admins",
    "hardening_configuration.hardening_enabled",
    "cluster_config.hide_swarm_ui",
    "cluster_config.ignore_pod_updates_for_node_selector",
    "cluster_config.image_prune_schedule",
    "cluster_config.image_scan_aggregation_enabled",
    "cluster_config.image_scan_cvss_version",
    "cluster_config.ingress_controller.enabled",
    "cluster_config.ipip_mtu",
    "cluster_config.iscsi_enabled",
    "cluster_config.iscsiadm_path",
    "cluster_config.iscsidb_path",
    "cluster_config.k8s_always_pull_images_ac_enabled",
    "cluster_config.k8s_event_rate_limit.event_rate_limit_ac_enabled",
    "cluster_config.kms_enabled",
    "cluster_config.kube_api_server_audit_log_maxage",
    "cluster_config.kube_api_server_audit_log_maxbackup",
    "cluster_config.kube_api_server_audit_log_maxsize",
    "cluster_config.kube_api_server_auditing",
    "cluster_config.kube_api_server_request_timeout",
    "cluster_config.kube_apiserver_port",
    "cluster_config.kube_controller_manager_profiling_enabled",
    "cluster_config.kube_default_drop_masq_bits",
    "cluster_config.kube_manager_terminated_pod_gc_threshold",
    "cluster_config.kube_protect_kernel_defaults",
    "cluster_config.kube_proxy_mode",
    "cluster_config.kube_proxy_no_cleanup_on_start",
    "cluster_config.kube_proxy_use_config_file",
    "cluster_config.kube_scheduler_bind_to_all",
    "cluster_config.kube_scheduler_profiling_enabled",
    "cluster_config.kubelet_data_root",
    "cluster_config.kubelet_event_record_qps",
    "cluster_config.kubelet_max_pods",
    "cluster_config.kubelet_pods_per_core",
    "cluster_config.kv_snapshot_count",
    "cluster_config.kv_timeout",
    "license_configuration.auto_refresh",
    "license_configuration.omit_telemetry",
    "cluster_config.local_volume_collection_mapping",
    "log_configuration.level",
    "cluster_config.manager_kube_reserved_resources",
    "cluster_config.metallb_config.enabled",
    "cluster_config.metrics_retention_time",
    "cluster_config.metrics_scrape_interval",
    "cluster_config.networks_quota_per_collection",
    "cluster_config.nodeport_range",
    "cluster_config.nvidia_device_plugin",
    "pki.client_ca_bundle",
    "cluster_config.pod_cidr",
    "cluster_config.policy_enforcement.gatekeeper.enabled",
    "cluster_config.policy_enforcement.pod_security_policy",
    "cluster_config.pre_logon_message",
    "cluster_config.profiling_enabled",
    "cluster_config.prometheus_memory_limit",
    "cluster_config.prometheus_memory_request",
    "cluster_config.pubkey_auth_cache_enabled",
    "cluster_config.rethinkdb_cache_size",
    "scheduling_configuration.default_node_orchestrator",
    "scheduling_configuration.enable_admin_ucp_scheduling",
    "cluster_config.secure_overlay",
    "cluster_config.service_cluster_ip_range",
    "cluster_config.storage_expt_enabled",
    "cluster_config.swarm_only",
    "cluster_config.swarm_polling_disabled",
    "cluster_config.swarm_port",
    "cluster_config.swarm_strategy",
    "tracking_configuration.disable_tracking",
    "cluster_config.unauthenticated_http2_dos_mitigation",
    "cluster_config.unmanaged_cni",
    "cluster_config.use_flex_volume_driver",
    "user_workload_defaults.swarm_defaults.tasktemplate.restartpolicy.delay.value",
    "user_workload_defaults.swarm_defaults.tasktemplate.restartpolicy.maxattempts.value",
    "cluster_config.vxlan_vni",
    "cluster_config.windows_containerd_root",
    "cluster_config.windows_kubelet_data_root",
    "cluster_config.worker_kube_reserved_resources",
    // §3.4: labels of the human report whose key is not in the sample.
    "cluster_config.KubeAPIServerCustomAuditPolicyYaml",
    "cluster_config.KubeAPIServerEnableCustomAuditPolicy",
    "cluster_config.windows_gmsa",
    "cluster_config.node_local_dns",
    "cluster_config.node_exporter_port",
];

#[test]
fn the_builtin_catalog_parses() {
    let c = Catalog::builtin().unwrap();
    assert!(c.entries.len() > 150, "{}", c.entries.len());
    assert!(c.meta.reference.contains("§3"));
}

#[test]
fn it_covers_every_key_of_the_reference_tables() {
    let c = Catalog::builtin().unwrap();
    let missing: Vec<&str> = REFERENCE_KEYS
        .iter()
        .copied()
        .filter(|k| c.lookup(k).is_none())
        .collect();
    assert!(missing.is_empty(), "no entry for {missing:?}");
    // Keys the sample lists have their sample group recorded.
    for k in REFERENCE_KEYS {
        let e = c.lookup(k).unwrap();
        if !e.key.ends_with('*') {
            assert_ne!(e.sample, Sample::Absent, "{k}: the sample lists it");
        }
    }
}

#[test]
fn blockers_of_the_reference_are_blockers() {
    let c = Catalog::builtin().unwrap();
    let v415 = Version::new(4, 1, 5);
    let v410 = Version::new(4, 1, 0);
    for k in [
        "cluster_config.calico_ebpf_enabled",
        "cluster_config.kube_proxy_mode",
        "cluster_config.calico_kdd",
    ] {
        assert_eq!(
            c.lookup(k).unwrap().for_target(&v415).status,
            Status::Blocker,
            "{k}"
        );
    }
    let cni = c.lookup("cluster_config.unmanaged_cni").unwrap();
    assert_eq!(cni.for_target(&v410).status, Status::Blocker);
    assert_eq!(cni.for_target(&v415).status, Status::Supported);
    let pre = Version::parse("4.1.0-rc.2").unwrap();
    assert_eq!(cni.for_target(&pre).status, Status::Blocker);
}

#[test]
fn lookup_prefers_exact_then_longest_prefix() {
    let c = Catalog::builtin().unwrap();
    assert_eq!(
        c.lookup("backup_schedule_config.enabled").unwrap().key,
        "backup_schedule_config.enabled"
    );
    assert_eq!(
        c.lookup("backup_schedule_config.cron_spec").unwrap().key,
        "backup_schedule_config.*"
    );
    assert_eq!(
        c.lookup("cluster_config.ipvs_scheduler").unwrap().key,
        "cluster_config.ipvs_*"
    );
    assert!(c.lookup("cluster_config.no_such_key").is_none());
}

#[test]
fn bad_catalogs_are_refused_with_the_reason() {
    let meta = "[meta]\nreference = \"r\"\nmkectl_sample = \"s\"\ndefaults = \"d\"\n";
    let entry_marked = |mark: &str, extra: &str| {
        format!(
            "{meta}[[key]]\nkey = \"a.b\"\nsample = \"absent\"\nstatus = \"supported\"\nmark = \"{mark}\"\nsource = \"x\"\n{extra}"
        )
    };
    let entry = |extra: &str| entry_marked("C", extra);
    assert!(Catalog::parse(&entry("")).is_ok());
    let e = Catalog::parse(&entry("colour = 1\n")).unwrap_err();
    assert!(e.contains("colour"), "{e}");
    let e = Catalog::parse(&entry_marked("X", "")).unwrap_err();
    assert!(e.contains("mark"), "{e}");
    let e = Catalog::parse(&entry(
        "[[key.target]]\nversions = \"<<4\"\nstatus = \"blocker\"\n",
    ))
    .unwrap_err();
    assert!(e.contains("versions"), "{e}");
    let e = Catalog::parse(&entry("switch = \"a.c\"\n")).unwrap_err();
    assert!(e.contains("switch"), "{e}");
    let twice = format!(
        "{}\n[[key]]\nkey = \"a.b\"\nsample = \"absent\"\nstatus = \"supported\"\nmark = \"C\"\nsource = \"x\"\n",
        entry("")
    );
    assert!(Catalog::parse(&twice).unwrap_err().contains("twice"));
}
