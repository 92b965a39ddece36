use super::*;
use crate::tasks::mke_compat::classify::flatten;

fn findings(doc: &str, kubernetes: &str) -> Vec<Finding> {
    let data = FlagData::builtin().unwrap();
    let settings = flatten(doc).unwrap();
    check(data, kubernetes, &written(&settings), Overrides::default())
}

#[test]
fn the_builtin_flag_data_parses_and_maps_targets() {
    let d = FlagData::builtin().unwrap();
    let k = |v: &str| {
        d.kubernetes_of(&Version::parse(v).unwrap())
            .map(|t| t.kubernetes.as_str())
    };
    assert_eq!(k("4.1.5"), Some("1.32"));
    assert_eq!(k("4.1.0-rc.1"), Some("1.32"));
    assert_eq!(k("4.2.1"), Some("1.35"));
    assert_eq!(k("4.0.1"), None);
    assert!(!d.removed.is_empty() && !d.managed.is_empty());
    assert!(FlagData::parse("[meta]\nreference = \"r\"\nremovals = \"x\"\ntarget = []\nremoved = []\nremoved_value = []\nmanaged = []\nextra = 1\n").is_err());
}

#[test]
fn flags_are_read_from_every_list_and_profiles() {
    let doc = r#"[cluster_config]
custom_kubelet_flags = ["--http-check-frequency=20s", "--max_pods 90"]
custom_kube_api_server_flags = ["--event-ttl=4h0m0s", "audit=true"]
custom_kubelet_flags_profiles = [ { name = "high", flags = ["--kube-reserved=cpu=1"] } ]
"#;
    let w = written(&flatten(doc).unwrap());
    let names: Vec<&str> = w.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "http-check-frequency",
            "max-pods",
            "event-ttl",
            "",
            "kube-reserved"
        ]
    );
    assert_eq!(w[1].value.as_deref(), Some("90"));
    assert_eq!(w[4].component, "kubelet");
}

#[test]
fn removed_flags_block_for_targets_at_or_after_the_removal() {
    let doc = "[cluster_config]\ncustom_kubelet_flags = [\"--pod-infra-container-image=pause:3.9\", \"--keep-terminated-pod-volumes\"]\n";
    let f = findings(doc, "1.32");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].blocks && f[0].problem == Problem::Removed);
    assert!(f[0].message.contains("keep-terminated-pod-volumes") && f[0].message.contains("1.31"));
    assert!(f[0].remedy.contains("custom_kubelet_flags"));
    let f = findings(doc, "1.35");
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f.iter()
            .any(|x| x.message.contains("pod-infra-container-image"))
    );
}

#[test]
fn removed_values_block_and_managed_flags_warn() {
    let doc = r#"[cluster_config]
custom_kube_api_server_flags = ["--enable-admission-plugins=NodeRestriction,PodSecurityPolicy", "--secure-port=6444"]
custom_kube_controller_manager_flags = ["--cloud-provider=vsphere"]
custom_kubelet_flags = ["--feature-gates=DisableCloudProviders=true", "-x"]
"#;
    let f = findings(doc, "1.32");
    let by = |p: Problem| f.iter().filter(|x| x.problem == p).count();
    assert_eq!(by(Problem::RemovedValue), 2, "{f:?}");
    assert_eq!(by(Problem::Managed), 1);
    assert_eq!(by(Problem::Malformed), 1);
    assert!(f.iter().any(|x| x.message.contains("PodSecurityPolicy")));
    assert!(f.iter().any(|x| x.message.contains("vsphere")));
    assert!(
        f.iter()
            .filter(|x| x.problem == Problem::Managed)
            .all(|x| !x.blocks)
    );
    // The feature gate was removed in 1.33: fine for 1.32, not for 1.35.
    assert!(
        !f.iter()
            .any(|x| x.message.contains("DisableCloudProviders"))
    );
    let f = findings(doc, "1.35");
    assert!(
        f.iter()
            .any(|x| x.message.contains("DisableCloudProviders"))
    );
}

#[test]
fn reviewed_flags_can_be_ignored() {
    let data = FlagData::builtin().unwrap();
    let settings =
        flatten("[cluster_config]\ncustom_kubelet_flags = [\"--node-ip=10.0.0.1\"]\n").unwrap();
    let w = written(&settings);
    let none = Overrides::default();
    assert_eq!(check(data, "1.32", &w, none).len(), 1);
    let ignore = vec!["node-ip".to_string()];
    assert!(
        check(
            data,
            "1.32",
            &w,
            Overrides {
                ignore: &ignore,
                known: &[]
            }
        )
        .is_empty()
    );
    let ignore = vec!["kubelet:node-ip".to_string()];
    assert!(
        check(
            data,
            "1.32",
            &w,
            Overrides {
                ignore: &ignore,
                known: &[]
            }
        )
        .is_empty()
    );
}

#[test]
fn unknown_flags_of_listed_components_block_with_a_suggestion() {
    let doc = "[cluster_config]\ncustom_kubelet_flags = [\"--max-podz=90\", \"--max-pods=90\", \"--containerd=/run/c.sock\", \"--pod-infra-container-image=p\"]\ncustom_kube_scheduler_flags = [\"--leader-elect=false\", \"--no-such=1\"]\ncustom_kube_proxy_flags = [\"--whatever=1\"]\n";
    let f = findings(doc, "1.32");
    let unknown: Vec<&Finding> = f.iter().filter(|x| x.problem == Problem::Unknown).collect();
    assert_eq!(unknown.len(), 2, "{f:?}");
    assert!(
        unknown[0].message.contains("--max-podz")
            && unknown[0].message.contains("did you mean --max-pods?")
    );
    assert!(unknown[1].message.contains("--no-such") && unknown[1].component == "kube-scheduler");
    // Removed after 1.32 (still there in 1.32) and listed as removed in 1.37:
    // known; kube-proxy has no list, so only removals apply to it.
    assert!(
        !f.iter().any(|x| x.flag.contains("containerd")
            || x.flag.contains("pod-infra")
            || x.flag.contains("whatever")),
        "{f:?}"
    );
    let data = FlagData::builtin().unwrap();
    let w = written(&flatten(doc).unwrap());
    let known = vec!["kubelet:max-podz".to_string(), "no-such".to_string()];
    let f = check(
        data,
        "1.32",
        &w,
        Overrides {
            ignore: &[],
            known: &known,
        },
    );
    assert!(!f.iter().any(|x| x.problem == Problem::Unknown), "{f:?}");
}
