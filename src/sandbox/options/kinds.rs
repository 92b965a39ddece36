//! The sandbox's value-typed knobs: the kinds of backups, backup files, KDD
//! wording and backup outcome, and durations written the human way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Deserializer};

/// Which backups `GET /api/ucp/backups` lists on a fresh sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupHistory {
    /// A recent SUCCESS backup (and an older one)
    Present,
    /// No backup at all
    Absent,
    /// Only an old SUCCESS backup
    Old,
    /// The newest backup FAILED; an old one succeeded
    Failed,
}

/// What the simulated backup file on a node contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A real tar archive (ustar headers), like `mirantis/ucp backup --no-passphrase`
    Tar,
    /// A PGP-encrypted file, like a backup made with a passphrase
    Pgp,
    /// An empty file
    Empty,
    /// Bytes that are neither tar nor PGP
    Corrupt,
    /// No file at all
    Absent,
}

/// Which wording the KDD success message uses (see the facts file, B.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KddWording {
    /// "Calico datastore migration from etcd to kdd successful"
    Migration,
    /// "Calico datastore upgrade from etcd to kdd successful"
    Upgrade,
}

impl KddWording {
    pub fn message(self) -> &'static str {
        match self {
            KddWording::Migration => "Calico datastore migration from etcd to kdd successful",
            KddWording::Upgrade => "Calico datastore upgrade from etcd to kdd successful",
        }
    }
}

/// How a backup made through the API ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupOutcome {
    Success,
    Failed,
}

/// A duration written the human way (`90s`, `2h`, `30d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s)
            .map(HumanDuration)
            .map_err(|e| format!("{s:?} is not a duration like 90s, 2h or 30d: {e}"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Playbook form of the string-shaped knobs: the same text as the flag.
pub(super) fn parse_text<'de, D: Deserializer<'de>, T: FromStr<Err = String>>(
    d: D,
) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d)
    }
}
