//! A policy file: reading, recognising and vetting a `.wasm` before it runs.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::files::ReadError;
use crate::units::format_size;

/// The package every policy is built against.
pub const WIT_PACKAGE: &str = "gate:policy";
/// The interface a policy exports; its version names the contract.
pub const CHECKS_INTERFACE: &str = "gate:policy/checks";
/// The contract versions this host runs (semver-compatible with it).
pub const WIT_VERSION: semver::Version = semver::Version::new(0, 1, 3);
/// [`WIT_VERSION`] as a literal, for `concat!` (`gate --version`).
macro_rules! wit_version_text {
    () => {
        "0.1.3"
    };
}
pub(crate) use wit_version_text;

/// Why a policy could not be loaded. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy {path} is {} which is over the {} limit for .wasm files", format_size(*.size), format_size(*.limit))]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error(
        "policy {path} is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)"
    )]
    NotWasm { path: PathBuf },
    #[error(
        "policy {path} is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
         (`cargo build --target wasm32-wasip2`, or `cargo xtask build` in this repository)"
    )]
    CoreModule { path: PathBuf },
    #[error("policy {path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "policy {path} needs more memory than a check may have: {reason} (raise --memory-limit, \
         or memory_limit in gate.toml)"
    )]
    MemoryOverLimit { path: PathBuf, reason: String },
    #[error("policy {path} took longer than {seconds}s to compile")]
    CompileTimeout { path: PathBuf, seconds: u64 },
    #[error(
        "policy {path} is a component of another world, not a gate policy: it does not export \
         `{CHECKS_INTERFACE}@{WIT_VERSION}` (it exports: {exports})"
    )]
    NotAPolicy { path: PathBuf, exports: String },
    #[error(
        "policy {path} was built for {WIT_PACKAGE}@{found}, but this gate runs {WIT_PACKAGE}@{WIT_VERSION} \
         (compatible: {}): rebuild the policy with a matching gate-sdk, or use a gate that supports {found}",
        compatible_range()
    )]
    WitVersion { path: PathBuf, found: String },
    #[error("policy {path} needs something this gate does not provide: {reason}")]
    Link { path: PathBuf, reason: String },
    #[error("policy {path} failed while describing itself: {reason}")]
    Describe { path: PathBuf, reason: String },
    #[error("policy {path} describes itself wrongly: {reason}")]
    BadInfo { path: PathBuf, reason: String },
}

fn compatible_range() -> String {
    if WIT_VERSION.major == 0 {
        format!("{}.{}.x", WIT_VERSION.major, WIT_VERSION.minor)
    } else {
        format!("{}.x", WIT_VERSION.major)
    }
}

/// The file's bytes, if it is a regular file within the size cap and
/// holds a component ([`vet`]).
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, LoadError> {
    let bytes = read_unvetted(path, limit)?;
    vet(path, &bytes)?;
    Ok(bytes)
}

/// [`read`] without [`vet`]: what a pin is checked on, before anything is
/// made of the bytes.
pub fn read_unvetted(path: &Path, limit: u64) -> Result<Vec<u8>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    crate::files::read_capped(path, limit).map_err(|error| match error {
        ReadError::Io(source) => read_error(source),
        ReadError::NotAFile => read_error(std::io::Error::other(error.to_string())),
        ReadError::TooLarge { size, limit } => LoadError::TooLarge {
            path: path.to_owned(),
            // Grown while read: more than the limit, at least.
            size: size.unwrap_or(limit + 1),
            limit,
        },
    })
}

/// Checks the header: a component, not a core module or something else.
pub fn vet(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm {
            path: path.to_owned(),
        });
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(LoadError::CoreModule {
            path: path.to_owned(),
        });
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(LoadError::Invalid {
            path: path.to_owned(),
            reason: "unknown WebAssembly version or layer in the header".into(),
        });
    }
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a component says about itself through its imports and exports.
#[derive(Debug, Clone)]
pub struct Contract {
    pub wit_version: semver::Version,
    /// Import names, e.g. `gate:policy/http@0.1.0`, `wasi:cli/stdout@0.2.6`.
    pub imports: Vec<String>,
}

/// Finds the `gate:policy/checks@X` export and checks X is one we run.
pub fn contract(
    path: &Path,
    component: &Component,
    engine: &Engine,
) -> Result<Contract, LoadError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let found = exports.iter().find_map(|name| {
        let rest = name.strip_prefix(CHECKS_INTERFACE)?;
        Some(rest.strip_prefix('@').unwrap_or(""))
    });
    let Some(version) = found else {
        let exports = if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        };
        return Err(LoadError::NotAPolicy {
            path: path.to_owned(),
            exports,
        });
    };
    let wit_version = semver::Version::parse(version).map_err(|_| LoadError::WitVersion {
        path: path.to_owned(),
        found: if version.is_empty() {
            "an unversioned package".into()
        } else {
            version.to_owned()
        },
    })?;
    if !compatible(&wit_version) {
        return Err(LoadError::WitVersion {
            path: path.to_owned(),
            found: wit_version.to_string(),
        });
    }
    // An import of our package at another version is the same mismatch,
    // said before the linker reports it as a missing import.
    if let Some(v) = imports
        .iter()
        .filter_map(|import| package_version(import))
        .find(|v| !compatible(v))
    {
        return Err(LoadError::WitVersion {
            path: path.to_owned(),
            found: v.to_string(),
        });
    }
    Ok(Contract {
        wit_version,
        imports,
    })
}

/// An import of our package as its interface and version: `("context",
/// Some("0.1.3"))` of `gate:policy/context@0.1.3`; `None` for other
/// packages.
pub fn package_import(import: &str) -> Option<(&str, Option<&str>)> {
    let rest = import.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
    Some(match rest.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (rest, None),
    })
}

/// The version of an import of our package; `None` for other packages.
fn package_version(import: &str) -> Option<semver::Version> {
    semver::Version::parse(package_import(import)?.1?).ok()
}

impl Contract {
    /// The newest version of the contract the policy was built for, when
    /// it is newer than this gate's: a compatible version that may import
    /// what this gate does not have yet (a function added in a later patch).
    pub fn newer_than_gate(&self) -> Option<semver::Version> {
        self.imports
            .iter()
            .filter_map(|import| package_version(import))
            .chain([self.wit_version.clone()])
            .filter(|v| *v > WIT_VERSION)
            .max()
    }

    /// What to add to a link error: that the policy is newer than gate,
    /// and what to do about it; empty otherwise.
    pub fn link_hint(&self) -> String {
        match self.newer_than_gate() {
            Some(v) => format!(
                " (the policy was built for {WIT_PACKAGE}@{v}, newer than this gate's \
                 {WIT_VERSION}: upgrade gate, or rebuild the policy with the gate-sdk of \
                 this gate)"
            ),
            None => String::new(),
        }
    }
}

/// Semver compatibility as the component model links it: same major, and
/// for 0.x the same minor.
fn compatible(version: &semver::Version) -> bool {
    version.major == WIT_VERSION.major
        && (WIT_VERSION.major != 0 || version.minor == WIT_VERSION.minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_text_is_the_version() {
        assert_eq!(WIT_VERSION.to_string(), wit_version_text!());
    }

    #[test]
    fn versions() {
        assert!(compatible(&semver::Version::new(0, 1, 0)));
        assert!(compatible(&semver::Version::new(0, 1, 7)));
        assert!(!compatible(&semver::Version::new(0, 2, 0)));
        assert!(!compatible(&semver::Version::new(1, 1, 0)));
    }

    #[test]
    fn a_policy_newer_than_gate_is_named_in_link_errors() {
        let contract = |version: &str, imports: &[&str]| Contract {
            wit_version: semver::Version::parse(version).unwrap(),
            imports: imports.iter().map(|i| (*i).to_owned()).collect(),
        };
        let older = contract(
            "0.1.0",
            &["gate:policy/http@0.1.0", "wasi:cli/stderr@0.2.6"],
        );
        assert_eq!(older.newer_than_gate(), None);
        assert_eq!(older.link_hint(), "");
        let next = format!("0.1.{}", WIT_VERSION.patch + 1);
        let newer = contract(
            "0.1.0",
            &[
                &format!("gate:policy/context@{next}"),
                "wasi:cli/stderr@9.9.9",
            ],
        );
        assert_eq!(newer.newer_than_gate().unwrap().to_string(), next);
        let hint = newer.link_hint();
        assert!(
            hint.contains(&format!("built for gate:policy@{next}")),
            "{hint}"
        );
        assert!(
            hint.contains(&format!("newer than this gate's {WIT_VERSION}")),
            "{hint}"
        );
        assert_eq!(package_version("wasi:cli/stderr@0.2.6"), None);
        assert_eq!(
            package_import("gate:policy/context@0.1.3"),
            Some(("context", Some("0.1.3")))
        );
        assert_eq!(package_import("gate:policy/tls"), Some(("tls", None)));
        assert_eq!(package_version("gate:policy/tls"), None);
    }

    #[test]
    fn sha() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
