//! Files written whole or not at all: the bytes go to a temporary file beside the target, which
//! is renamed over it only once complete, so no reader and no crash ever sees half a file.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The folder `path` is in; `.` for a bare file name.
pub fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `path` whole: `fill` writes the content into a temporary file in the same folder,
/// which then replaces `path`. On any error `path` is left as it was.
pub fn write_with<E: From<io::Error>>(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), E> {
    let mut tmp = tempfile::NamedTempFile::new_in(parent(path))?;
    fill(tmp.as_file_mut())?;
    tmp.persist(path).map_err(|e| E::from(e.error))?;
    Ok(())
}

/// [`write_with`] for bytes already in memory.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |file| file.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write(&path, b"old").unwrap();
        let failed: io::Result<()> = write_with(&path, |file| {
            file.write_all(b"half")?;
            Err(io::Error::other("stopped"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_bare_file_name_is_in_the_current_folder() {
        assert_eq!(parent(Path::new("f")), Path::new("."));
        assert_eq!(parent(Path::new("a/f")), Path::new("a"));
    }
}
