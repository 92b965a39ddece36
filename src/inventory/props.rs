//! Property tests of the inventory loader: generated inventories load to
//! exactly the values written, and mutated or hostile ones never panic and
//! are refused with errors that point into the file.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::load;
use crate::testing::{self, edits, mutate, positioned, scalar};

#[derive(Debug, Clone)]
struct GenHost {
    address: String,
    port: Option<u16>,
    user: String,
    /// Index of the key file to use (files have spaces in their names).
    key: Option<usize>,
    private: Option<String>,
    styles: [u8; 4],
}

fn hostname() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){0,3}"
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_string()),
        any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
        hostname(),
    ]
}

fn host() -> impl Strategy<Value = GenHost> {
    (
        address(),
        prop::option::of(1u16..=65535),
        "[a-z_][a-z0-9_.-]{0,15}",
        prop::option::of(0usize..3),
        prop::option::of(address()),
        any::<[u8; 4]>(),
    )
        .prop_map(|(address, port, user, key, private, styles)| GenHost {
            address,
            port,
            user,
            key,
            private,
            styles,
        })
}

/// Hosts with distinct addresses.
fn hosts() -> impl Strategy<Value = Vec<GenHost>> {
    prop::collection::vec(host(), 1..8).prop_map(|mut hs| {
        let mut seen = std::collections::HashSet::new();
        hs.retain(|h| seen.insert(h.address.clone()));
        hs
    })
}

#[derive(Debug, Clone)]
struct Layout {
    flow: Vec<bool>,
    comments: bool,
    crlf: bool,
    indent: usize,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::collection::vec(any::<bool>(), 8),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
    )
        .prop_map(|(flow, comments, crlf, indent)| Layout {
            flow,
            comments,
            crlf,
            indent,
        })
}

struct Fixture {
    dir: tempfile::TempDir,
    keys: Vec<std::path::PathBuf>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = (0..3)
        .map(|i| testing::write(&dir, &format!("my key {i} $(touch pwned).pem"), "KEY\n"))
        .collect();
    Fixture { dir, keys }
}

fn render(hs: &[GenHost], l: &Layout, keys: &[std::path::PathBuf]) -> String {
    let pad = " ".repeat(l.indent);
    let mut out = String::new();
    if l.comments {
        out.push_str("# mkectl hosts.yaml\n");
    }
    out.push_str("hosts:\n");
    for (i, h) in hs.iter().enumerate() {
        let mut fields = vec![
            ("address", scalar(&h.address, h.styles[0])),
            ("user", scalar(&h.user, h.styles[1])),
        ];
        if let Some(p) = h.port {
            fields.push(("port", p.to_string()));
        }
        if let Some(k) = h.key {
            fields.push((
                "keyPath",
                scalar(&keys[k].display().to_string(), h.styles[2]),
            ));
        }
        if let Some(p) = &h.private {
            fields.push(("privateAddress", scalar(p, h.styles[3])));
        }
        if l.comments && i % 2 == 1 {
            out.push_str(&format!("{pad}# node {i}\n\n"));
        }
        if l.flow[i % l.flow.len()] {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out.push_str(&format!("{pad}- {{ {} }}\n", body.join(", ")));
        } else {
            for (j, (k, v)) in fields.iter().enumerate() {
                let lead = if j == 0 { "- " } else { "  " };
                let tail = if l.comments && j == 1 {
                    "  # login"
                } else {
                    ""
                };
                out.push_str(&format!("{pad}{lead}{k}: {v}{tail}\n"));
            }
        }
    }
    if l.crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

proptest! {
    #![proptest_config(testing::config())]

    #[test]
    fn generated_inventories_load_to_the_values_written(hs in hosts(), l in layout()) {
        let f = fixture();
        let text = render(&hs, &l, &f.keys);
        let path = testing::write(&f.dir, "hosts.yaml", &text);
        let inv = match load(&path) {
            Ok(inv) => inv,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n--- input\n{text}"))),
        };
        prop_assert_eq!(inv.hosts.len(), hs.len());
        for (got, want) in inv.hosts.iter().zip(&hs) {
            prop_assert_eq!(&got.address, &want.address);
            prop_assert_eq!(got.port, want.port.unwrap_or(22));
            prop_assert_eq!(&got.user, &want.user);
            prop_assert_eq!(got.key_path.as_ref(), want.key.map(|k| &f.keys[k]));
            prop_assert_eq!(&got.private_address, &want.private);
        }
        prop_assert!(!f.dir.path().join("pwned").exists());
    }

    #[test]
    fn mutated_inventories_never_panic_and_errors_point_into_the_file(
        hs in hosts(), l in layout(), e in edits()
    ) {
        let f = fixture();
        let text = mutate(&render(&hs, &l, &f.keys), &e);
        let path = testing::write(&f.dir, "hosts.yaml", &text);
        if let Err(errors) = load(&path) {
            positioned(&errors, &text)?;
        }
    }

    /// A value written plain is either read as exactly that text or refused
    /// at its line: never silently turned into another host (`0x1F` → 31).
    #[test]
    fn plain_values_are_the_text_written_or_refused(
        word in prop_oneof![
            "[0-9]{1,4}(\\.[0-9]{1,3}){0,1}",
            "0x[0-9a-f]{1,4}",
            "0o[0-7]{1,4}",
            "[0-9]e[0-9]",
            "[a-z0-9.-]{1,12}",
        ],
        field in prop::sample::select(&["address", "user", "privateAddress"][..]),
    ) {
        let f = fixture();
        let (addr, user) = match field {
            "address" => (word.clone(), "ubuntu".to_string()),
            "user" => ("10.0.0.1".to_string(), word.clone()),
            _ => ("10.0.0.1".to_string(), "ubuntu".to_string()),
        };
        let mut text = format!("hosts:\n  - address: {addr}\n    user: {user}\n");
        if field == "privateAddress" {
            text.push_str(&format!("    privateAddress: {word}\n"));
        }
        let path = testing::write(&f.dir, "hosts.yaml", &text);
        match load(&path) {
            Ok(inv) => {
                let h = &inv.hosts[0];
                let got = match field {
                    "address" => h.address.clone(),
                    "user" => h.user.clone(),
                    _ => h.private_address.clone().unwrap_or_default(),
                };
                prop_assert_eq!(got, word);
            }
            Err(errors) => {
                positioned(&errors, &text)?;
                prop_assert!(errors.0.iter().any(|e| e.pos.is_some_and(|p| p.line >= 2)));
            }
        }
    }

    /// Shell and SSH option syntax in any text field is refused at its line.
    #[test]
    fn hostile_values_are_refused(
        payload in prop::sample::select(&[
            "$(touch pwned)", "`touch pwned`", "a;touch pwned", "a && touch pwned",
            "-oProxyCommand=touch pwned", "a b", "a|b", "a>pwned", "'a'", "a\\nb", "-p", "x\u{0}y",
        ][..]),
        field in prop::sample::select(&["address", "user", "privateAddress", "privateInterface"][..]),
    ) {
        let f = fixture();
        let quoted = serde_json::to_string(payload).expect("json");
        let mut fields: Vec<(&str, String)> = [("address", "\"10.0.0.1\""), ("user", "ubuntu")]
            .into_iter()
            .filter(|(k, _)| *k != field)
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        fields.push((field, quoted));
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let text = format!("hosts:\n  - {}\n", body.join("\n    "));
        let path = testing::write(&f.dir, "hosts.yaml", &text);
        let errors = load(&path).expect_err("a hostile value must be refused");
        positioned(&errors, &text)?;
        prop_assert!(errors.0.iter().any(|e| e.pos.is_some_and(|p| p.line >= 2) && e.help.is_some()));
    }
}
