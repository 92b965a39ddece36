//! What a simulated node answers to an exec request. The vocabulary is
//! exactly what the task modules send; anything else exits 127 with
//! `sandbox: command not simulated: …` on stderr.
//!
//! | command | answer |
//! |---|---|
//! | `true` | exit 0 |
//! | `sudo -n true` | exit 0, or 1 with `sudo: a password is required` (`--sudo-password-node`) |
//! | `docker inspect --format '{{.Config.Image}}' ucp-proxy` | managers: `mirantis/ucp-proxy:X.Y.Z`; workers: exit 1, `Error: No such object: ucp-proxy` |
//! | `stat -c '%s %Y' -- PATH` | `SIZE MTIME`, or exit 1 `stat: cannot stat 'PATH': No such file or directory` |
//! | `head -c N -- PATH \| base64 -w0` | the first N bytes, base64, no newline; a missing file prints head's error on stderr and, as a real pipeline does, exits 0 with empty stdout |

use base64::Engine;

use super::Shared;
use super::files;
use super::shell::{Token, split};
use super::topology::{Node, Role};

/// The result of a simulated command.
#[derive(Debug, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: u32,
}

impl Output {
    fn ok(stdout: impl Into<Vec<u8>>) -> Output {
        Output {
            stdout: stdout.into(),
            stderr: Vec::new(),
            code: 0,
        }
    }

    fn fail(code: u32, stderr: impl Into<String>) -> Output {
        Output {
            stdout: Vec::new(),
            stderr: stderr.into().into_bytes(),
            code,
        }
    }
}

/// Runs `line` on `node`.
pub fn run(shared: &Shared, node: &Node, line: &str) -> Output {
    let not_simulated = || Output::fail(127, format!("sandbox: command not simulated: {line}\n"));
    let Ok(tokens) = split(line) else {
        return not_simulated();
    };
    let words: Vec<&str> = tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.as_str(),
            Token::Pipe => "|",
        })
        .collect();
    let pipes = tokens.iter().filter(|t| **t == Token::Pipe).count();
    match words.as_slice() {
        ["true"] if pipes == 0 => Output::ok(""),
        ["sudo", "-n", "true"] if node.sudo_needs_password => {
            Output::fail(1, "sudo: a password is required\n")
        }
        ["sudo", "-n", "true"] => Output::ok(""),
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
        ["stat", "-c", "%s %Y", "--", path] if pipes == 0 => {
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
                },
            }
        }
        _ => not_simulated(),
    }
}
