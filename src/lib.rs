//! mkeprep: a typed, resumable task runner that prepares an MKE 3 cluster for
//! `mkectl upgrade` to MKE 4k.
//!
//! Data flows one way: CLI → playbook + inventory → engine → tasks →
//! (mke | ssh) → events → reporters.

pub mod engine;
pub mod sandbox;
