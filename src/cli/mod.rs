//! The command line (clap derive): one file per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod completions;
pub mod credentials;
pub mod inputs;
pub mod inventory;
pub mod journal;
pub mod man;
pub mod modules;
pub mod report;
pub mod run;
pub mod stopped;
pub mod terminal;
pub mod validate;

const AFTER_HELP: &str = "\
Exit codes: 0 in sync or applied, 1 a step failed or is blocked, 2 invalid input
(nothing contacted), 3 --check found changes, 4 state directory locked,
130 interrupted (run again to resume).";

/// Prepare an MKE 3 cluster for `mkectl upgrade` to MKE 4k: typed steps with a
/// check and an apply phase, honest dry runs, and a journal that resumes an
/// interrupted run.
#[derive(Debug, Parser)]
#[command(name = "mkeprep", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the sandbox's many knobs making one variant
// large costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook: check every step, apply where needed, re-check.
    #[command(after_help = run::AFTER_HELP)]
    Run(Box<RunArgs>),
    /// Parse, type-check and template-check a playbook; contact nothing.
    Validate(ValidateArgs),
    /// Show or clear the journal in the state directory.
    Journal(JournalArgs),
    /// Write the readiness report (HTML or Markdown) of the last run in the journal.
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
    /// List task modules, or show one module's parameters and defaults.
    Modules(ModulesArgs),
    /// Print a mkectl hosts.yaml for every node of the MKE 3 cluster (GET /nodes).
    #[command(after_help = inventory::AFTER_HELP)]
    Inventory(inventory::InventoryArgs),
    /// Start the simulated MKE 3 cluster alone and print how to use it.
    Sandbox(Box<crate::sandbox::cli::SandboxArgs>),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `mkeprep man > mkeprep.1`.
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct VarsArgs {
    /// mkectl hosts.yaml: the nodes to check over SSH.
    #[arg(
        short = 'i',
        long = "inventory",
        value_name = "FILE",
        env = "MKEPREP_INVENTORY"
    )]
    pub inventory: Option<PathBuf>,
    /// A variable, KEY=VALUE (typed: 5 is a number, false a boolean, '5' a string; decimals stay text), or @FILE (a YAML mapping). Repeatable; wins over vars_files and vars.
    #[arg(short = 'e', long = "extra-vars", value_name = "KEY=VALUE|@FILE")]
    pub extra_vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook (YAML). The standard one is playbooks/upgrade-prep.yaml.
    pub playbook: PathBuf,
    #[command(flatten)]
    pub vars: VarsArgs,
    /// Dry run: report what would change, change nothing (exit 3 if something would).
    #[arg(long)]
    pub check: bool,
    /// Show unified diffs of changed configuration (secrets masked).
    #[arg(long)]
    pub diff: bool,
    /// Run only steps with one of these tags (comma-separated; repeatable).
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Skip steps with one of these tags (comma-separated; repeatable).
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    pub skip_tags: Vec<String>,
    /// Skip the steps before this step id.
    #[arg(long, value_name = "STEP_ID")]
    pub start_at: Option<String>,
    /// Ignore an unfinished run in the journal and start over. An earlier
    /// apply whose outcome is unknown (a KDD PUT cut off) is still read back
    /// first: see --resend.
    #[arg(long)]
    pub fresh: bool,
    /// Forget that an earlier apply of STEP_ID has an unknown outcome, so it
    /// is sent again if its check finds drift: `--resend migrate-kdd`
    /// re-sends the KDD migration. Only after checking the cluster.
    #[arg(long, value_name = "STEP_ID")]
    pub resend: Vec<String>,
    /// Where the journal, the lock and saved configuration live.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".mkeprep",
        env = "MKEPREP_STATE_DIR"
    )]
    pub state_dir: PathBuf,
    /// Approve disruptive steps without a prompt (needed when not on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// human: lines and a recap; json: JSON Lines events on stdout.
    #[arg(long, value_enum, default_value = "human")]
    pub output: Output,
    /// Also write a JUnit XML report (one test case per step).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a readiness report for people: FILE.html (one self-contained
    /// page for a change ticket) or FILE.md (Markdown), chosen by the extension.
    #[arg(long, value_name = "FILE", value_parser = report::parse_report_path)]
    pub report: Option<PathBuf>,
    /// No colour (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// More detail: -v lists every change and host, -vv also step outputs.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Hosts checked at once over SSH.
    #[arg(short = 'f', long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub forks: u16,
    /// known_hosts file for SSH host keys (default: OpenSSH's own).
    #[arg(
        long,
        value_name = "FILE",
        env = "MKEPREP_KNOWN_HOSTS",
        help_heading = "Connections"
    )]
    pub known_hosts: Option<PathBuf>,
    /// Add the keys of hosts not yet in known_hosts (changed keys are still refused).
    #[arg(long, help_heading = "Connections")]
    pub accept_new_host_keys: bool,
    /// SSH client: native (in-process, connects as mkectl does: the inventory's
    /// address, port, user and keyPath, or the agent) or openssh (the system
    /// `ssh`: ~/.ssh/config, ProxyJump, hardware keys, --ssh-option).
    #[arg(
        long,
        value_enum,
        value_name = "TRANSPORT",
        default_value = "native",
        env = "MKEPREP_SSH_TRANSPORT",
        help_heading = "Connections"
    )]
    pub ssh_transport: crate::ssh::Transport,
    /// Extra OpenSSH option KEY=VALUE (repeatable; needs --ssh-transport openssh), e.g. ProxyJump=bastion.
    #[arg(
        long = "ssh-option",
        value_name = "KEY=VALUE",
        help_heading = "Connections"
    )]
    pub ssh_options: Vec<String>,
    /// Seconds to wait for an SSH connection.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        help_heading = "Connections"
    )]
    pub ssh_timeout: u64,
    #[command(flatten)]
    pub mke: MkeArgs,
    /// Run against the embedded simulated MKE 3 cluster (state kept in --state-dir/sandbox).
    #[arg(long, help_heading = "Sandbox")]
    pub sandbox: bool,
    /// A sandbox knob KEY=VALUE (repeatable; overrides the playbook's `sandbox:` section). See `mkeprep sandbox --help`.
    #[arg(
        long = "sandbox-set",
        value_name = "KEY=VALUE",
        requires = "sandbox",
        help_heading = "Sandbox"
    )]
    pub sandbox_set: Vec<String>,
}

/// How to reach the MKE API: shared by `run` and `inventory` (the host and
/// user come from MKE_HOST and MKE_USERNAME).
#[derive(Debug, Args)]
pub struct MkeArgs {
    /// Read the MKE password from this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "password_stdin")]
    pub password_file: Option<PathBuf>,
    /// Read the MKE password from standard input (first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// A CA certificate (PEM) to trust for the MKE API, besides the system roots.
    #[arg(
        long,
        value_name = "FILE",
        env = "MKEPREP_CA_CERT",
        help_heading = "Connections"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the MKE API's TLS certificate (warns on every run).
    #[arg(long, help_heading = "Connections")]
    pub insecure: bool,
    /// Seconds to wait for one answer of the MKE API (the KDD conversion's PUT waits longer: about 20 s per node).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        help_heading = "Connections"
    )]
    pub api_timeout: u64,
}

impl MkeArgs {
    /// The credentials (environment, file or stdin), or what is wrong with
    /// them (a usage error).
    pub fn credentials(&self) -> Result<credentials::Credentials, String> {
        credentials::read(self.password_file.as_deref(), self.password_stdin)
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The playbook to check.
    pub playbook: PathBuf,
    #[command(flatten)]
    pub vars: VarsArgs,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub action: JournalAction,
}

#[derive(Debug, Subcommand)]
pub enum JournalAction {
    /// Print the journal: runs, and the steps of each with status and time.
    Show {
        #[arg(
            long,
            value_name = "DIR",
            default_value = ".mkeprep",
            env = "MKEPREP_STATE_DIR"
        )]
        state_dir: PathBuf,
        /// human: a table; json: the journal records as JSON Lines.
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
        /// Show the previous run too (journal.prev.jsonl), not only the last.
        #[arg(long)]
        all: bool,
    },
    /// Delete the journal (saved configuration copies are kept).
    Clear {
        #[arg(
            long,
            value_name = "DIR",
            default_value = ".mkeprep",
            env = "MKEPREP_STATE_DIR"
        )]
        state_dir: PathBuf,
    },
}

const REPORT_HELP: &str = "\
The report says whether the cluster is ready for `mkectl upgrade` (ready, not
ready, pending changes), what the cluster is (MKE version, target, nodes),
every step with its status, time, message and what to do, a table per host for
fan-out steps, and what the run changed. Secrets are masked.

A --check run writes no journal: give it --report FILE instead.

Examples:
  mkeprep report -o readiness.html                  # the last run in .mkeprep
  mkeprep report --state-dir /var/lib/mkeprep/prod -o prod.md";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The state directory whose journal holds the run.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".mkeprep",
        env = "MKEPREP_STATE_DIR"
    )]
    pub state_dir: PathBuf,
    /// The report to write: FILE.html (one self-contained page) or FILE.md (Markdown).
    #[arg(short = 'o', long, value_name = "FILE", value_parser = report::parse_report_path)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ModulesArgs {
    /// A module name; without it, the list of modules.
    pub name: Option<String>,
    /// Render as Markdown (the form checked into docs/modules.md).
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Runs the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(a) => run::run(*a),
        Command::Validate(a) => validate::run(a),
        Command::Journal(a) => journal::run(a),
        Command::Report(a) => report::run(a),
        Command::Modules(a) => modules::run(a),
        Command::Inventory(a) => inventory::run(a),
        Command::Sandbox(a) => crate::sandbox::cli::run_standalone(*a),
        Command::Completions(a) => completions::run(a),
        Command::Man => man::run(),
    }
}

/// The async runtime of a command, or why it cannot start.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Prints an error to stderr, with secrets masked and anything a terminal
/// would act on shown instead (an error quotes YAML lines and answers).
pub fn print_error(text: &str) {
    let text = crate::util::secret::redact(text);
    let text = crate::util::text::terminal_safe(&text);
    if text.starts_with("error") {
        eprintln!("{text}");
    } else {
        eprintln!("error: {text}");
    }
}
