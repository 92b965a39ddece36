use clap::Parser;

use mkeprep::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    quiet_on_broken_pipe(&cli.command);
    let code = mkeprep::cli::dispatch(cli);
    std::process::exit(code);
}

/// Commands that only print (completions, man, modules, validate, journal)
/// end quietly when their reader goes away (`| head`), as other Unix tools
/// do: the default SIGPIPE action, which Rust programs start without. A
/// run keeps ignoring it: a closed stdout must not kill it in the middle of
/// an apply (its reporters stop writing, the run and its journal go on),
/// and neither may the sandbox's server.
fn quiet_on_broken_pipe(command: &Command) {
    if matches!(command, Command::Run(_) | Command::Sandbox(_)) {
        return;
    }
    // SAFETY: restoring a signal's default action, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
