//! Integration tests: one binary, driving the built `mkeprep` as a user would.

mod architecture;
mod campaign;
mod chromium;
mod common;
mod faults;
mod fleet;
mod hardening;
mod hosts;
mod language;
mod node_requirements;
mod nodeports;
mod nodes;
mod nodes_sshd;
mod people;
mod readiness;
mod report;
mod runner;
mod safety;
mod sandbox;
mod sandbox_env;
mod secrets;
mod statedir;
mod terminal;
mod trust;
mod upgrade;
