//! Parsers of what the facts commands print. Each takes the command's text
//! (stdout and stderr together) and returns the value, or what was wrong
//! with the text; none guesses a value it did not read.

use serde::Serialize;

/// `/etc/os-release`'s identity fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Os {
    pub id: String,
    /// Absent on rolling distributions.
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
}

/// One filesystem as `df -P -k` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub total_bytes: u64,
    pub avail_bytes: u64,
    /// Where the filesystem holding the path is mounted.
    pub mount: String,
    pub filesystem: String,
}

/// The value of an os-release assignment: quotes removed, the escapes
/// os-release(5) allows (`\"`, `\\`, `` \` ``, `\$`) undone.
fn os_release_value(raw: &str) -> String {
    let raw = raw.trim();
    let quoted = raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')));
    let inner = if quoted { &raw[1..raw.len() - 1] } else { raw };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(n) = chars.next()
        {
            if !matches!(n, '"' | '\\' | '`' | '$') {
                out.push('\\');
            }
            out.push(n);
        } else {
            out.push(c);
        }
    }
    out
}

/// `ID`, `VERSION_ID` and `PRETTY_NAME` of an os-release file.
pub fn os_release(text: &str) -> Result<Os, String> {
    let mut id = None;
    let mut version_id = None;
    let mut pretty = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = os_release_value(value);
        match key.trim() {
            "ID" => id = Some(value),
            "VERSION_ID" => version_id = Some(value),
            "PRETTY_NAME" => pretty = Some(value),
            _ => {}
        }
    }
    match id {
        Some(id) if !id.is_empty() => Ok(Os {
            id,
            version_id,
            pretty_name: pretty,
        }),
        _ => Err("no ID= line in /etc/os-release".into()),
    }
}

/// `uname -r -m`: (kernel release, machine).
pub fn uname(text: &str) -> Result<(String, String), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [release, machine] => Ok((release.to_string(), machine.to_string())),
        _ => Err(format!("`uname -r -m` printed {:?}", first_line(text))),
    }
}

/// `nproc`: the processors available.
pub fn nproc(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`nproc` printed {:?}", first_line(text))),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn mem_total(text: &str) -> Result<u64, String> {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("MemTotal:") {
            let mut words = rest.split_whitespace();
            let value = words.next().and_then(|v| v.parse::<u64>().ok());
            let unit = words.next().unwrap_or("");
            return match (value, unit) {
                (Some(v), "kB") => Ok(v * 1024),
                _ => Err(format!("unexpected MemTotal line {line:?}")),
            };
        }
    }
    Err("no MemTotal line in /proc/meminfo".into())
}

/// `stat -fc %T /sys/fs/cgroup`: 2 for the unified hierarchy (`cgroup2fs`),
/// 1 for v1 or the hybrid layout (`tmpfs` with controllers below it).
pub fn cgroup_version(text: &str) -> Result<u8, String> {
    match text.trim() {
        "cgroup2fs" => Ok(2),
        "tmpfs" | "cgroupfs" => Ok(1),
        other => Err(format!(
            "/sys/fs/cgroup is a {other:?} filesystem, neither cgroup v1 nor v2"
        )),
    }
}

/// One data line of `df -P -k`: `FS BLOCKS USED AVAIL CAP% MOUNT`, where
/// the filesystem and the mount point may hold spaces.
fn df_line(line: &str) -> Option<Disk> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let cap = words
        .iter()
        .position(|w| w.ends_with('%') || *w == "-")
        .filter(|&i| i >= 4 && i + 1 < words.len())?;
    let num = |w: &str| w.parse::<u64>().ok();
    let total = num(words[cap - 3])?;
    num(words[cap - 2])?;
    let avail = num(words[cap - 1])?;
    let fs = words[..cap - 3].join(" ");
    // The mount point is the rest of the line after the capacity word.
    let cap_at = line.find(words[cap]).unwrap_or(0);
    let after_cap = &line[cap_at..];
    let mount = after_cap[words[cap].len()..].trim();
    Some(Disk {
        total_bytes: total * 1024,
        avail_bytes: avail * 1024,
        mount: mount.to_string(),
        filesystem: fs,
    })
}

/// `df -P -k -- PATH…`: per path, its filesystem, or `Err(missing, why)`
/// (`missing`: the path does not exist). Data lines come in the order of
/// the paths that exist; error lines name their path.
pub fn df(text: &str, paths: &[String]) -> Vec<Result<Disk, (bool, String)>> {
    let mut errors: Vec<&str> = Vec::new();
    let mut data = Vec::new();
    for line in text.lines() {
        if line.starts_with("df:") {
            errors.push(line);
        } else if let Some(d) = df_line(line) {
            data.push(d);
        }
    }
    let mut data = data.into_iter();
    paths
        .iter()
        .map(|p| {
            let named = |l: &&&str| {
                let rest = l.trim_start_matches("df:").trim_start();
                [
                    format!("{p}:"),
                    format!("'{p}':"),
                    format!("‘{p}’:"),
                    format!("\"{p}\":"),
                ]
                .iter()
                .any(|form| rest.starts_with(form.as_str()))
            };
            if let Some(e) = errors.iter().find(named) {
                let missing = e.contains("No such file or directory");
                return Err((missing, e.trim().to_string()));
            }
            data.next()
                .ok_or_else(|| (false, format!("`df` printed no line for {p}")))
        })
        .collect()
}

/// The TCP ports in the listening state (`0A`) of `/proc/net/tcp` or
/// `/proc/net/tcp6` rows (the header and other states are skipped).
pub fn listening_ports(text: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    let mut rows = 0usize;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(sl), Some(local), Some(_remote), Some(state)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        if !sl.ends_with(':') {
            continue;
        }
        rows += 1;
        if state != "0A" {
            continue;
        }
        let port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("unexpected /proc/net/tcp row {line:?}"))?;
        ports.push(port);
    }
    if rows == 0 && !text.trim().is_empty() && !text.contains("local_address") {
        return Err(format!("not a /proc/net/tcp table: {:?}", first_line(text)));
    }
    Ok(ports)
}

/// `/etc/machine-id`: 32 lowercase hex digits.
pub fn machine_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.is_empty() {
        return Err("/etc/machine-id is empty (a cloned or first-boot image); `systemd-machine-id-setup` writes one".into());
    }
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(format!(
            "/etc/machine-id holds {:?}, not 32 hex digits",
            first_line(text)
        ))
    }
}

/// The kernel's host name.
pub fn hostname(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        Err(format!("unexpected host name {:?}", first_line(text)))
    } else {
        Ok(name.to_string())
    }
}

/// `date -u +%s.%N`: the node's clock in seconds since the epoch, and the
/// error of the reading: 0 with nanoseconds, ½ s when the node's `date`
/// has no `%N` (whole seconds, or `%N` printed as is) — the time is then
/// taken as the middle of that second.
pub fn epoch(text: &str) -> Result<(f64, f64), String> {
    let t = text.trim();
    let bad = || format!("`date -u +%s.%N` printed {:?}", first_line(text));
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let whole: u64 = whole.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
    let whole = whole as f64;
    if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
        let f: f64 = format!("0.{frac}").parse().map_err(|_| bad())?;
        Ok((whole + f, 0.0))
    } else if frac.is_empty() || frac == "%N" || frac == "N" {
        Ok((whole + 0.5, 0.5))
    } else {
        Err(bad())
    }
}

/// `timedatectl show -p NTPSynchronized --value`: `yes` or `no`.
pub fn ntp_synchronized(text: &str) -> Result<bool, String> {
    match text.trim() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("`timedatectl` printed {:?}", first_line(text))),
    }
}

/// The first line of a text, cut to 200 characters.
pub fn first_line(text: &str) -> String {
    crate::util::text::first_line(text, 200)
}

/// The last non-empty line of a text (where shells and tools put the
/// reason), cut to 200 characters.
pub fn last_line(text: &str) -> String {
    crate::util::text::last_line(text, 200)
}
