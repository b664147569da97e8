//! Small shared helpers: atomic file writes and timing.

use std::path::Path;

use anyhow::{Context, Result};

/// Write `data` to `path` atomically: a temporary file in the same folder, then rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
        }
    }
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place as {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Milliseconds since `t`.
#[cfg(not(target_arch = "wasm32"))]
pub fn ms_since(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
