//! Which Lifeboat processes are alive. Each process (the server, a CLI command) holds an
//! exclusive lock on its own file under `DATA/run/` for as long as it lives; claimed work
//! (a running sync, a download) records the claimant's id. Work whose claimant's lock can
//! be taken is abandoned (its process died, even by kill -9, since the OS releases locks)
//! and goes back to the queue at once, while work of a live process is left alone.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub struct Owner {
    id: String,
    dir: PathBuf,
    /// Held, locked, until the process ends.
    _lock: File,
}

impl Owner {
    pub fn register(data_dir: &Path) -> Result<Owner> {
        let dir = data_dir.join("run");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let id = format!(
            "{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        );
        let file = File::create(dir.join(format!("{id}.lock")))?;
        file.lock().context("cannot lock this process's run file")?;
        Ok(Owner {
            id,
            dir,
            _lock: file,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the process that registered `id` is still running.
    pub fn is_alive(&self, id: &str) -> bool {
        if id == self.id {
            return true;
        }
        // Ids are ours ("pid-hex"); anything else cannot name a file outside run/.
        if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return false;
        }
        let path = self.dir.join(format!("{id}.lock"));
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = fs::remove_file(&path);
                false
            }
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => true,
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join(format!("{}.lock", self.id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_is_seen_and_a_dead_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = Owner::register(dir.path()).unwrap();
        let b = Owner::register(dir.path()).unwrap();
        assert!(a.is_alive(b.id()));
        let gone = b.id().to_string();
        drop(b);
        assert!(!a.is_alive(&gone));
        assert!(!a.is_alive("../../etc/passwd"));
        // A crashed process leaves its file but not its lock.
        let crashed = dir.path().join("run").join("1-abcdef.lock");
        File::create(&crashed).unwrap();
        assert!(!a.is_alive("1-abcdef"));
        assert!(!crashed.exists());
    }
}
