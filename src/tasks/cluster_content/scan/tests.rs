use super::*;
use crate::tasks::mke_compat::classify::flatten;
use serde_json::json;

fn policy() -> ClusterContent {
    serde_json::from_value(json!({})).unwrap()
}

fn node(name: &str, os: &str, gpus: u64) -> Node {
    let mut v = json!({"Description": {"Hostname": name, "Platform": {"OS": os}}});
    if gpus > 0 {
        v["Description"]["Resources"] =
            json!({"GenericResources": [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": gpus}}]});
    }
    Node::from_json(&v)
}

#[test]
fn a_clean_cluster_has_no_findings_and_every_kind_is_found() {
    let p = policy();
    let target = Version::new(4, 1, 5);
    let nodes = vec![node("m1", "linux", 0)];
    let services = vec![Service::from_json(
        &json!({"Spec": {"Name": "ucp-auth-api"}}),
    )];
    let users = vec![Account::from_json(
        &json!({"name": "admin", "isAdmin": true}),
    )];
    let settings = flatten("[cluster_config]\nnvidia_device_plugin = false\n").unwrap();
    let clean = Scan {
        target: &target,
        policy: &p,
        windows: Severity::Block,
        nodes: &nodes,
        settings: &settings,
        services: Ok(&services),
        users: Ok(&users),
        containers: Ok(&[]),
    };
    assert!(clean.run().0.is_empty());

    let nodes = vec![
        node("m1", "linux", 0),
        node("win1", "windows", 0),
        node("gpu1", "linux", 2),
    ];
    let services = vec![
        Service::from_json(&json!({"Spec": {"Name": "ucp-auth-api"}})),
        Service::from_json(&json!({"Spec": {"Name": "ucp-interlock-proxy"}})),
        Service::from_json(&json!({"Spec": {"Name": "shop_web"}})),
    ];
    let users = vec![
        Account::from_json(&json!({"name": "admin"})),
        Account::from_json(&json!({"name": "alice"})),
        Account::from_json(&json!({"name": "ldap-bob", "isImported": true})),
    ];
    let containers = vec![Container::from_json(
        &json!({"Names": ["/k8s_cert-manager-controller_x"],
        "Image": "quay.io/jetstack/cert-manager-controller:v1.14.4",
        "Labels": {"io.kubernetes.pod.namespace": "cert-manager"}}),
    )];
    let settings = flatten("[cluster_config.metallb_config]\nenabled = true\n").unwrap();
    let all = Scan {
        target: &target,
        policy: &p,
        windows: Severity::Block,
        nodes: &nodes,
        settings: &settings,
        services: Ok(&services),
        users: Ok(&users),
        containers: Ok(&containers),
    };
    let (f, facts) = all.run();
    let subjects: Vec<&str> = f.iter().map(|x| x.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Swarm services",
            "Interlock",
            "local users",
            "Windows nodes",
            "GPU nodes",
            "cert-manager",
            "MetalLB"
        ]
    );
    let by = |s: &str| f.iter().find(|x| x.subject == s).unwrap();
    assert!(
        by("Swarm services").text.contains("shop_web")
            && !by("Swarm services").text.contains("ucp-")
    );
    assert!(
        by("local users").text.contains("alice") && !by("local users").text.contains("ldap-bob")
    );
    assert_eq!(by("Windows nodes").severity, Severity::Block);
    assert!(by("Windows nodes").text.contains("win1"));
    assert!(by("GPU nodes").text.contains("gpu1 (2 GPUs)"));
    assert!(
        by("cert-manager").text.contains("v1.14.4")
            && by("cert-manager").text.contains("namespace cert-manager")
    );
    assert!(f.iter().all(|x| x.remedy.is_some()));
    let fact = |k: &str| facts.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(fact("users_to_reset"), json!(["alice"]));
    assert_eq!(fact("interlock"), json!(true));
}

#[test]
fn unreadable_sources_warn_instead_of_passing_silently() {
    let p = policy();
    let target = Version::new(4, 2, 1);
    let s = Scan {
        target: &target,
        policy: &p,
        windows: Severity::Warn,
        nodes: &[],
        settings: &[],
        services: Err("HTTP 403".into()),
        users: Err("HTTP 404".into()),
        containers: Err("HTTP 500".into()),
    };
    let (f, _) = s.run();
    assert_eq!(f.iter().filter(|x| x.severity == Severity::Warn).count(), 2);
    assert!(
        f.iter()
            .any(|x| x.subject == "cert-manager" && x.severity == Severity::Report)
    );
}
