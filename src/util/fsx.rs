//! The one place that decides how mkeprep opens what it keeps and what it
//! is given.
//!
//! The state directory (default `.mkeprep/`, often restored from a CI cache
//! or even committed) is treated as hostile ground:
//! - the directory must be a real directory (not a symbolic link), owned by
//!   the user, and writable by no one else; mkeprep creates it 0700 and
//!   never changes the mode of a directory it did not create;
//! - every file in it is opened without following a symbolic link
//!   (`O_NOFOLLOW`) and without blocking (`O_NONBLOCK`), and must then be a
//!   regular file, owned by the user, with no other hard link; a file
//!   readable by others (0644) is tightened to 0600 through its descriptor;
//! - whole files are written to a fresh temporary file (`O_EXCL`), then
//!   renamed over the target, which replaces a planted link instead of
//!   writing through it.
//!
//! Inputs (playbook, inventory, variables, keys, CA, password file) are
//! read with [`read_input`]: a FIFO or a device is refused with a clear
//! message instead of blocking forever.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

/// Flags of every open in the state directory.
#[cfg(unix)]
const NOFOLLOW: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// A refusal; the caller's message names the path.
fn refused(why: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, format!("it {why}"))
}

#[cfg(unix)]
fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// What a non-regular file is, in words.
#[cfg(unix)]
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Creates the state directory (0700) if it is missing; refuses one that
/// others could plant files in; tightens to 0600 every file of the user's
/// in it that others could read (a cache or an archive may restore 0644).
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    private_dir(dir)?;
    let mut budget = 10_000;
    tighten_tree(dir, 4, &mut budget);
    Ok(())
}

/// Tightens the files below `dir` (not following links, not opening
/// anything but regular files, at most `depth` levels and `budget`
/// entries). Best effort: what cannot be tightened is checked again when
/// it is opened.
fn tighten_tree(dir: &Path, depth: usize, budget: &mut usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let Ok(t) = entry.file_type() else { continue };
        let path = entry.path();
        if t.is_dir() {
            if depth > 0 && check_dir(&path).is_ok() {
                tighten_tree(&path, depth - 1, budget);
            }
        } else if t.is_file() {
            let mut o = OpenOptions::new();
            o.read(true);
            #[cfg(unix)]
            o.custom_flags(NOFOLLOW);
            if let Ok(f) = o.open(&path) {
                let _ = check_file(&f);
            }
        }
    }
}

/// Creates `dir` (and missing parents) 0700, or checks the one that is
/// there: a directory, not a link, owned by the user, writable by no one
/// else. An existing directory's mode is never changed.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
            check_dir(dir)
        }
        Err(e) => Err(e),
        Ok(_) => check_dir(dir),
    }
}

fn check_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        let to = std::fs::read_link(dir)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(refused(format!(
            "is a symbolic link{to}: mkeprep does not follow links in its state; pass the directory itself (--state-dir)"
        )));
    }
    if !meta.is_dir() {
        return Err(refused("is not a directory"));
    }
    #[cfg(unix)]
    {
        if meta.uid() != euid() {
            return Err(refused(format!(
                "belongs to user {}, not to you (uid {}): its owner could change what mkeprep reads and writes there; use a directory of your own (--state-dir)",
                meta.uid(),
                euid()
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(refused(format!(
                "is writable by other users (mode {mode:04o}): they could plant a link or a pipe where mkeprep writes its journal and lock; use a directory only you can write (--state-dir), or if it is yours: chmod go-w {}",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Checks an open state file: a regular file, the user's, with no other
/// hard link; tightens its mode to 0600 if others could read it.
fn check_file(f: &File) -> io::Result<()> {
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(refused(format!(
            "is {}, not a regular file: mkeprep did not put it there; remove it",
            describe(&meta)
        )));
    }
    #[cfg(unix)]
    {
        if meta.uid() != euid() {
            return Err(refused(format!(
                "belongs to user {}, not to you: mkeprep did not write it; remove it",
                meta.uid()
            )));
        }
        if meta.nlink() > 1 {
            return Err(refused(
                "has other hard links: writing it would change another file; remove it",
            ));
        }
        if meta.mode() & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

fn describe(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    return kind_of(meta);
    #[cfg(not(unix))]
    {
        let _ = meta;
        "not a regular file"
    }
}

/// Explains `ELOOP` (the last component is a link) in words.
fn explain_open(path: &Path, e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        let to = std::fs::read_link(path)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return refused(format!(
            "is a symbolic link{to}: mkeprep does not write through links in its state; remove the link"
        ));
    }
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ENXIO) {
        return refused(
            "is a FIFO (named pipe), not a regular file: mkeprep did not put it there; remove it",
        );
    }
    let _ = path;
    e
}

/// Opens (creating with mode 0600) a state file for reading and writing.
pub fn open_private(path: &Path, append: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).create(true);
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    #[cfg(unix)]
    o.mode(0o600).custom_flags(NOFOLLOW);
    let f = o.open(path).map_err(|e| explain_open(path, e))?;
    check_file(&f)?;
    Ok(f)
}

/// Reads a whole state file; `None` when there is none.
pub fn read_private(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    o.custom_flags(NOFOLLOW);
    let mut f = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(explain_open(path, e)),
    };
    check_file(&f)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Writes a whole file atomically (temporary file, fsync, rename), with
/// `mode` (0600 for data, 0700 for a script). A link at the target is
/// replaced, never written through.
pub fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let create = || {
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        o.mode(mode).custom_flags(NOFOLLOW);
        o.open(&tmp)
    };
    let mut f = match create() {
        // A leftover (or planted) temporary file: unlinking removes a
        // link itself, never its target.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp)?;
            create()?
        }
        other => other?,
    };
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`write_mode`] with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_mode(path, bytes, 0o600)
}

/// Reads an input file whole (a playbook, an inventory, a key, a CA, a
/// password file). Links are followed (inputs are the user's choice), but
/// a FIFO, socket, device or directory is refused: reading one could block
/// forever or never end.
pub fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open_input(path)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens an input file for reading, refusing anything but a regular file
/// (without blocking on a FIFO to find out).
pub fn open_input(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    o.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC);
    let f = o.open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        let why = if meta.is_dir() {
            "a directory, not a file: give a file".to_string()
        } else {
            format!(
                "{}, not a regular file (reading it could block forever): give a file",
                describe(&meta)
            )
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    Ok(f)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_input(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})")))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn fifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn links_fifos_and_shared_dirs_are_refused_and_loose_files_tightened() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        ensure_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("lock")).unwrap();
        let e = open_private(&dir.join("lock"), false).unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert!(read_private(&dir.join("lock")).is_err());
        write_private(&dir.join("lock"), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");

        fifo(&dir.join("journal.jsonl"));
        let e = open_private(&dir.join("journal.jsonl"), true).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read_input(&dir.join("journal.jsonl")).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");

        let loose = dir.join("loose");
        std::fs::write(&loose, "x").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_private(&loose, true).unwrap();
        assert_eq!(std::fs::metadata(&loose).unwrap().mode() & 0o777, 0o600);

        let shared = t.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = ensure_dir(&shared).unwrap_err();
        assert!(
            e.to_string()
                .contains("writable by other users (mode 1777)"),
            "{e}"
        );
        assert_eq!(std::fs::metadata(&shared).unwrap().mode() & 0o7777, 0o1777);
    }
}
