//! `gate new` scaffolds a policy crate; `gate build` compiles one to a
//! `.wasm` component.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail, ensure};
use clap::{Args, ValueEnum};

use crate::text::one_line;
use crate::verdict::EXIT_PASS;

/// The target policies are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Release, optimised for size: policies are small and load fast. Given to
/// cargo as `--config`, so any policy crate builds the same way, inside a
/// workspace or not.
const SIZE_PROFILE: &[&str] = &[
    "profile.release.opt-level=\"s\"",
    "profile.release.lto=true",
    "profile.release.codegen-units=1",
    "profile.release.strip=true",
    "profile.release.panic=\"abort\"",
];

const CARGO_TOML: &str = include_str!("../templates/policy/Cargo.toml.in");
const GITIGNORE: &str = include_str!("../templates/policy/gitignore.in");
const HTTP_LIB: &str = include_str!("../templates/policy/http.rs.in");
const TRIGGER_LIB: &str = include_str!("../templates/policy/trigger.rs.in");

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Name of the policy and its crate (letters, digits, `-`, `_`).
    #[arg(value_name = "NAME")]
    pub name: String,

    /// What the policy is.
    #[arg(long, value_enum, default_value_t = Kind::Gate)]
    pub kind: Kind,

    /// Directory of the new crate [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// Depend on the gate-sdk at this path [default: the repository's
    /// guest-sdk/ when DIR is inside gate's repository, else that of the
    /// checkout gate was built from when it is on this machine, else
    /// gate-sdk from crates.io].
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A promotion gate (an example HTTP check).
    Gate,
    /// A rollback trigger (an example Prometheus check for `gate watch`).
    Trigger,
    /// A smoke suite (an example HTTP check).
    Smoke,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Gate => "gate",
            Kind::Trigger => "trigger",
            Kind::Smoke => "smoke",
        }
    }

    fn variant(self) -> &'static str {
        match self {
            Kind::Gate => "Gate",
            Kind::Trigger => "Trigger",
            Kind::Smoke => "Smoke",
        }
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The policy crate's directory (with its Cargo.toml).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// The compile cache the built policy is loaded through.
    #[command(flatten)]
    pub engine: crate::cli::EngineArgs,
}

/// `gate new`: writes the crate, refusing to touch an existing one.
pub fn new(args: NewArgs) -> anyhow::Result<i32> {
    check_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let occupied = match std::fs::read_dir(&dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => dir.exists(),
    };
    if occupied {
        bail!(
            "{} already exists and is not empty: choose another NAME or --path DIR",
            dir.display()
        );
    }
    let sdk = sdk_dependency(&dir, args.sdk.as_deref(), Path::new(BUILT_FROM_SDK))?;
    if let Some(note) = &sdk.note {
        eprintln!("gate: {note}");
    }
    let files = render(&args.name, args.kind, &sdk.line);
    for (relative, text) in &files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    // The path is the user's own text, but may hold control characters or
    // line breaks: shown escaped, on its line, as any text gate did not
    // write.
    let (path, name) = (dir.display().to_string(), &args.name);
    let run = run_command(args.kind, &format!("{name}.wasm"));
    let (shown, cd) = (one_line(&path), one_line(&shell_word(&path)));
    println!(
        "created {} policy `{name}` in {shown} (gate-sdk {})\n\nnext:\n  cd {cd}\n  cargo test      # the unit tests, natively, with a mock host\n  gate build      # writes {name}.wasm\n  {run}",
        args.kind.word(),
        one_line(&sdk.shown),
    );
    Ok(EXIT_PASS)
}

/// The command that runs a policy of `kind` at `wasm`, for the hints of
/// `gate new` and `gate build`: a trigger is watched over a bake window,
/// the others run once.
fn run_command(kind: Kind, wasm: &str) -> String {
    let wasm = shell_word(wasm);
    match kind {
        Kind::Trigger => {
            format!("gate watch {wasm} --prometheus URL --interval 10s --duration 5m")
        }
        Kind::Gate | Kind::Smoke => format!("gate run {wasm} --target URL"),
    }
}

/// The path `word` as a shell reads it back whole: as is when it holds
/// only characters no shell treats specially, else in single quotes, so
/// that a printed command can be pasted as it is (`cd 'sub dir/smk'`). A
/// path starting with `-` is written `./-…`, which no command takes for
/// an option (quotes would not stop that).
fn shell_word(word: &str) -> String {
    if word.starts_with('-') {
        return shell_word(&format!("./{word}"));
    }
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+:@%=,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Names cargo and gate both accept.
fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ensure!(
        valid,
        "`{name}` is not a valid policy name: start with a letter, then letters, digits, `-` or `_`"
    );
    Ok(())
}

/// The files of a new crate, relative to its directory.
fn render(name: &str, kind: Kind, sdk: &str) -> Vec<(&'static str, String)> {
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{kind}}", kind.word())
            .replace("{{Kind}}", kind.variant())
            .replace("{{sdk}}", sdk)
    };
    let lib = match kind {
        Kind::Gate | Kind::Smoke => HTTP_LIB,
        Kind::Trigger => TRIGGER_LIB,
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        (".gitignore", fill(GITIGNORE)),
        ("src/lib.rs", fill(lib)),
    ]
}

/// The `gate-sdk = …` line of a new crate, and how to say it.
struct SdkDependency {
    line: String,
    shown: String,
    /// What the user should know of it, for stderr.
    note: Option<String>,
}

/// `gate-sdk = { path = "…" }`, the path written as a TOML string (a
/// folder's name may hold a `"` or a `\`).
fn path_dependency(path: &Path) -> SdkDependency {
    let text = path.display().to_string().replace('\\', "/");
    // A JSON string is a TOML basic string: `"` and `\` escaped alike.
    let quoted = serde_json::to_string(&text).expect("a string serialises");
    SdkDependency {
        line: format!("gate-sdk = {{ path = {quoted} }}"),
        shown: format!("at {text}"),
        note: None,
    }
}

/// `built_from`: where the SDK was in the checkout gate was built from.
fn sdk_dependency(
    dir: &Path,
    sdk: Option<&Path>,
    built_from: &Path,
) -> anyhow::Result<SdkDependency> {
    if let Some(sdk) = sdk {
        let sdk = std::fs::canonicalize(sdk)
            .with_context(|| format!("--sdk {}: no such directory", sdk.display()))?;
        ensure!(
            is_sdk(&sdk),
            "--sdk {}: not the gate-sdk crate (its Cargo.toml must name package `gate-sdk`)",
            sdk.display()
        );
        return Ok(path_dependency(&sdk));
    }
    if let Some(relative) = repository_sdk(dir) {
        return Ok(path_dependency(&relative));
    }
    if let Some(sdk) = built_from_sdk(built_from) {
        return Ok(path_dependency(&sdk));
    }
    let version = semver::Version::parse(env!("CARGO_PKG_VERSION"))?;
    let requirement = format!("{}.{}", version.major, version.minor);
    Ok(SdkDependency {
        line: format!("gate-sdk = \"{requirement}\""),
        shown: format!("{requirement} from crates.io"),
        note: Some(format!(
            "no gate-sdk checkout found, so the crate asks crates.io for gate-sdk \
             {requirement}; if `cargo test` cannot find it there, give --sdk PATH (a gate \
             checkout's guest-sdk/)"
        )),
    })
}

/// Where the SDK was in the checkout this gate was built from.
const BUILT_FROM_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

/// The SDK of the checkout gate was built from (`cargo install --path
/// host`), when it is still on this machine: a crate made anywhere then
/// builds against the SDK of that checkout (the one gate was built from,
/// unless it has moved on since).
fn built_from_sdk(path: &Path) -> Option<PathBuf> {
    let sdk = std::fs::canonicalize(path).ok()?;
    is_sdk(&sdk).then_some(sdk)
}

/// When `dir` lies inside gate's repository, the path from it to the
/// repository's `guest-sdk/`.
fn repository_sdk(dir: &Path) -> Option<PathBuf> {
    // Counting parents is only right on a path without `..` in it:
    // `repo/../x` is two levels below `/`, not three.
    let resolved = resolved(&std::path::absolute(dir).ok()?);
    let mut depth = 0;
    let mut ancestor = resolved.as_path();
    loop {
        // `dir` itself does not exist yet; start from its parent.
        ancestor = ancestor.parent()?;
        depth += 1;
        if is_sdk(&ancestor.join("guest-sdk")) {
            let mut relative: PathBuf = std::iter::repeat_n("..", depth).collect();
            relative.push("guest-sdk");
            return Some(relative);
        }
    }
}

/// An absolute `path` as the file system will resolve it once created:
/// the part that exists canonicalized (links and `..` resolved), `.` and
/// `..` applied to the rest.
fn resolved(path: &Path) -> PathBuf {
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            std::path::Component::CurDir => {}
            other => resolved.push(other),
        }
        if let Ok(canonical) = resolved.canonicalize() {
            resolved = canonical;
        }
    }
    resolved
}

fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|manifest| {
            manifest
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                == Some("gate-sdk")
        })
}

/// `gate build`: cargo for wasm32-wasip2, then NAME.wasm beside Cargo.toml.
pub async fn build(args: BuildArgs) -> anyhow::Result<i32> {
    let manifest = args.dir.join("Cargo.toml");
    let name = package_name(&manifest)?;
    check_wasm_target(&args.dir)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    // Run in the crate's folder, where `check_wasm_target` looked: rustup's
    // `rust-toolchain.toml` and cargo's `.cargo/config.toml` are the crate's,
    // not those of wherever gate was started.
    command
        .current_dir(&args.dir)
        .args(["build", "--release", "--target", WASM_TARGET])
        .args(["--manifest-path", "Cargo.toml"])
        .arg("--message-format=json-render-diagnostics");
    for setting in SIZE_PROFILE {
        command.args(["--config", setting]);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let output = command.output().with_context(|| {
        format!(
            "cannot run {}: is Rust installed (https://rustup.rs)?",
            cargo.to_string_lossy()
        )
    })?;
    ensure!(
        output.status.success(),
        "cargo could not build {} (its errors are above)",
        manifest.display()
    );
    let artifact = wasm_artifact(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!(
            "cargo built no .wasm for {}: is it a library with crate-type = [\"cdylib\"]?",
            manifest.display()
        )
    })?;
    let dest = args.dir.join(format!("{name}.wasm"));
    std::fs::copy(&artifact, &dest)
        .with_context(|| format!("cannot copy {} to {}", artifact.display(), dest.display()))?;
    let bytes = std::fs::read(&dest)?;
    println!(
        "wrote {} ({} bytes, sha256 {})",
        dest.display(),
        bytes.len(),
        crate::policy::sha256_hex(&bytes),
    );
    let kind = described_kind(&dest, &args.engine).await?;
    println!("run it: {}", run_command(kind, &dest.display().to_string()));
    Ok(EXIT_PASS)
}

/// The kind a built policy describes itself as, loaded as `gate run` loads
/// it: its crate may build its `Policy` any way it likes, so only the
/// policy itself can say. A policy gate refuses to load is an error here,
/// before any run.
async fn described_kind(wasm: &Path, engine: &crate::cli::EngineArgs) -> anyhow::Result<Kind> {
    let (runtime, session) =
        crate::runtime::Runtime::describing(&crate::limits::Limits::default(), engine)?;
    let policy = runtime.load(wasm, &session).await.with_context(|| {
        format!(
            "built {}, but gate cannot load it under its default limits (`gate inspect` \
                 loads it under an environment's)",
            wasm.display()
        )
    })?;
    let described = policy.info.kind.as_str();
    Kind::value_variants()
        .iter()
        .copied()
        .find(|kind| kind.word() == described)
        .with_context(|| {
            format!(
                "{} describes itself as a policy of kind `{described}`, which this gate does not know",
                wasm.display()
            )
        })
}

fn package_name(manifest: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(manifest).with_context(|| {
        format!(
            "no policy crate at {}: give the directory with its Cargo.toml (`gate new NAME` creates one)",
            manifest.parent().unwrap_or(manifest).display()
        )
    })?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no [package] name", manifest.display()))
}

/// Refuses to start cargo without the wasm target, saying how to add it.
fn check_wasm_target(dir: &Path) -> anyhow::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .with_context(|| {
            format!(
                "cannot run {}: is Rust installed (https://rustup.rs)?",
                rustc.to_string_lossy()
            )
        })?;
    ensure!(
        output.status.success(),
        "{} --print sysroot failed: {}",
        rustc.to_string_lossy(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    match missing_target(&sysroot) {
        Some(message) => bail!(message),
        None => Ok(()),
    }
}

/// The error when `sysroot` lacks the wasm target's standard library.
fn missing_target(sysroot: &Path) -> Option<String> {
    let lib = sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib");
    (!lib.is_dir()).then(|| {
        format!(
            "the {WASM_TARGET} target is not installed (no {}): install it with `rustup target add {WASM_TARGET}`",
            lib.display()
        )
    })
}

/// The `.wasm` a cdylib build produced, from cargo's JSON messages.
fn wasm_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
        })
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sdk_path_is_written_as_a_toml_string() {
        let dependency = path_dependency(Path::new("/home/me/odd \"name\"/gate-sdk"));
        let parsed: toml::Table = dependency.line.parse().expect("the line is TOML");
        assert_eq!(
            parsed["gate-sdk"]["path"].as_str(),
            Some("/home/me/odd \"name\"/gate-sdk")
        );
    }

    #[test]
    fn a_trigger_is_watched_the_others_run() {
        assert_eq!(
            run_command(Kind::Trigger, "t.wasm"),
            "gate watch t.wasm --prometheus URL --interval 10s --duration 5m"
        );
        for kind in [Kind::Gate, Kind::Smoke] {
            assert_eq!(run_command(kind, "g.wasm"), "gate run g.wasm --target URL");
        }
        assert_eq!(
            run_command(Kind::Gate, "sub dir/g.wasm"),
            "gate run 'sub dir/g.wasm' --target URL"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("-rf"), "./-rf");
        assert_eq!(shell_word("-a b/g.wasm"), "'./-a b/g.wasm'");
        for plain in ["g.wasm", "/tmp/a-b_c/g.wasm"] {
            assert_eq!(shell_word(plain), plain);
        }
    }

    #[test]
    fn names() {
        assert!(check_name("checkout-gate").is_ok());
        assert!(check_name("a_1").is_ok());
        for bad in ["", "1st", "has space", "../x", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_every_placeholder() {
        for kind in [Kind::Gate, Kind::Trigger, Kind::Smoke] {
            let files = render("shop", kind, "gate-sdk = \"0.1\"");
            for (path, text) in &files {
                assert!(!text.contains("{{"), "{path} keeps a placeholder:\n{text}");
            }
            let lib = &files.iter().find(|(p, _)| *p == "src/lib.rs").unwrap().1;
            assert!(lib.contains(&format!("PolicyKind::{}", kind.variant())));
            assert!(lib.contains("#[test]"));
            let manifest: toml::Table = files[0].1.parse().expect("Cargo.toml is TOML");
            let dependencies = &manifest["dependencies"];
            assert_eq!(dependencies["gate-sdk"].as_str(), Some("0.1"));
            // The SDK's doc examples use serde and serde_json, as the SDK does.
            assert_eq!(
                dependencies["serde"]["features"][0].as_str(),
                Some("derive")
            );
            assert_eq!(dependencies["serde_json"].as_str(), Some("1"));
        }
    }

    #[test]
    fn finds_the_sdk_gate_was_built_from_while_it_is_there() {
        let sdk = built_from_sdk(Path::new(BUILT_FROM_SDK)).expect("this checkout's SDK");
        assert!(
            sdk.is_absolute() && sdk.ends_with("guest-sdk"),
            "{}",
            sdk.display()
        );
        assert_eq!(
            built_from_sdk(Path::new("/no/such/checkout/guest-sdk")),
            None
        );
        // A folder that is not the SDK is not taken for it.
        let not_sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        assert_eq!(built_from_sdk(&not_sdk), None);
        // Without it, outside the repository, the crate asks crates.io.
        let outside = std::env::temp_dir().join("gate-scaffold-test-elsewhere/new-one");
        let gone = Path::new("/no/such/checkout/guest-sdk");
        let dependency = sdk_dependency(&outside, None, gone).unwrap();
        assert!(
            dependency.line.starts_with("gate-sdk = \"0."),
            "{}",
            dependency.line
        );
        assert!(
            dependency.shown.ends_with("from crates.io"),
            "{}",
            dependency.shown
        );
        let found = sdk_dependency(&outside, None, Path::new(BUILT_FROM_SDK)).unwrap();
        assert_eq!(found.line, path_dependency(&sdk).line);
    }

    #[test]
    fn finds_the_repository_sdk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(
            repository_sdk(&root.join("policies/new-one")).unwrap(),
            Path::new("../../guest-sdk")
        );
        assert_eq!(
            repository_sdk(&root.join("mine")).unwrap(),
            Path::new("../guest-sdk")
        );
        // `..` leads out of a folder, not one level further down.
        assert_eq!(
            repository_sdk(&root.join("policies/../mine")).unwrap(),
            Path::new("../guest-sdk")
        );
        assert_eq!(
            repository_sdk(&root.join("policies/./x/../new-one")).unwrap(),
            Path::new("../../guest-sdk")
        );
        let outside = root.join("..").join("gate-scaffold-test-outside");
        assert_ne!(
            repository_sdk(&outside),
            Some(PathBuf::from("../../guest-sdk")),
            "a project beside the repository is not inside it"
        );
    }

    #[test]
    fn a_missing_target_names_the_install_command() {
        let message = missing_target(Path::new("/nonexistent-sysroot")).unwrap();
        assert!(
            message.contains("rustup target add wasm32-wasip2"),
            "{message}"
        );
    }

    #[test]
    fn reads_the_artifact_from_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/libserde.rlib"]}
{"reason":"compiler-artifact","target":{"kind":["cdylib"]},"filenames":["/t/wasm32-wasip2/release/shop.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            wasm_artifact(messages).unwrap(),
            Path::new("/t/wasm32-wasip2/release/shop.wasm")
        );
        assert!(wasm_artifact("").is_none());
    }
}
