//! The gateway NodePorts against the NodePorts of Kubernetes Services
//! (issue 13, reference §5.1): `upgrade-inputs` reads kube-proxy's rules
//! (nat KUBE-NODEPORTS, filter KUBE-EXTERNAL-SERVICES and KUBE-NODEPORTS,
//! IPv4 and IPv6) with `sudo -n iptables-save; sudo -n ip6tables-save`
//! over SSH from the sandbox's managers, and blocks when a chosen port is a
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
            "34001 (HTTPS) and 34000 (HTTP) are inside nodeport_range, not MKE 3 ingress's or in used_node_ports, and not used by any Service as kube-proxy's rules on manager 127.0.0.11 show (1 NodePort of 1 Kubernetes Service in use",
        ],
    );
    assert!(
        !said(&r).contains("NOT checked") && !said(&r).contains("are free"),
        "{}",
        said(&r)
    );
    assert_eq!(
        step["output"]["service_node_ports"]["ports"],
        serde_json::json!([{"port": 32080, "protocol": "tcp", "service": "shop/api", "port_name": "http", "kind": "service", "family": "ipv4"}])
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
            "as kube-proxy's rules on manager 127.0.0.12 show",
        ],
    );
    // The others' failures are in the output, not the message, when one answered.
    assert!(!said(&r).contains("sudo refused"), "{}", said(&r));
    let read = &step["output"]["service_node_ports"];
    assert_eq!(read["host"], "127.0.0.12");
    assert_eq!(read["tried"][0]["host"], "127.0.0.11");
    assert_eq!(read["tried"][0]["cause"], "sudo");
    assert!(
        read["tried"][0]["error"]
            .as_str()
            .unwrap()
            .contains("sudo refused"),
        "{read}"
    );

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

    // The filter table and ip6tables-save are there too.
    let all = sb.ssh(1, "sudo -n iptables-save");
    let all = String::from_utf8_lossy(&all.stdout).to_string();
    has(
        &all,
        &["*filter\n", ":KUBE-EXTERNAL-SERVICES - [0:0]", "*nat\n"],
    );
    let v6 = sb.ssh(1, "sudo -n ip6tables-save");
    assert_eq!(v6.status.code(), Some(0));
    has(&String::from_utf8_lossy(&v6.stdout), &["*nat\n", "COMMIT"]);

    // The sandbox's own load balancer.
    let lb = sb.var("MKEPREP_EXTERNAL_ADDRESS").to_string();
    assert!(!lb.is_empty(), "{:?}", sb.env);
    d.write("np.yaml", &one_step(&lb, ""));
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

#[test]
fn ports_only_the_filter_table_or_ip6tables_show_block_too() {
    for (knob, needle, kind, family) in [
        (
            "shop/idle:http=34001!noendpoints",
            "34001 is already taken: by Kubernetes Service shop/idle (port `http`, TCP; it has no endpoints now",
            "no_endpoints",
            "ipv4",
        ),
        (
            "edge/lb:https=32443!healthcheck=34001",
            "34001 is already taken: by Kubernetes the health-check NodePort of Service edge/lb (externalTrafficPolicy: Local)",
            "health_check",
            "ipv4",
        ),
        (
            "v6/api:grpc=34001!ipv6",
            "34001 is already taken: by Kubernetes Service v6/api (port `grpc`, TCP, IPv6)",
            "service",
            "ipv6",
        ),
    ] {
        let d = Dir::new();
        let set = format!("service_node_port=[\"{knob}\"]");
        let r = inputs(&d, &[&set], &[]);
        let step = r.step("upgrade-inputs");
        assert_eq!(step["status"], "blocked", "{knob}: {}", r.both());
        has(
            &said(&r),
            &[needle, "as kube-proxy's rules on manager 127.0.0.11 show"],
        );
        let ports = step["output"]["service_node_ports"]["ports"]
            .as_array()
            .unwrap();
        let held = ports.iter().find(|p| p["port"] == 34001).unwrap();
        assert_eq!(
            (held["kind"].as_str(), held["family"].as_str()),
            (Some(kind), Some(family)),
            "{knob}"
        );
        assert_eq!(step["output"]["service_node_ports"]["ipv6_read"], true);
    }
}

#[test]
fn ip6tables_save_missing_is_said_not_an_error() {
    let d = Dir::new();
    let r = inputs(
        &d,
        &[
            "node_missing_tool=ip6tables-save",
            r#"service_node_port=["shop/web=34001"]"#,
        ],
        &[],
    );
    let step = r.step("upgrade-inputs");
    assert_eq!(step["status"], "blocked", "{}", r.both());
    has(
        &said(&r),
        &[
            "34001 is already taken: by Kubernetes Service shop/web",
            "IPv6 rules not read (ip6tables-save is not installed",
        ],
    );
    assert_eq!(step["output"]["service_node_ports"]["ipv6_read"], false);
}

#[test]
fn a_hanging_manager_does_not_hold_the_read_beyond_its_bound() {
    let d = Dir::new();
    d.write(
        "np.yaml",
        &format!(
            "sandbox:\n  nodes: 5\n  managers: 3\n  service_node_port: [\"shop/web:https=34001\"]\n  commands:\n    - run: sudo -n iptables-save\n      nodes: [1]\n      seconds: 300\n{}",
            one_step(
                "{{ env.MKEPREP_EXTERNAL_ADDRESS }}",
                "      service_node_ports_timeout: 4s\n",
            )
        ),
    );
    let r = d
        .cmd(&["run", "np.yaml", "--sandbox", "--check", "--output", "json"])
        .run();
    let step = r.step("inputs");
    assert_eq!(step["status"], "blocked", "{}", r.both());
    let read = &step["output"]["service_node_ports"];
    // Manager 1 never answered; manager 2, asked at the same time, did.
    assert_eq!(read["host"], "127.0.0.12", "{read}");
    assert_eq!(read["tried"][0]["host"], "127.0.0.11", "{read}");
    assert_eq!(read["tried"][0]["cause"], "timeout", "{read}");
    has(
        read["tried"][0]["error"].as_str().unwrap(),
        &["no answer within 4s"],
    );
    has(
        step["message"].as_str().unwrap(),
        &["34001 is already taken: by Kubernetes Service shop/web"],
    );
}
