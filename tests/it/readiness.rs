//! MKE 4k readiness (issue 13), through the binary against the sandbox: one
//! test per class of blocker or warning — the right step blocks (or warns),
//! names the node or setting, and says what to do — and a clean default
//! sandbox passes every new step.

use crate::common::{Dir, Run, assert_no_secrets, sandbox_args};

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");
const NEW_STEPS: &[&str] = &["check-compat", "check-content", "upgrade-inputs"];

/// The standard playbook in `--check`, JSON, with sandbox knobs and extras.
fn check(d: &Dir, knobs: &[&str], extra: &[&str]) -> Run {
    let mut more = vec!["--check", "--output", "json"];
    more.extend_from_slice(extra);
    d.cmd(&sandbox_args(STANDARD, knobs, &more)).run()
}

/// The step's message and remedy as one text.
fn said(r: &Run, id: &str) -> String {
    let s = r.step(id);
    format!(
        "{} || {}",
        s["message"].as_str().unwrap_or(""),
        s["remedy"].as_str().unwrap_or("")
    )
}

#[track_caller]
fn blocked(r: &Run, id: &str, needles: &[&str]) {
    let s = r.step(id);
    assert_eq!(s["status"], "blocked", "{id}: {s}");
    let text = said(r, id);
    for n in needles {
        assert!(text.contains(n), "{id}: {n:?} not in {text}");
    }
    assert!(
        s["remedy"].as_str().is_some_and(|r| !r.is_empty()),
        "{id} says what to do: {s}"
    );
}

#[track_caller]
fn warned(r: &Run, id: &str, needles: &[&str]) {
    let s = r.step(id);
    assert_eq!(s["status"], "ok", "{id}: {s}");
    let text = said(r, id);
    for n in needles {
        assert!(text.contains(n), "{id}: {n:?} not in {text}");
    }
}

#[test]
fn a_clean_default_sandbox_passes_every_new_step_and_ends_with_the_command() {
    let d = Dir::new();
    let r = check(&d, &[], &[]);
    r.code(3);
    for id in NEW_STEPS {
        assert_eq!(r.step(id)["status"], "ok", "{id}: {}", r.both());
    }
    let compat = r.step("check-compat")["output"].clone();
    assert_eq!(compat["blockers"], 0);
    assert_eq!(compat["keys"]["cluster_config.calico_kdd"], "pending");
    assert_eq!(
        compat["keys"]["cluster_config.kube_proxy_mode"],
        "supported"
    );
    assert_eq!(
        compat["mkectl"]["ran"], true,
        "the stand-in mkectl answered: {compat}"
    );
    assert!(compat["mkectl"]["differences"].is_array());
    let content = r.step("check-content")["output"].clone();
    assert_eq!(content["swarm_services"], serde_json::json!([]));
    let up = r.step("upgrade-inputs")["output"].clone();
    let cmd = up["command"].as_str().unwrap();
    assert!(cmd.starts_with("mkectl upgrade --hosts-path "), "{cmd}");
    assert!(
        cmd.contains("--mke3-admin-password \"$MKE_PASSWORD\""),
        "{cmd}"
    );
    assert!(
        cmd.contains("--gateway-https-node-port 34001 --gateway-http-node-port 34000"),
        "{cmd}"
    );
    assert!(cmd.contains(".mkeprep/sandbox/hosts.yaml"), "{cmd}");
    let human = d.cmd(&sandbox_args(STANDARD, &[], &["--yes"])).run();
    human.code(0);
    assert!(
        human
            .stdout
            .contains("Next, run (with MKE_PASSWORD exported"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("mkectl upgrade --hosts-path"),
        "{}",
        human.stdout
    );
    assert_no_secrets(&d, &[&r, &human], &[]);
}

#[test]
fn version_rules_block_with_the_whole_path_to_take() {
    let d = Dir::new();
    let r = check(&d, &[], &["-e", "target=4.1.3"]);
    blocked(&r, "verify-version", &["not an upgrade target", "4.1.5"]);
    let r = check(&d, &["mke_version=3.9.2"], &[]);
    blocked(&r, "verify-version", &["3.9.2", "4.2"]);
    let d = Dir::new();
    let r = check(
        &d,
        &["metallb=true", "node_engine_version=[\"2=23.0.15\"]"],
        &["-e", "target=4.2.1"],
    );
    blocked(
        &r,
        "verify-version",
        &[
            "only MKE 3.9.x",
            "3.8.12",
            "MetalLB",
            "sandbox-worker-1 (23.0.15)",
            "25.0.12",
            "3.9.x",
        ],
    );
    let out = r.step("verify-version")["output"].clone();
    assert_eq!(out["metallb"], true);
    assert_eq!(out["engines"]["sandbox-worker-1"], "23.0.15");
    assert_eq!(out["engines"]["sandbox-manager-1"], "25.0.12");
}

#[test]
fn settings_blockers_warnings_and_strictness() {
    // A blocker in the configuration, and a setting that is lost.
    let d = Dir::new();
    let r = check(
        &d,
        &[
            "calico_ebpf=true",
            "config_set=[\"cluster_config.kv_timeout=9000\"]",
        ],
        &[],
    );
    blocked(
        &r,
        "check-compat",
        &["cluster_config.calico_ebpf_enabled", "BLOCK", "eBPF"],
    );
    let text = said(&r, "check-compat");
    assert!(
        text.contains("cluster_config.kv_timeout") && text.contains("warn"),
        "{text}"
    );
    let f = r.step("check-compat")["output"]["findings"].clone();
    assert!(
        f.as_array()
            .unwrap()
            .iter()
            .any(|x| x["subject"] == "cluster_config.kv_timeout" && x["level"] == "warn"),
        "{f}"
    );

    // Not supported and set: a warning, or a block with strict: true.
    let d = Dir::new();
    d.write(
        "strict.yaml",
        "steps:\n  - id: compat\n    mke_compat:\n      strict: true\n      calico_kdd: later\n  - id: compat-ack\n    mke_compat:\n      strict: true\n      calico_kdd: later\n      acknowledged: [cluster_config.etcd_storage_quota, cluster_config.metrics_retention_time]\n",
    );
    let r = d
        .cmd(&sandbox_args(
            "strict.yaml",
            &[],
            &["--check", "--output", "json"],
        ))
        .run();
    r.code(1);
    blocked(
        &r,
        "compat",
        &["cluster_config.etcd_storage_quota", "acknowledged"],
    );
    assert_eq!(r.step("compat-ack")["status"], "ok", "{}", r.both());
}

#[test]
fn custom_flags_the_target_removed_block_naming_setting_and_flag() {
    let d = Dir::new();
    let r = check(
        &d,
        &[
            "config_set=[\"cluster_config.custom_kubelet_flags=[\\\"--keep-terminated-pod-volumes\\\", \\\"--max-pods=200\\\"]\"]",
        ],
        &[],
    );
    blocked(
        &r,
        "check-compat",
        &[
            "custom_kubelet_flags",
            "--keep-terminated-pod-volumes",
            "1.31",
            "remove --keep-terminated-pod-volumes",
        ],
    );
    let flags = r.step("check-compat")["output"]["flags"].clone();
    assert_eq!(flags.as_array().unwrap().len(), 1, "{flags}");
    // A flag the kubelet does not have at all, with what it probably meant.
    let d = Dir::new();
    let r = check(
        &d,
        &["config_set=[\"cluster_config.custom_kubelet_flags=[\\\"--max-podz=90\\\"]\"]"],
        &[],
    );
    // The kubelet's list is of Kubernetes 1.36, compared with no older page,
    // but a letter from a flag it has is a misspelling for any target.
    blocked(
        &r,
        "check-compat",
        &[
            "--max-podz",
            "did you mean --max-pods?",
            "known_flags",
            "a misspelling",
        ],
    );
    // Removed in 1.35: fine for 4.1.5 (Kubernetes 1.32), blocked for 4.2.1.
    let d = Dir::new();
    let knob = "config_set=[\"cluster_config.custom_kubelet_flags=[\\\"--pod-infra-container-image=pause:3.9\\\"]\"]";
    let r = check(&d, &[knob], &[]);
    assert_eq!(r.step("check-compat")["status"], "ok", "{}", r.both());
    let d = Dir::new();
    let r = check(&d, &[knob, "mke_version=3.9.2"], &["-e", "target=4.2.1"]);
    blocked(&r, "check-compat", &["--pod-infra-container-image", "1.35"]);
}

#[test]
fn misspelt_apiserver_and_proxy_flags_block_with_the_flag_they_meant() {
    // Each list also holds flags the component has (kube-proxy's klog flag
    // as its page spells it, with underscores): those pass. For 4.2.1
    // (Kubernetes 1.35) kube-apiserver's list, compared with the 1.35 page,
    // blocks; kube-proxy's, compared with no older page, warns.
    let d = Dir::new();
    let knob = r#"config_set=["cluster_config.custom_kube_api_server_flags=[\"--enable-admision-plugins=NodeRestriction\", \"--audit-log-maxage=30\", \"--event-ttl=4h0m0s\"]", "cluster_config.custom_kube_proxy_flags=[\"--iptables-sync-perod=30s\", \"--iptables-sync-period=30s\", \"--log_dir=/var/log/kube-proxy\"]"]"#;
    let r = check(&d, &[knob, "mke_version=3.9.2"], &["-e", "target=4.2.1"]);
    blocked(
        &r,
        "check-compat",
        &[
            "custom_kube_api_server_flags",
            "--enable-admision-plugins",
            "did you mean --enable-admission-plugins?",
            "custom_kube_proxy_flags",
            "--iptables-sync-perod",
            "did you mean --iptables-sync-period?",
            "known_flags",
        ],
    );
    let flags = r.step("check-compat")["output"]["flags"].clone();
    let flagged: Vec<(&str, &str, &str)> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["component"].as_str().unwrap_or(""),
                f["flag"].as_str().unwrap_or(""),
                f["problem"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        flagged,
        [
            (
                "kube-apiserver",
                "--enable-admision-plugins=NodeRestriction",
                "unknown"
            ),
            ("kube-proxy", "--iptables-sync-perod=30s", "unknown"),
        ],
        "{flags}"
    );
    let blocks: Vec<bool> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["blocks"] == true)
        .collect();
    assert_eq!(blocks, [true, true], "{flags}");
    // For 4.1.5 (Kubernetes 1.32) both lists are of a newer Kubernetes than
    // any page compared for 1.32, but misspellings block all the same.
    let d = Dir::new();
    let r = check(&d, &[knob], &[]);
    blocked(
        &r,
        "check-compat",
        &[
            "--enable-admision-plugins",
            "--iptables-sync-perod",
            "a misspelling",
        ],
    );
    // The valid flags alone pass, for 4.1.x (Kubernetes 1.32) and 4.2.x (1.35).
    let knob = r#"config_set=["cluster_config.custom_kube_api_server_flags=[\"--enable-admission-plugins=NodeRestriction\", \"--audit-log-maxage=30\"]", "cluster_config.custom_kube_proxy_flags=[\"--iptables-sync-period=30s\", \"--log_dir=/var/log/kube-proxy\", \"--log-file=/var/log/kube-proxy.log\"]"]"#;
    for extra in [&[][..], &["-e", "target=4.2.1"][..]] {
        let d = Dir::new();
        let knobs: &[&str] = if extra.is_empty() {
            &[knob]
        } else {
            &[knob, "mke_version=3.9.2"]
        };
        let r = check(&d, knobs, extra);
        let s = r.step("check-compat");
        assert_eq!(s["status"], "ok", "{extra:?}: {}", r.both());
        assert_eq!(s["output"]["flags"], serde_json::json!([]), "{s}");
    }
}

#[test]
fn a_flag_the_1_36_list_lacks_warns_for_4_1_and_blocks_for_4_2() {
    // --apiserver-count is on neither the v1.35 nor the v1.36 kube-apiserver
    // page; no v1.32 page was compared, so 4.1.5 (Kubernetes 1.32) is not
    // blocked for it, and 4.2.1 (1.35) is.
    let knob =
        r#"config_set=["cluster_config.custom_kube_api_server_flags=[\"--apiserver-count=3\"]"]"#;
    let d = Dir::new();
    let r = check(&d, &[knob], &[]);
    warned(
        &r,
        "check-compat",
        &[
            "--apiserver-count",
            "newer Kubernetes than the target's 1.32",
        ],
    );
    let d = Dir::new();
    let r = check(&d, &[knob, "mke_version=3.9.2"], &["-e", "target=4.2.1"]);
    blocked(
        &r,
        "check-compat",
        &["custom_kube_api_server_flags", "--apiserver-count", "1.35"],
    );
}

#[test]
fn what_does_not_carry_over_is_named_and_windows_blocks_4_1() {
    let d = Dir::new();
    let r = check(
        &d,
        &[
            "swarm_service=[\"shop_web\",\"shop_db\"]",
            "user=[\"alice\"]",
            "gpu_node=[2]",
            "cert_manager=true",
            "interlock=true",
            "metallb=true",
        ],
        &[],
    );
    warned(
        &r,
        "check-content",
        &[
            "shop_web",
            "shop_db",
            "Kubernetes",
            "alice",
            "mkectl reset-password",
            "sandbox-worker-1 (2 GPUs)",
            "cert-manager v1.14.4",
            "uninstall",
            "ucp-interlock",
            "MetalLB",
        ],
    );
    let out = r.step("check-content")["output"].clone();
    assert_eq!(out["users_to_reset"], serde_json::json!(["alice"]));
    assert_eq!(out["interlock"], true);
    let text = said(&r, "check-content");
    assert!(
        !text.contains("ucp-auth"),
        "MKE's own services are not the user's: {text}"
    );

    let d = Dir::new();
    let r = check(&d, &["windows_node=[3]"], &[]);
    blocked(
        &r,
        "check-content",
        &["Windows nodes", "sandbox-worker-2", "Linux amd64", "remove"],
    );
    let d = Dir::new();
    let r = check(
        &d,
        &["windows_node=[3]", "mke_version=3.9.2"],
        &["-e", "target=4.2.1"],
    );
    warned(&r, "check-content", &["sandbox-worker-2", "ask Mirantis"]);
}

#[test]
fn the_load_balancer_and_gateway_node_ports_are_checked() {
    let d = Dir::new();
    let r = check(&d, &["lb_closed_port=[9443]"], &[]);
    blocked(
        &r,
        "upgrade-inputs",
        &["does not answer TCP on 9443", "9443→9443"],
    );
    assert!(
        !said(&r, "upgrade-inputs").contains("6443 ("),
        "6443 answers"
    );

    let d = Dir::new();
    let r = check(&d, &["lb=false"], &["-e", "external_address="]);
    blocked(
        &r,
        "upgrade-inputs",
        &["no external address", "-e external_address="],
    );

    let d = Dir::new();
    let r = check(
        &d,
        &["lb=false"],
        &["-e", "external_address=no-such-lb.invalid"],
    );
    blocked(&r, "upgrade-inputs", &["no-such-lb.invalid", "resolve"]);

    let d = Dir::new();
    let r = check(
        &d,
        &["config_set=[\"cluster_config.ingress_controller.enabled=true\"]"],
        &[
            "-e",
            "gateway_https_node_port=33001",
            "-e",
            "gateway_http_node_port=30000",
        ],
    );
    blocked(
        &r,
        "upgrade-inputs",
        &[
            "33001 is already taken",
            "ingress",
            "30000 is outside the cluster's nodeport_range 32768-35535",
        ],
    );
    let d = Dir::new();
    let r = check(
        &d,
        &[],
        &[
            "-e",
            "gateway_https_node_port=",
            "-e",
            "gateway_http_node_port=34000",
        ],
    );
    blocked(
        &r,
        "upgrade-inputs",
        &["gateway_https_node_port is not given", "4.1.5"],
    );

    // A listener other than 443 must be part of the address.
    let d = Dir::new();
    d.write(
        "lb.yaml",
        "steps:\n  - id: inputs\n    upgrade_inputs:\n      external_address: 127.0.0.1\n      listener_port: 8443\n      gateway_https_node_port: 34001\n      gateway_http_node_port: 34000\n",
    );
    let r = d
        .cmd(&sandbox_args(
            "lb.yaml",
            &[],
            &["--check", "--output", "json"],
        ))
        .run();
    blocked(
        &r,
        "inputs",
        &["must be part of the address", "127.0.0.1:8443"],
    );
}

#[test]
fn inventory_from_the_cluster_is_an_inventory_mkeprep_accepts_and_uses() {
    let d = Dir::new();
    let r = d.cmd(&["inventory", "--from-cluster", "--sandbox"]).run();
    r.code(0);
    assert!(
        r.stdout
            .contains("# sandbox-manager-1 (manager, leader)\n  - address: 127.0.0.11"),
        "{}",
        r.stdout
    );
    let m = r.stdout.find("sandbox-manager-1").unwrap();
    let w = r.stdout.find("sandbox-worker-1").unwrap();
    assert!(m < w, "managers first");
    d.write("hosts.yaml", &r.stdout);
    let v = d.cmd(&["validate", STANDARD, "-i", "hosts.yaml"]).run();
    v.code(0);
    assert!(v.stdout.contains("3 hosts"), "{}", v.both());
    // The generated inventory reaches the sandbox's nodes over SSH.
    let hosts = d
        .cmd(&sandbox_args(
            STANDARD,
            &[],
            &[
                "--check",
                "--output",
                "json",
                "-i",
                "hosts.yaml",
                "--start-at",
                "check-hosts",
            ],
        ))
        .run();
    assert_eq!(
        hosts.step("check-hosts")["status"],
        "ok",
        "{}",
        hosts.both()
    );
    let custom = d
        .cmd(&[
            "inventory",
            "--from-cluster",
            "--sandbox",
            "--user",
            "deploy",
            "--key",
            "/k/id",
            "--port",
            "2222",
        ])
        .run();
    custom.code(0);
    assert!(
        custom
            .stdout
            .contains("port: 2222\n    user: 'deploy'\n    keyPath: '/k/id'"),
        "{}",
        custom.stdout
    );
    let none = d.cmd(&["inventory", "--from-cluster"]).run();
    none.code(2);
    assert!(none.stderr.contains("MKE_HOST"), "{}", none.stderr);
    assert_no_secrets(&d, &[&r, &v, &hosts, &custom, &none], &[]);
}

#[test]
fn secrets_of_the_configuration_never_leave_it() {
    let secret = "Sup3r-S3cret-Backup-Phrase";
    let d = Dir::new();
    let knob = format!(
        "config_set=[\"backup_schedule_config.enabled=true\",\"backup_schedule_config.passphrase=\\\"{secret}\\\"\",\"auth.samlProxy.credentials.basic.password=\\\"{secret}\\\"\"]"
    );
    let r = check(&d, &[&knob], &[]);
    let compat = r.step("check-compat");
    assert_eq!(compat["status"], "ok", "{compat}");
    assert!(
        compat["message"].as_str().unwrap().contains("(hidden)"),
        "{compat}"
    );
    assert_eq!(
        compat["output"]["mkectl"]["ran"], true,
        "mkectl saw the configuration: {compat}"
    );
    let human = d
        .cmd(&sandbox_args(STANDARD, &[&knob], &["--check", "-vv"]))
        .run();
    // The sandbox's own cluster state holds the configuration; nothing else may.
    crate::common::assert_no_secrets_except(&d, &[&r, &human], &[secret], &["sandbox/config.toml"]);
    let leftovers: Vec<_> = d
        .all_files()
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("mke3-config-check"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the copy for mkectl is removed: {leftovers:?}"
    );
}
