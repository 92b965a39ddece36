//! Temporary entry point of the `sandbox` branch: only `mkeprep sandbox`.
//! The lead wires `SandboxArgs` into the full CLI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mkeprep::sandbox::cli::{SandboxArgs, run_standalone};

#[derive(Parser)]
#[command(name = "mkeprep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the simulated MKE 3 cluster alone, print how to use it
    Sandbox(SandboxArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sandbox(args) => run_standalone(args),
    }
}
