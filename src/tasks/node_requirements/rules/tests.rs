use super::*;
use crate::hostfacts::samples::sample;
use crate::hostfacts::script::render;
use crate::hostfacts::{Os, Request};

fn facts(name: &str, data_dir: &str) -> HostFacts {
    let req = Request {
        paths: ancestors(data_dir),
        docker_sudo: false,
    };
    // The samples' df answers `/` and `/var/lib`; ask for the ancestors the
    // way the module does and keep what the sample knows.
    let mut f = HostFacts::read(
        &render(&sample(name).expect("sample").outputs()),
        "",
        &Request::default(),
    );
    let known = f.disk.clone();
    f.disk.clear();
    for p in &req.paths {
        if let Some(d) = known.get(p) {
            f.disk.insert(p.clone(), d.clone());
        }
    }
    f
}

fn rules(target: &str) -> Rules {
    let target = Version::parse(target).expect("version");
    Rules {
        os: default_os(&target).0,
        cgroup_v2: target >= Version::new(4, 2, 0),
        target,
        arch: vec!["x86_64".into()],
        cpus_fail_at_or_below: 2,
        cpus_warn_below: 8,
        memory_fail_at_or_below: 8 << 30,
        memory_warn_below: 32 << 30,
        data_dir: "/var/lib/k0s".into(),
        min_free: 20 << 30,
        min_free_percent: 15.0,
        cni_check_port: 80,
        manager_ports: vec![2380, 9443, 8132],
        max_clock_skew_seconds: 2.0,
        time_sync: TimeSync::Warn,
    }
}

/// Nodes whose clocks are `offsets` from this machine's (±0.05 s).
fn clocked(offsets: &[f64]) -> Vec<HostFacts> {
    offsets
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut f = facts("ubuntu-22.04", "/var/lib/k0s");
            f.machine_id = Some(format!("{i:032x}"));
            f.clock_offset_seconds = Some(*o);
            f.clock_offset_error_seconds = Some(0.05);
            f
        })
        .collect()
}

fn clock_checks(r: &Rules, fs: &[HostFacts]) -> Vec<Vec<(&'static str, Level)>> {
    let addresses: Vec<String> = (1..=fs.len()).map(|i| format!("10.0.0.{i}")).collect();
    let refs: Vec<Option<&HostFacts>> = fs.iter().map(Some).collect();
    let roles = vec![None; fs.len()];
    cluster(r, &addresses, &refs, &roles)
        .iter()
        .zip(fs)
        .map(|(c, f)| {
            let mut all = checks(&r.host(f));
            all.extend(checks(c));
            all
        })
        .collect()
}

#[test]
fn a_clock_off_the_other_nodes_warns_or_fails_as_told() {
    let mut r = rules("4.1.5");
    assert_eq!(
        clock_checks(&r, &clocked(&[0.0, 1.9, -0.1])),
        [vec![], vec![], vec![]]
    );
    let fs = clocked(&[0.2, -45.0, 0.1]);
    assert_eq!(
        clock_checks(&r, &fs),
        [vec![], vec![("clock", Level::Warn)], vec![]]
    );
    let refs: Vec<Option<&HostFacts>> = fs.iter().map(Some).collect();
    let found = &cluster(
        &r,
        &["a".into(), "b".into(), "c".into()],
        &refs,
        &[None, None, None],
    )[1];
    assert!(
        found[0].message.contains("45.1 s behind the other nodes'"),
        "{}",
        found[0].message
    );
    // The reading's error is allowed for: 2.1 ± 0.2 may be 1.9.
    let mut fs = clocked(&[0.0, 2.1, 0.0]);
    fs[1].clock_offset_error_seconds = Some(0.2);
    assert_eq!(clock_checks(&r, &fs), [vec![], vec![], vec![]]);
    // This machine 30 s off, the nodes in step: no node is off; a note.
    let fs = clocked(&[30.0, 30.2, 29.9]);
    assert_eq!(clock_checks(&r, &fs), [vec![], vec![], vec![]]);
    let refs: Vec<Option<&HostFacts>> = fs.iter().map(Some).collect();
    let note = this_machine(&r, &refs).unwrap_or_default();
    assert!(
        note.contains("this machine's clock is 30.0 s behind the nodes'"),
        "{note}"
    );
    assert_eq!(
        this_machine(
            &r,
            &clocked(&[0.5, 0.0]).iter().map(Some).collect::<Vec<_>>()
        ),
        None
    );
    // systemd's NTPSynchronized=no on one node; fail and off as told.
    let mut fs = clocked(&[0.0, 3.0, -3.0]);
    fs[0].ntp_synchronized = Some(false);
    assert_eq!(
        clock_checks(&r, &fs),
        [
            vec![("ntp", Level::Warn)],
            vec![("clock", Level::Warn)],
            vec![("clock", Level::Warn)]
        ]
    );
    assert!(
        r.host(&fs[0])[0]
            .remedy
            .contains("timedatectl set-ntp true")
    );
    r.time_sync = TimeSync::Fail;
    assert_eq!(
        clock_checks(&r, &fs),
        [
            vec![("ntp", Level::Fail)],
            vec![("clock", Level::Fail)],
            vec![("clock", Level::Fail)]
        ]
    );
    r.time_sync = TimeSync::Off;
    assert_eq!(clock_checks(&r, &fs), [vec![], vec![], vec![]]);
    assert_eq!(
        this_machine(&r, &fs.iter().map(Some).collect::<Vec<_>>()),
        None
    );
    // A node whose clock could not be read is left out of the median, and
    // is a finding at the time checks' level (not an unreadable host).
    r.time_sync = TimeSync::Warn;
    let mut fs = clocked(&[0.0, 0.1, 0.0]);
    fs[2].clock_offset_seconds = None;
    fs[2].clock_offset_error_seconds = None;
    fs[2]
        .errors
        .insert("clock".into(), "`date` is not installed".into());
    assert_eq!(
        clock_checks(&r, &fs),
        [vec![], vec![], vec![("clock", Level::Warn)]]
    );
    r.time_sync = TimeSync::Off;
    assert_eq!(clock_checks(&r, &fs), [vec![], vec![], vec![]]);
}

#[test]
fn nodes_that_split_in_two_are_named_though_none_stands_out() {
    let r = rules("4.1.5");
    // Two nodes 3.9 s apart: the median (1.95) hides it; the spread does not.
    let fs = clocked(&[0.0, 3.9]);
    assert_eq!(
        clock_checks(&r, &fs),
        [vec![("clock", Level::Warn)], vec![("clock", Level::Warn)]]
    );
    let refs: Vec<Option<&HostFacts>> = fs.iter().map(Some).collect();
    let found = cluster(&r, &["a".into(), "b".into()], &refs, &[None, None]);
    assert!(
        found[0][0].message.contains("3.9 s apart"),
        "{}",
        found[0][0].message
    );
    assert!(found[0][0].message.contains("the earliest"));
    assert!(found[1][0].message.contains("the latest"));
    // Two halves: the earliest and the latest are named.
    let fs = clocked(&[0.0, 0.0, 3.9, 3.9]);
    let c = clock_checks(&r, &fs);
    assert_eq!(c.iter().filter(|x| !x.is_empty()).count(), 2, "{c:?}");
    // Within the limit, or a single node: nothing to say of the clocks.
    assert_eq!(clock_checks(&r, &clocked(&[0.0, 2.0])), [vec![], vec![]]);
    assert_eq!(clock_checks(&r, &clocked(&[40.0])), [vec![]]);
}

fn checks(f: &[Finding]) -> Vec<(&'static str, Level)> {
    f.iter().map(|f| (f.check, f.level)).collect()
}

#[test]
fn a_sized_ubuntu_22_04_node_meets_4_1_5() {
    let f = facts("ubuntu-22.04", "/var/lib/k0s");
    assert_eq!(checks(&rules("4.1.5").host(&f)), []);
}

#[test]
fn rhel_8_boots_cgroup_v1_which_4_2_refuses() {
    let f = facts("rhel-8.10", "/var/lib/k0s");
    let found = rules("4.2.1").host(&f);
    assert_eq!(
        checks(&found),
        [
            ("cpus", Level::Warn),
            ("memory", Level::Warn),
            ("cgroup", Level::Fail)
        ]
    );
    assert!(
        found[2]
            .remedy
            .contains("systemd.unified_cgroup_hierarchy=1")
    );
    assert!(found[2].remedy.contains("grubby"));
    // 4.1.x does not need cgroup v2.
    assert_eq!(
        checks(&rules("4.1.5").host(&f)),
        [("cpus", Level::Warn), ("memory", Level::Warn)]
    );
}

#[test]
fn a_small_full_rocky_node_fails_cpu_memory_and_disk() {
    let f = facts("rocky-9.4", "/var/lib/k0s");
    let found = rules("4.1.5").host(&f);
    assert_eq!(
        checks(&found),
        [
            ("cpus", Level::Fail),
            ("memory", Level::Fail),
            ("disk", Level::Fail)
        ]
    );
    assert!(
        found[2]
            .message
            .starts_with("1.3 GiB free (8%) for /var/lib/k0s (to be created on /)"),
        "{}",
        found[2].message
    );
}

#[test]
fn the_os_list_follows_the_target() {
    let f = facts("ubuntu-24.04", "/var/lib/k0s");
    let found = rules("4.1.5").host(&f);
    assert_eq!(checks(&found), [("os", Level::Fail)]);
    assert!(
        found[0]
            .message
            .contains("ubuntu 22.04, rhel 8.10, rocky 9.4"),
        "{}",
        found[0].message
    );
    assert_eq!(checks(&rules("4.2.1").host(&f)), []);
    // Ubuntu 20.04 only for 4.1.0.
    let mut old = f.clone();
    old.os = Some(Os {
        id: "ubuntu".into(),
        version_id: Some("20.04".into()),
        pretty_name: None,
    });
    assert_eq!(checks(&rules("4.1.0").host(&old)), []);
    assert_eq!(checks(&rules("4.1.1").host(&old)), [("os", Level::Fail)]);
    // Another minor release of a listed major: a warning.
    let mut newer = f;
    newer.os = Some(Os {
        id: "rocky".into(),
        version_id: Some("9.6".into()),
        pretty_name: Some("Rocky Linux 9.6 (Blue Onyx)".into()),
    });
    assert_eq!(checks(&rules("4.1.5").host(&newer)), [("os", Level::Warn)]);
    assert!(OsRule::parse("ubuntu").is_err());
}

#[test]
fn cluster_checks_machine_ids_and_ports_by_role() {
    let r = rules("4.1.5");
    let names = [
        "ubuntu-22.04",
        "rhel-9.4",
        "ubuntu-24.04",
        "rocky-9.4",
        "ubuntu-24.04",
    ];
    let mut all: Vec<HostFacts> = names.iter().map(|n| facts(n, "/var/lib/k0s")).collect();
    all[3].machine_id = all[0].machine_id.clone();
    all[4].machine_id = Some("5".repeat(32));
    let addresses: Vec<String> = (1..=5).map(|i| format!("10.0.0.{i}")).collect();
    let refs: Vec<Option<&HostFacts>> = all.iter().map(Some).collect();
    // Managers: 1 and 2; workers: 3, 4, 5 (the third worker is not checked for port 80).
    let roles = [
        Some(Role::Manager),
        Some(Role::Manager),
        Some(Role::Worker),
        Some(Role::Worker),
        Some(Role::Worker),
    ];
    let found = cluster(&r, &addresses, &refs, &roles);
    assert_eq!(checks(&found[0]), [("machine_id", Level::Fail)]);
    assert!(found[0].message_has("10.0.0.4"));
    // rhel-9.4's sample listens on 9443: a k0s port on a manager.
    assert_eq!(checks(&found[1]), [("manager_ports", Level::Fail)]);
    assert!(found[1][0].message.starts_with("port 9443 in use"));
    // ubuntu-24.04's sample listens on 80: the first worker fails, the third is not checked.
    assert_eq!(checks(&found[2]), [("cni_port", Level::Fail)]);
    assert!(found[2][0].remedy.contains("--cni-check-port"));
    assert_eq!(checks(&found[3]), [("machine_id", Level::Fail)]);
    assert_eq!(checks(&found[4]), []);
}

trait Has {
    fn message_has(&self, s: &str) -> bool;
}

impl Has for Vec<Finding> {
    fn message_has(&self, s: &str) -> bool {
        self.iter().any(|f| f.message.contains(s))
    }
}

#[test]
fn ancestors_of_the_data_dir() {
    assert_eq!(
        ancestors("/var/lib/k0s/"),
        ["/var/lib/k0s", "/var/lib", "/var", "/"]
    );
    assert_eq!(ancestors("/"), ["/"]);
    assert!(kernel_older_than_3_10("3.2.0-4-amd64"));
    assert!(!kernel_older_than_3_10("4.18.0-553.el8_10.x86_64"));
}
