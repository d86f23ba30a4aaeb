//! The compile cache: policies precompiled once and kept on disk, so a run
//! loads a policy in well under a millisecond instead of compiling it (tens
//! of milliseconds to seconds).
//!
//! Loading precompiled code is trusting it: wasmtime runs it as native code
//! without validating it. So gate only reads entries from a directory that
//! belongs to the user and that nobody else can write to, only gate writes
//! them (atomically: a private temporary file renamed into place), and each
//! entry carries a checksum of its artifact, checked before the artifact is
//! handed to wasmtime. An entry that fails any of this is rebuilt.
//!
//! The checksum is there for accidents (a disk error, a file cut short or
//! edited by hand), not for an attacker: anyone who could write an entry
//! could write its checksum too, which is why the directory is checked.
//! It is checked through a descriptor gate then keeps open, and every entry
//! is reached through that descriptor (`/proc/self/fd/N/ENTRY`), not by the
//! directory's name: whoever can write to a directory above it could
//! otherwise swap in a directory of their own after the check.
//! So it is XXH3-128, not sha256: checking a 260 KB entry takes ~0.07 ms
//! instead of ~0.19 ms (BENCHMARKS.md), and every run checks one.
//!
//! The artifact comes first and the gate trailer (magic, checksum) last, so
//! that once checked the file is mapped as it is (`deserialize_file`)
//! rather than read into memory and copied again: that takes a cache hit,
//! which every `gate run` pays, from ~1.6 to ~1.0 ms (see BENCHMARKS.md).
//!
//! An entry is named after what it was compiled from and by:
//! `<component sha256>-<engine key>.cwasm`, where the engine key hashes
//! wasmtime's compatibility hash (its version, target and every setting
//! that shapes compiled code) and the entry layout.
//!
//! Every build of a policy and every gate upgrade makes a new entry, so the
//! directory would grow for ever. An entry's modification time says when it
//! was last used (a hit refreshes it, at most once a day), and writing an
//! entry removes those unused for [`UNUSED_FOR`]: what a team runs stays,
//! what it stopped running goes, and a run that needs it again compiles it.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::units::format_size;

/// Starts the trailer of every entry; the version byte changes with the
/// layout (version 1 put it first, as a header; version 2 was a sha256).
const MAGIC: &[u8; 12] = b"gate-cwasm\x03\n";
/// An XXH3-128 checksum, little-endian.
const DIGEST_LEN: usize = 16;
const TRAILER_LEN: usize = MAGIC.len() + DIGEST_LEN;
const ENTRY_EXTENSION: &str = "cwasm";
/// Names entries of this layout: an entry of another layout has another
/// name, so it is a miss, not a warning.
const LAYOUT: &str = "3";
/// An entry unused for this long is removed when an entry is next written.
pub const UNUSED_FOR: Duration = Duration::from_secs(30 * 86_400);
/// A hit marks its entry used at most this often: one more system call a
/// day, not one a run.
const MARK_EVERY: Duration = Duration::from_secs(86_400);

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "no cache directory: set --cache-dir or GATE_CACHE_DIR (neither XDG_CACHE_HOME nor HOME is set)"
    )]
    NoDir,
    #[error("cannot create the cache directory {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the cache directory {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the cache directory {} is not a directory", path.display())]
    NotADir { path: PathBuf },
    #[error(
        "the cache directory {} belongs to uid {owner}, not to you (uid {me}): precompiled code is \
         only loaded from your own directory; use --cache-dir, or --no-cache", path.display()
    )]
    NotOwned { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "the cache directory {} can be written by others (mode {mode:04o}): precompiled code is \
         only loaded from a directory nobody else can write to; run `chmod go-w {}`, or use \
         --cache-dir", path.display(), path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("the compile cache is not supported on this platform")]
    Unsupported,
}

/// The default cache directory: `$XDG_CACHE_HOME/gate`, else
/// `$HOME/.cache/gate`. Relative values are ignored, as the XDG spec says.
pub fn default_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .map(|dir| dir.join("gate"))
        .or_else(|| absolute("HOME").map(|home| home.join(".cache").join("gate")))
}

/// A cache directory that passed the ownership checks, for one engine.
#[derive(Debug)]
pub struct Cache {
    /// The directory as the user named it, for messages.
    dir: PathBuf,
    /// The directory checked, held open: entries are read and written
    /// through it.
    checked: CheckedDir,
    engine_key: String,
}

impl Cache {
    /// Opens (creating it, private, if missing) the cache directory for
    /// artifacts of `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Cache, CacheError> {
        create_private_dir(dir)?;
        Ok(Cache {
            dir: dir.to_owned(),
            checked: CheckedDir::open(dir)?,
            engine_key: engine_key(engine),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_name(&self, sha256: &str) -> String {
        format!("{sha256}-{}.{ENTRY_EXTENSION}", self.engine_key)
    }

    /// The entry for a component with this sha256, as the user names it.
    pub fn entry_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(self.entry_name(sha256))
    }

    /// The component compiled from the policy whose sha256 is `sha256`,
    /// from a valid entry; `None` when there is none. A bad entry is
    /// reported and removed, so that [`Cache::store`] rebuilds it.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let shown = self.entry_path(sha256);
        let path = self.checked.path().join(self.entry_name(sha256));
        match check_entry(&path) {
            Ok(Some(used)) => {
                // SAFETY: the artifact is byte for byte what gate serialized
                // (its checksum matched), in a directory only this user can
                // write to, where gate only ever replaces an entry by
                // renaming a new file over it, so the file mapped is the one
                // checked or another whole entry for the same component;
                // wasmtime ignores the trailer after its ELF image and itself
                // refuses an artifact from an incompatible engine.
                match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(component) => {
                        tracing::debug!(entry = %shown.display(), "compile cache hit");
                        mark_used(&path, &shown, used, SystemTime::now());
                        return Some(component);
                    }
                    Err(e) => {
                        tracing::debug!(entry = %shown.display(), "stale compile cache entry ({e}); rebuilding it");
                    }
                }
            }
            Ok(None) => tracing::debug!(entry = %shown.display(), "compile cache miss"),
            Err(why) => warn(&format!(
                "entry {} is {why}; rebuilding it",
                shown.display()
            )),
        }
        None
    }

    /// Stores `component`, compiled from the policy whose sha256 is
    /// `sha256`, and removes the entries unused for [`UNUSED_FOR`]. A
    /// failure is reported and only costs the next run a compile.
    pub fn store(&self, sha256: &str, component: &Component) {
        let shown = self.entry_path(sha256);
        let dir = self.checked.path();
        match component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|artifact| write_entry(dir, &dir.join(self.entry_name(sha256)), &artifact))
        {
            Ok(()) => tracing::debug!(entry = %shown.display(), "compile cache entry written"),
            Err(e) => warn(&format!("cannot write {}: {e}", shown.display())),
        }
        let now = SystemTime::now();
        match sweep(dir, &self.dir, Remove::UnusedSince(now - UNUSED_FOR)) {
            Ok(removed) if removed.entries > 0 => tracing::debug!(
                removed = %entries(&removed),
                "compile cache entries unused for {} days removed",
                UNUSED_FOR.as_secs() / 86_400
            ),
            Ok(_) => {}
            Err(e) => warn(&format!("cannot remove unused entries: {e}")),
        }
    }
}

/// A cache problem that does not stop the run: said once per occurrence on
/// stderr, where a user sees it without `-v`.
pub fn warn(message: &str) {
    eprintln!("gate: compile cache: {message}");
}

/// Hashes wasmtime's compatibility hash, and the entry layout, into a
/// short, stable key.
/// `DefaultHasher` is not stable across Rust releases, so sha256 it is.
fn engine_key(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            let digest = self.0.clone().finalize();
            u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
        }
    }
    let mut hasher = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    LAYOUT.hash(&mut hasher);
    hex(&hasher.0.finalize()[..16])
}

/// Whether `name` is an entry gate writes, `<sha256>-<engine key>.cwasm`
/// in lower-case hex: the cache dir may be one the user shares with other
/// tools (`wasmtime compile` writes `.cwasm` files too), and `gate cache
/// clear` and the sweep remove only gate's own files.
fn is_entry_name(name: &str) -> bool {
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    name.strip_suffix(&format!(".{ENTRY_EXTENSION}"))
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(sha256, key)| lower_hex(sha256, 64) && lower_hex(key, 32))
}

/// Whether `name` is a temporary file of gate's, `.tmp-<pid>-<nanos>`.
fn is_temporary_name(name: &str) -> bool {
    name.strip_prefix(".tmp-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(pid, nanos)| {
            [pid, nanos]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an entry was not used.
#[derive(Debug, thiserror::Error)]
enum BadEntry {
    #[error("not a regular file")]
    NotAFile,
    #[error("truncated ({0} bytes)")]
    Truncated(u64),
    #[error("corrupt or cut short (it does not end in a gate cache trailer)")]
    Trailer,
    #[error("corrupt (its artifact does not match its checksum)")]
    Digest,
    #[error("unreadable ({0})")]
    Io(std::io::Error),
}

/// Whether there is an entry at `path` (`None`: none) whose artifact
/// matches its checksum, and when it was last used. It is hashed as it
/// streams through a buffer: the artifact itself is then mapped, never read
/// into memory whole.
fn check_entry(path: &Path) -> Result<Option<SystemTime>, BadEntry> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BadEntry::Io(e)),
    };
    let bad = |why: BadEntry| {
        // Best effort: the rebuilt entry replaces it by rename anyway.
        let _ = fs::remove_file(path);
        Err(why)
    };
    if !meta.file_type().is_file() {
        return bad(BadEntry::NotAFile);
    }
    if meta.len() < TRAILER_LEN as u64 {
        return bad(BadEntry::Truncated(meta.len()));
    }
    match artifact_matches(path, meta.len() - TRAILER_LEN as u64) {
        Ok(()) => Ok(Some(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH))),
        Err(why) => bad(why),
    }
}

/// Marks the entry at `path`, last used at `used`, as used `now`, unless
/// that was less than [`MARK_EVERY`] ago. Best effort: an entry that could
/// not be marked is at worst removed early and compiled again.
fn mark_used(path: &Path, shown: &Path, used: SystemTime, now: SystemTime) {
    if now.duration_since(used).is_ok_and(|age| age < MARK_EVERY) {
        return;
    }
    let marked = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(now));
    if let Err(e) = marked {
        tracing::debug!(entry = %shown.display(), "cannot mark the entry used: {e}");
    }
}

/// Compares the checksum of the first `artifact_len` bytes of the entry at
/// `path` with the one in its trailer, which follows them.
fn artifact_matches(path: &Path, artifact_len: u64) -> Result<(), BadEntry> {
    use std::io::{BufReader, Read, Seek, SeekFrom};
    let mut file = fs::File::open(path).map_err(BadEntry::Io)?;
    let mut trailer = [0u8; TRAILER_LEN];
    file.seek(SeekFrom::Start(artifact_len))
        .map_err(BadEntry::Io)?;
    if file.read_exact(&mut trailer).is_err() || &trailer[..MAGIC.len()] != MAGIC {
        return Err(BadEntry::Trailer);
    }
    file.seek(SeekFrom::Start(0)).map_err(BadEntry::Io)?;
    // io::copy hashes straight out of a BufReader's buffer: eight reads of
    // 64 KiB where its own 8 KiB buffer took thirty-three.
    let mut artifact = BufReader::with_capacity(1 << 16, file.take(artifact_len));
    let mut hasher = Xxh3::new();
    let hashed = std::io::copy(&mut artifact, &mut hasher).map_err(BadEntry::Io)?;
    if hashed < artifact_len {
        // Shrunk since it was measured: as good as cut short.
        return Err(BadEntry::Trailer);
    }
    if hasher.digest128().to_le_bytes() != trailer[MAGIC.len()..] {
        return Err(BadEntry::Digest);
    }
    Ok(())
}

/// Writes an entry atomically: a private temporary file in the same
/// directory, renamed over the entry. Readers see the old entry, the new
/// one, or none; never half of one. No fsync: a torn file after a crash
/// fails its digest and is rebuilt.
fn write_entry(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let written = (|| {
        let mut file = private_file(&temp)?;
        file.write_all(artifact)?;
        file.write_all(MAGIC)?;
        file.write_all(&xxh3_128(artifact).to_le_bytes())?;
        file.flush()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(_path: &Path) -> std::io::Result<fs::File> {
    Err(std::io::Error::other(CacheError::Unsupported.to_string()))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CacheError::Create {
            path: dir.to_owned(),
            source: crate::files::folder_error(dir, source),
        })
}

#[cfg(not(unix))]
fn create_private_dir(_dir: &Path) -> Result<(), CacheError> {
    Err(CacheError::Unsupported)
}

/// The directory is the user's and nobody else can write to it, so nobody
/// else can plant or swap an entry.
pub fn check_dir(dir: &Path) -> Result<(), CacheError> {
    CheckedDir::open(dir).map(drop)
}

/// A cache directory open, and checked through what was opened.
#[derive(Debug)]
struct CheckedDir {
    /// Kept open for as long as `path` goes through it.
    #[cfg(unix)]
    _handle: std::os::fd::OwnedFd,
    /// `/proc/self/fd/N`, the directory opened whatever its name now
    /// leads to; its name where there is no /proc.
    path: PathBuf,
}

impl CheckedDir {
    #[cfg(unix)]
    fn open(dir: &Path) -> Result<CheckedDir, CacheError> {
        use rustix::fs::{Mode, OFlags};
        use std::os::fd::AsRawFd;
        let read_error = |source: std::io::Error| CacheError::Read {
            path: dir.to_owned(),
            source,
        };
        // O_PATH: the directory is only looked at and gone through, so
        // it needs no read permission, as a check by name did not.
        #[cfg(target_os = "linux")]
        let access = OFlags::PATH;
        #[cfg(not(target_os = "linux"))]
        let access = OFlags::RDONLY;
        let handle = rustix::fs::open(
            dir,
            access | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOTDIR => CacheError::NotADir {
                path: dir.to_owned(),
            },
            e => read_error(e.into()),
        })?;
        let stat = rustix::fs::fstat(&handle).map_err(|e| read_error(e.into()))?;
        let me = rustix::process::geteuid().as_raw();
        if stat.st_uid != me {
            return Err(CacheError::NotOwned {
                path: dir.to_owned(),
                owner: stat.st_uid,
                me,
            });
        }
        // u16 on some Unixes.
        #[allow(clippy::useless_conversion)]
        let mode = u32::from(stat.st_mode) & 0o7777;
        if mode & 0o022 != 0 {
            return Err(CacheError::Writable {
                path: dir.to_owned(),
                mode,
            });
        }
        let through = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
        // Without /proc (a sandbox, another Unix), by name, as checked a
        // moment ago.
        let path = if through.is_dir() {
            through
        } else {
            tracing::debug!(
                "no /proc/self/fd: the cache directory {} is used by its name",
                dir.display()
            );
            dir.to_owned()
        };
        Ok(CheckedDir {
            _handle: handle,
            path,
        })
    }

    #[cfg(not(unix))]
    fn open(_dir: &Path) -> Result<CheckedDir, CacheError> {
        Err(CacheError::Unsupported)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// What `gate cache info` reports.
#[derive(Debug, Default)]
pub struct Summary {
    pub entries: usize,
    pub bytes: u64,
}

/// Which of gate's files a [`sweep`] removes.
#[derive(Debug, Clone, Copy)]
enum Remove {
    Nothing,
    All,
    /// Those last used (or, for a temporary file, written) before this.
    UnusedSince(SystemTime),
}

/// Removes gate's files in `dir` (its entries and the temporary files a
/// write cut short) as `remove` says, and sums up the entries removed, or
/// with [`Remove::Nothing`] those found. Other files are left alone: gate
/// only ever touches its own names.
fn sweep(dir: &Path, shown: &Path, remove: Remove) -> Result<Summary, CacheError> {
    let read_error = |source| CacheError::Read {
        path: shown.to_owned(),
        source,
    };
    let mut summary = Summary::default();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let temporary = is_temporary_name(&name);
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Removed by another gate (a sweep, a write's rename) since the
            // listing: nothing left to count or remove.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_error(e)),
        };
        if !(temporary || is_entry_name(&name)) || !meta.file_type().is_file() {
            continue;
        }
        let removed = match remove {
            Remove::Nothing => false,
            Remove::All => true,
            Remove::UnusedSince(cutoff) => meta.modified().is_ok_and(|used| used < cutoff),
        };
        if removed {
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                // Another gate removed it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(read_error(e)),
            }
        }
        if (removed || matches!(remove, Remove::Nothing)) && !temporary {
            summary.entries += 1;
            summary.bytes += meta.len();
        }
    }
    Ok(summary)
}

/// `gate cache info` and `gate cache clear`.
pub fn command(command: crate::cli::CacheCommand) -> anyhow::Result<i32> {
    use crate::cli::CacheCommand;
    let (args, clear) = match &command {
        CacheCommand::Info(args) => (args, false),
        CacheCommand::Clear(args) => (args, true),
    };
    let dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => default_dir().ok_or(CacheError::NoDir)?,
    };
    // Written, not printed: a reader that stops reading is an error gate
    // knows (`is_broken_pipe`), where `println!` would panic.
    let mut stdout = std::io::stdout().lock();
    if !dir.exists() {
        writeln!(
            stdout,
            "cache dir  {} (empty: not created yet)",
            dir.display()
        )?;
        return Ok(crate::verdict::EXIT_PASS);
    }
    let safety = check_dir(&dir);
    if clear {
        // Removing entries from someone else's directory is not ours to do.
        if let Err(e @ (CacheError::NotOwned { .. } | CacheError::NotADir { .. })) = safety {
            return Err(e.into());
        }
        let removed = sweep(&dir, &dir, Remove::All)?;
        writeln!(
            stdout,
            "removed {} from {}",
            entries(&removed),
            dir.display()
        )?;
        return Ok(crate::verdict::EXIT_PASS);
    }
    let summary = sweep(&dir, &dir, Remove::Nothing)?;
    match safety {
        Ok(()) => writeln!(stdout, "cache dir  {} (private: used)", dir.display())?,
        Err(e) => writeln!(stdout, "cache dir  {} (NOT used: {e})", dir.display())?,
    }
    writeln!(stdout, "holds      {}", entries(&summary))?;
    Ok(crate::verdict::EXIT_PASS)
}

fn entries(summary: &Summary) -> String {
    let noun = if summary.entries == 1 {
        "entry"
    } else {
        "entries"
    };
    format!(
        "{} {noun} ({})",
        summary.entries,
        format_size(summary.bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gate-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entry_round_trip_and_corruption() {
        let dir = temp_dir("entry");
        create_private_dir(&dir).unwrap();
        let path = dir.join("x.cwasm");
        assert!(check_entry(&path).unwrap().is_none());
        write_entry(&dir, &path, b"artifact bytes").unwrap();
        assert!(check_entry(&path).unwrap().is_some());
        assert!(fs::read(&path).unwrap().starts_with(b"artifact bytes"));

        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(check_entry(&path), Err(BadEntry::Digest)));
        assert!(!path.exists(), "a bad entry is removed");

        fs::write(&path, &MAGIC[..5]).unwrap();
        assert!(matches!(check_entry(&path), Err(BadEntry::Truncated(5))));
        fs::write(&path, [0u8; 64]).unwrap();
        assert!(matches!(check_entry(&path), Err(BadEntry::Trailer)));
        fs::remove_dir_all(&dir).unwrap();
    }

    fn set_used(path: &Path, days_ago: u64) {
        let file = fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(days_ago * 86_400))
            .unwrap();
    }

    #[test]
    fn entries_unused_for_a_month_are_removed_and_nothing_else() {
        let dir = temp_dir("unused");
        create_private_dir(&dir).unwrap();
        let entry = |sha: char| {
            dir.join(format!(
                "{}-{}.cwasm",
                sha.to_string().repeat(64),
                "0".repeat(32)
            ))
        };
        let stale = entry('a');
        let recent = entry('b');
        let leftover = dir.join(".tmp-1-2");
        let foreign = dir.join("notes.txt");
        // Another tool's compiled module and temporary file, in a cache dir
        // shared with it.
        let wasmtime = dir.join("app.cwasm");
        let other_tmp = dir.join(".tmp-build");
        for path in [&stale, &recent, &leftover, &foreign, &wasmtime, &other_tmp] {
            fs::write(path, b"x").unwrap();
        }
        set_used(&stale, 31);
        set_used(&leftover, 31);
        set_used(&foreign, 400);
        set_used(&wasmtime, 400);
        set_used(&other_tmp, 400);
        set_used(&recent, 29);
        let now = SystemTime::now();
        let removed = sweep(&dir, &dir, Remove::UnusedSince(now - UNUSED_FOR)).unwrap();
        assert_eq!(
            removed.entries, 1,
            "the stale entry; a temporary file is not an entry"
        );
        assert!(!stale.exists() && !leftover.exists());
        assert!(
            recent.exists() && foreign.exists() && wasmtime.exists() && other_tmp.exists(),
            "used entries and other files stay"
        );
        sweep(&dir, &dir, Remove::All).unwrap();
        assert!(!recent.exists());
        assert!(
            foreign.exists() && wasmtime.exists() && other_tmp.exists(),
            "clear removes gate's files only"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hit_marks_its_entry_used_at_most_once_a_day() {
        let dir = temp_dir("mark");
        create_private_dir(&dir).unwrap();
        let path = dir.join("x.cwasm");
        write_entry(&dir, &path, b"artifact bytes").unwrap();
        let used = |path: &Path| check_entry(path).unwrap().unwrap();
        // File systems keep times at their own resolution.
        let near = |a: SystemTime, b: SystemTime| {
            a.duration_since(b)
                .or_else(|e| Ok::<_, ()>(e.duration()))
                .unwrap()
                < Duration::from_secs(1)
        };
        set_used(&path, 2);
        let two_days_ago = used(&path);
        let now = SystemTime::now();
        mark_used(&path, &path, two_days_ago, now);
        assert!(near(used(&path), now), "marked");
        let an_hour_later = now + Duration::from_secs(3_600);
        mark_used(&path, &path, now, an_hour_later);
        assert!(near(used(&path), now), "not marked again within the day");
        assert!(check_entry(&path).is_ok(), "the checksum still holds");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_directory_others_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("perms");
        create_private_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "created private: {mode:o}");
        check_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(check_dir(&dir), Err(CacheError::Writable { .. })));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o720)).unwrap();
        assert!(matches!(check_dir(&dir), Err(CacheError::Writable { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Whoever can write to a directory above the cache could rename it
    /// after the check and put one of their own in its place: gate goes on
    /// reading and writing the directory it checked.
    #[cfg(target_os = "linux")]
    #[test]
    fn entries_go_through_the_directory_checked_not_its_name() {
        let dir = temp_dir("swap");
        create_private_dir(&dir).unwrap();
        let checked = CheckedDir::open(&dir).unwrap();
        assert!(checked.path().starts_with("/proc/self/fd/"), "{checked:?}");
        let moved = dir.with_extension("moved");
        let _ = fs::remove_dir_all(&moved);
        fs::rename(&dir, &moved).unwrap();
        create_private_dir(&dir).unwrap();
        let entry = format!("{}-{}.{ENTRY_EXTENSION}", "a".repeat(64), "b".repeat(32));
        fs::write(dir.join("planted"), "x").unwrap();
        fs::write(moved.join(&entry), "x").unwrap();
        assert!(!checked.path().join("planted").exists());
        assert!(checked.path().join(&entry).exists());
        let summary = sweep(checked.path(), &dir, Remove::Nothing).unwrap();
        assert_eq!(summary.entries, 1, "the sweep reads the same directory");
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&moved).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_file_is_not_a_cache_directory() {
        let dir = temp_dir("file");
        create_private_dir(&dir).unwrap();
        let file = dir.join("not-a-dir");
        fs::write(&file, "x").unwrap();
        assert!(matches!(check_dir(&file), Err(CacheError::NotADir { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn engine_key_is_stable_and_names_the_config() {
        let engine = Engine::default();
        assert_eq!(engine_key(&engine), engine_key(&Engine::default()));
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        assert_ne!(engine_key(&engine), engine_key(&other));
    }
}
