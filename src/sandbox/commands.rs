//! What a simulated node answers to an exec request. The vocabulary is
//! what the task modules send, the facts script (each of its commands
//! answered here, [`crate::hostfacts::script`]), common read-only commands
//! ([`super::node_sim`]: `cat /etc/os-release`, `uname`, `nproc`, `df -P`,
//! `stat -fc %T /sys/fs/cgroup`, `ss -ltn`, `docker version`, `test -e`, …)
//! and the playbook's canned answers ([`super::canned`]); anything else
//! exits 127 with `sandbox: command not simulated: …` on stderr.
//!
//! | command | answer |
//! |---|---|
//! | `true` | exit 0 |
//! | `sudo -n [--] COMMAND` | COMMAND's answer, or exit 1 with `sudo: a password is required` (`--sudo-password-node`) |
//! | `sh -c SCRIPT` | a canned answer for SCRIPT's text, else SCRIPT's answer as a command |
//! | `docker inspect --format '{{.Config.Image}}' ucp-proxy` | managers: `mirantis/ucp-proxy:X.Y.Z`; workers: exit 1, `Error: No such object: ucp-proxy` |
//! | `stat -c '%s %Y' -- PATH` | `SIZE MTIME`, or exit 1 `stat: cannot stat 'PATH': No such file or directory` |
//! | `iptables-save [-t TABLE]`, `ip6tables-save [-t TABLE]` | the mangle, filter and nat tables as kube-proxy and Docker leave them ([`super::kube_proxy`]); without `sudo` (and a login user other than root) exit 1, `Permission denied (you must be root)` |
//! | `head -c N -- PATH \| base64 -w0` | the first N bytes, base64, no newline; a missing file prints head's error on stderr and, as a real pipeline does, exits 0 with empty stdout |

use std::time::Duration;

use base64::Engine;

use super::Shared;
use super::canned::{self, words_of};
use super::files;
use super::node_sim::SYSTEM_PATHS;
use super::topology::{Node, Role};
use crate::hostfacts::script::{self, SectionOutput};

/// The result of a simulated command.
#[derive(Debug, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: u32,
    /// How long the node takes to answer.
    pub delay: Duration,
}

impl Output {
    fn ok(stdout: impl Into<Vec<u8>>) -> Output {
        Output {
            stdout: stdout.into(),
            stderr: Vec::new(),
            code: 0,
            delay: Duration::ZERO,
        }
    }

    fn fail(code: u32, stderr: impl Into<String>) -> Output {
        Output {
            stdout: Vec::new(),
            stderr: stderr.into().into_bytes(),
            code,
            delay: Duration::ZERO,
        }
    }

    fn of(stdout: String, stderr: String, code: u32) -> Output {
        Output {
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
            code,
            delay: Duration::ZERO,
        }
    }
}

/// Runs `line` on `node`.
pub fn run(shared: &Shared, node: &Node, line: &str) -> Output {
    if let Some(sections) = script::parse_script(line) {
        return facts_script(shared, node, &sections);
    }
    let Some(words) = words_of(line) else {
        return not_simulated(line);
    };
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    run_words(shared, node, &words, line)
}

fn not_simulated(line: &str) -> Output {
    Output::fail(127, format!("sandbox: command not simulated: {line}\n"))
}

/// Each command of the facts script through the node's table, printed as
/// a shell running the script prints them.
/// The script takes as long as its commands together.
fn facts_script(shared: &Shared, node: &Node, sections: &[script::Section]) -> Output {
    let mut delay = Duration::ZERO;
    let outputs: Vec<SectionOutput> = sections
        .iter()
        .map(|s| {
            let out = run(shared, node, &s.command);
            delay += out.delay;
            SectionOutput {
                name: s.name.clone(),
                rc: Some(i32::try_from(out.code).unwrap_or(i32::MAX)),
                text: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stderr),
                    String::from_utf8_lossy(&out.stdout)
                ),
            }
        })
        .collect();
    Output {
        delay,
        ..Output::ok(script::render(&outputs))
    }
}

/// Whether `path` exists on `node`: a system path, a file the cluster
/// state holds (backups, canned `creates`), or a directory above one.
fn exists(shared: &Shared, node: &Node, path: &str) -> bool {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if SYSTEM_PATHS.contains(&path)
        || (node.sim.cgroup == 2 && path == "/sys/fs/cgroup/cgroup.controllers")
        || path == "/sys/fs/cgroup"
    {
        return true;
    }
    let cluster = shared.cluster();
    cluster.data.files.iter().any(|f| {
        f.node == node.number
            && f.kind != super::options::FileKind::Absent
            && (f.path == path || f.path.starts_with(&format!("{path}/")))
    })
}

fn run_words(shared: &Shared, node: &Node, words: &[&str], line: &str) -> Output {
    let script_text = match words {
        ["sh", "-c", text] => Some(*text),
        _ => None,
    };
    if let Some(a) = canned::answer(shared, node, words, script_text) {
        return Output {
            delay: a.delay,
            ..Output::of(a.stdout, a.stderr, a.code)
        };
    }
    match words {
        ["sudo", "-n", rest @ ..] if !rest.is_empty() => {
            if node.sudo_needs_password {
                return Output::fail(1, "sudo: a password is required\n");
            }
            let rest = match rest {
                ["--", tail @ ..] if !tail.is_empty() => tail,
                _ => rest,
            };
            return run_words(shared, node, rest, line);
        }
        ["sh", "-c", text] => return run(shared, node, text),
        _ => {}
    }
    let exists = |p: &str| exists(shared, node, p);
    if let Some((stdout, stderr, code)) = node.sim.answer(words, &node.hostname, &exists) {
        return Output::of(stdout, stderr, code);
    }
    let pipes = words.iter().filter(|w| **w == "|").count();
    let not_simulated = || not_simulated(line);
    match words {
        [
            "docker",
            "inspect",
            "--format",
            "{{.Config.Image}}",
            "ucp-proxy",
        ] => {
            if node.role == Role::Manager {
                Output::ok(format!("mirantis/ucp-proxy:{}\n", shared.opts.mke_version))
            } else {
                Output::fail(1, "Error: No such object: ucp-proxy\n")
            }
        }
        [tool @ ("iptables-save" | "ip6tables-save"), rest @ ..] => {
            let table = match rest {
                [] | ["-c"] => None,
                ["-t", t] | ["-t", t, "-c"] | ["-c", "-t", t] => Some(*t),
                _ => return not_simulated(),
            };
            let root = shared.opts.ssh_user == "root"
                || words_of(line).is_some_and(|w| w.first().is_some_and(|f| f == "sudo"));
            if !root {
                return Output::fail(
                    1,
                    format!(
                        "{tool} v1.8.7 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n"
                    ),
                );
            }
            let config = shared.cluster().config.clone();
            let ipv6 = *tool == "ip6tables-save";
            match super::kube_proxy::iptables_save(
                &config,
                &shared.opts.service_node_port,
                ipv6,
                table,
            ) {
                Some(text) => Output::ok(text),
                None => Output::fail(
                    1,
                    format!(
                        "{tool} v1.8.7 (nf_tables): table `{}' does not exist\n",
                        table.unwrap_or("")
                    ),
                ),
            }
        }
        ["stat", "-c", "%s %Y", "--", path] => {
            let cluster = shared.cluster();
            match cluster.file(node.number, path) {
                Some(f) => {
                    let size = files::content(f.kind, f.seed, f.mtime).len();
                    Output::ok(format!("{size} {}\n", f.mtime))
                }
                None => Output::fail(
                    1,
                    format!("stat: cannot stat '{path}': No such file or directory\n"),
                ),
            }
        }
        ["head", "-c", count, "--", path, "|", "base64", "-w0"] if pipes == 1 => {
            let Ok(count) = count.parse::<usize>() else {
                return not_simulated();
            };
            let cluster = shared.cluster();
            match cluster.file(node.number, path) {
                Some(f) => {
                    let bytes = files::content(f.kind, f.seed, f.mtime);
                    let head = &bytes[..count.min(bytes.len())];
                    Output::ok(base64::engine::general_purpose::STANDARD.encode(head))
                }
                None => Output {
                    stdout: Vec::new(),
                    stderr: format!(
                        "head: cannot open '{path}' for reading: No such file or directory\n"
                    )
                    .into_bytes(),
                    code: 0,
                    delay: Duration::ZERO,
                },
            }
        }
        _ => not_simulated(),
    }
}
