//! `mkeprep man`: the manual page (roff), generated from the clap
//! definitions so it cannot drift from `--help`. `docs/mkeprep.1` is this
//! output, kept current by a test.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, print_error};
use crate::model::exit;

/// Environment variables, as (name, meaning).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "MKE_HOST",
        "The MKE 3 API: host, host:port or https://host[:port] (port 443 by default).",
    ),
    ("MKE_USERNAME", "The MKE user (an administrator)."),
    (
        "MKE_PASSWORD",
        "The MKE password (or --password-file / --password-stdin). Never shown in any output.",
    ),
    ("MKEPREP_CA_CERT", "The environment form of --ca-cert."),
    (
        "MKEPREP_INVENTORY",
        "The environment form of -i/--inventory.",
    ),
    (
        "MKEPREP_KNOWN_HOSTS",
        "The environment form of --known-hosts.",
    ),
    ("MKEPREP_STATE_DIR", "The environment form of --state-dir."),
    (
        "NO_COLOR",
        "When set and not empty, no colour (as --no-color). Colour is also off when the output is not a terminal.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Every step in sync or applied (with --check: nothing would change).",
    ),
    ("1", "A step failed or is blocked."),
    (
        "2",
        "Usage error or invalid input (playbook, inventory, variables); nothing was contacted.",
    ),
    ("3", "--check found changes that a real run would make."),
    ("4", "Another run holds the state directory's lock."),
    (
        "130",
        "Interrupted (SIGINT/SIGTERM): the journal is consistent; run the same command again to resume.",
    ),
];

/// Escapes text for a roff line: backslashes, hyphens (so they stay ASCII
/// minus signs in options), and a leading dot or quote.
fn roff_text(s: &str) -> String {
    let mut out = s.replace('\\', "\\e").replace('-', "\\-");
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn tagged(out: &mut Vec<u8>, heading: &str, items: &[(&str, &str)]) {
    out.extend_from_slice(format!(".SH \"{heading}\"\n").as_bytes());
    for (tag, text) in items {
        out.extend_from_slice(
            format!(".TP\n\\fB{}\\fR\n{}\n", roff_text(tag), roff_text(text)).as_bytes(),
        );
    }
}

/// The whole page: the top-level command, then every subcommand's synopsis,
/// description and options, then environment, exit status and files.
pub fn page() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    let top = clap_mangen::Man::new(cmd.clone());
    top.render_title(&mut out)?;
    top.render_name_section(&mut out)?;
    top.render_synopsis_section(&mut out)?;
    top.render_description_section(&mut out)?;
    top.render_options_section(&mut out)?;
    // The commands, each described in its own section below (clap_mangen's
    // list would point at one page per command, which this page replaces).
    let commands: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in &commands {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.extend_from_slice(
            format!(
                ".TP\n\\fBmkeprep {}\\fR\n{}\n",
                roff_text(sub.get_name()),
                roff_text(&about)
            )
            .as_bytes(),
        );
    }
    for sub in commands {
        let name = format!("mkeprep {}", sub.get_name());
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let man = clap_mangen::Man::new(sub.clone());
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part)?;
        man.render_description_section(&mut part)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut part)?;
        }
        if sub.get_subcommands().any(|s| !s.is_hide_set()) {
            man.render_subcommands_section(&mut part)?;
        }
        // Sections of the subcommand become subsections of its own section.
        for line in String::from_utf8_lossy(&part).lines() {
            let line = match line.strip_prefix(".SH ") {
                Some(h) => format!(".SS {}", title_case(h.trim_matches('"'))),
                None => line.to_string(),
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    tagged(&mut out, "ENVIRONMENT", ENVIRONMENT);
    tagged(&mut out, "EXIT STATUS", EXIT_STATUS);
    tagged(
        &mut out,
        "FILES",
        &[
            (
                ".mkeprep/",
                "The state directory (--state-dir): journal.jsonl, journal.prev.jsonl, the lock, the saved original MKE configuration, and with --sandbox the simulated cluster.",
            ),
            (
                "playbooks/upgrade-prep.yaml",
                "The standard playbook: the prerequisites of mkectl upgrade.",
            ),
        ],
    );
    out.extend_from_slice(
        b".SH \"SEE ALSO\"\nmkectl(1), ssh(1); mkeprep modules NAME for every task module's parameters.\n",
    );
    Ok(out)
}

fn title_case(h: &str) -> String {
    let lower = h.to_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn run() -> i32 {
    let written = page().and_then(|p| {
        let mut so = std::io::stdout().lock();
        so.write_all(&p)?;
        so.flush()
    });
    match written {
        Ok(()) => exit::OK,
        Err(e) => {
            print_error(&format!("cannot write the manual page: {e}"));
            exit::FAILED
        }
    }
}
