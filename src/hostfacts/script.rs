//! The facts script: a few read-only commands sent as ONE remote command
//! (one SSH session per host), each framed by marker lines so their outputs
//! and exit statuses come back apart:
//!
//! ```text
//! echo '@@mkeprep NAME'; COMMAND 2>&1; printf '\n@@mkeprep rc %d\n' $?; …
//! ```
//!
//! [`parse_script`] is the inverse of [`build`]: the sandbox's simulated
//! nodes use it to run each command of the script through their own table,
//! so they simulate the commands, not the script.

/// The marker that starts every framing line.
pub const MARK: &str = "@@mkeprep";

/// One command of the script and the name its output is filed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub command: String,
}

impl Section {
    pub fn new(name: &str, command: impl Into<String>) -> Section {
        Section {
            name: name.to_string(),
            command: command.into(),
        }
    }
}

/// What one section printed (stdout and stderr together) and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionOutput {
    pub name: String,
    /// `None`: the output stopped before the section's status line (cut off).
    pub rc: Option<i32>,
    pub text: String,
}

fn opening(name: &str) -> String {
    format!("echo '{MARK} {name}'; ")
}

fn closing() -> String {
    format!(" 2>&1; printf '\\n{MARK} rc %d\\n' $?")
}

/// The one remote command that runs every section in order. Section names
/// are plain words; commands are simple commands built from quoted words.
pub fn build(sections: &[Section]) -> String {
    let close = closing();
    sections
        .iter()
        .map(|s| format!("{}{}{close}", opening(&s.name), s.command))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The sections of a command [`build`] made, or `None` for any other text.
pub fn parse_script(line: &str) -> Option<Vec<Section>> {
    let close = closing();
    let head = format!("echo '{MARK} ");
    let mut rest = line.trim_end_matches('\n');
    let mut out = Vec::new();
    loop {
        let after_head = rest.strip_prefix(&head)?;
        let (name, after_name) = after_head.split_once("'; ")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let end = after_name.find(&close)?;
        let command = &after_name[..end];
        if command.is_empty() {
            return None;
        }
        out.push(Section::new(name, command));
        rest = &after_name[end + close.len()..];
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix("; ")?;
    }
}

/// Formats section outputs as a POSIX shell running [`build`]'s script
/// prints them (the sandbox answers with this).
pub fn render(outputs: &[SectionOutput]) -> String {
    let mut s = String::new();
    for o in outputs {
        s.push_str(&format!("{MARK} {}\n{}\n", o.name, o.text));
        if let Some(rc) = o.rc {
            s.push_str(&format!("{MARK} rc {rc}\n"));
        }
    }
    s
}

/// Splits what the script printed into its sections. Text before the first
/// section (a login script's chatter) is ignored; a section whose status
/// line never came (output cut off) has `rc: None`.
pub fn split_output(stdout: &str) -> Vec<SectionOutput> {
    let open = format!("{MARK} ");
    let status = format!("\n{MARK} rc ");
    let mut out = Vec::new();
    let mut rest = stdout;
    // The first header: at the start, or at the start of a line.
    let start = if rest.starts_with(&open) {
        Some(0)
    } else {
        rest.find(&format!("\n{open}")).map(|i| i + 1)
    };
    let Some(start) = start else {
        return out;
    };
    rest = &rest[start..];
    while let Some(after) = rest.strip_prefix(&open) {
        let Some((name, body)) = after.split_once('\n') else {
            break;
        };
        match body.find(&status) {
            Some(i) => {
                let text = &body[..i];
                let tail = &body[i + status.len()..];
                let (rc_text, next) = tail.split_once('\n').unwrap_or((tail, ""));
                out.push(SectionOutput {
                    name: name.to_string(),
                    rc: rc_text.trim().parse().ok(),
                    text: text.to_string(),
                });
                rest = next;
            }
            None => {
                out.push(SectionOutput {
                    name: name.to_string(),
                    rc: None,
                    text: body.to_string(),
                });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections() -> Vec<Section> {
        vec![
            Section::new("os", "cat /etc/os-release"),
            Section::new("disk", "df -P -k -- / '/var/lib/my dir'"),
            Section::new("docker", "docker version --format '{{.Server.Version}}'"),
        ]
    }

    #[test]
    fn parse_inverts_build() {
        let s = sections();
        assert_eq!(parse_script(&build(&s)), Some(s.clone()));
        assert_eq!(parse_script(&build(&s[..1])), Some(s[..1].to_vec()));
        for other in [
            "true",
            "",
            "echo '@@mkeprep os'; cat /etc/os-release",
            &format!("{}; rm -rf /", build(&s)),
            &build(&s).replace("mkeprep os'", "mkeprep o s'"),
        ] {
            assert_eq!(parse_script(other), None, "{other}");
        }
    }

    #[test]
    fn the_script_runs_in_a_real_shell_and_splits_back() {
        let s = vec![
            Section::new("one", "echo hello"),
            Section::new("noeol", "printf 'no newline'"),
            Section::new("fails", "ls /nonexistent-mkeprep-test"),
            Section::new("missing", "mkeprep-no-such-tool --x"),
        ];
        let Ok(out) = std::process::Command::new("sh")
            .arg("-c")
            .arg(build(&s))
            .output()
        else {
            return;
        };
        let text = format!("login chatter\n{}", String::from_utf8_lossy(&out.stdout));
        let got = split_output(&text);
        assert_eq!(got.len(), 4, "{text}");
        assert_eq!((got[0].rc, got[0].text.as_str()), (Some(0), "hello\n"));
        assert_eq!((got[1].rc, got[1].text.as_str()), (Some(0), "no newline"));
        assert!(got[2].rc.is_some_and(|rc| rc != 0), "{:?}", got[2]);
        assert!(got[2].text.contains("nonexistent"), "{:?}", got[2]);
        assert_eq!(got[3].rc, Some(127), "{:?}", got[3]);
        assert!(got[3].text.contains("not found"), "{:?}", got[3]);
        // What the sandbox renders splits the same way.
        assert_eq!(split_output(&render(&got)), got);
    }

    #[test]
    fn cut_off_output_keeps_what_came() {
        let got = split_output("@@mkeprep a\nx\n@@mkeprep rc 0\n@@mkeprep b\npartial");
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].rc, got[1].text.as_str()), (None, "partial"));
        assert!(split_output("no sections at all").is_empty());
    }
}
