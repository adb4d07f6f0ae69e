//! A directory of one test's own, for the files its nodes keep.

use std::path::{Path, PathBuf};

/// An empty directory named after a test and this process, removed when
/// dropped, so also when the test fails.
///
/// ```no_run
/// let dir = serfer::testing::TempDir::new("snapshots");
/// let snapshot = dir.path("node.snap");
/// # let _ = snapshot;
/// ```
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it afresh (whatever an earlier run left there is removed).
    ///
    /// # Panics
    ///
    /// When the directory cannot be created: the test cannot run.
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("serfer-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// A file in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A file in it, as a command-line argument.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
