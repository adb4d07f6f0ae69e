//! Resident memory of this process or of another, from `/proc` (Linux).

/// This process's resident set size, KiB; 0 where `/proc` is missing (so a test that
/// bounds the growth passes vacuously there rather than failing).
pub fn rss_kib() -> u64 {
    vm_rss("/proc/self/status").unwrap_or(0)
}

/// The resident set size of process `pid`, KiB; `None` when it has exited or `/proc`
/// is missing.
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    vm_rss(&format!("/proc/{pid}/status"))
}

/// The `VmRSS:` line of a `/proc/…/status` file.
fn vm_rss(status: &str) -> Option<u64> {
    std::fs::read_to_string(status)
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn self_and_by_pid_agree_in_kind() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(super::rss_kib() > 0);
            assert!(super::rss_kib_of(std::process::id()).is_some_and(|k| k > 0));
        }
        assert_eq!(super::rss_kib_of(u32::MAX), None);
    }
}
