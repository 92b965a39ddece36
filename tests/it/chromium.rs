//! Headless Chromium driven over the Chrome DevTools Protocol on
//! `--remote-debugging-pipe` (fd 3: commands in, fd 4: answers and events
//! out, each JSON message ended by a NUL byte): open a page, see every
//! request it makes, every console message and exception, measure it and
//! take a screenshot. Debian's `chromium` package; CI installs it
//! (`.ci/run`). Every wait is bounded.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The Chromium binary: `MKEPREP_CHROMIUM`, else `chromium` on PATH (the
/// Debian package). `None` when there is none.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MKEPREP_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// The binary, or `None` with a message when the test may be skipped: only
/// outside CI. In CI a missing Chromium fails the test.
pub fn binary_or_skip(test: &str) -> Option<PathBuf> {
    match binary() {
        Some(b) => Some(b),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "{test}: CI is set and Chromium is missing: install Debian's `chromium` (.ci/run does)"
            )
        }
        None => {
            eprintln!(
                "SKIPPED {test}: no `chromium` on PATH (apt-get install -y chromium, or set MKEPREP_CHROMIUM); CI runs it"
            );
            None
        }
    }
}

/// What a page did while it loaded.
#[derive(Debug, Default)]
pub struct PageLoad {
    /// URLs of every request the page made (the document itself included).
    pub requests: Vec<String>,
    /// Console messages of type error/assert, exceptions, and log entries
    /// of level error (CSP violations, failed loads).
    pub errors: Vec<String>,
    /// Every console message, for failure output.
    pub console: Vec<String>,
    /// The value of the page's measuring expression.
    pub measured: Value,
    pub screenshot: Vec<u8>,
}

pub struct Browser {
    child: Child,
    to: File,
    from: Receiver<Value>,
    next_id: u64,
    /// Events received while waiting for answers, not yet looked at.
    events: Vec<Value>,
    deadline: Instant,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2");
    (fds[0], fds[1])
}

impl Browser {
    /// Starts headless Chromium with a throwaway profile in `profile`.
    pub fn start(bin: &Path, profile: &Path) -> Browser {
        let (cmd_read, cmd_write) = pipe();
        let (out_read, out_write) = pipe();
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: between fork and exec, only async-signal-safe calls: move
        // the pipe ends to fds 3 and 4 (dup2 clears close-on-exec there).
        unsafe {
            cmd.pre_exec(move || {
                let a = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let b = libc::fcntl(out_write, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(a);
                libc::close(b);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        // SAFETY: each descriptor is ours and wrapped (or closed) once.
        let (to, from_file) = unsafe {
            libc::close(cmd_read);
            libc::close(out_write);
            (File::from_raw_fd(cmd_write), File::from_raw_fd(out_read))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(from_file);
            let mut buf = Vec::new();
            while let Ok(n) = r.read_until(0, &mut buf) {
                if n == 0 {
                    break;
                }
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        Browser {
            child,
            to,
            from: rx,
            next_id: 0,
            events: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(90),
        }
    }

    fn next(&mut self) -> Value {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.from.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("Chromium did not answer in time"),
            Err(RecvTimeoutError::Disconnected) => panic!("Chromium closed its pipe"),
        }
    }

    /// Sends a command (to a page session when `session` is set) and
    /// returns its result; events that arrive meanwhile are kept.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let v = self.next();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Waits until an event named `method` has arrived for `session`.
    fn wait_event(&mut self, session: &str, method: &str) {
        let seen = |v: &Value| v["method"] == method && v["sessionId"] == session;
        if self.events.iter().any(seen) {
            return;
        }
        loop {
            let v = self.next();
            let hit = seen(&v);
            self.events.push(v);
            if hit {
                return;
            }
        }
    }

    /// Opens `url` in a new page of `width`×`height` CSS pixels (a phone
    /// when `mobile`; rendered for `media`, `screen` or `print`), waits for
    /// its load event, evaluates `measure` (a JS expression whose value is
    /// returned by value) and takes a full-page PNG screenshot.
    pub fn load(
        &mut self,
        url: &str,
        (width, height, mobile): (u32, u32, bool),
        media: &str,
        measure: &str,
    ) -> PageLoad {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"].as_str().expect("session").to_string();
        let s = Some(session.as_str());
        for domain in [
            "Page.enable",
            "Network.enable",
            "Runtime.enable",
            "Log.enable",
        ] {
            self.call(s, domain, json!({}));
        }
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
        self.call(s, "Emulation.setEmulatedMedia", json!({"media": media}));
        self.events.clear();
        self.call(s, "Page.navigate", json!({"url": url}));
        self.wait_event(&session, "Page.loadEventFired");
        let measured = self.call(
            s,
            "Runtime.evaluate",
            json!({"expression": measure, "returnByValue": true}),
        )["result"]["value"]
            .clone();
        let metrics = self.call(s, "Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let shot = self.call(
            s,
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1
            }}),
        );
        let screenshot = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .expect("screenshot is base64");
        let mut load = PageLoad {
            measured,
            screenshot,
            ..PageLoad::default()
        };
        for ev in self.events.drain(..) {
            if ev["sessionId"] != session.as_str() {
                continue;
            }
            let p = &ev["params"];
            match ev["method"].as_str().unwrap_or("") {
                "Network.requestWillBeSent" => load
                    .requests
                    .push(p["request"]["url"].as_str().unwrap_or("").into()),
                "Runtime.consoleAPICalled" => {
                    let text: Vec<String> = p["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            a["value"]
                                .as_str()
                                .map_or_else(|| a.to_string(), String::from)
                        })
                        .collect();
                    let line = format!("{}: {}", p["type"].as_str().unwrap_or(""), text.join(" "));
                    if matches!(p["type"].as_str(), Some("error" | "assert")) {
                        load.errors.push(line.clone());
                    }
                    load.console.push(line);
                }
                "Runtime.exceptionThrown" => load.errors.push(format!(
                    "exception: {}",
                    p["exceptionDetails"]["exception"]["description"]
                        .as_str()
                        .or(p["exceptionDetails"]["text"].as_str())
                        .unwrap_or("")
                )),
                "Log.entryAdded" if p["entry"]["level"] == "error" => load.errors.push(format!(
                    "log {}: {}",
                    p["entry"]["source"].as_str().unwrap_or(""),
                    p["entry"]["text"].as_str().unwrap_or("")
                )),
                _ => {}
            }
        }
        load
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PNG's width and height from its IHDR chunk.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}
