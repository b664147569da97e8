//! Small shared helpers: output paths checked before the work, atomic file writes, timing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Where a write to `path` lands: `path`, or the file a symbolic link there points to (a link is
/// written through, not replaced). Refuses a path that exists and is not a regular file — a
/// folder, a device, a FIFO, a socket — a read-only file, and a link to nothing, so no output
/// replaces them.
pub fn output_file(path: &Path) -> Result<PathBuf> {
    let raw = path.as_os_str().as_encoded_bytes();
    if raw.ends_with(b"/") || raw.ends_with(b"/.") || raw == b"." || path.file_name().is_none() {
        bail!("{} names a folder: give the output a file path", path.display());
    }
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.permissions().readonly() => {
            bail!("{} is read-only: choose another output path, or make it writable to replace it", path.display())
        }
        Ok(m) if m.is_file() && is_link => std::fs::canonicalize(path).with_context(|| format!("cannot resolve the link {}", path.display())),
        Ok(m) if m.is_file() => Ok(path.to_path_buf()),
        Ok(m) if m.is_dir() => bail!("{} is a folder: give the output a file path (one inside it, for instance)", path.display()),
        Ok(_) => bail!("{} exists and is not a regular file (a device, FIFO or socket): choose another output path", path.display()),
        Err(_) if is_link => bail!("{} is a symbolic link to a missing file: remove it or choose another output path", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect the output path {}", path.display())),
    }
}

/// The bytes of an input file, which must be a regular file (a link to one is followed): a FIFO
/// or device would block or never end. `what` names the file in errors: "cannot read {what} PATH".
pub fn read_input_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    let m = std::fs::metadata(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    if m.is_dir() {
        bail!("cannot read {what} {}: it is a folder, not a file", path.display());
    }
    if !m.is_file() {
        bail!("cannot read {what} {}: it is not a regular file (a FIFO, device or socket)", path.display());
    }
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Whether two paths name the same file, existing or not: by their resolved forms where both
/// exist, else by their absolute forms with `.` and `..` taken lexically.
pub fn same_place(a: &Path, b: &Path) -> bool {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        return a == b;
    }
    let lexical = |p: &Path| -> Option<PathBuf> {
        let mut out = PathBuf::new();
        for c in std::path::absolute(p).ok()?.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        Some(out)
    };
    lexical(a).is_some_and(|x| Some(x) == lexical(b))
}

/// Write `data` to `path` atomically: a temporary file in the same folder, flushed to the disk,
/// then renamed over `path` (the temporary is removed if anything fails). A file it replaces
/// keeps its permissions. See `output_file` for what `path` may be.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let path = &output_file(path)?;
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
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        if let Ok(m) = std::fs::metadata(path) {
            f.set_permissions(m.permissions())?;
        }
        f.sync_all() // the bytes are on the disk before the name points at them
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot move {} into place as {}", tmp.display(), path.display()));
    }
    // the rename itself is durable once the folder is flushed (where the OS allows opening one)
    if let Some(dir) = path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Check before any work that a file can be written at `path` later: not a folder or special
/// file, its folder creatable and writable. Creates nothing, leaves nothing behind.
#[cfg(not(target_arch = "wasm32"))]
pub fn check_output_file(path: &Path) -> Result<()> {
    let path = output_file(path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => check_output_dir(dir),
        _ => check_output_dir(Path::new(".")),
    }
}

/// Check before any work that files can be written into the folder `dir`: it is a folder or
/// can be made one, in a place this process may write. Creates nothing, leaves nothing behind.
#[cfg(not(target_arch = "wasm32"))]
pub fn check_output_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a folder: choose another output folder", dir.display());
    }
    // the nearest part of the path that exists is where the folder would be made
    let mut at = dir;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    if !at.is_dir() {
        bail!("cannot make the output folder {}: {} is not a folder", dir.display(), at.display());
    }
    let probe = at.join(format!(".jest-wgpu-write-test{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("cannot write into {} (for the output folder {}): choose a folder you can write to", at.display(), dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// An advisory lock on a run folder (`DIR/run.lock`), held while a run trains there so that a
/// second process cannot write the same checkpoints. The OS releases it when the process ends,
/// however it ends, so a killed run never leaves a stale lock.
#[cfg(not(target_arch = "wasm32"))]
pub struct RunLock(#[allow(dead_code)] std::fs::File);

#[cfg(not(target_arch = "wasm32"))]
impl RunLock {
    pub fn take(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the run folder {}", dir.display()))?;
        let path = dir.join("run.lock");
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        match f.try_lock() {
            Ok(()) => Ok(RunLock(f)),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another jest-wgpu process is training in {} right now: wait for it to finish (or stop it), or give this run another folder",
                dir.display()
            ),
            // some network and FUSE file systems have no locks: train as before, unguarded
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                eprintln!("warning: {} cannot be locked on this file system ({e}); make sure no other run trains in it", dir.display());
                Ok(RunLock(f))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

/// Milliseconds since `t`.
#[cfg(not(target_arch = "wasm32"))]
pub fn ms_since(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
