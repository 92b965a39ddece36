//! The gateway NodePorts against the NodePorts of Kubernetes Services
//! (issue 13, reference §5.1): `upgrade-inputs` reads kube-proxy's
//! KUBE-NODEPORTS rules with `sudo -n iptables-save -t nat` over SSH from
//! one manager of the sandbox, and blocks when a chosen port is a
//! Service's, or says plainly that Services were not checked.

use crate::common::{Dir, Run, assert_no_secrets, sandbox_args};
use crate::sandbox_env::Sandbox;

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");

/// Only the `upgrade-inputs` step of the standard playbook, in `--check`.
fn inputs(d: &Dir, knobs: &[&str], extra: &[&str]) -> Run {
    let mut more = vec!["--check", "--output", "json", "--tags", "upgrade-inputs"];
    more.extend_from_slice(extra);
    d.cmd(&sandbox_args(STANDARD, knobs, &more)).run()
}

fn said(r: &Run) -> String {
    let s = r.step("upgrade-inputs");
    format!(
        "{} || {}",
        s["message"].as_str().unwrap_or(""),
        s["remedy"].as_str().unwrap_or("")
    )
}

/// A one-step playbook: `upgrade_inputs` with 34001/34000 and `more` lines.
fn one_step(address: &str, more: &str) -> String {
    format!(
        "steps:\n  - id: inputs\n    upgrade_inputs:\n      external_address: \"{address}\"\n      gateway_https_node_port: 34001\n      gateway_http_node_port: 34000\n{more}"
    )
}

#[track_caller]
fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{n:?} not in {text}");
    }
}

#[test]
fn a_service_holding_the_https_node_port_blocks_naming_it() {
    let d = Dir::new();
    let r = inputs(
        &d,
        &[r#"service_node_port=["shop/web:https=34001", "logs/syslog=32514/udp"]"#],
        &[],
    );
    let step = r.step("upgrade-inputs");
    assert_eq!(step["status"], "blocked", "{}", r.both());
    has(
        &said(&r),
        &[
            "gateway_https_node_port 34001 is already taken: by Kubernetes Service shop/web (port `https`, TCP)",
            "as kube-proxy's rules on manager 127.0.0.11 show",
            // What to do: other ports (the example skips taken ones), or the Service.
            "-e gateway_https_node_port=34002 -e gateway_http_node_port=34000",
            "kubectl -n shop edit service web",
        ],
    );
    let read = &step["output"]["service_node_ports"];
    assert_eq!(read["checked"], true, "{read}");
    assert_eq!(read["host"], "127.0.0.11");
    assert_eq!(read["by_service"]["shop/web"], serde_json::json!([34001]));
    assert_eq!(
        read["by_service"]["logs/syslog"],
        serde_json::json!([32514])
    );
    let udp = read["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 32514)
        .unwrap();
    assert_eq!(udp["protocol"], "udp");
    assert_eq!(udp["port_name"], "");
    let source = step["output"]["rules"]["service_node_ports"]["source"]
        .as_str()
        .unwrap();
    assert!(
        source.contains("KUBE-NODEPORTS") && source.contains("[I]"),
        "{source}"
    );
    assert_no_secrets(&d, &[&r], &[]);
}

#[test]
fn services_on_other_ports_pass_and_are_registered() {
    let d = Dir::new();
    let r = inputs(&d, &[r#"service_node_port=["shop/api:http=32080"]"#], &[]);
    let step = r.step("upgrade-inputs");
    assert_eq!(step["status"], "ok", "{}", r.both());
    has(
        &said(&r),
        &[
            "34001 (HTTPS) and 34000 (HTTP) are free",
            "1 NodePort of 1 Kubernetes Service in use, as kube-proxy's rules on manager 127.0.0.11 show",
        ],
    );
    assert!(!said(&r).contains("NOT checked"), "{}", said(&r));
    assert_eq!(
        step["output"]["service_node_ports"]["ports"],
        serde_json::json!([{"port": 32080, "protocol": "tcp", "service": "shop/api", "port_name": "http"}])
    );
    assert!(
        step["output"]["command"]
            .as_str()
            .unwrap()
            .starts_with("mkectl upgrade")
    );
}

#[test]
fn mke3_ingress_is_seen_in_the_config_and_as_a_service() {
    let d = Dir::new();
    let r = inputs(
        &d,
        &[r#"config_set=["cluster_config.ingress_controller.enabled=true"]"#],
        &["-e", "gateway_https_node_port=33001"],
    );
    assert_eq!(
        r.step("upgrade-inputs")["status"],
        "blocked",
        "{}",
        r.both()
    );
    has(
        &said(&r),
        &[
            "33001 is already taken: the MKE 3 ingress controller's NodePort and by Kubernetes Service ingress-nginx/ingress-nginx-controller (port `https`, TCP)",
            "3 NodePorts of 1 Kubernetes Service in use",
        ],
    );
}

#[test]
fn sudo_refused_on_the_first_manager_falls_to_the_next_else_warns() {
    let d = Dir::new();
    let r = inputs(
        &d,
        &[
            "nodes=5",
            "managers=3",
            "sudo_password_node=[1]",
            r#"service_node_port=["shop/web=34000"]"#,
        ],
        &[],
    );
    let step = r.step("upgrade-inputs");
    assert_eq!(step["status"], "blocked", "{}", r.both());
    has(
        &said(&r),
        &[
            "gateway_http_node_port 34000 is already taken: by Kubernetes Service shop/web (TCP)",
            "manager 127.0.0.12 show; tried first: 127.0.0.11: sudo refused",
        ],
    );
    let read = &step["output"]["service_node_ports"];
    assert_eq!(read["host"], "127.0.0.12");
    assert_eq!(read["tried"][0]["host"], "127.0.0.11");
    assert_eq!(read["tried"][0]["cause"], "sudo");

    // The only manager refuses: not checked, said so, and the step does not block.
    let d = Dir::new();
    let r = inputs(
        &d,
        &[
            "sudo_password_node=[1]",
            r#"service_node_port=["shop/web=34000"]"#,
        ],
        &[],
    );
    let step = r.step("upgrade-inputs");
    assert_eq!(step["status"], "ok", "{}", r.both());
    has(
        &said(&r),
        &[
            "warning: the NodePorts of Kubernetes Services were NOT checked",
            "sudo: a password is required",
            "passwordless sudo for iptables-save",
            "used_node_ports",
        ],
    );
    assert!(!said(&r).contains("are free"), "{}", said(&r));
    assert_eq!(step["output"]["service_node_ports"]["checked"], false);

    // iptables-save missing: the cause is named.
    let d = Dir::new();
    let r = inputs(&d, &["node_missing_tool=iptables-save"], &[]);
    assert_eq!(r.step("upgrade-inputs")["status"], "ok", "{}", r.both());
    has(
        &said(&r),
        &["NOT checked", "iptables-save is not installed"],
    );
}

#[test]
fn ipvs_mode_and_the_switch_skip_the_read_and_say_so() {
    let d = Dir::new();
    let r = inputs(
        &d,
        &["ipvs=true", r#"service_node_port=["shop/web=34001"]"#],
        &[],
    );
    assert_eq!(r.step("upgrade-inputs")["status"], "ok", "{}", r.both());
    has(&said(&r), &["NOT checked", "kube_proxy_mode is \"ipvs\""]);

    // read_service_node_ports: false — used_node_ports stays the way.
    let d = Dir::new();
    d.write(
        "np.yaml",
        &one_step(
            "{{ env.MKEPREP_EXTERNAL_ADDRESS }}",
            "      read_service_node_ports: false\n",
        ),
    );
    let args = |knobs| sandbox_args("np.yaml", knobs, &["--check", "--output", "json"]);
    let r = d
        .cmd(&args(&[r#"service_node_port=["shop/web=34001"]"#]))
        .run();
    let step = r.step("inputs");
    assert_eq!(step["status"], "ok", "{}", r.both());
    let text = step["message"].as_str().unwrap();
    has(text, &["NOT checked", "read_service_node_ports is false"]);
    assert_eq!(step["output"]["service_node_ports"]["checked"], false);
    d.write(
        "np.yaml",
        &one_step(
            "{{ env.MKEPREP_EXTERNAL_ADDRESS }}",
            "      read_service_node_ports: false\n      used_node_ports: [34001]\n",
        ),
    );
    let r = d.cmd(&args(&[])).run();
    assert_eq!(r.step("inputs")["status"], "blocked", "{}", r.both());
    has(
        r.step("inputs")["message"].as_str().unwrap(),
        &["34001 is already taken: listed in used_node_ports"],
    );
}

#[test]
fn without_an_inventory_services_are_not_read_and_the_step_says_so() {
    let d = Dir::new();
    let sb = Sandbox::start(
        &d.join("sb"),
        &["--service-node-port", "shop/web:https=34001"],
    );
    // What a real OpenSSH client reads from a node: root only, kube-proxy's chains.
    let plain = sb.ssh(1, "iptables-save -t nat");
    assert_eq!(plain.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&plain.stderr).contains("you must be root"));
    let nat = sb.ssh(1, "sudo -n iptables-save -t nat");
    let nat = String::from_utf8_lossy(&nat.stdout).to_string();
    has(
        &nat,
        &[
            "*nat\n",
            ":KUBE-NODEPORTS - [0:0]",
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"shop/web:https\" -m tcp --dport 34001 -j KUBE-EXT-",
            "-A DOCKER -i docker0 -j RETURN",
            "COMMIT\n",
        ],
    );

    // A load balancer of its own on a loopback address (the helper reads
    // only the sandbox's first six exports).
    let lb = format!("127.91.{}.7", std::process::id() % 250);
    let _listeners: Vec<std::net::TcpListener> = [6443, 9443, 8443]
        .iter()
        .map(|p| std::net::TcpListener::bind((lb.as_str(), *p)).expect("bind the test's LB"))
        .collect();
    d.write("np.yaml", &one_step(&format!("{lb}:8443"), ""));
    let mut cmd = d.cmd(&["run", "np.yaml", "--check", "--output", "json"]);
    for (k, v) in &sb.env {
        if k != "MKEPREP_INVENTORY" {
            cmd = cmd.env(k, v);
        }
    }
    let r = cmd.run();
    let step = r.step("inputs");
    assert_eq!(step["status"], "ok", "{}", r.both());
    has(
        step["message"].as_str().unwrap(),
        &["NOT checked", "no inventory (-i hosts.yaml"],
    );
    assert_no_secrets(&d, &[&r], &[]);
}
