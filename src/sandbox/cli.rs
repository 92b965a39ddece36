//! `mkeprep sandbox`: start the simulated cluster alone, print the
//! environment a client needs as `export NAME=VALUE` lines on stdout (hints
//! go to stderr), and serve until SIGINT or SIGTERM.

use std::io::Write;
use std::path::PathBuf;

use super::shell::quote;
use super::{Sandbox, SandboxError, SandboxOptions, start};

/// Start the simulated MKE 3 cluster alone and print how to use it.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Knobs marked 'Initial state' apply when DIR holds no cluster yet; delete DIR to start afresh.\n\nThe admin password is random on every start unless MKEPREP_SANDBOX_PASSWORD (16 or more printable characters) fixes it.\n\nExample:\n  mkeprep sandbox --nodes 5 --managers 3 > sandbox.env &\n  . ./sandbox.env && curl --cacert \"$MKEPREP_CA_CERT\" \"$MKE_HOST/_ping\""
)]
pub struct SandboxArgs {
    /// Directory holding the sandbox's state (the cluster as the last run left it), keys, CA, inventory and record
    #[arg(long, value_name = "DIR", default_value = ".mkeprep/sandbox")]
    pub dir: PathBuf,

    #[command(flatten)]
    pub options: SandboxOptions,
}

/// The `export` lines for a running sandbox, shell-quoted.
pub fn exports(sandbox: &Sandbox) -> String {
    let path = |p: &PathBuf| p.display().to_string();
    let upgrade = sandbox.upgrade_env();
    [
        ("MKE_HOST", sandbox.mke_host.clone()),
        ("MKE_USERNAME", sandbox.username.clone()),
        // The one deliberate exception to "never print a secret": the
        // sandbox's own throwaway credential, which the user needs.
        ("MKE_PASSWORD", sandbox.password.expose().to_string()),
        ("MKEPREP_CA_CERT", path(&sandbox.ca_cert)),
        ("MKEPREP_INVENTORY", path(&sandbox.inventory)),
        ("MKEPREP_KNOWN_HOSTS", path(&sandbox.known_hosts)),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.clone()))
    .chain(upgrade)
    .map(|(name, value)| format!("export {name}={}\n", quote(&value)))
    .collect()
}

fn hints(sandbox: &Sandbox, opts: &SandboxOptions) -> String {
    let managers = sandbox.nodes.iter().filter(|n| n.manager).count();
    let mut out = format!(
        "mkeprep sandbox: simulated MKE {} with {} node(s), {managers} manager(s), at {}\n",
        opts.mke_version,
        sandbox.nodes.len(),
        sandbox.mke_host
    );
    if sandbox.resumed {
        out.push_str(&format!(
            "  state: {} holds the cluster as the last run left it ('Initial state' knobs were not applied; delete the directory to reset)\n",
            sandbox.dir.display()
        ));
    } else {
        out.push_str(&format!(
            "  state: {} (a fresh cluster; delete the directory to reset it later)\n",
            sandbox.dir.display()
        ));
    }
    out.push_str(&format!(
        "  KDD conversion takes {:.1} s here ({} s per node); a real cluster takes about 20 s per node\n",
        sandbox.kdd_duration.as_secs_f64(),
        opts.kdd_seconds_per_node
    ));
    out.push_str(&format!(
        "  stand-in mkectl: export PATH={}:\"$PATH\"   fake HOME: {}\n",
        quote(&sandbox.bin_dir.display().to_string()),
        sandbox.home_dir.display()
    ));
    if let Some(node) = sandbox.nodes.first() {
        out.push_str(&format!(
            "  ssh: ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -p {} {}@{} true\n",
            quote(&sandbox.ssh_key.display().to_string()),
            quote(&sandbox.known_hosts.display().to_string()),
            node.ssh_port,
            opts.ssh_user,
            node.address
        ));
    }
    out.push_str(&format!(
        "  record of requests: {}\n  serving; press Ctrl-C (or send SIGTERM) to stop\n",
        sandbox.record.display()
    ));
    out
}

/// Runs `mkeprep sandbox`: 0 after a clean stop on SIGINT/SIGTERM, 2 for an
/// invalid knob, 1 when the sandbox cannot start.
pub fn run_standalone(args: SandboxArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mkeprep sandbox: cannot start the async runtime: {err}");
            return 1;
        }
    };
    runtime.block_on(async {
        let sandbox = match start(&args.options, &args.dir).await {
            Ok(s) => s,
            Err(err @ SandboxError::Options(_)) => {
                eprintln!("mkeprep sandbox: {err}");
                return 2;
            }
            Err(err) => {
                eprintln!("{err}");
                return 1;
            }
        };
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout
            .write_all(exports(&sandbox).as_bytes())
            .and_then(|()| stdout.flush())
        {
            eprintln!("mkeprep sandbox: cannot write to stdout: {err}");
            sandbox.shutdown().await;
            return 1;
        }
        drop(stdout);
        eprint!("{}", hints(&sandbox, &args.options));
        let signal = wait_for_signal().await;
        eprintln!("mkeprep sandbox: {signal}, stopping");
        sandbox.shutdown().await;
        eprintln!("mkeprep sandbox: stopped");
        0
    })
}

/// Waits for SIGINT or SIGTERM and names the one that came.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "interrupted",
                _ = term.recv() => "terminated",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "interrupted"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}
