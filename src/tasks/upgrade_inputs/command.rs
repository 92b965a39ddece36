//! The `mkectl upgrade` command to run next. The password is an environment
//! reference (`"$MKE_PASSWORD"`), never its value.

pub struct Inputs<'a> {
    pub hosts_path: &'a str,
    pub username: &'a str,
    pub external_address: &'a str,
    pub https: Option<u16>,
    pub http: Option<u16>,
    pub remove_ingress_nginx: bool,
    pub config_out: &'a str,
    pub extra: &'a [String],
}

/// The argument vector (the password argument is the literal text
/// `$MKE_PASSWORD`, for a shell to expand).
pub fn upgrade_command(i: &Inputs<'_>) -> Vec<String> {
    let mut argv: Vec<String> = [
        "mkectl",
        "upgrade",
        "--hosts-path",
        i.hosts_path,
        "--mke3-admin-username",
        i.username,
        "--mke3-admin-password",
        "$MKE_PASSWORD",
        "--external-address",
        i.external_address,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(p) = i.https {
        argv.extend(["--gateway-https-node-port".into(), p.to_string()]);
    }
    if let Some(p) = i.http {
        argv.extend(["--gateway-http-node-port".into(), p.to_string()]);
    }
    if i.remove_ingress_nginx {
        argv.push("--remove-ingress-nginx".into());
    }
    argv.extend(["--config-out".into(), i.config_out.to_string()]);
    argv.extend(i.extra.iter().cloned());
    argv
}

/// One line for a POSIX shell: words quoted where needed; the password
/// reference in double quotes so the shell expands it.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a == "$MKE_PASSWORD" {
                "\"$MKE_PASSWORD\"".to_string()
            } else if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
