//! The playbook's canned answers for site commands (`sandbox: commands:`):
//! the first entry whose `run` matches the command (word by word, or a
//! `script`'s text) and whose `nodes` include the node answers it; its
//! `creates`/`removes` change the node's files (kept in the sandbox's
//! state, so a later run sees them, as `creates`/`unless` rehearsals need).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Shared;
use super::options::{Canned, FileKind};
use super::shell::{Token, split};
use super::state::SimFile;
use super::topology::Node;

/// The words of a command line (pipes as `|`), or `None` when it is not
/// a simple command the sandbox can split.
pub fn words_of(line: &str) -> Option<Vec<String>> {
    let tokens = split(line).ok()?;
    Some(
        tokens
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w,
                Token::Pipe => "|".into(),
            })
            .collect(),
    )
}

fn matches(c: &Canned, words: &[&str], script: Option<&str>) -> bool {
    if let Some(s) = script
        && c.run.trim() == s.trim()
    {
        return true;
    }
    words_of(&c.run).is_some_and(|w| w.iter().map(String::as_str).eq(words.iter().copied()))
}

/// A canned entry's answer: stdout, stderr, exit status, delay.
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub code: u32,
    pub delay: Duration,
}

/// Answers `words` (or `script`, the text of `sh -c SCRIPT`) on `node`
/// from the canned table, applying the entry's effect on the node's files.
pub fn answer(
    shared: &Shared,
    node: &Node,
    words: &[&str],
    script: Option<&str>,
) -> Option<Answer> {
    let c = shared.opts.commands.iter().find(|c| {
        (c.nodes.is_empty() || c.nodes.contains(&node.number)) && matches(c, words, script)
    })?;
    if c.creates.is_some() || c.removes.is_some() {
        let mut cluster = shared.cluster();
        if let Some(path) = &c.removes {
            cluster
                .data
                .files
                .retain(|f| !(f.node == node.number && &f.path == path));
        }
        if let Some(path) = &c.creates {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            cluster
                .data
                .files
                .retain(|f| !(f.node == node.number && &f.path == path));
            cluster.data.files.push(SimFile {
                node: node.number,
                path: path.clone(),
                kind: FileKind::Empty,
                mtime: now,
                seed: 0,
            });
        }
        // The effect must outlive this process (a killed run, a later run).
        if let Err(e) = cluster.save() {
            return Some(Answer {
                stdout: String::new(),
                stderr: format!("sandbox: cannot save the node's files: {e}\n"),
                code: 1,
                delay: Duration::ZERO,
            });
        }
    }
    Some(Answer {
        stdout: c.stdout.clone(),
        stderr: c.stderr.clone(),
        code: c.rc,
        delay: Duration::from_secs_f64(c.seconds),
    })
}
