use super::*;
use crate::tasks::mke_compat::classify::flatten;

const SAMPLE: &str = include_str!("../../../mke/testdata/sample.toml");
const FULL: &str = include_str!("../../../mke/testdata/full-3.8.toml");

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
    let doc = "[cluster_config]\ncustom_kubelet_flags = [\"--max-podz=90\", \"--max-pods=90\", \"--containerd=/run/c.sock\", \"--pod-infra-container-image=p\"]\ncustom_kube_scheduler_flags = [\"--leader-elect=false\", \"--no-such=1\"]\n";
    // The kubelet and kube-scheduler lists were compared with no older page:
    // an unknown flag blocks for a target of their own Kubernetes (1.36) and
    // warns for older ones, saying why — but a misspelling (a letter or two
    // from a listed flag) blocks for every target.
    for (kubernetes, blocks) in [("1.36", true), ("1.35", false), ("1.32", false)] {
        let f = findings(doc, kubernetes);
        let unknown: Vec<&Finding> = f.iter().filter(|x| x.problem == Problem::Unknown).collect();
        assert_eq!(unknown.len(), 2, "{f:?}");
        assert!(
            unknown[0].message.contains("--max-podz")
                && unknown[0].message.contains("did you mean --max-pods?")
        );
        assert!(
            unknown[1].message.contains("--no-such") && unknown[1].component == "kube-scheduler"
        );
        assert!(unknown[0].blocks, "{kubernetes}: {:?}", unknown[0]);
        assert_eq!(
            unknown[0]
                .message
                .contains("a letter or two from one it has: a misspelling"),
            !blocks,
            "{}",
            unknown[0].message
        );
        let u = unknown[1];
        assert_eq!(u.blocks, blocks, "{kubernetes}: {u:?}");
        let why = format!("newer Kubernetes than the target's {kubernetes}");
        assert_eq!(u.message.contains(&why), !blocks, "{}", u.message);
    }
    let f = findings(doc, "1.32");
    // Removed after 1.32 (still there in 1.32) and listed as removed in 1.37:
    // known.
    assert!(
        !f.iter()
            .any(|x| x.flag.contains("containerd") || x.flag.contains("pod-infra")),
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

/// The components whose lists came with the kube-apiserver, kube-controller-
/// manager and kube-proxy pages: (component, setting, a flag it has, the same
/// flag misspelt, the flag mkeprep suggests).
const MORE_LISTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "kube-apiserver",
        "custom_kube_api_server_flags",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-admision-plugins=NodeRestriction",
        "enable-admission-plugins",
    ),
    (
        "kube-controller-manager",
        "custom_kube_controller_manager_flags",
        "--terminated-pod-gc-threshold=100",
        "--terminated-pod-gc-treshold=100",
        "terminated-pod-gc-threshold",
    ),
    (
        "kube-proxy",
        "custom_kube_proxy_flags",
        "--iptables-sync-period=30s",
        "--iptables-sync-perod=30s",
        "iptables-sync-period",
    ),
];

#[test]
fn every_component_has_a_list_and_a_misspelt_flag_blocks_with_a_suggestion() {
    let data = FlagData::builtin().unwrap();
    for (_, component) in SETTINGS {
        assert!(
            data.allowed.iter().any(|a| a.component == *component),
            "{component} has no [[allowed]] list"
        );
    }
    for (component, setting, good, bad, meant) in MORE_LISTS {
        // kube-apiserver's list was compared with the 1.35 page: it blocks
        // from 1.35 on; the others from their own 1.36; older targets warn.
        let from = if *component == "kube-apiserver" {
            "1.35"
        } else {
            "1.36"
        };
        for kubernetes in ["1.32", "1.35", "1.36"] {
            let doc = format!("[cluster_config]\n{setting} = [\"{good}\", \"{bad}\"]\n");
            let f = findings(&doc, kubernetes);
            assert_eq!(f.len(), 1, "{component} {kubernetes}: {f:?}");
            assert!(f[0].problem == Problem::Unknown, "{f:?}");
            // A misspelling blocks for every target; older targets are
            // told it is one.
            assert!(f[0].blocks, "{component} {kubernetes}: {f:?}");
            assert_eq!(
                f[0].message.contains("a misspelling"),
                kubernetes < from,
                "{component} {kubernetes}: {f:?}"
            );
            assert_eq!(
                (f[0].component.as_str(), f[0].flag.as_str()),
                (*component, *bad)
            );
            assert!(
                f[0].message.contains(&format!("did you mean --{meant}?"))
                    && f[0].message.contains(setting),
                "{}",
                f[0].message
            );
            assert!(f[0].remedy.contains(setting) && f[0].remedy.contains("known_flags"));
        }
        // known_flags accepts it, with its component or without; another
        // component's name does not.
        let w = written(&flatten(&format!("[cluster_config]\n{setting} = [\"{bad}\"]\n")).unwrap());
        let name = bad.trim_start_matches('-').split('=').next().unwrap();
        let with = |known: String| {
            let known = vec![known];
            let overrides = Overrides {
                ignore: &[],
                known: &known,
            };
            check(data, "1.32", &w, overrides).len()
        };
        assert_eq!(with(format!("{component}:{name}")), 0);
        assert_eq!(with(name.to_string()), 0);
        assert_eq!(with(format!("--{name}")), 0);
        assert_eq!(with(format!("kubelet:{name}")), 1);
    }
}

#[test]
fn underscores_and_dashes_name_the_same_flag() {
    // kube-proxy's page prints klog's flags with underscores (log_dir), the
    // others with dashes; the components take either spelling.
    let doc = "[cluster_config]\ncustom_kube_proxy_flags = [\"--log_dir=/var/log/kp\", \"--log-file=/kp.log\", \"--skip_headers\", \"--log_dri=/y\"]\ncustom_kube_api_server_flags = [\"--audit_log_maxage=30\"]\n";
    let f = findings(doc, "1.32");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].flag, "--log_dri=/y");
    assert!(
        f[0].message.contains("did you mean --log-dir?"),
        "{}",
        f[0].message
    );
    let data = FlagData::builtin().unwrap();
    let w = written(&flatten(doc).unwrap());
    for spelling in ["kube-proxy:log_dri", "log-dri", "--log_dri"] {
        let list = vec![spelling.to_string()];
        let known = Overrides {
            ignore: &[],
            known: &list,
        };
        let ignore = Overrides {
            ignore: &list,
            known: &[],
        };
        assert!(check(data, "1.32", &w, known).is_empty(), "{spelling}");
        assert!(check(data, "1.32", &w, ignore).is_empty(), "{spelling}");
    }
    // The rules' names too: a removed flag written with underscores.
    let f = findings(
        "[cluster_config]\ncustom_kubelet_flags = [\"--keep_terminated_pod_volumes\"]\n",
        "1.32",
    );
    assert!(f.len() == 1 && f[0].problem == Problem::Removed, "{f:?}");
}

#[test]
fn the_flags_of_the_test_configurations_are_known() {
    for doc in [SAMPLE, FULL] {
        assert!(!written(&flatten(doc).unwrap()).is_empty());
        for kubernetes in ["1.32", "1.35"] {
            let f = findings(doc, kubernetes);
            assert!(!f.iter().any(|x| x.problem == Problem::Unknown), "{f:?}");
        }
    }
}

#[test]
fn a_flag_list_is_sorted_each_flag_once_for_one_of_the_five_components() {
    let head = "target = []\nremoved = []\nremoved_value = []\n";
    let meta = "[meta]\nreference = \"r\"\nremovals = \"x\"\n";
    let list = |component: &str, flags: &str| {
        format!(
            "{head}managed = []\n{meta}[[allowed]]\ncomponent = \"{component}\"\nkubernetes = \"1.36\"\nmark = \"C\"\nsource = \"s\"\nflags = [{flags}]\n"
        )
    };
    let d = FlagData::parse(&list("kube-proxy", "\"a-b\", \"a_c\", \"b\"")).unwrap();
    assert_eq!(d.allowed[0].flags, ["a-b", "a-c", "b"]);
    // Once `_` and `-` are alike, each flag once and sorted still.
    let e = FlagData::parse(&list("kube-proxy", "\"log-dir\", \"log_dir\"")).unwrap_err();
    assert!(
        e.contains("\"log-dir\" and \"log_dir\" are one flag") && e.contains("each flag once"),
        "{e}"
    );
    let e = FlagData::parse(&list("kube-proxy", "\"a-b-c\", \"a-x\", \"a_b-c\"")).unwrap_err();
    assert!(e.contains("\"a-b-c\" and \"a_b-c\" are one flag"), "{e}");
    // Sorted as written (`_` after `-`), as the pages print them.
    assert!(FlagData::parse(&list("kube-proxy", "\"log-file\", \"log_dir\"")).is_ok());
    // compared_from is a minor no newer than the list.
    let with = |from: &str| {
        list("kube-proxy", "\"a\"").replace(
            "source = \"s\"\n",
            &format!("source = \"s\"\ncompared_from = \"{from}\"\n"),
        )
    };
    assert!(FlagData::parse(&with("1.32")).is_ok());
    let e = FlagData::parse(&with("1.37")).unwrap_err();
    assert!(e.contains("newer than the list's 1.36"), "{e}");
    let e = FlagData::parse(&with("v1")).unwrap_err();
    assert!(e.contains("compared_from \"v1\" is not 1.NN"), "{e}");
    let e = FlagData::parse(&list("kube-proxy", "\"b\", \"a\"")).unwrap_err();
    assert!(e.contains("\"b\" comes before \"a\""), "{e}");
    let e = FlagData::parse(&list("kube-proxy", "\"a\", \"a\"")).unwrap_err();
    assert!(e.contains("each flag once"), "{e}");
    let e = FlagData::parse(&list("kube-apiservr", "\"a\"")).unwrap_err();
    assert!(e.contains("\"kube-apiservr\" is none of the five"), "{e}");
    let e = FlagData::parse(&list("*", "\"a\"")).unwrap_err();
    assert!(e.contains("one component"), "{e}");
    // The rules name a component too (or "*").
    let managed =
        "[[managed]]\ncomponent = \"kubelett\"\nflags = [\"x\"]\nmark = \"I\"\nnote = \"n\"\n";
    let e = FlagData::parse(&format!("{head}{managed}{meta}")).unwrap_err();
    assert!(e.contains("\"kubelett\""), "{e}");
}

#[test]
fn a_flag_older_targets_may_have_warns_before_the_compared_minor_and_blocks_from_it() {
    // --apiserver-count: the v1.35 and v1.36 kube-apiserver pages do not
    // list it; whether the 1.32 of 4.1.x takes it, no page compared says.
    let doc = "[cluster_config]\ncustom_kube_api_server_flags = [\"--apiserver-count=3\"]\n";
    let f = findings(doc, "1.32");
    assert!(
        f.len() == 1 && f[0].problem == Problem::Unknown && !f[0].blocks,
        "{f:?}"
    );
    assert!(
        f[0].message.contains("--apiserver-count")
            && f[0]
                .message
                .contains("newer Kubernetes than the target's 1.32"),
        "{}",
        f[0].message
    );
    assert!(f[0].remedy.contains("known_flags"), "{}", f[0].remedy);
    let f = findings(doc, "1.35");
    assert!(
        f.len() == 1 && f[0].problem == Problem::Unknown && f[0].blocks,
        "{f:?}"
    );
    assert!(
        !f[0].message.contains("newer Kubernetes"),
        "{}",
        f[0].message
    );
    // The data says so, with its sources.
    let data = FlagData::builtin().unwrap();
    let list = data
        .allowed
        .iter()
        .find(|a| a.component == "kube-apiserver")
        .unwrap();
    assert_eq!(list.compared_from.as_deref(), Some("1.35"));
    assert!(list.source.contains("69cc38f7"), "{}", list.source);
}
