//! Input errors that point at the source: file, line, column and a caret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A named source text, shared by every node and error that points into it.
#[derive(Debug)]
pub struct Source {
    pub name: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
        })
    }
}

/// Reads a file as UTF-8, with an error that names it.
pub fn read_source(path: &Path, what: &str) -> Result<Arc<Source>, SourceError> {
    let bytes = crate::util::fsx::read_input(path).map_err(|e| {
        SourceError::file(path, format!("cannot read the {what}: {e}"))
            .help(format!("check the path; the {what} is a YAML file"))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| SourceError::file(path, format!("the {what} is not UTF-8 text ({e})")))?;
    Ok(Source::new(path, text))
}

/// A position in a source: 1-based line, 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// The lines of a text as YAML counts them: CRLF, CR and LF each end one.
pub fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\r', '\n']) {
            Some(i) => {
                let next = if t[i..].starts_with("\r\n") {
                    i + 2
                } else {
                    i + 1
                };
                rest = Some(&t[next..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// An error in an input file (playbook, inventory, variables file).
#[derive(Debug, Clone)]
pub struct SourceError {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
    /// What the user can do about it.
    pub help: Option<String>,
    /// The offending source line, for the caret display.
    pub line_text: Option<String>,
}

impl SourceError {
    pub fn at(src: &Source, pos: Pos, message: impl Into<String>) -> Self {
        let line_text = yaml_lines(&src.text)
            .nth(pos.line.saturating_sub(1))
            .map(str::to_string);
        SourceError {
            file: src.name.clone(),
            pos: Some(pos),
            message: message.into(),
            help: None,
            line_text,
        }
    }

    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        SourceError {
            file: file.to_path_buf(),
            pos: None,
            message: message.into(),
            help: None,
            line_text: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line,
                p.col,
                self.message
            )?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if let (Some(p), Some(text)) = (self.pos, &self.line_text) {
            let num = p.line.to_string();
            let pad = " ".repeat(num.len());
            let caret_pad: String = text
                .chars()
                .take(p.col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {pad} |\n {num} | {text}\n {pad} | {caret_pad}^")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceError {}

/// Several input errors at once, so a user fixes them in one go.
#[derive(Debug, Clone, Default)]
pub struct SourceErrors(pub Vec<SourceError>);

impl fmt::Display for SourceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceErrors {}

impl From<SourceError> for SourceErrors {
    fn from(e: SourceError) -> Self {
        SourceErrors(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_crlf_cr_or_lf_as_in_yaml() {
        let lines: Vec<&str> = yaml_lines("a\r\nb\rc\nd").collect();
        assert_eq!(lines, ["a", "b", "c", "d"]);
        // An old-Mac file (CR only): the caret shows the right line.
        let src = Source::new("v.yaml", "a: 1\rb: [\r");
        let e = SourceError::at(&src, Pos { line: 2, col: 4 }, "bad");
        assert!(e.to_string().contains(" 2 | b: ["), "{e}");
    }

    #[test]
    fn caret_points_at_column() {
        let src = Source::new("p.yaml", "a: 1\n  bad: 2\n");
        let e =
            SourceError::at(&src, Pos { line: 2, col: 3 }, "unknown key `bad`").help("remove it");
        let s = e.to_string();
        assert!(s.starts_with("p.yaml:2:3: unknown key `bad`"), "{s}");
        assert!(s.contains(" 2 |   bad: 2\n   |   ^"), "{s}");
        assert!(s.ends_with("help: remove it"), "{s}");
    }
}
