//! `mkeprep completions SHELL`.

use clap::CommandFactory;

use super::{Cli, CompletionsArgs};

pub fn run(a: CompletionsArgs) -> i32 {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "mkeprep", &mut std::io::stdout());
    0
}
