//! Typed views of MKE's answers, read leniently: missing fields are
//! tolerated, unknown ones ignored, unknown enum values kept as text
//! (reference/mke3-facts.md §A.2, §A.3, §C.2).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// The string at a path of object keys, trimmed, if present and non-empty.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn string_at(v: &Value, path: &[&str]) -> Option<String> {
    str_at(v, path).map(str::to_string)
}

/// The first non-empty string among several candidate keys.
fn first_string(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| string_at(v, &[k]))
}

/// Defines an enum read from a string, case-insensitively, with the known
/// values and `Other(text)` for anything else.
macro_rules! lenient_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this client does not know, kept as MKE sent it.
            Other(String),
        }

        impl $name {
            pub fn parse(text: &str) -> Self {
                let text = text.trim();
                $(if text.eq_ignore_ascii_case($text) { return $name::$variant; })+
                $name::Other(text.to_string())
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// ---------------------------------------------------------------- versions

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

// ------------------------------------------------------------------- nodes

lenient_enum!(
    /// `Spec.Role`.
    NodeRole { Manager => "manager", Worker => "worker" }
);
lenient_enum!(
    /// `Spec.Availability`.
    Availability { Active => "active", Pause => "pause", Drain => "drain" }
);
lenient_enum!(
    /// `Status.State`.
    NodeState { Ready => "ready", Down => "down", Disconnected => "disconnected", Unknown => "unknown" }
);
lenient_enum!(
    /// `ManagerStatus.Reachability`.
    Reachability { Reachable => "reachable", Unreachable => "unreachable", Unknown => "unknown" }
);

/// A Swarm node of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// `Description.Hostname` (falling back to `Spec.Name`).
    pub hostname: String,
    pub role: NodeRole,
    pub availability: Availability,
    pub state: NodeState,
    /// `Status.Message`, when not empty.
    pub message: Option<String>,
    /// The node's address. For a manager whose `Status.Addr` reads
    /// `0.0.0.0` or `127.0.0.1`, `ManagerStatus.Addr` without its port.
    pub addr: Option<String>,
    pub leader: bool,
    /// Present on managers only.
    pub reachability: Option<Reachability>,
    /// `Spec.Labels` (MKE adds `com.docker.ucp.*`).
    pub labels: BTreeMap<String, String>,
}

impl Node {
    pub fn from_json(v: &Value) -> Node {
        let manager = v.get("ManagerStatus").filter(|m| m.is_object());
        let labels = v
            .get("Spec")
            .and_then(|s| s.get("Labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Node {
            id: first_string(v, &["ID", "Id", "id"]).unwrap_or_default(),
            hostname: string_at(v, &["Description", "Hostname"])
                .or_else(|| string_at(v, &["Spec", "Name"]))
                .unwrap_or_default(),
            role: match str_at(v, &["Spec", "Role"]) {
                Some(r) => NodeRole::parse(r),
                None if manager.is_some() => NodeRole::Manager,
                None => NodeRole::Other(String::new()),
            },
            availability: Availability::parse(str_at(v, &["Spec", "Availability"]).unwrap_or("")),
            state: NodeState::parse(str_at(v, &["Status", "State"]).unwrap_or("unknown")),
            message: string_at(v, &["Status", "Message"]),
            addr: node_addr(
                str_at(v, &["Status", "Addr"]),
                manager.and_then(|m| str_at(m, &["Addr"])),
            ),
            leader: manager
                .and_then(|m| m.get("Leader"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            reachability: manager
                .and_then(|m| str_at(m, &["Reachability"]))
                .map(Reachability::parse),
            labels,
        }
    }

    pub fn is_manager(&self) -> bool {
        self.role == NodeRole::Manager
    }
}

/// `Status.Addr`, unless it is unusable and `ManagerStatus.Addr` is there.
fn node_addr(status_addr: Option<&str>, manager_addr: Option<&str>) -> Option<String> {
    let unusable = |a: &str| matches!(a, "0.0.0.0" | "127.0.0.1" | "::" | "::1");
    match (status_addr, manager_addr.and_then(strip_port)) {
        (Some(a), _) if !unusable(a) => Some(a.to_string()),
        (_, Some(m)) if !unusable(m) => Some(m.to_string()),
        (status, _) => status.map(str::to_string),
    }
}

/// `10.0.0.1:2377` → `10.0.0.1`; `[fd00::1]:2377` → `fd00::1`.
fn strip_port(addr: &str) -> Option<&str> {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix('[') {
        return rest
            .split_once(']')
            .map(|(h, _)| h)
            .filter(|h| !h.is_empty());
    }
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    Some(host).filter(|h| !h.is_empty())
}

// ----------------------------------------------------------------- backups

lenient_enum!(
    /// `backupState`.
    BackupState { InProgress => "IN_PROGRESS", Success => "SUCCESS", Failed => "FAILED" }
);

/// An MKE backup of `GET /api/ucp/backups` or `GET /api/ucp/backup/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
    pub state: BackupState,
    pub file_name: Option<String>,
    pub log_file_name: Option<String>,
    pub backup_path: Option<String>,
    pub node_location: Option<String>,
    pub encrypted: Option<bool>,
    /// Set on `FAILED` backups.
    pub short_error: Option<String>,
    pub created_at: Option<SystemTime>,
    /// `None` while in progress (MKE sends Go's zero time then).
    pub completed_at: Option<SystemTime>,
}

impl Backup {
    pub fn from_json(v: &Value) -> Backup {
        Backup {
            id: first_string(v, &["id", "backupId", "backup_id", "ID"]).unwrap_or_default(),
            state: BackupState::parse(
                str_at(v, &["backupState"])
                    .or_else(|| str_at(v, &["state"]))
                    .or_else(|| str_at(v, &["status"]))
                    .unwrap_or(""),
            ),
            file_name: first_string(v, &["fileName", "file_name"]),
            log_file_name: first_string(v, &["logFileName", "log_file_name"]),
            backup_path: first_string(v, &["backupPath", "backup_path", "hostPath"]),
            node_location: first_string(v, &["nodeLocation", "node_location"]),
            encrypted: v.get("encrypted").and_then(Value::as_bool),
            short_error: first_string(v, &["shortError", "short_error", "error"]),
            created_at: first_string(v, &["created_at", "createdAt"])
                .and_then(|t| parse_timestamp(&t)),
            completed_at: first_string(v, &["completed_at", "completedAt"])
                .and_then(|t| parse_timestamp(&t)),
        }
    }

    /// When the backup was finished, or else started.
    pub fn time(&self) -> Option<SystemTime> {
        self.completed_at.or(self.created_at)
    }

    /// The whole path of the backup file, when MKE said where it is.
    pub fn file_path(&self) -> Option<String> {
        let name = self.file_name.as_deref()?;
        Some(match self.backup_path.as_deref() {
            Some(dir) => format!("{}/{name}", dir.trim_end_matches('/')),
            None => name.to_string(),
        })
    }
}

/// Reads the backup list: a JSON array, `null`, or an object holding the
/// array (or `null`) under `backups`, `items` or `data`. Entries that are
/// not objects are skipped. `None` when the shape is none of these.
pub fn parse_backup_list(v: &Value) -> Option<Vec<Backup>> {
    let list = match v {
        Value::Object(_) => ["backups", "items", "data"].iter().find_map(|k| v.get(k))?,
        _ => v,
    };
    match list {
        Value::Null => Some(Vec::new()),
        Value::Array(list) => Some(
            list.iter()
                .filter(|e| e.is_object())
                .map(Backup::from_json)
                .collect(),
        ),
        _ => None,
    }
}

/// The id in the answer to `POST /api/ucp/backup`: `backupId` (also `id`,
/// `backup_id`, `ID`), or a bare JSON string, or a plain-text body that is
/// one token.
pub fn parse_backup_id(body: &str) -> Option<String> {
    let body = body.trim();
    match serde_json::from_str::<Value>(body) {
        Ok(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Ok(v) => first_string(&v, &["backupId", "backup_id", "id", "ID"]),
        Err(_) => Some(body.to_string())
            .filter(|b| !b.is_empty() && b.len() <= 128 && !b.contains(char::is_whitespace)),
    }
}

/// RFC 3339 time as MKE writes it (`2019-04-10T21:55:53.775Z`, or with a
/// `+02:00` offset). Go's zero time (`0001-01-01T00:00:00Z`, "not yet") and
/// anything before 1970 read as `None`.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.starts_with("0001-") {
        return None;
    }
    // humantime reads the UTC form; apply a numeric offset by hand.
    let (base, offset) = split_offset(text);
    let utc = humantime::parse_rfc3339_weak(base).ok()?;
    match offset {
        Some(secs) if secs >= 0 => utc.checked_sub(Duration::from_secs(secs.unsigned_abs())),
        Some(secs) => utc.checked_add(Duration::from_secs(secs.unsigned_abs())),
        None => Some(utc),
    }
}

/// `…T12:00:00+02:00` → (`…T12:00:00`, Some(7200)); `…Z` → (`…`, None).
fn split_offset(text: &str) -> (&str, Option<i64>) {
    if let Some(base) = text.strip_suffix(['Z', 'z']) {
        return (base, None);
    }
    if text.len() > 6 && text.is_char_boundary(text.len() - 6) {
        let (base, off) = text.split_at(text.len() - 6);
        let ob = off.as_bytes();
        if (ob[0] == b'+' || ob[0] == b'-') && ob[3] == b':' && base.contains('T') {
            let h: Option<i64> = off[1..3].parse().ok();
            let m: Option<i64> = off[4..6].parse().ok();
            if let (Some(h), Some(m)) = (h, m) {
                let secs = h * 3600 + m * 60;
                return (base, Some(if ob[0] == b'-' { -secs } else { secs }));
            }
        }
    }
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

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

    #[test]
    fn manager_with_unusable_status_addr_uses_manager_status_without_port() {
        let n = Node::from_json(&json!({
            "ID": "24ifsmvkjbyhk", "Version": {"Index": 8},
            "Spec": {"Name": "my-node", "Role": "manager", "Availability": "active",
                     "Labels": {"com.docker.ucp.SANs": "10.0.0.11", "n": 1}},
            "Description": {"Hostname": "mgr-1"},
            "Status": {"State": "ready", "Message": "", "Addr": "0.0.0.0"},
            "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.0.0.11:2377"}
        }));
        assert_eq!(n.id, "24ifsmvkjbyhk");
        assert_eq!(n.hostname, "mgr-1");
        assert_eq!(n.role, NodeRole::Manager);
        assert!(n.is_manager());
        assert_eq!(n.availability, Availability::Active);
        assert_eq!(n.state, NodeState::Ready);
        assert_eq!(n.message, None);
        assert_eq!(n.addr.as_deref(), Some("10.0.0.11"));
        assert!(n.leader);
        assert_eq!(n.reachability, Some(Reachability::Reachable));
        assert_eq!(n.labels.len(), 1, "non-string labels are skipped");

        for (status, manager, want) in [
            ("127.0.0.1", "10.0.0.12:2377", Some("10.0.0.12")),
            ("", "10.0.0.12:2377", Some("10.0.0.12")),
            ("10.0.0.13", "10.0.0.12:2377", Some("10.0.0.13")),
            ("0.0.0.0", "[fd00::12]:2377", Some("fd00::12")),
            ("0.0.0.0", "", Some("0.0.0.0")),
            ("0.0.0.0", "mgr-2.example:2377", Some("mgr-2.example")),
        ] {
            let n = Node::from_json(&json!({
                "Spec": {"Role": "manager"},
                "Status": {"State": "ready", "Addr": status},
                "ManagerStatus": {"Addr": manager}
            }));
            assert_eq!(n.addr.as_deref(), want, "{status} / {manager}");
        }
    }

    #[test]
    fn worker_and_sparse_nodes() {
        let n = Node::from_json(&json!({
            "ID": "w1", "Spec": {"Role": "WORKER", "Availability": "drain", "Name": "spec-name"},
            "Status": {"State": "down", "Message": "heartbeat failure", "Addr": "10.0.0.21"}
        }));
        assert_eq!(n.role, NodeRole::Worker);
        assert_eq!(n.hostname, "spec-name");
        assert_eq!(n.availability, Availability::Drain);
        assert_eq!(n.state, NodeState::Down);
        assert_eq!(n.message.as_deref(), Some("heartbeat failure"));
        assert_eq!(n.addr.as_deref(), Some("10.0.0.21"));
        assert!(!n.leader);
        assert_eq!(n.reachability, None);

        let n = Node::from_json(&json!({"Status": {"State": "rebooting"}}));
        assert_eq!(n.state, NodeState::Other("rebooting".into()));
        assert_eq!(n.state.to_string(), "rebooting");
        assert_eq!(n.role, NodeRole::Other(String::new()));
        assert_eq!(n.addr, None);
        let n = Node::from_json(&json!({}));
        assert_eq!(n.state, NodeState::Unknown);
    }

    #[test]
    fn backups_list_and_states() {
        let body = json!([
            {"id":"0d0525dd","encrypted":true,"fileName":"backup2.tar","logFileName":"backup2.log",
             "backupPath":"/secure-location/","backupState":"SUCCESS","nodeLocation":"ucp-node-ubuntu-0",
             "shortError":"","created_at":"2019-04-10T21:55:53.775Z","completed_at":"2019-04-10T21:56:01.184Z"},
            {"id":"b2","backupState":"IN_PROGRESS","created_at":"2019-04-11T10:00:00Z",
             "completed_at":"0001-01-01T00:00:00Z"},
            {"id":"b3","backupState":"FAILED","shortError":"disk full"},
            {"id":"b4","backupState":"QUEUED","extra":{"ignored":true}},
            "not an object"
        ]);
        let list = parse_backup_list(&body).unwrap();
        assert_eq!(list.len(), 4);
        let b = &list[0];
        assert_eq!(b.state, BackupState::Success);
        assert_eq!(b.encrypted, Some(true));
        assert_eq!(b.short_error, None);
        assert_eq!(b.node_location.as_deref(), Some("ucp-node-ubuntu-0"));
        assert_eq!(
            b.file_path().as_deref(),
            Some("/secure-location/backup2.tar")
        );
        assert_eq!(
            b.completed_at,
            Some(UNIX_EPOCH + Duration::from_millis(1_554_933_361_184))
        );
        assert_eq!(b.time(), b.completed_at);
        assert_eq!(list[1].state, BackupState::InProgress);
        assert_eq!(list[1].completed_at, None);
        assert_eq!(list[1].time(), list[1].created_at);
        assert_eq!(list[2].state, BackupState::Failed);
        assert_eq!(list[2].short_error.as_deref(), Some("disk full"));
        assert_eq!(list[2].file_path(), None);
        assert_eq!(list[3].state, BackupState::Other("QUEUED".into()));

        assert_eq!(parse_backup_list(&json!(null)), Some(vec![]));
        assert_eq!(parse_backup_list(&json!({"backups": null})), Some(vec![]));
        assert_eq!(
            parse_backup_list(&json!({"backups": [{"id": "x"}]})).unwrap()[0].id,
            "x"
        );
        assert_eq!(parse_backup_list(&json!({"other": 1})), None);
        assert_eq!(parse_backup_list(&json!("text")), None);
    }

    #[test]
    fn backup_ids() {
        assert_eq!(
            parse_backup_id(r#"{"backupId":"76f4db71-d556"}"#).as_deref(),
            Some("76f4db71-d556")
        );
        assert_eq!(parse_backup_id(r#"{"id":"abc"}"#).as_deref(), Some("abc"));
        assert_eq!(parse_backup_id(r#""abc""#).as_deref(), Some("abc"));
        assert_eq!(parse_backup_id("abc-123\n").as_deref(), Some("abc-123"));
        assert_eq!(parse_backup_id("  abc-123\n").as_deref(), Some("abc-123"));
        assert_eq!(parse_backup_id(r#"{"message":"ok"}"#), None);
        assert_eq!(parse_backup_id("two words"), None);
        assert_eq!(parse_backup_id(""), None);
    }

    #[test]
    fn timestamps() {
        let t = |s| parse_timestamp(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(t("2019-04-10T21:55:53Z"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10T23:55:53+02:00"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10T20:55:53.5-01:00"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10T21:55:53.123456789Z"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10 21:55:53"), Some(1_554_933_353));
        assert_eq!(t("0001-01-01T00:00:00Z"), None);
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("2019-04-10T21:55:5é+02:00"), None);
    }
}
