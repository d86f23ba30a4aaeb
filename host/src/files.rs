//! Reading a file a user named: a policy, a key, a signature, a config, a
//! fixture. The path may be anything, so it is read only if it is a regular
//! file, and never past a cap: a FIFO would block gate in `open` or `read`
//! with no deadline to end it, and a device such as `/dev/zero` (whose
//! length reads as 0) would be read until memory runs out.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("it is not a regular file (a directory, FIFO, socket or device)")]
    NotAFile,
    #[error("{}, over the {limit}-byte cap", .size.map_or("it holds more".to_owned(), |s| format!("it is {s} bytes")))]
    TooLarge {
        /// As the file system said, or `None` when it grew while being read.
        size: Option<u64>,
        limit: u64,
    },
}

impl From<ReadError> for io::Error {
    /// For errors that carry an `io::Error`: the reason, as its text.
    fn from(error: ReadError) -> io::Error {
        match error {
            ReadError::Io(error) => error,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// The whole of `path` if it is a regular file of at most `limit` bytes.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Non-blocking, so that opening a FIFO returns at once (it blocks until
    // a writer comes otherwise); it changes nothing for a regular file.
    let file = File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    read_opened(file, limit, false)
}

/// Like [`read_capped`], but a pipe or device is read too: for a secret a
/// user hands over without writing it to disk (`--secret-key <(vault …)`,
/// `/dev/stdin`). Still never past `limit`, and still not a directory or a
/// socket; a pipe no one writes to waits, as the user's own shell would.
pub fn read_piped_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_opened(File::open(path)?, limit, true)
}

/// [`read_capped`] of a text file.
pub fn read_text_capped(path: &Path, limit: u64) -> Result<String, ReadError> {
    text(read_capped(path, limit)?)
}

/// [`read_piped_capped`] of a text file.
pub fn read_piped_text_capped(path: &Path, limit: u64) -> Result<String, ReadError> {
    text(read_piped_capped(path, limit)?)
}

/// Reads `file`, a regular file (or, with `streams`, a pipe or character
/// device), to its end but never past `limit`.
fn read_opened(file: File, limit: u64, streams: bool) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::FileTypeExt;
    // The opened file's own type and size: the path may have changed since
    // anyone looked at it.
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    let regular = kind.is_file();
    if !(regular || streams && (kind.is_fifo() || kind.is_char_device())) {
        return Err(ReadError::NotAFile);
    }
    // A stream has no length; a regular file's says at once if it is over.
    let size = if regular { metadata.len() } else { 0 };
    if size > limit {
        return Err(ReadError::TooLarge {
            size: Some(size),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: None, limit });
    }
    Ok(bytes)
}

fn text(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes)
        .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())))
}

/// Creates `folder` and its missing parents, for an output file a user
/// named (`--report`, `--record`). Where a parent is a file, says which,
/// rather than the system's "File exists".
pub fn create_folders(folder: &Path) -> io::Result<()> {
    std::fs::create_dir_all(folder).map_err(|error| folder_error(folder, error))
}

/// Why `folder` could not be created: the file in its way when there is
/// one, else `error`.
pub fn folder_error(folder: &Path, error: io::Error) -> io::Error {
    let in_the_way = folder
        .ancestors()
        .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()));
    match in_the_way {
        Some(file) => io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is a file, not a folder", file.display()),
        ),
        None => error,
    }
}

/// Writes `bytes` to a new file beside `path`, made with `mode` (less the
/// umask), then renames it over `path`: a failure (a full disk, say) leaves
/// no half-written file and whatever was at `path` as it was, and a file
/// already there does not lend its mode or its open handles to the new one.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_all_atomically(&[(path, bytes, mode)])
}

/// [`write_atomically`] of files that belong together (a key pair): every
/// one is written whole before any replaces what was at its path, so a
/// failure while writing leaves them all as they were.
pub fn write_all_atomically(files: &[(&Path, &[u8], u32)]) -> io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes, mode) in files {
        match stage(path, bytes, *mode) {
            Ok(temp) => staged.push((temp, *path)),
            Err(e) => {
                for (temp, _) in &staged {
                    let _ = std::fs::remove_file(temp);
                }
                return Err(e);
            }
        }
    }
    let mut renamed = Ok(());
    for (temp, path) in &staged {
        if renamed.is_ok() {
            renamed = std::fs::rename(temp, path);
        }
        if renamed.is_err() {
            let _ = std::fs::remove_file(temp);
        }
    }
    renamed
}

/// `bytes` in a new file beside `path`, synced to disk: its path.
fn stage(path: &Path, bytes: &[u8], mode: u32) -> io::Result<std::path::PathBuf> {
    use std::io::Write as _;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    // Unique to this process and moment, so that `create_new` never meets
    // a leftover of another writer.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}-{nanos}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = (|| {
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pair is replaced together or not at all: the second file failing
    /// to be written leaves the first as it was, and no temporary file.
    #[test]
    fn a_pair_is_written_together_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("gate-files-pair-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (public, secret) = (dir.join("gate.pub"), dir.join("gate.key"));
        write_all_atomically(&[(&public, b"pub 1", 0o644), (&secret, b"key 1", 0o600)]).unwrap();
        let unwritable = dir.join("missing/gate.key");
        assert!(
            write_all_atomically(&[(&public, b"pub 2", 0o644), (&unwritable, b"key 2", 0o600)])
                .is_err()
        );
        assert_eq!(std::fs::read(&public).unwrap(), b"pub 1");
        assert_eq!(std::fs::read(&secret).unwrap(), b"key 1");
        let left = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, 2, "no temporary file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_under_a_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("gate-files-folders-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("afile");
        std::fs::write(&file, b"x").unwrap();
        let error = create_folders(&file.join("a/b")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotADirectory);
        assert_eq!(
            error.to_string(),
            format!("{} is a file, not a folder", file.display())
        );
        create_folders(&dir.join("new/deeper")).unwrap();
        assert!(dir.join("new/deeper").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_may_come_from_a_pipe_or_device_but_not_past_its_cap() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        use std::io::Write as _;
        use std::os::fd::AsRawFd as _;
        writer.write_all(b"untrusted comment: key\n").unwrap();
        drop(writer);
        let piped = format!("/proc/self/fd/{}", reader.as_raw_fd());
        assert_eq!(
            read_piped_capped(Path::new(&piped), 1 << 10).unwrap(),
            b"untrusted comment: key\n"
        );
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 1 << 10),
            Err(ReadError::NotAFile)
        ));
        assert!(matches!(
            read_piped_capped(Path::new("/dev/zero"), 1 << 10),
            Err(ReadError::TooLarge { size: None, .. })
        ));
        assert!(matches!(
            read_piped_capped(Path::new("/"), 1 << 10),
            Err(ReadError::NotAFile)
        ));
    }

    #[test]
    fn regular_files_within_the_cap_only() {
        let dir = std::env::temp_dir().join(format!("gate-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_capped(&file, 5).unwrap(), b"12345");
        assert!(matches!(
            read_capped(&file, 4),
            Err(ReadError::TooLarge {
                size: Some(5),
                limit: 4
            })
        ));
        assert!(matches!(read_capped(&dir, 100), Err(ReadError::NotAFile)));
        // A device reads as 0 bytes long and never ends.
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 100),
            Err(ReadError::NotAFile)
        ));
        // A FIFO with no writer: refused at once, not waited on.
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(read_capped(&fifo, 100), Err(ReadError::NotAFile)));
        assert!(matches!(
            read_capped(&dir.join("missing"), 100),
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        std::fs::write(&file, [0xff, 0xfe]).unwrap();
        assert!(read_text_capped(&file, 10).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
