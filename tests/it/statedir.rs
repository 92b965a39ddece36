//! State directory campaign (issue 14): every file name mkeprep writes in
//! its state directory, planted beforehand as a symbolic link to a file of
//! the user's, as a FIFO, and as a 0644 file; the state directory itself
//! shared (1777), another user's, or a link. Whatever is planted, a run
//! never writes through a link, never blocks on a FIFO, ends in bounded
//! time, and leaves its files private; when it refuses, it names the file.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::common::{Dir, KDD_ONLY, Run, mkfifo, sandbox_args};

/// Every file the tool writes in the state directory (`.mkeprep`), from
/// the code: the lock and the journals (engine), the saved configuration
/// (calico_kdd), and the sandbox's files (sandbox/: state, config, CA,
/// keys, known_hosts, inventory, the mkectl stand-in, the simulated
/// leftover kubeconfig, the record, and the first config PUT body).
/// Temporary files (`.NAME.tmp-PID`) are created with O_EXCL and are not
/// listed: their names hold the pid of a run not yet started.
const NAMES: &[&str] = &[
    "lock",
    "journal.jsonl",
    "journal.prev.jsonl",
    "mke-config.before-kdd.toml",
    "sandbox/state.json",
    "sandbox/config.toml",
    "sandbox/ca.pem",
    "sandbox/ssh/id_ed25519",
    "sandbox/ssh/id_ed25519.pub",
    "sandbox/ssh/host-1",
    "sandbox/known_hosts",
    "sandbox/hosts.yaml",
    "sandbox/bin/mkectl",
    "sandbox/home/.mke/mke.kubeconf",
    "sandbox/record.jsonl",
    "sandbox/config-put-1.toml",
];

/// The directories the sandbox makes inside the state directory.
const DIRS: &[&str] = &[
    "sandbox",
    "sandbox/ssh",
    "sandbox/bin",
    "sandbox/home",
    "sandbox/home/.mke",
];

/// The simulated conversion without its wait: the campaign is about files.
const FAST: &[&str] = &["kdd_seconds_per_node=0"];

const VICTIM: &str = "the user's own file: must never change\n";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// The two runs of one trial: the KDD migration against the sandbox (it
/// writes every file above), then a second run (it rotates the journal
/// and reopens every file).
fn runs(d: &Dir) -> Vec<Run> {
    let mut out = Vec::new();
    for extra in [&["--yes", "--output", "json"][..], &["--yes", "-v"][..]] {
        let r = d.cmd(&sandbox_args("kdd.yaml", FAST, extra)).run();
        assert_ne!(r.code, -1, "the run did not end in time:\n{}", r.both());
        out.push(r);
    }
    out
}

/// After a trial: the victim is intact, every refusal names the file,
/// and every state file mkeprep opened is private.
#[track_caller]
fn judge(d: &Dir, name: &str, planted: &str, runs: &[Run]) -> bool {
    assert_eq!(
        d.read("victim.txt"),
        VICTIM,
        "{name} ({planted}): written through"
    );
    for r in runs {
        if r.code != 0 {
            let file = Path::new(name).file_name().unwrap().to_string_lossy();
            let text = r.both();
            assert!(
                text.contains(&*file) && (text.contains("symbolic link") || text.contains("FIFO")),
                "{name} ({planted}): a refusal must name the file and what it is:\n{text}"
            );
        }
    }
    for f in d.all_files() {
        let rel = f
            .strip_prefix(d.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Some(state) = rel.strip_prefix(".mkeprep/") else {
            continue;
        };
        let meta = std::fs::symlink_metadata(&f).unwrap();
        if !meta.is_file() {
            continue;
        }
        let want = if state == "sandbox/bin/mkectl" {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode(&f), want, "{name} ({planted}): {state} is not private");
    }
    runs.iter().any(|r| r.code != 0)
}

#[test]
fn every_state_file_planted_as_a_link_a_fifo_or_a_loose_file_is_never_turned_against_its_user() {
    let (mut tried, mut refused) = (0, 0);
    for name in NAMES {
        for planted in ["symlink", "fifo", "0644"] {
            let d = Dir::new();
            d.write("kdd.yaml", KDD_ONLY);
            d.write("victim.txt", VICTIM);
            let state = d.join(".mkeprep");
            if planted == "0644" {
                // A state directory a first run made, with the file made
                // readable by others since (by hand, or by a cache).
                let first = d.cmd(&sandbox_args("kdd.yaml", FAST, &["--yes"])).run();
                first.code(0);
                if !d.join(".mkeprep").join(name).exists() {
                    d.write(&format!(".mkeprep/{name}"), "");
                }
                let p = state.join(name);
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            } else {
                let dirs =
                    std::iter::once(String::new()).chain(DIRS.iter().map(|d| format!("/{d}")));
                for dir in dirs {
                    let p = d.join(&format!(".mkeprep{dir}"));
                    std::fs::create_dir_all(&p).unwrap();
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
                }
                let p = state.join(name);
                if planted == "symlink" {
                    std::os::unix::fs::symlink(d.join("victim.txt"), &p).unwrap();
                } else {
                    mkfifo(&p);
                }
            }
            let rs = runs(&d);
            refused += usize::from(judge(&d, name, planted, &rs));
            tried += 1;
        }
    }
    assert_eq!(tried, NAMES.len() * 3);
    eprintln!(
        "state dir campaign: {tried} plantings tried, all held ({refused} refused naming the file, the others replaced or tightened)"
    );
}

#[test]
fn a_state_directory_others_can_write_or_that_is_a_link_is_refused_and_left_as_it_is() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: say\n    debug:\n      msg: hi\n",
    );
    // Shared (1777, like /tmp) and group-writable.
    for m in [0o1777, 0o775, 0o757] {
        let shared = d.join(&format!("shared-{m:o}"));
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(m)).unwrap();
        let dir = shared.display().to_string();
        for args in [
            vec!["run", "pb.yaml", "--state-dir", &dir],
            vec!["run", "pb.yaml", "--sandbox", "--state-dir", &dir],
        ] {
            let r = d.cmd(&args).run();
            assert_ne!(r.code, 0, "{}", r.both());
            r.stderr_has(&format!("is writable by other users (mode {m:04o})"))
                .stderr_has("--state-dir");
            assert_eq!(
                mode(&shared),
                m,
                "the tool changed a directory it did not make"
            );
            assert_eq!(
                std::fs::read_dir(&shared).unwrap().count(),
                0,
                "it wrote there"
            );
        }
    }
    // A link to a directory.
    std::fs::create_dir(d.join("real")).unwrap();
    std::os::unix::fs::symlink(d.join("real"), d.join("linked")).unwrap();
    let r = d.cmd(&["run", "pb.yaml", "--state-dir", "linked"]).run();
    assert_ne!(r.code, 0);
    r.stderr_has("is a symbolic link");
    assert_eq!(std::fs::read_dir(d.join("real")).unwrap().count(), 0);
    // Another user's directory (only root can make one to try).
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let theirs = d.join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let dir = theirs.display().to_string();
        let r = d.cmd(&["run", "pb.yaml", "--state-dir", &dir]).run();
        assert_ne!(r.code, 0);
        r.stderr_has("belongs to user 65534");
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
    }
    // A directory mkeprep makes is 0700, and a run in it passes.
    let r = d.cmd(&["run", "pb.yaml", "--state-dir", "new/state"]).run();
    r.code(0);
    assert_eq!(mode(&d.join("new/state")), 0o700);
}
