//! mkeprep: a typed, resumable task runner that prepares an MKE 3 cluster for
//! `mkectl upgrade` to MKE 4k.
//!
//! Data flows one way: CLI → playbook + inventory → engine → tasks →
//! (mke | ssh) → events → reporters.

pub mod cli;
pub mod diag;
pub mod engine;
pub mod hostfacts;
pub mod inventory;
pub mod mke;
pub mod model;
pub mod playbook;
pub mod report;
pub mod sandbox;
pub mod ssh;
pub mod tasks;
pub mod template;
#[cfg(test)]
mod testing;
pub mod util;
pub mod yaml;
