//! The compile cache: a second run loads the precompiled policy, a damaged
//! entry is rebuilt, a directory others can write to is not used.

use std::fs;
use std::path::{Path, PathBuf};

use gate_e2e::{Gate, Outcome};

/// A fresh cache directory for one test (gate creates it, private).
fn cache_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gate-e2e-cache-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// `gate run -v` of the bench guest's five no-I/O checks with `dir` as the
/// cache.
fn run(dir: &Path) -> Outcome {
    let out = Gate::policies(&["bench"])
        .args(["-v", "--format", "json"])
        .env("GATE_CACHE_DIR", dir.to_str().unwrap())
        .run();
    assert_eq!(out.code, 0, "the run passes, cache or not");
    let checks = &out.json()["policies"][0]["checks"];
    assert_eq!(checks.as_array().unwrap().len(), 5, "{checks}");
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["outcome"] == "pass"),
        "{checks}"
    );
    out
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

fn info(dir: &Path) -> Outcome {
    let out = Gate::new(["cache", "info", "--cache-dir"]).arg(dir).run();
    assert_eq!(out.code, 0);
    out
}

#[test]
fn second_run_loads_the_precompiled_policy() {
    let dir = cache_dir("reuse");
    let first = run(&dir);
    assert!(
        first.stderr.contains("compile cache miss"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains("compile cache entry written"));
    assert_eq!(entries(&dir).len(), 1);
    let info = info(&dir);
    assert!(info.stdout.contains("(private: used)"), "{}", info.stdout);
    assert!(
        info.stdout.contains("holds      1 entry"),
        "{}",
        info.stdout
    );

    let second = run(&dir);
    assert!(
        second.stderr.contains("compile cache hit"),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("compile cache miss"));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "the directory gate made is private");
        assert_eq!(mode(&entries(&dir)[0]), 0o600, "entries are private");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_entries_are_detected_and_rebuilt() {
    let dir = cache_dir("damaged");
    run(&dir);
    let entry = entries(&dir).remove(0);
    let good = fs::read(&entry).unwrap();

    // One flipped bit in the compiled code.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    fs::write(&entry, &flipped).unwrap();
    let out = run(&dir);
    assert!(
        out.stderr.contains("is corrupt") && out.stderr.contains("rebuilding it"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(&entry).unwrap(), good, "rebuilt as it was");

    // Cut short, as by a full disk or a crash.
    fs::write(&entry, &good[..good.len() / 3]).unwrap();
    let out = run(&dir);
    assert!(out.stderr.contains("is corrupt"), "{}", out.stderr);
    fs::write(&entry, &good[..10]).unwrap();
    let out = run(&dir);
    assert!(out.stderr.contains("is truncated"), "{}", out.stderr);

    // A well-formed entry whose artifact is not wasmtime's: wasmtime
    // refuses it and gate compiles again.
    let artifact = b"not a compiled component";
    let mut planted = artifact.to_vec();
    planted.extend_from_slice(&good[good.len() - TRAILER..good.len() - CHECKSUM]);
    planted.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(artifact).to_le_bytes());
    fs::write(&entry, &planted).unwrap();
    let out = run(&dir);
    assert!(
        out.stderr.contains("stale compile cache entry"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(&entry).unwrap(), good);

    let out = run(&dir);
    assert!(out.stderr.contains("compile cache hit"), "{}", out.stderr);
    fs::remove_dir_all(&dir).unwrap();
}

/// An entry (layout 3) ends in a trailer: a 12-byte magic, then the
/// XXH3-128 of the artifact before it, little-endian.
const TRAILER: usize = 12 + CHECKSUM;
const CHECKSUM: usize = 16;

#[cfg(unix)]
#[test]
fn a_directory_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = cache_dir("unsafe");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();

    let out = run(&dir);
    assert!(
        out.stderr.contains("can be written by others (mode 0777)")
            && out.stderr.contains("compiling without the cache"),
        "{}",
        out.stderr
    );
    assert!(entries(&dir).is_empty(), "nothing is written there");
    let info = info(&dir);
    assert!(info.stdout.contains("NOT used"), "{}", info.stdout);

    // A valid entry planted there, under the right name, is never loaded.
    let safe = cache_dir("unsafe-source");
    run(&safe);
    let entry = entries(&safe).remove(0);
    fs::copy(&entry, dir.join(entry.file_name().unwrap())).unwrap();
    let out = run(&dir);
    assert!(!out.stderr.contains("compile cache hit"), "{}", out.stderr);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&safe).unwrap();
}

#[test]
fn clear_removes_entries_and_no_cache_bypasses_it() {
    let dir = cache_dir("clear");
    run(&dir);
    assert_eq!(entries(&dir).len(), 1);
    fs::write(dir.join("notes.txt"), b"not gate's").unwrap();

    let out = Gate::new(["cache", "clear", "--cache-dir"]).arg(&dir).run();
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("removed 1 entry"), "{}", out.stdout);
    assert!(entries(&dir).is_empty());
    assert!(dir.join("notes.txt").exists(), "other files are left alone");
    assert!(info(&dir).stdout.contains("holds      0 entries"));

    let out = Gate::policies(&["bench"])
        .args(["-v", "--no-cache"])
        .env("GATE_CACHE_DIR", dir.to_str().unwrap())
        .run();
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.contains("compile cache off (--no-cache)"),
        "{}",
        out.stderr
    );
    assert!(entries(&dir).is_empty(), "--no-cache writes nothing");

    let out = run(&dir);
    assert!(out.stderr.contains("compile cache miss"), "{}", out.stderr);
    fs::remove_dir_all(&dir).unwrap();
}

/// Sets the file's modification time, which gate reads as its last use.
fn set_used(path: &Path, days_ago: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days_ago * 86_400);
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

fn days_since_used(path: &Path) -> u64 {
    let used = fs::metadata(path).unwrap().modified().unwrap();
    used.elapsed().map_or(0, |age| age.as_secs() / 86_400)
}

#[test]
fn entries_unused_for_a_month_go_when_an_entry_is_written() {
    let dir = cache_dir("unused");
    run(&dir);
    let bench = entries(&dir).pop().unwrap();
    // Two more entries: a policy last run 31 days ago, one 2 days ago.
    let name = bench.file_name().unwrap().to_str().unwrap().to_owned();
    let (_, engine_key) = name.split_once('-').unwrap();
    let stale = dir.join(format!("{}-{engine_key}", "a".repeat(64)));
    let recent = dir.join(format!("{}-{engine_key}", "b".repeat(64)));
    let notes = dir.join("notes.txt");
    // What another tool keeps in a directory it shares with gate's cache.
    let wasmtime = dir.join("app.cwasm");
    for path in [&stale, &recent, &notes, &wasmtime] {
        fs::copy(&bench, path).unwrap();
    }
    set_used(&stale, 31);
    set_used(&notes, 31);
    set_used(&wasmtime, 31);
    set_used(&recent, 2);
    set_used(&bench, 2);

    // A hit marks its entry used; it writes nothing, so nothing is removed.
    let hit = run(&dir);
    assert!(hit.stderr.contains("compile cache hit"), "{}", hit.stderr);
    assert_eq!(days_since_used(&bench), 0);
    assert!(stale.exists());

    // A miss writes an entry, and the one unused for a month goes with it.
    let miss = Gate::policies(&["tls"])
        .args(["-v"])
        .env("GATE_CACHE_DIR", dir.to_str().unwrap())
        .run();
    assert!(
        miss.stderr.contains("compile cache entry written"),
        "{}",
        miss.stderr
    );
    assert!(!stale.exists(), "unused for 31 days");
    assert!(recent.exists() && bench.exists(), "used within the month");
    assert!(notes.exists() && wasmtime.exists(), "not gate's files");
    assert_eq!(
        entries(&dir).len(),
        4,
        "bench, recent, tls and the other tool's"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Every command that runs a policy's code goes through the cache the user
/// named, or none with --no-cache: `gate test` and `gate config check`
/// describe the policy, and a cache dir a protected job set for itself must
/// not be passed over for the default one.
#[test]
fn test_and_config_check_load_through_the_cache_named() {
    let dir = cache_dir("commands");
    let scratch = cache_dir("commands-files");
    fs::create_dir_all(&scratch).unwrap();
    let fixture = scratch.join("bench.json");
    let recorded = Gate::policies(&["bench"])
        .arg("--no-cache")
        .arg("--record")
        .arg(&fixture)
        .run();
    assert_eq!(recorded.code, 0, "{}", recorded.all_output());

    let bench = gate_e2e::guest("bench");
    let test = |extra: &[&str]| {
        Gate::new(["test"])
            .arg(&bench)
            .arg(&fixture)
            .args(extra)
            .env("GATE_CACHE_DIR", dir.to_str().unwrap())
            .run()
    };
    let uncached = test(&["--no-cache"]);
    assert_eq!(uncached.code, 0, "{}", uncached.all_output());
    assert!(!dir.exists(), "--no-cache wrote to the cache");
    let replayed = test(&[]);
    assert_eq!(replayed.code, 0, "{}", replayed.all_output());
    assert_eq!(entries(&dir).len(), 1, "gate test used GATE_CACHE_DIR");
    // Pooled, with a slot for each of the five checks replayed at once.
    let pooled = test(&["--pooling", "on"]);
    assert_eq!(pooled.code, 0, "{}", pooled.all_output());

    let other = cache_dir("commands-config");
    let toml = format!(
        "target = \"http://127.0.0.1:1\"\npolicies = [\"{}\"]\n",
        bench.display()
    );
    fs::write(scratch.join("gate.toml"), toml).unwrap();
    let checked = Gate::new(["config", "check", "--config"])
        .arg(scratch.join("gate.toml"))
        .args(["--cache-dir", other.to_str().unwrap()])
        .run();
    assert_eq!(checked.code, 0, "{}", checked.all_output());
    assert_eq!(entries(&other).len(), 1, "config check used --cache-dir");
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir_all(&other);
    let _ = fs::remove_dir_all(&scratch);
}
