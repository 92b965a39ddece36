//! Which MKE 3 can go to which target, and the path still to take
//! (reference/mke4k-upgrade-checks.md §1.1, §1.2).
//!
//! | target | accepted source |
//! |---|---|
//! | MKE 4k 4.1.0–4.1.2, 4.1.4, 4.1.5 | 3.7.15+ or any 3.8.x |
//! | MKE 4k 4.1.3 | none: not an upgrade target (fresh installs only) |
//! | MKE 4 4.2.0 and later | 3.9.x only |
//!
//! 3.9 to 4.1.x is refused: no 4.1.x page lists 3.9 as a source, and it
//! would take Kubernetes from 1.34 down to 1.32 (§1.1, marked [I]).
//! Reaching 3.9 from 3.7/3.8: 3.8.11 or later (3.8.12 or later with
//! MetalLB), then MCR 25.0.12 or later on every node, then 3.9; MKE 3
//! minor versions cannot be skipped (§1.2).

use semver::Version;

/// MCR that every node needs before MKE 3.9.
pub const MCR_FOR_39: Version = Version::new(25, 0, 12);

/// What a node runs, for the path to 3.9.
#[derive(Debug, Clone)]
pub struct NodeEngine {
    pub hostname: String,
    pub engine: Option<String>,
}

/// What stands between the cluster and the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Why the upgrade cannot start from here (`None`: eligible).
    pub refusal: Option<String>,
    /// The steps still to take, in order.
    pub path: Vec<String>,
}

fn release(v: &Version) -> Version {
    Version::new(v.major, v.minor, v.patch)
}

/// The eligibility table (module docs). `metallb`: MKE 3's
/// `metallb_config.enabled`; `nodes`: each node's engine version.
pub fn verdict(source: &Version, target: &Version, metallb: bool, nodes: &[NodeEngine]) -> Verdict {
    let src = release(source);
    let tgt = release(target);
    let ok = Verdict {
        refusal: None,
        path: Vec::new(),
    };
    if src.major != 3 {
        return Verdict {
            refusal: Some(format!("{source} is not an MKE 3 version")),
            path: Vec::new(),
        };
    }
    match (tgt.major, tgt.minor) {
        (4, 1) if tgt.patch == 3 => Verdict {
            refusal: Some(format!(
                "MKE 4k {target} is not an upgrade target: Mirantis supports 4.1.3 for fresh installs only (Envoy gateway and offline problems)"
            )),
            path: vec!["target MKE 4k 4.1.5 instead (-e target=4.1.5)".into()],
        },
        (4, 1) => match src.minor {
            7 if src.patch >= 15 => ok,
            8 => ok,
            9 => Verdict {
                refusal: Some(format!(
                    "MKE {source} cannot go to MKE 4k {target}: the 4.1 line accepts 3.7.15+ and 3.8.x only (and 3.9 would take Kubernetes from 1.34 down to 1.32)"
                )),
                path: vec![
                    "target MKE 4 4.2.0 or later, which upgrades MKE 3.9.x (-e target=4.2.1)"
                        .into(),
                ],
            },
            m if m <= 7 => Verdict {
                refusal: Some(format!(
                    "MKE {source} is older than the 4.1 line accepts (3.7.15 or later, or 3.8.x)"
                )),
                path: to_37_15_or_38(&src),
            },
            _ => Verdict {
                refusal: Some(format!("MKE {source} is newer than the 4.1 line knows")),
                path: vec!["target MKE 4 4.2.0 or later".into()],
            },
        },
        (4, m) if m >= 2 => match src.minor {
            9 => ok,
            m if m < 9 => Verdict {
                refusal: Some(format!(
                    "from MKE 4 4.2.0 on, only MKE 3.9.x can be upgraded, and this cluster runs {source}"
                )),
                path: to_39(&src, metallb, nodes),
            },
            _ => Verdict {
                refusal: Some(format!(
                    "MKE {source} is not a known upgrade source for {target}"
                )),
                path: Vec::new(),
            },
        },
        _ => Verdict {
            refusal: Some(format!(
                "target {target} is not an MKE 4k/MKE 4 line this tool knows (4.1.x, or 4.2 and later)"
            )),
            path: vec![
                "target MKE 4k 4.1.5 (from 3.7.15+/3.8.x) or MKE 4 4.2.x (from 3.9.x)".into(),
            ],
        },
    }
}

fn to_37_15_or_38(src: &Version) -> Vec<String> {
    let mut path = Vec::new();
    if src.minor < 7 {
        for m in src.minor + 1..=7 {
            path.push(format!(
                "upgrade MKE 3 to the latest 3.{m}.x (minor versions cannot be skipped)"
            ));
        }
    }
    path.push("upgrade MKE 3 to 3.7.15 or later, or better the latest 3.8.x patch".into());
    path
}

fn to_39(src: &Version, metallb: bool, nodes: &[NodeEngine]) -> Vec<String> {
    let mut path = Vec::new();
    for m in src.minor + 1..8 {
        path.push(format!(
            "upgrade MKE 3 to the latest 3.{m}.x (minor versions cannot be skipped)"
        ));
    }
    let need = if metallb {
        Version::new(3, 8, 12)
    } else {
        Version::new(3, 8, 11)
    };
    if *src < need {
        path.push(if metallb {
            "upgrade MKE 3 to 3.8.12 or later (MetalLB is enabled: 3.8.11 is not enough); 3.7 → 3.8 can restart containers, so prefer the phased in-place or blue-green method".to_string()
        } else {
            "upgrade MKE 3 to 3.8.11 or later (3.8.12 or later if you use MetalLB); 3.7 → 3.8 can restart containers, so prefer the phased in-place or blue-green method".to_string()
        });
    }
    let below: Vec<String> = nodes
        .iter()
        .filter(|n| {
            n.engine
                .as_deref()
                .and_then(super::parse_version)
                .is_none_or(|v| release(&v) < MCR_FOR_39)
        })
        .map(|n| {
            format!(
                "{} ({})",
                n.hostname,
                n.engine.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    if below.is_empty() && !nodes.is_empty() {
        path.push(format!(
            "MCR {MCR_FOR_39} or later runs on every node already"
        ));
    } else {
        path.push(format!(
            "upgrade MCR to {MCR_FOR_39} or later on every node{}",
            if below.is_empty() {
                String::new()
            } else {
                format!(" — {} below it: {}", below.len(), below.join(", "))
            }
        ));
    }
    path.push(
        "upgrade MKE 3 to 3.9.x (its REST API changed: not directly from 3.8.10 or older)".into(),
    );
    path.push("then run this playbook again".into());
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn ok(src: &str, tgt: &str) -> bool {
        verdict(&v(src), &v(tgt), false, &[]).refusal.is_none()
    }

    #[test]
    fn the_table_of_reference_1_1() {
        for t in ["4.1.0", "4.1.1", "4.1.2", "4.1.4", "4.1.5"] {
            assert!(ok("3.7.15", t) && ok("3.8.0", t) && ok("3.8.12", t), "{t}");
            assert!(
                !ok("3.7.14", t) && !ok("3.9.0", t) && !ok("3.6.9", t),
                "{t}"
            );
        }
        for s in ["3.7.15", "3.8.10", "3.9.0"] {
            let r = verdict(&v(s), &v("4.1.3"), false, &[]);
            assert!(r.refusal.unwrap().contains("not an upgrade target"), "{s}");
            assert!(r.path[0].contains("4.1.5"));
        }
        for t in ["4.2.0", "4.2.1", "4.3.0"] {
            assert!(ok("3.9.0", t) && ok("3.9.7", t), "{t}");
            assert!(!ok("3.8.12", t) && !ok("3.7.20", t), "{t}");
        }
        assert!(ok("3.8.10-rc.1", "4.1.5"));
        assert!(!ok("4.1.0", "4.1.5"));
        assert!(!ok("3.8.1", "4.0.1"));
        let r = verdict(&v("3.9.1"), &v("4.1.5"), false, &[]);
        assert!(r.path[0].contains("4.2"), "{r:?}");
    }

    #[test]
    fn the_path_to_3_9_names_every_step_and_the_nodes_below_mcr_25_0_12() {
        let nodes = vec![
            NodeEngine {
                hostname: "mgr-1".into(),
                engine: Some("23.0.15".into()),
            },
            NodeEngine {
                hostname: "wrk-1".into(),
                engine: Some("25.0.12".into()),
            },
            NodeEngine {
                hostname: "wrk-2".into(),
                engine: None,
            },
        ];
        let r = verdict(&v("3.7.20"), &v("4.2.1"), false, &nodes);
        let p = r.path.join("\n");
        assert!(p.contains("3.8.11 or later"), "{p}");
        assert!(
            p.contains("mgr-1 (23.0.15)") && p.contains("wrk-2 (unknown)") && !p.contains("wrk-1"),
            "{p}"
        );
        assert!(
            r.path.iter().position(|s| s.contains("MCR"))
                < r.path.iter().position(|s| s.contains("to 3.9.x"))
        );
        let r = verdict(&v("3.8.11"), &v("4.2.1"), true, &nodes);
        assert!(r.path[0].contains("3.8.12"), "{r:?}");
        let r = verdict(&v("3.8.12"), &v("4.2.1"), true, &nodes[1..2]);
        assert!(r.path[0].contains("already"), "{r:?}");
        let r = verdict(&v("3.6.2"), &v("4.2.0"), false, &[]);
        assert!(r.path[0].contains("3.7.x"), "{r:?}");
    }
}
