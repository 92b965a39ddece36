use super::command::{Inputs, shell_line};
use super::ports::{Gateway, Taken, parse_address, probe};
use super::*;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

#[test]
fn addresses_carry_a_listener_other_than_443() {
    assert_eq!(parse_address("lb.example.com", None).unwrap().listener, 443);
    assert_eq!(
        parse_address("lb.example.com:8443", None).unwrap().listener,
        8443
    );
    assert_eq!(parse_address("lb:8443", Some(8443)).unwrap().host, "lb");
    assert_eq!(
        parse_address("[fd00::1]:9000", None).unwrap().host,
        "fd00::1"
    );
    let (reason, remedy) = parse_address("lb.example.com", Some(8443)).unwrap_err();
    assert!(reason.contains("must be part of the address"), "{reason}");
    assert!(remedy.contains("lb.example.com:8443"), "{remedy}");
    assert!(parse_address("lb:8443", Some(9443)).is_err());
    assert!(parse_address("https://lb", None).is_err());
    assert!(parse_address("lb:0", None).is_err());
    assert!(parse_address("lb:http", None).is_err());
}

#[test]
fn gateway_ports_are_required_from_4_1_5_distinct_in_range_and_free() {
    assert!(gateway_ports_required(&v("4.1.5")));
    assert!(gateway_ports_required(&v("4.2.1")));
    assert!(!gateway_ports_required(&v("4.1.2")));
    let g = |https, http, taken: Vec<Taken>| Gateway {
        https,
        http,
        required: true,
        range: (32768, 35535),
        taken,
    };
    assert!(
        g(Some(34001), Some(34000), vec![])
            .problems(&v("4.1.5"))
            .is_empty()
    );
    let p = g(None, Some(34000), vec![]).problems(&v("4.1.5"));
    assert!(
        p[0].0.contains("gateway_https_node_port is not given"),
        "{p:?}"
    );
    let p = g(Some(30000), Some(34000), vec![]).problems(&v("4.1.5"));
    assert!(
        p[0].0
            .contains("outside the cluster's nodeport_range 32768-35535"),
        "{p:?}"
    );
    let p = g(Some(34000), Some(34000), vec![]).problems(&v("4.1.5"));
    assert!(p[0].0.contains("both 34000"), "{p:?}");
    let p = g(
        Some(33001),
        Some(34000),
        vec![Taken::new(33001, "the MKE 3 ingress controller's NodePort")],
    )
    .problems(&v("4.1.5"));
    assert!(
        p[0].0.contains("33001 is already taken") && p[0].1.contains("34001"),
        "{p:?}"
    );
    let optional = Gateway {
        required: false,
        ..g(None, None, vec![])
    };
    assert!(optional.problems(&v("4.1.2")).is_empty());
}

#[test]
fn ingress_ports_count_as_taken_only_when_ingress_is_on() {
    let s = flatten("[cluster_config]\nnodeport_range = \"30000-31000\"\n[cluster_config.ingress_controller]\nenabled = true\n").unwrap();
    assert_eq!(nodeport_range(&s), (30000, 31000));
    let taken: Vec<u16> = taken_ports(&s, &[31500])
        .into_iter()
        .map(|t| t.port)
        .collect();
    assert_eq!(taken, [31500, 33000, 33001, 33002]);
    let s = flatten("[cluster_config.ingress_controller]\nenabled = true\ningress_exposed_ports = [{name = \"https\", port = 443, target_port = 0, node_port = 33443}]\n").unwrap();
    assert_eq!(
        taken_ports(&s, &[])
            .into_iter()
            .map(|t| t.port)
            .collect::<Vec<_>>(),
        [33443]
    );
    let s = flatten("[cluster_config.ingress_controller]\nenabled = false\n").unwrap();
    assert!(taken_ports(&s, &[]).is_empty());
    assert_eq!(nodeport_range(&s), (32768, 35535));
}

#[test]
fn the_command_names_the_password_variable_never_a_value() {
    let extra = vec!["--image-registry=reg.example.com/mke".to_string()];
    let argv = upgrade_command(&Inputs {
        hosts_path: "/srv/my cluster/hosts.yaml",
        username: "admin",
        external_address: "lb.example.com:8443",
        https: Some(34001),
        http: Some(34000),
        remove_ingress_nginx: false,
        config_out: "mke4.yaml",
        extra: &extra,
    });
    let line = shell_line(&argv);
    assert_eq!(
        line,
        "mkectl upgrade --hosts-path '/srv/my cluster/hosts.yaml' --mke3-admin-username admin --mke3-admin-password \"$MKE_PASSWORD\" --external-address lb.example.com:8443 --gateway-https-node-port 34001 --gateway-http-node-port 34000 --config-out mke4.yaml --image-registry=reg.example.com/mke"
    );
    assert_eq!(shell_line(&["it's".into()]), "'it'\\''s'");
}

#[tokio::test]
async fn probes_see_listening_and_closed_ports_on_loopback() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = l.local_addr().unwrap().port();
    let closed = {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        t.local_addr().unwrap().port()
    };
    let p = probe("127.0.0.1", &[open, closed], Duration::from_secs(2)).await;
    assert!(p.error.is_none());
    assert!(p.results[0].open);
    assert!(!p.results[1].open && p.results[1].error.is_some());
    let p = probe("no-such-host.invalid", &[open], Duration::from_secs(5)).await;
    assert!(p.error.is_some());
}

#[test]
fn ports_are_read_from_numbers_or_text() {
    let p: UpgradeInputs = serde_json::from_value(serde_json::json!({
        "gateway_https_node_port": "34001", "gateway_http_node_port": 34000, "listener_port": ""
    }))
    .unwrap();
    assert_eq!(
        (
            p.gateway_https_node_port,
            p.gateway_http_node_port,
            p.listener_port
        ),
        (Some(34001), Some(34000), None)
    );
    assert!(
        serde_json::from_value::<UpgradeInputs>(
            serde_json::json!({"gateway_http_node_port": 70000})
        )
        .is_err()
    );
    assert!(
        serde_json::from_value::<UpgradeInputs>(serde_json::json!({"gateway_http_node_port": "x"}))
            .is_err()
    );
}

#[test]
fn a_port_held_by_a_service_names_it_and_the_example_avoids_taken_ports() {
    let held = Taken {
        port: 34001,
        why: "by Kubernetes Service shop/web (port `https`, TCP)".into(),
        remedy: Some("give Service shop/web another nodePort or remove it".into()),
    };
    let g = Gateway {
        https: Some(34001),
        http: Some(34002),
        required: true,
        range: (32768, 35535),
        taken: vec![Taken::new(34000, "listed in used_node_ports"), held],
    };
    let p = g.problems(&v("4.1.5"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].0.contains(
            "gateway_https_node_port 34001 is already taken: by Kubernetes Service shop/web"
        ),
        "{p:?}"
    );
    // The example pair skips 34000 and 34001, which are taken.
    assert!(
        p[0].1
            .contains("-e gateway_https_node_port=34003 -e gateway_http_node_port=34002"),
        "{p:?}"
    );
    assert!(
        p[0].1.contains("or give Service shop/web another nodePort"),
        "{p:?}"
    );
    // A range without 34000 starts the example at its low end.
    let small = Gateway {
        range: (30000, 30010),
        https: Some(40000),
        ..g
    };
    let p = small.problems(&v("4.1.5"));
    assert!(
        p[0].1.contains("=30001 -e gateway_http_node_port=30000"),
        "{p:?}"
    );
}

#[test]
fn kube_proxy_mode_defaults_to_iptables() {
    let s = flatten("[cluster_config]\nkube_proxy_mode = \"IPVS\"\n").unwrap();
    assert_eq!(kube_proxy_mode(&s), "ipvs");
    let s = flatten("[cluster_config]\nnodeport_range = \"30000-31000\"\n").unwrap();
    assert_eq!(kube_proxy_mode(&s), "iptables");
}
