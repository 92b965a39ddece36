//! Integration tests: one binary, driving the built `mkeprep` as a user would.

mod architecture;
mod campaign;
mod common;
mod faults;
mod hardening;
mod hosts;
mod people;
mod runner;
mod safety;
mod sandbox;
mod sandbox_env;
mod secrets;
mod statedir;
mod terminal;
mod upgrade;
