//! MKE credentials, as in Mirantis' procedure: `MKE_HOST`, `MKE_USERNAME`,
//! `MKE_PASSWORD` from the environment, or the password from a file or
//! stdin. Never from a command-line value.

use std::io::Read;
use std::path::Path;

use crate::util::secret::{MIN_LEN, Secret};

#[derive(Debug, Default)]
pub struct Credentials {
    pub host: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end_matches('\r')
}

/// Reads the credentials; the password is registered for redaction at once.
pub fn read(password_file: Option<&Path>, password_stdin: bool) -> Result<Credentials, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let password = if let Some(path) = password_file {
        let text = crate::util::fsx::read_input_text(path).map_err(|e| {
            let pipe = if e.kind() == std::io::ErrorKind::InvalidInput {
                "; to pipe the password in, use --password-stdin"
            } else {
                ""
            };
            format!("cannot read --password-file {}: {e}{pipe}", path.display())
        })?;
        Some(Secret::new(first_line(&text)))
    } else if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        Some(Secret::new(first_line(&text)))
    } else {
        var("MKE_PASSWORD").map(Secret::new)
    };
    if password.as_ref().is_some_and(|p| p.is_empty()) {
        return Err("the MKE password is empty: put it in MKE_PASSWORD, a --password-file or --password-stdin".into());
    }
    if let Some(n) = password
        .as_ref()
        .map(|p| p.expose().chars().count())
        .filter(|n| *n < MIN_LEN)
    {
        return Err(format!(
            "the MKE password is {n} character{} long: mkeprep masks passwords in everything it prints, and a value that short cannot be masked without destroying the output; give the MKE user a longer password",
            if n == 1 { "" } else { "s" }
        ));
    }
    Ok(Credentials {
        host: var("MKE_HOST"),
        username: var("MKE_USERNAME"),
        password,
    })
}
