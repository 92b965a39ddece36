//! Integration tests: one binary, driving the built `mkeprep` as a user would.

mod common;
mod people;
mod runner;
mod sandbox;
mod sandbox_env;
mod upgrade;
