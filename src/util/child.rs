//! Child processes never outlive mkeprep: a killed run must not leave a
//! command running that a resumed run would start a second time.

/// Asks the kernel to SIGKILL the child when this process dies (Linux).
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        // The parent may die between fork and prctl; the death signal then
        // never comes, so the child checks that its parent is still there.
        let parent = std::process::id();
        // SAFETY: prctl and getppid are async-signal-safe and touch only
        // the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(std::io::Error::other(
                        "mkeprep exited before the child started",
                    ));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
