use clap::Parser;

use mkeprep::cli::{Cli, Command};

fn main() {
    few_malloc_arenas();
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

/// glibc gives each thread that allocates its own heap arena (up to eight
/// per core) and returns little of them to the system, so a step over 1,000
/// hosts, whose sessions move between the runtime's threads, held 8-10 MB
/// of half-empty arenas (bench/facts.sh: 40 MB peak with the default, 32.6
/// MB with two). mkeprep's work is I/O, not allocation, so two arenas cost
/// no measurable time even on many cores; the same as `MALLOC_ARENA_MAX=2`,
/// and that variable or a `glibc.malloc` tunable in `GLIBC_TUNABLES` still
/// wins when set.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."))
    {
        // SAFETY: a malloc tunable, set before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
