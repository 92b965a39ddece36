//! The MKE version: `GET /info` and `GET /version`, and picking the
//! version from them.

use std::fmt;

use serde_json::Value;

use super::string_at;

/// `GET /info`, the part this tool reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Info {
    /// `ServerVersion`, `ucp/3.8.7` on MKE (a plain engine version on some).
    pub server_version: Option<String>,
    /// `Name`, the host name of the node that answered.
    pub name: Option<String>,
}

impl Info {
    pub fn from_json(v: &Value) -> Info {
        Info {
            server_version: string_at(v, &["ServerVersion"]),
            name: string_at(v, &["Name"]),
        }
    }
}

/// One `Components[]` entry of `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub version: String,
}

/// `GET /version` (Docker's `SystemVersion` schema, as MKE answers it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionInfo {
    /// `Platform.Name`.
    pub platform: Option<String>,
    /// The top-level `Version`.
    pub version: Option<String>,
    pub api_version: Option<String>,
    pub components: Vec<Component>,
}

impl VersionInfo {
    pub fn from_json(v: &Value) -> VersionInfo {
        let components = v
            .get("Components")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|c| {
                        Some(Component {
                            name: string_at(c, &["Name"])?,
                            version: string_at(c, &["Version"]).unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        VersionInfo {
            platform: string_at(v, &["Platform", "Name"]),
            version: string_at(v, &["Version"]),
            api_version: string_at(v, &["ApiVersion"]),
            components,
        }
    }

    /// The component that carries MKE's version: a name containing
    /// "Control Plane" (UCP's "Universal Control Plane"), then "MKE" or
    /// "UCP", then "Mirantis" — but never "Mirantis Container Runtime", the
    /// engine, whose version is not MKE's.
    pub fn mke_component(&self) -> Option<&Component> {
        let lower = |c: &Component| c.name.to_ascii_lowercase();
        let is_engine = |n: &str| n.contains("container runtime") || n == "engine";
        let has_word = |n: &str, w: &str| {
            n.split(|ch: char| !ch.is_ascii_alphanumeric())
                .any(|part| part == w)
        };
        let tiers: [&dyn Fn(&str) -> bool; 3] = [
            &|n| n.contains("control plane"),
            &|n| has_word(n, "mke") || has_word(n, "ucp"),
            &|n| n.contains("mirantis"),
        ];
        tiers.iter().find_map(|matches| {
            self.components.iter().find(|c| {
                let n = lower(c);
                !is_engine(&n) && matches(&n)
            })
        })
    }
}

/// Where the MKE version was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// `GET /info` `ServerVersion`, with the raw value.
    Info { server_version: String },
    /// `GET /version`, the named component.
    Version { component: String, version: String },
}

impl fmt::Display for VersionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSource::Info { server_version } => {
                write!(f, "GET /info ServerVersion {server_version:?}")
            }
            VersionSource::Version { component, version } => {
                write!(f, "GET /version component {component:?} = {version:?}")
            }
        }
    }
}

/// The MKE version and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkeVersion {
    pub version: semver::Version,
    pub source: VersionSource,
}

/// Parses an MKE version: `3.8.7`, `v3.8.7`, `3.7.15-rc1`, and `3.8`
/// (read as `3.8.0`). `None` for anything else.
pub fn parse_version(text: &str) -> Option<semver::Version> {
    let text = text.trim();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    if let Ok(v) = semver::Version::parse(text) {
        return Some(v);
    }
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(core_end);
    if core.split('.').count() == 2 {
        return semver::Version::parse(&format!("{core}.0{rest}")).ok();
    }
    None
}

/// The version in an `/info` `ServerVersion`: only `ucp/X.Y.Z` (also
/// `mke/X.Y.Z`) counts; a bare engine version does not name MKE's.
pub fn version_from_server_version(server_version: &str) -> Result<semver::Version, String> {
    let sv = server_version.trim();
    let Some((prefix, version)) = sv.split_once('/') else {
        return Err(format!(
            "ServerVersion {sv:?} has no ucp/ prefix (an engine version, not MKE's)"
        ));
    };
    if !prefix.eq_ignore_ascii_case("ucp") && !prefix.eq_ignore_ascii_case("mke") {
        return Err(format!("ServerVersion {sv:?} does not start with ucp/"));
    }
    parse_version(version).ok_or_else(|| format!("ServerVersion {sv:?} holds no version number"))
}

/// Picks the MKE version from `/info`, falling back to `/version`. The
/// `Err` lists why each source did not name it.
pub fn select_version(
    info: Result<&Info, String>,
    version: Option<Result<&VersionInfo, String>>,
) -> Result<MkeVersion, Vec<String>> {
    let mut attempts = Vec::new();
    match info {
        Ok(info) => match &info.server_version {
            Some(sv) => match version_from_server_version(sv) {
                Ok(v) => {
                    return Ok(MkeVersion {
                        version: v,
                        source: VersionSource::Info {
                            server_version: sv.clone(),
                        },
                    });
                }
                Err(why) => attempts.push(format!("GET /info: {why}")),
            },
            None => attempts.push("GET /info: no ServerVersion".to_string()),
        },
        Err(why) => attempts.push(format!("GET /info: {why}")),
    }
    match version {
        Some(Ok(vi)) => match vi.mke_component() {
            Some(c) => match parse_version(&c.version) {
                Some(v) => {
                    return Ok(MkeVersion {
                        version: v,
                        source: VersionSource::Version {
                            component: c.name.clone(),
                            version: c.version.clone(),
                        },
                    });
                }
                None => attempts.push(format!(
                    "GET /version: component {:?} has an unreadable version {:?}",
                    c.name, c.version
                )),
            },
            None => {
                let names: Vec<&str> = vi.components.iter().map(|c| c.name.as_str()).collect();
                attempts.push(format!(
                    "GET /version: no component named like Control Plane, MKE, UCP or \
                     Mirantis (components: {names:?})"
                ));
            }
        },
        Some(Err(why)) => attempts.push(format!("GET /version: {why}")),
        None => {}
    }
    Err(attempts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    #[test]
    fn version_strings() {
        assert_eq!(parse_version("3.8.7"), Some(v("3.8.7")));
        assert_eq!(parse_version(" v3.7.15 "), Some(v("3.7.15")));
        assert_eq!(parse_version("3.8"), Some(v("3.8.0")));
        assert_eq!(parse_version("3.9.0-rc.1"), Some(v("3.9.0-rc.1")));
        assert_eq!(parse_version("3.8-tp1"), Some(v("3.8.0-tp1")));
        for bad in ["", "latest", "3", "3.x.1", "ucp/3.8.7", "3.8.7.1"] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn server_version_needs_the_ucp_prefix() {
        assert_eq!(version_from_server_version("ucp/3.8.7"), Ok(v("3.8.7")));
        assert_eq!(version_from_server_version("UCP/3.7.15"), Ok(v("3.7.15")));
        assert_eq!(version_from_server_version("mke/3.9.1"), Ok(v("3.9.1")));
        let e = version_from_server_version("20.10.13").unwrap_err();
        assert!(e.contains("no ucp/ prefix"), "{e}");
        let e = version_from_server_version("docker/3.8.7").unwrap_err();
        assert!(e.contains("does not start with ucp/"), "{e}");
        let e = version_from_server_version("ucp/garbage").unwrap_err();
        assert!(e.contains("no version number"), "{e}");
    }

    fn version_info(components: &[(&str, &str)]) -> VersionInfo {
        let list: Vec<_> = components
            .iter()
            .map(|(n, v)| json!({"Name": n, "Version": v, "Details": {"ApiVersion": "1.41"}}))
            .collect();
        VersionInfo::from_json(&json!({
            "Platform": {"Name": "Mirantis Kubernetes Engine"},
            "Components": list, "Version": "ucp/3.8.7", "ApiVersion": "1.41",
            "Unknown": {"x": 1}
        }))
    }

    #[test]
    fn info_first_then_version_components() {
        let info = Info::from_json(&json!({"ServerVersion": "ucp/3.8.7", "Name": "m1"}));
        let got = select_version(Ok(&info), None).unwrap();
        assert_eq!(got.version, v("3.8.7"));
        assert_eq!(
            got.source.to_string(),
            r#"GET /info ServerVersion "ucp/3.8.7""#
        );

        // Plain engine version in /info: fall back to the UCP component.
        let info = Info::from_json(&json!({"ServerVersion": "17.06.2-ee-16"}));
        let vi = version_info(&[
            ("Engine", "17.06.2"),
            ("Universal Control Plane", "3.1.6"),
            ("Kubernetes", "1.11+"),
        ]);
        let got = select_version(Ok(&info), Some(Ok(&vi))).unwrap();
        assert_eq!(got.version, v("3.1.6"));
        assert_eq!(
            got.source,
            VersionSource::Version {
                component: "Universal Control Plane".into(),
                version: "3.1.6".into()
            }
        );
    }

    #[test]
    fn component_selection_prefers_control_plane_and_skips_the_runtime() {
        let vi = version_info(&[
            ("Mirantis Container Runtime", "23.0.9"),
            ("Mirantis Kubernetes Engine", "3.8.7"),
        ]);
        assert_eq!(vi.mke_component().unwrap().version, "3.8.7");
        let vi = version_info(&[("Engine", "20.10"), ("MKE", "3.7.16")]);
        assert_eq!(vi.mke_component().unwrap().version, "3.7.16");
        let vi = version_info(&[("ucp-controller", "3.9.0"), ("Mirantis thing", "1.0")]);
        assert_eq!(vi.mke_component().unwrap().version, "3.9.0");
        let vi = version_info(&[("Mirantis Control Plane", "3.9.2"), ("UCP", "9")]);
        assert_eq!(vi.mke_component().unwrap().version, "3.9.2");
        // "mke" must be a word, not part of one.
        let vi = version_info(&[("Smoked", "1.0"), ("Engine", "20.10")]);
        assert!(vi.mke_component().is_none());
    }

    #[test]
    fn no_version_anywhere_lists_every_attempt() {
        let info = Info::from_json(&json!({"Containers": 3}));
        let vi = version_info(&[("Engine", "20.10"), ("Kubernetes", "1.27")]);
        let why = select_version(Ok(&info), Some(Ok(&vi))).unwrap_err();
        assert_eq!(why.len(), 2);
        assert!(why[0].contains("no ServerVersion"), "{why:?}");
        assert!(why[1].contains(r#"["Engine", "Kubernetes"]"#), "{why:?}");

        let vi = version_info(&[("Universal Control Plane", "garbage")]);
        let why = select_version(Err("HTTP 404".into()), Some(Ok(&vi))).unwrap_err();
        assert!(why[0].contains("GET /info: HTTP 404"), "{why:?}");
        assert!(why[1].contains("unreadable version"), "{why:?}");

        let why = select_version(Err("x".into()), Some(Err("not JSON".into()))).unwrap_err();
        assert_eq!(why[1], "GET /version: not JSON");
        // Garbage JSON shapes do not panic.
        let vi = VersionInfo::from_json(&json!({"Components": [1, "x", {"Version": "3"}]}));
        assert!(vi.components.is_empty());
        assert_eq!(VersionInfo::from_json(&json!([])), VersionInfo::default());
    }
}
