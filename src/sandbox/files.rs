//! Simulated files on nodes (backup archives) and private files on the local
//! disk (everything the sandbox writes is 0600 in 0700 directories).

use std::path::Path;

use crate::util::fsx;

use super::SandboxError;
use super::options::FileKind;

/// Size of a tar block.
const BLOCK: usize = 512;
/// Number of table files in a simulated backup ("more than 100 files").
const TABLE_FILES: usize = 100;

/// The bytes of a simulated file. Deterministic in `seed`, so the state
/// file only stores the kind, the seed and the mtime.
pub fn content(kind: FileKind, seed: u64, mtime: u64) -> Vec<u8> {
    match kind {
        FileKind::Tar => backup_tar(seed, mtime),
        FileKind::Pgp => pgp_message(seed),
        FileKind::Empty | FileKind::Absent => Vec::new(),
        FileKind::Corrupt => b"sandbox: this is not a backup archive\n".repeat(64),
    }
}

/// A real ustar archive shaped like an MKE 3 backup: the files the docs'
/// validation heuristics look for, and more than 100 entries.
fn backup_tar(seed: u64, mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entries = vec![
        (
            "./ucp-node-certs/key.pem".to_string(),
            format!("sandbox key material {seed:016x}, not a real key\n"),
        ),
        (
            "./ucp-controller-server-certs/key.pem".to_string(),
            "sandbox key material, not a real key\n".to_string(),
        ),
    ];
    for i in 0..TABLE_FILES {
        entries.push((
            format!("./ucp-auth-store/table-{i:03}.json"),
            format!("{{\"table\":{i},\"seed\":\"{seed:016x}\"}}\n"),
        ));
    }
    for (name, data) in entries {
        out.extend_from_slice(&tar_header(&name, data.len(), mtime));
        out.extend_from_slice(data.as_bytes());
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }
    // End of archive: two zero blocks, then padding to a 10 KiB record.
    out.resize(out.len() + 2 * BLOCK, 0);
    out.resize(out.len().next_multiple_of(20 * BLOCK), 0);
    out
}

fn tar_header(name: &str, size: usize, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let put = |h: &mut [u8; BLOCK], at: usize, bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut h, 0, &name.as_bytes()[..name.len().min(100)]);
    put(&mut h, 100, b"0000600\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{size:011o}\0").as_bytes());
    put(
        &mut h,
        136,
        format!("{:011o}\0", mtime & 0o77777777777).as_bytes(),
    );
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    put(&mut h, 265, b"root");
    put(&mut h, 297, b"root");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    h
}

/// An OpenPGP message as `gpg --symmetric` writes it: a symmetric-key
/// encrypted session key packet (tag 3, AES-256, iterated+salted S2K,
/// SHA-256) followed by a symmetrically encrypted integrity-protected
/// data packet (tag 18) of pseudo-random bytes.
fn pgp_message(seed: u64) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    let mut out = vec![0x8c, 0x0d, 0x04, 0x09, 0x03, 0x08];
    out.extend((0..8).map(|_| rng.byte()));
    out.push(0xee);
    let body_len: usize = 8192;
    out.push(0xd2); // new-format packet header, tag 18
    out.push(0xff); // five-octet length
    out.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_be_bytes());
    out.push(0x01); // SEIPD version 1
    out.extend((1..body_len).map(|_| rng.byte()));
    out
}

struct SplitMix(u64);

impl SplitMix {
    fn byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u8
    }
}

/// Creates `path` (and its parents) as private directories (0700), or
/// checks the one there (see [`crate::util::fsx`]).
pub fn private_dir(path: &Path) -> Result<(), SandboxError> {
    fsx::private_dir(path).map_err(|err| SandboxError::io("use the directory", path, err))
}

/// Writes `bytes` to `path` atomically (temporary file, then rename), 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    fsx::write_mode(path, bytes, 0o600).map_err(|err| SandboxError::io("write", path, err))
}

/// Writes an executable script (0700).
pub fn write_executable(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    fsx::write_mode(path, bytes, 0o700).map_err(|err| SandboxError::io("write", path, err))
}

/// Reads a file the sandbox wrote (no link followed); `None` if missing.
pub fn read_private(path: &Path) -> Result<Option<String>, SandboxError> {
    match fsx::read_private(path) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => String::from_utf8(bytes).map(Some).map_err(|e| {
            SandboxError::io(
                "read",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(err) => Err(SandboxError::io("read", path, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn backup_tar_is_a_tar_that_tar_can_list() {
        let bytes = content(FileKind::Tar, 7, 1_700_000_000);
        assert_eq!(&bytes[257..263], b"ustar\0");
        assert_eq!(bytes.len() % (20 * BLOCK), 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tar");
        fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output();
        let Ok(out) = out else { return }; // no tar on this machine
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("./ucp-node-certs/key.pem"), "{listing}");
        assert_eq!(listing.lines().count(), TABLE_FILES + 2);
    }

    #[test]
    fn other_kinds() {
        let pgp = content(FileKind::Pgp, 1, 0);
        assert_eq!(pgp[0], 0x8c);
        assert_eq!(pgp, content(FileKind::Pgp, 1, 0), "deterministic");
        assert!(content(FileKind::Empty, 1, 0).is_empty());
        assert!(!content(FileKind::Corrupt, 1, 0).starts_with(b"\x8c"));
    }

    #[test]
    fn private_files_are_0600() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        private_dir(&sub).unwrap();
        let file = sub.join("f");
        write_private(&file, b"x").unwrap();
        write_private(&file, b"yz").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"yz");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(&sub), 0o700);
        }
    }
}
