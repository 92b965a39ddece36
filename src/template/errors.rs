//! Template errors in words: one line, the snippet, and what to do when a
//! template hit a limit or used a secret as text.

/// Renders a minijinja error as one line: the kind's message plus detail.
pub fn error_text(e: &minijinja::Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(src) = e.template_source()
        && let Some(range) = e.range()
        && let Some(snippet) = src.get(range)
    {
        s.push_str(&format!(" (at `{snippet}`)"));
    }
    if let Some(hint) = limit_hint(e) {
        s.push_str("; ");
        s.push_str(hint);
    }
    s
}

/// What to do when a template hit one of the limits that keep templates
/// from reading files or running without end.
fn limit_hint(e: &minijinja::Error) -> Option<&'static str> {
    use minijinja::ErrorKind;
    let detail = e.detail().unwrap_or_default();
    match e.kind() {
        ErrorKind::TemplateNotFound => Some(
            "templates cannot read files (`include`, `import`, `from` and `extends` have nothing to load): put the value under `vars:` or pass it with `-e @FILE`",
        ),
        ErrorKind::OutOfFuel => Some(
            "a template may do only a bounded amount of work (loop iterations, recursion, text built): simplify it, or compute the value elsewhere and pass it with `-e`",
        ),
        ErrorKind::InvalidOperation if detail.contains("recursion limit") => {
            Some("templates may nest calls at most 64 deep: a macro that calls itself must stop")
        }
        ErrorKind::InvalidOperation if detail.contains("range has too many elements") => {
            Some("range() yields at most 100000 numbers")
        }
        _ if detail.contains("plain object") => Some(
            "a secret is opaque in templates (it reads as ********, and filters see only that): pass it whole, as `PGPASSWORD: \"{{ env.DB_PASSWORD }}\"` under a command's `env`",
        ),
        _ => None,
    }
}
