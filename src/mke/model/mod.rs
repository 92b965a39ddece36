//! Typed views of MKE's answers, read leniently: missing fields are
//! tolerated, unknown ones ignored, unknown enum values kept as text
//! (reference/mke3-facts.md §A.2, §A.3, §C.2).

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

mod backups;
mod content;
mod nodes;
mod version;

pub use backups::{Backup, BackupState, parse_backup_id, parse_backup_list, parse_timestamp};
pub use content::{Account, Container, Service, parse_accounts};
pub use nodes::{Availability, Node, NodeRole, NodeState, Reachability};
pub use version::{
    Component, Info, MkeVersion, VersionInfo, VersionSource, parse_version, select_version,
    version_from_server_version,
};
