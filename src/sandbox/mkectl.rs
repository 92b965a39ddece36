//! The stand-in `mkectl` of the sandbox: `mkectl version` prints the
//! configured version; `mkectl check mke3 --mke3-config-path FILE` answers
//! as the documented sample of mkectl's compatibility check does
//! (reference/mke4k-upgrade-checks.md §3.1): the configuration re-printed
//! in three groups — not supported, supported, disabled (skipped) — each
//! key put where the sample put it (the catalog's `sample` column, shipped
//! next to the script as a tab-separated table), a key the sample skipped
//! but that is on counted as not supported, a key the sample does not know
//! not supported when on and skipped when off. A POSIX sh + awk script, so
//! it runs where mkectl would, with no mkeprep behind it.

use crate::mke::catalog::{Catalog, Sample};

/// The file next to the script that holds the sample's groups.
pub const TABLE: &str = ".mkectl-check-keys.tsv";

/// `key<TAB>group` lines (`group`: supported, not_supported, skipped).
pub fn table() -> String {
    let Ok(catalog) = Catalog::builtin() else {
        return String::new();
    };
    let mut out = String::new();
    for e in &catalog.entries {
        let group = match e.sample {
            Sample::Supported => "supported",
            Sample::NotSupported => "not_supported",
            Sample::Skipped => "skipped",
            Sample::Absent => continue,
        };
        out.push_str(&format!("{}\t{group}\n", e.key));
    }
    out
}

pub fn script(version: &str) -> String {
    let version = version.strip_prefix('v').unwrap_or(version);
    format!(
        r#"#!/bin/sh
# Stand-in mkectl of the mkeprep sandbox: `mkectl version` and
# `mkectl check mke3 --mke3-config-path FILE` are simulated.
fail() {{ echo "mkectl (mkeprep sandbox stand-in): $*" >&2; exit 1; }}
case "$1" in
  version) echo "Version: v{version}" ;;
  check)
    [ "$2" = mke3 ] || fail "only 'check mke3' is simulated"
    shift 2
    cfg=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --mke3-config-path) [ $# -ge 2 ] || fail "--mke3-config-path needs a file"; cfg="$2"; shift 2 ;;
        --mke3-config-path=*) cfg="${{1#*=}}"; shift ;;
        --output|--output=*|-l|--no-color) shift ;;
        *) fail "unknown flag $1" ;;
      esac
    done
    [ -n "$cfg" ] || fail "required flag --mke3-config-path not set"
    [ -r "$cfg" ] || fail "cannot read MKE 3 configuration $cfg"
    exec awk -v table="$(dirname "$0")/{TABLE}" "$AWK_CHECK" "$cfg"
    ;;
  *) echo "mkectl (mkeprep sandbox stand-in): only 'version' and 'check mke3' are simulated" >&2; exit 127 ;;
esac
"#
    )
}

/// The awk program of `check mke3` (passed in the environment by the
/// script's caller: see [`wrapped`]).
const AWK: &str = r#"
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
function unquote(k,   parts, n, i, out) {
  n = split(k, parts, ".")
  out = ""
  for (i = 1; i <= n; i++) { p = trim(parts[i]); gsub(/"/, "", p); out = out (out == "" ? "" : ".") p }
  return out
}
function on(v) {
  v = trim(v); sub(/[ \t]*#.*$/, "", v)
  return !(v == "false" || v == "0" || v == "\"\"" || v == "''" || v == "[]" || v == "{}" || v == "")
}
function group(full, v,   k, best, st) {
  if (full in exact) st = exact[full]
  else {
    best = ""
    for (k in prefix) if (index(full, k) == 1 && length(k) > length(best)) best = k
    st = (best == "") ? "" : prefix[best]
  }
  if (st == "") return on(v) ? "not_supported" : "skipped"
  if (st == "skipped" && on(v)) return "not_supported"
  return st
}
function depth(s,   t) { t = s; gsub(/"[^"]*"/, "", t); return gsub(/\[/, "[", t) - gsub(/\]/, "]", t) }
function emit(st, line) {
  if (!((st, tbl) in seen)) { seen[st, tbl] = 1; order[st] = order[st] SUBSEP tbl; hdr[st, tbl] = header }
  body[st, tbl] = body[st, tbl] "  " line "\n"
}
BEGIN {
  FS = "\t"
  while ((getline row < table) > 0) {
    split(row, f, "\t")
    if (f[1] ~ /\*$/) { k = f[1]; sub(/\.?\*$/, "", k); prefix[k] = f[2] } else exact[f[1]] = f[2]
  }
  tbl = ""; header = ""; pending = ""; open = 0
}
open > 0 { pending = pending "\n" $0; open += depth($0); if (open <= 0) { emit(pst, pending); open = 0 }; next }
/^[ \t]*#/ || /^[ \t]*$/ { next }
/^[ \t]*\[/ {
  header = trim($0); sub(/[ \t]*#.*$/, "", header)
  tbl = header; gsub(/^\[+|\]+$/, "", tbl); tbl = unquote(tbl)
  next
}
{
  eq = index($0, "=")
  if (eq == 0) next
  key = unquote(substr($0, 1, eq - 1)); val = substr($0, eq + 1)
  full = (tbl == "") ? key : tbl "." key
  st = group(full, val)
  d = depth(val)
  if (d > 0) { pending = trim($0); pst = st; open = d; next }
  emit(st, trim($0))
}
END {
  H = sprintf("%c", 35)
  banner("MKE3->MKE4 Compatibility Checks")
  print ""
  n = split("not_supported supported skipped", sts, " ")
  split("Not supported|Supported|Disabled (skipped)", titles, "|")
  for (i = 1; i <= n; i++) {
    st = sts[i]
    print ""; banner(titles[i]); print ""
    m = split(order[st], tbls, SUBSEP)
    for (j = 2; j <= m; j++) {
      t = tbls[j]
      if (hdr[st, t] != "") print hdr[st, t]
      printf "%s\n", body[st, t]
    }
  }
}
function banner(text,   line, bar) {
  line = H " " text " " H; bar = line; gsub(/./, H, bar)
  print bar; print line; print bar
}
"#;

/// The script with the awk program in its environment line.
pub fn wrapped(version: &str) -> String {
    let body = script(version);
    let quoted = AWK.replace('\'', "'\\''");
    body.replacen("fail() {", &format!("AWK_CHECK='{quoted}'\nfail() {{"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_the_sample_groups() {
        let t = table();
        assert!(t.contains("cluster_config.kube_proxy_mode\tsupported\n"));
        assert!(t.contains("cluster_config.controller_port\tnot_supported\n"));
        assert!(t.contains("backup_schedule_config.*\tnot_supported\n"));
        assert!(
            !t.contains("cluster_config.custom_kube_proxy_flags"),
            "absent from the sample"
        );
    }

    #[test]
    fn the_stand_in_answers_check_mke3_like_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("mkectl");
        std::fs::write(&bin, wrapped("4.1.5")).unwrap();
        std::fs::write(dir.path().join(TABLE), table()).unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            "[auth.sessions]\n  per_user_limit = 10\n[cluster_config]\n  kube_proxy_mode = \"iptables\"\n  calico_ebpf_enabled = false\n  nvidia_device_plugin = true\n  custom_kubelet_flags_profiles = [\n    { name = \"x\", flags = [\"--max-pods=250\"] },\n  ]\n  mystery = 1\n[backup_schedule_config]\n  passphrase = \"s3cret\"\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new("sh")
                .arg(&bin)
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["version"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "Version: v4.1.5"
        );
        let out = run(&["check", "mke3", "--mke3-config-path", cfg.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let report = crate::tasks::mke_compat::mkectl_check::parse_report(&text)
            .unwrap_or_else(|| panic!("not a report:\n{text}"));
        use crate::tasks::mke_compat::mkectl_check::Verdict::*;
        assert_eq!(
            report["cluster_config.kube_proxy_mode"], Supported,
            "{text}"
        );
        assert_eq!(
            report["cluster_config.calico_ebpf_enabled"], Skipped,
            "{text}"
        );
        assert_eq!(
            report["cluster_config.nvidia_device_plugin"], NotSupported,
            "{text}"
        );
        assert_eq!(
            report["auth.sessions.per_user_limit"], NotSupported,
            "{text}"
        );
        assert_eq!(report["cluster_config.mystery"], NotSupported, "{text}");
        assert_eq!(
            report["backup_schedule_config.passphrase"], NotSupported,
            "{text}"
        );
        assert!(
            report.contains_key("cluster_config.custom_kubelet_flags_profiles"),
            "{text}"
        );
        let out = run(&["check", "mke3"]);
        assert!(!out.status.success());
        let out = run(&["upgrade"]);
        assert_eq!(out.status.code(), Some(127));
    }
}
