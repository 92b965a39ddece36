//! The small part of POSIX shell syntax the simulated nodes understand:
//! words split on blanks, single quotes (everything literal up to the next
//! `'`), double quotes without expansions, backslash escapes, and `|`.
//! Anything that would need a real shell (`;`, `&`, redirections, `$`,
//! backquotes, globs, comments) is refused, so a node never pretends to run
//! a command it does not understand.

/// A token of a simple pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Word(String),
    Pipe,
}

/// Splits `line` into words and pipes; the error says which syntax is not simulated.
pub fn split(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    tokens.push(Token::Word(w));
                }
            }
            '|' => {
                if let Some(w) = word.take() {
                    tokens.push(Token::Word(w));
                }
                tokens.push(Token::Pipe);
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!("expansion with {c:?} inside double quotes"));
                        }
                        Some(c) => w.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("trailing backslash".into()),
            },
            ';' | '&' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' => {
                return Err(format!("shell syntax {c:?}"));
            }
            '#' | '~' if word.is_none() => return Err(format!("shell syntax {c:?}")),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        tokens.push(Token::Word(w));
    }
    Ok(tokens)
}

/// Quotes `s` for a POSIX shell: unchanged when it is made only of safe
/// characters, otherwise in single quotes (a `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line)
            .unwrap()
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w,
                Token::Pipe => "|".into(),
            })
            .collect()
    }

    #[test]
    fn splits_like_a_posix_shell() {
        assert_eq!(
            words("docker inspect --format '{{.Config.Image}}' ucp-proxy"),
            [
                "docker",
                "inspect",
                "--format",
                "{{.Config.Image}}",
                "ucp-proxy"
            ]
        );
        assert_eq!(
            words("stat -c '%s %Y' -- '/tmp/it'\\''s here.tar'"),
            ["stat", "-c", "%s %Y", "--", "/tmp/it's here.tar"]
        );
        assert_eq!(
            words("head -c 512 -- '/b.tar'|base64 -w0"),
            ["head", "-c", "512", "--", "/b.tar", "|", "base64", "-w0"]
        );
        assert_eq!(words(r#"a\ b "c \"d\" \x" ''"#), ["a b", "c \"d\" \\x", ""]);
    }

    #[test]
    fn refuses_what_needs_a_real_shell() {
        for line in [
            "true; rm -rf /",
            "echo $HOME",
            "cat <x",
            "a && b",
            "ls *",
            "x 'open",
            "# c",
            "`id`",
            "\"$x\"",
        ] {
            assert!(split(line).is_err(), "{line}");
        }
    }

    #[test]
    fn quote_round_trips_through_split() {
        for s in [
            "plain",
            "",
            "it's",
            "a b",
            "$x",
            "/p/a-b_c.tar",
            "tab\there",
        ] {
            assert_eq!(words(&quote(s)), [s], "{s}");
        }
        assert_eq!(quote("/tmp/x.pem"), "/tmp/x.pem");
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
