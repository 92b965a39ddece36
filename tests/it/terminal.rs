//! Terminal campaign (issue 14): a fixed list of escape sequences — CSI,
//! OSC 52 (clipboard), OSC 8 (links), OSC 0 (title), DCS, C1 controls, a
//! bare ESC, BEL, backspace and CR overwrites, a bidirectional override —
//! through every path that reaches a terminal: step lines and outputs
//! (human, -v, -vv), a command's stderr, an MKE API error body, a YAML
//! error line (run and validate), `journal show` (table and JSON), and
//! `--output json`. None may reach the output raw; each is shown escaped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Dir, Run};

/// The sequences, each with a name.
const SEQUENCES: &[(&str, &str)] = &[
    ("CSI clear screen", "\x1b[2J\x1b[H"),
    ("CSI colour", "\x1b[8mhidden\x1b[0m"),
    ("OSC 52 clipboard", "\x1b]52;c;cm0gLXJmIH4=\x07"),
    (
        "OSC 8 link",
        "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    ),
    ("OSC 0 title", "\x1b]0;owned\x1b\\"),
    ("DCS", "\x1bP1$r0m\x1b\\"),
    ("C1 CSI", "\u{9b}2J"),
    ("C1 OSC", "\u{9d}52;c;eA==\u{9c}"),
    ("bare ESC reset", "\x1bc"),
    ("BEL", "ring\x07"),
    (
        "backspace overwrite",
        "failed\x08\x08\x08\x08\x08\x08ok    ",
    ),
    ("CR overwrite", "FAILED\rok    "),
    ("bidi override", "\u{202e}gpj.exe"),
];

/// Whether a terminal would act on `c` (what must never be written raw).
fn acts(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[track_caller]
fn shown_not_acted_on(what: &str, name: &str, text: &str) {
    if let Some((i, c)) = text.char_indices().find(|(_, c)| acts(*c)) {
        let from = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
        panic!(
            "{name} through {what}: {c:?} written raw near {:?}",
            &text[from..(i + 1).min(text.len())]
        );
    }
}

/// A playbook whose steps carry `seq` in a debug message, a command's
/// stdout and stderr (the failure message quotes its last stderr line).
fn playbook(seq: &str) -> String {
    let q = serde_json::to_string(seq).unwrap();
    format!(
        r#"steps:
  - id: say
    debug:
      msg: {q}
  - id: prints
    command:
      argv: [printf, "%s\n%s\n", {q}, {q}]
      env: {{}}
  - id: fails
    command:
      argv: [sh, -c, 'printf "%s\n" "$S" >&2; exit 3']
      env: {{S: {q}}}
    ignore_errors: true
"#
    )
}

#[test]
fn escape_sequences_reach_no_terminal_path_raw() {
    let d = Dir::new();
    let mut tried = 0;
    for (name, seq) in SEQUENCES {
        d.write("pb.yaml", &playbook(seq));
        let mut runs: Vec<(String, Run)> = Vec::new();
        for args in [
            &["run", "pb.yaml", "--fresh"][..],
            &["run", "pb.yaml", "--fresh", "-v"][..],
            &["run", "pb.yaml", "--fresh", "-vv"][..],
            &["run", "pb.yaml", "--fresh", "--output", "json"][..],
            &["journal", "show"][..],
            &["journal", "show", "--output", "json"][..],
        ] {
            let r = d.cmd(args).run();
            assert!(r.code == 0, "{name}: {args:?}: {}", r.both());
            runs.push((args.join(" "), r));
        }
        // Errors that quote the line holding the sequence: invalid YAML (an
        // unclosed quote) and an unknown key, through run and validate.
        let q = serde_json::to_string(seq).unwrap();
        d.write(
            "bad.yaml",
            &format!("steps:\n  - id: x\n    debug: {{msg: hi}}\n    x: \"{seq}\n"),
        );
        d.write(
            "odd.yaml",
            &format!("steps:\n  - id: x\n    debug: {{msg: hi}}\n    {q}: 1\n"),
        );
        for file in ["bad.yaml", "odd.yaml"] {
            for cmd in ["run", "validate"] {
                let r = d.cmd(&[cmd, file]).run();
                assert_eq!(r.code, 2, "{name}: {}", r.both());
                assert!(
                    r.stderr.contains(&format!("{file}:4:")),
                    "{name}: {}",
                    r.stderr
                );
                assert!(
                    r.stderr.contains(" 4 |"),
                    "{name}: the line is not quoted: {}",
                    r.stderr
                );
                runs.push((format!("{cmd} {file}"), r));
            }
        }
        for (what, r) in &runs {
            shown_not_acted_on(&format!("stdout of {what}"), name, &r.stdout);
            shown_not_acted_on(&format!("stderr of {what}"), name, &r.stderr);
            tried += 2;
        }
        // Shown, not dropped: the escaped form is there for people.
        let human = &runs[2].1.stdout;
        assert!(
            human.contains("\\x1b")
                || human.contains("\\u{")
                || human.contains("\\x0")
                || human.contains("\\r"),
            "{name}: the sequence is not shown at all:\n{human}"
        );
        // The JSON is still the same value.
        let json = runs[3].1.step("say");
        assert_eq!(json["message"], *seq, "{name}");
    }
    tried += api_error_bodies();
    eprintln!(
        "terminal campaign: {} sequences, {tried} outputs checked, none raw",
        SEQUENCES.len()
    );
}

/// An MKE API that answers every request (but the login) with an error
/// body holding each sequence: the step's failure quotes it.
fn api_error_bodies() -> usize {
    let d = Dir::new();
    d.write("pb.yaml", "steps:\n  - id: version\n    mke_version: {}\n");
    let mut tried = 0;
    for (name, seq) in SEQUENCES {
        let server = Hostile::start(seq);
        d.write("ca.pem", &server.ca_pem);
        for extra in [&[][..], &["-vv"][..], &["--output", "json"][..]] {
            let mut args = vec!["run", "pb.yaml", "--ca-cert", "ca.pem"];
            args.extend_from_slice(extra);
            let r = d
                .cmd(&args)
                .env("MKE_HOST", &format!("127.0.0.1:{}", server.port))
                .env("MKE_USERNAME", "admin")
                .env("MKE_PASSWORD", "Terminal-Pw-4410")
                .run();
            assert_eq!(r.code, 1, "{name}: {}", r.both());
            assert!(
                r.stdout.contains("no-such-thing") || r.stdout.contains("bad request"),
                "{name}: the API's message is not quoted:\n{}",
                r.both()
            );
            shown_not_acted_on("stdout (API error body)", name, &r.stdout);
            shown_not_acted_on("stderr (API error body)", name, &r.stderr);
            tried += 2;
        }
    }
    tried
}

/// A TLS server on 127.0.0.1 that accepts the login and answers anything
/// else 400 with an MKE error body carrying a sequence. It serves until
/// dropped (each connection bounded to 10 s).
pub struct Hostile {
    pub port: u16,
    pub ca_pem: String,
    /// Requests received.
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Hostile {
    pub fn start(seq: &str) -> Hostile {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let body = serde_json::json!({"errors": [{"code": "no-such-thing", "message": format!("bad request {seq} end")}]})
            .to_string();
        let stopped = stop.clone();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = tcp else { continue };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65_536 {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                if !head.is_empty() {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut req_body = vec![0u8; len.min(65_536)];
                let _ = tls.read_exact(&mut req_body);
                let (status, reply) = if head.starts_with("POST /auth/login") {
                    ("200 OK", r#"{"auth_token":"tok-terminal-1"}"#.to_string())
                } else {
                    ("400 Bad Request", body.clone())
                };
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Hostile {
            port,
            ca_pem: ca_cert.pem(),
            hits,
            stop,
        }
    }
}
