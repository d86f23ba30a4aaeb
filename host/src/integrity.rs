//! Policy integrity: the bytes gate is about to compile are the bytes the
//! team approved. A policy may be pinned by sha256 (`--sha256`, gate.toml's
//! `sha256`) and required to carry a detached minisign signature by a
//! trusted key (`--verify-key`, gate.toml's `verify_key`). Both are checked
//! on the exact bytes that are then compiled, before any of the policy's
//! code runs; any failure stops the run with exit 2.
//!
//! Signatures are minisign's format, so teams can sign with the standard
//! `minisign` tool or with `gate sign`; they are verified with the
//! `minisign-verify` crate. Only pre-hashed signatures (minisign's default
//! since 0.8) are accepted.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{RunArgs, VerifyArgs};
use crate::config::{Place, PolicyEntry, Setting};
use crate::plan::Plan;

/// The extension minisign gives a detached signature: `policy.wasm.minisig`.
pub const SIGNATURE_EXTENSION: &str = "minisig";

/// Why a policy may not run. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error(
        "policy {path}: sha256 does not match the pin ({from}): expected {expected}, the file has \
         {actual}; nothing was run (if the policy changed on purpose, pin the new digest)", path = path.display()
    )]
    DigestMismatch {
        path: PathBuf,
        from: String,
        expected: String,
        actual: String,
    },
    #[error(
        "policy {path} is not signed: {from} requires a minisign signature by key {key_id}, but \
         {signature} does not exist; nothing was run (sign it with `gate sign` or `minisign -S -m`)",
        path = path.display(), signature = signature.display()
    )]
    Unsigned {
        path: PathBuf,
        signature: PathBuf,
        from: String,
        key_id: String,
    },
    #[error(
        "policy {path}: signature {signature} cannot be used: {reason}; nothing was run",
        path = path.display(), signature = signature.display()
    )]
    BadSignature {
        path: PathBuf,
        signature: PathBuf,
        reason: String,
    },
    #[error(
        "policy {path}: signature {signature} was made with key {signed_by}, not with the trusted \
         key {key_id} ({from}); nothing was run",
        path = path.display(), signature = signature.display()
    )]
    WrongKey {
        path: PathBuf,
        signature: PathBuf,
        from: String,
        key_id: String,
        signed_by: String,
    },
    #[error(
        "policy {path}: signature {signature} does not match the file (sha256 {actual}): the policy \
         was changed after it was signed, or the signature is forged; nothing was run",
        path = path.display(), signature = signature.display()
    )]
    Tampered {
        path: PathBuf,
        signature: PathBuf,
        actual: String,
    },
    #[error(
        "policy {path}: signature {signature} was made for a file named `{signed_name}`, not \
         `{name}` (its trusted comment says file:{signed_name}); a signed policy cannot be \
         renamed, or swapped for another signed one; nothing was run (if the rename was meant, \
         sign the policy again under its new name: `gate sign {name}`)",
        path = path.display(), signature = signature.display()
    )]
    SignedForAnotherFile {
        path: PathBuf,
        signature: PathBuf,
        name: String,
        signed_name: String,
    },
    #[error("verification key {key} ({from}): {reason}")]
    BadKey {
        key: String,
        from: String,
        reason: String,
    },
    #[error("{0}")]
    Usage(String),
}

/// A digest a policy must have, and who asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Lower-case hex.
    pub sha256: String,
    /// `--sha256`, or `gate.toml:12:40 (env.prod.policies[1].sha256)`.
    pub from: String,
}

/// Where a trusted public key comes from: a `minisign.pub` file, or the
/// key itself as `minisign -P` takes it (`RW…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Inline(String),
}

impl KeySource {
    /// The key itself when the text is a minisign public key, else a path.
    /// A key is never read as a file name: a file of that name (a pull
    /// request can add one to the checkout) must not swap in another key.
    /// A real key file has a comment line, so no path is a key.
    pub fn parse(text: &str) -> Result<KeySource, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("give a minisign public key file, or the key itself (RW…)".into());
        }
        if minisign_verify::PublicKey::from_base64(text).is_ok() {
            return Ok(KeySource::Inline(text.to_owned()));
        }
        Ok(KeySource::File(PathBuf::from(text)))
    }

    fn load(&self, from: &str) -> Result<TrustedKey, IntegrityError> {
        let bad = |reason: String| IntegrityError::BadKey {
            key: self.to_string(),
            from: from.to_owned(),
            reason,
        };
        let (text, inline) = match self {
            KeySource::File(path) => {
                // A public key file is two short lines.
                let text = crate::files::read_text_capped(path, 4096).map_err(|e| match e {
                    crate::files::ReadError::TooLarge { .. } => {
                        bad("is not a minisign public key (too large)".into())
                    }
                    e => bad(format!("cannot read it: {e}")),
                })?;
                (text, false)
            }
            KeySource::Inline(key) => (key.clone(), true),
        };
        let parsed = if inline {
            minisign_verify::PublicKey::from_base64(text.trim())
        } else {
            minisign_verify::PublicKey::decode(text.trim_start())
        };
        let key = parsed.map_err(|e| {
            bad(format!(
                "is not a minisign public key ({e}): expected the `minisign.pub` file written by \
                 `gate keygen` or `minisign -G`"
            ))
        })?;
        let base64 = if inline {
            text.trim().to_owned()
        } else {
            // The key's line, as `decode` read it: after the comment line.
            text.trim_start()
                .lines()
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        Ok(TrustedKey {
            id: key_id_of_public_key(&base64).unwrap_or_else(|| "?".into()),
            key,
        })
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => path.display().fmt(f),
            KeySource::Inline(key) => f.write_str(key),
        }
    }
}

/// A signature a policy must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRule {
    /// The detached signature: gate.toml's `signature`, else
    /// `POLICY.minisig`.
    pub signature: PathBuf,
    pub key: KeySource,
    /// `--verify-key`, or the gate.toml place of `verify_key`.
    pub from: String,
}

/// Everything one policy must satisfy before it is compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    pub pins: Vec<Pin>,
    pub signature: Option<SignatureRule>,
}

/// What a successful check established, for reports and `gate verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub path: String,
    pub sha256: String,
    /// Who pinned it, for every pin that matched.
    pub pinned_by: Vec<String>,
    pub signature: Option<VerifiedSignature>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifiedSignature {
    pub file: String,
    pub key_id: String,
    pub trusted_comment: String,
}

struct TrustedKey {
    id: String,
    key: minisign_verify::PublicKey,
}

/// `gate run --sha256 [PATH=]HEX`: one digest for one policy, or
/// `PATH=HEX` naming the policy when the run has several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShaFlag {
    pub path: Option<PathBuf>,
    pub sha256: String,
}

impl ShaFlag {
    pub fn parse(text: &str) -> Result<ShaFlag, String> {
        let (path, hex) = match text.rsplit_once('=') {
            Some((path, hex)) if !path.is_empty() => (Some(PathBuf::from(path)), hex),
            Some(_) => return Err(format!("`{text}` has an empty path: give PATH=HEX or HEX")),
            None => (None, text),
        };
        Ok(ShaFlag {
            path,
            sha256: parse_sha256(hex)?,
        })
    }
}

/// A digest as `gate inspect` prints it: 64 hex digits, `sha256:` optional.
pub fn parse_sha256(text: &str) -> Result<String, String> {
    let hex = text.trim();
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{text}` is not a sha256 digest (64 hex digits, as `gate inspect POLICY` prints)"
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// The signature file minisign would look for: `POLICY.minisig`.
pub fn default_signature_path(policy: &Path) -> PathBuf {
    let mut name = policy.as_os_str().to_owned();
    name.push(".");
    name.push(SIGNATURE_EXTENSION);
    PathBuf::from(name)
}

/// What each planned policy must satisfy: the pins and signature rules of
/// gate.toml, and the run's `--sha256` and `--verify-key` flags. A key
/// configured anywhere makes a signature mandatory: there is no fail-open
/// for an unsigned policy.
pub fn requirements(args: &RunArgs, plan: &Plan) -> Result<Vec<Requirement>, IntegrityError> {
    let file = plan
        .config_file
        .as_deref()
        .unwrap_or(crate::config::FILE_NAME);
    let mut requirements = plan
        .policies
        .iter()
        .map(|planned| {
            requirement(
                &planned.path,
                planned.entry.as_ref(),
                args.verify_key.as_ref(),
                plan.verify_key.as_ref(),
                file,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for flag in &args.sha256 {
        let index = match &flag.path {
            None if plan.policies.len() == 1 => 0,
            None => {
                return Err(IntegrityError::Usage(format!(
                    "--sha256 {} is ambiguous: this run has {} policies; name the one it pins \
                     with --sha256 PATH=HEX",
                    flag.sha256,
                    plan.policies.len()
                )));
            }
            Some(path) => same_file(path, plan).ok_or_else(|| {
                IntegrityError::Usage(format!(
                    "--sha256 {}={}: {} is not one of the policies of this run",
                    path.display(),
                    flag.sha256,
                    path.display()
                ))
            })?,
        };
        requirements[index].pins.push(Pin {
            sha256: flag.sha256.clone(),
            from: "--sha256".into(),
        });
    }
    Ok(requirements)
}

/// What one policy must satisfy from gate.toml (its entry, the
/// environment's `verify_key`) and `--verify-key`. The flag wins over the
/// entry's key, which wins over the environment's.
pub fn requirement(
    path: &Path,
    entry: Option<&PolicyEntry>,
    flag_key: Option<&KeySource>,
    env_key: Option<&Setting<PathBuf>>,
    file: &str,
) -> Result<Requirement, IntegrityError> {
    let place = |at: &Place| format!("{file}:{}:{} {}", at.line, at.column, at.key);
    let pins = entry
        .and_then(|e| e.sha256.as_ref())
        .map(|pin| Pin {
            sha256: pin.value.clone(),
            from: place(&pin.at),
        })
        .into_iter()
        .collect();
    let from_file = |key: &Setting<PathBuf>| (KeySource::File(key.value.clone()), place(&key.at));
    let key = match (flag_key, entry.and_then(|e| e.verify_key.as_ref())) {
        (Some(flag), _) => Some((flag.clone(), "--verify-key".to_owned())),
        (None, Some(own)) => Some(from_file(own)),
        (None, None) => env_key.map(from_file),
    };
    let signature_file = entry.and_then(|e| e.signature.as_ref());
    let signature = match (key, signature_file) {
        (Some((key, from)), file) => Some(SignatureRule {
            signature: file.map_or_else(|| default_signature_path(path), |s| s.value.clone()),
            key,
            from,
        }),
        (None, Some(file)) => {
            return Err(IntegrityError::Usage(format!(
                "{}: policy {} names the signature {} but no key to check it with: set \
                 `verify_key` in gate.toml or give --verify-key PUB",
                place(&file.at),
                path.display(),
                file.value.display()
            )));
        }
        (None, None) => None,
    };
    Ok(Requirement { pins, signature })
}

fn same_file(path: &Path, plan: &Plan) -> Option<usize> {
    let wanted = path.canonicalize().ok();
    plan.policies
        .iter()
        .position(|p| p.path == path || (wanted.is_some() && p.path.canonicalize().ok() == wanted))
}

/// Checks `bytes`, read from `path`, against the requirement.
pub fn verify(
    path: &Path,
    bytes: &[u8],
    requirement: &Requirement,
) -> Result<Verified, IntegrityError> {
    let actual = crate::policy::sha256_hex(bytes);
    for pin in &requirement.pins {
        if pin.sha256 != actual {
            return Err(IntegrityError::DigestMismatch {
                path: path.to_owned(),
                from: pin.from.clone(),
                expected: pin.sha256.clone(),
                actual,
            });
        }
    }
    let signature = requirement
        .signature
        .as_ref()
        .map(|rule| verify_signature(path, bytes, rule, &actual))
        .transpose()?;
    Ok(Verified {
        path: path.display().to_string(),
        sha256: actual,
        pinned_by: requirement.pins.iter().map(|p| p.from.clone()).collect(),
        signature,
    })
}

fn verify_signature(
    path: &Path,
    bytes: &[u8],
    rule: &SignatureRule,
    actual: &str,
) -> Result<VerifiedSignature, IntegrityError> {
    let trusted = rule.key.load(&rule.from)?;
    let bad = |reason: String| IntegrityError::BadSignature {
        path: path.to_owned(),
        signature: rule.signature.clone(),
        reason,
    };
    use crate::files::ReadError;
    // A signature is four lines; a trusted comment is short.
    let text = match crate::files::read_text_capped(&rule.signature, 64 << 10) {
        Ok(text) => text,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IntegrityError::Unsigned {
                path: path.to_owned(),
                signature: rule.signature.clone(),
                from: rule.from.clone(),
                key_id: trusted.id,
            });
        }
        Err(ReadError::TooLarge { .. }) => {
            return Err(bad("it is not a minisign signature (too large)".into()));
        }
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    check_signature(path, bytes, rule, &trusted, &text, actual)
}

/// Judges a signature file's text against the trusted key.
fn check_signature(
    path: &Path,
    bytes: &[u8],
    rule: &SignatureRule,
    trusted: &TrustedKey,
    text: &str,
    actual: &str,
) -> Result<VerifiedSignature, IntegrityError> {
    let bad = |reason: String| IntegrityError::BadSignature {
        path: path.to_owned(),
        signature: rule.signature.clone(),
        reason,
    };
    let signature = minisign_verify::Signature::decode(text).map_err(|e| match e {
        minisign_verify::Error::UnsupportedAlgorithm => bad(
            "it uses an algorithm this gate does not accept (only minisign's pre-hashed Ed25519 \
             signatures, `minisign -S`'s default)"
                .into(),
        ),
        e => bad(format!("it is not a minisign signature ({e})")),
    })?;
    let signed_by = key_id_of_signature(text).unwrap_or_else(|| "?".into());
    // Legacy (not pre-hashed) signatures are refused: one format only.
    match trusted.key.verify(bytes, &signature, false) {
        Ok(()) => {
            signed_for(path, rule, signature.trusted_comment())?;
            Ok(VerifiedSignature {
                file: rule.signature.display().to_string(),
                key_id: trusted.id.clone(),
                trusted_comment: crate::text::escape_controls(signature.trusted_comment()),
            })
        }
        Err(minisign_verify::Error::UnexpectedKeyId) => Err(IntegrityError::WrongKey {
            path: path.to_owned(),
            signature: rule.signature.clone(),
            from: rule.from.clone(),
            key_id: trusted.id.clone(),
            signed_by,
        }),
        Err(minisign_verify::Error::UnexpectedAlgorithm) => Err(bad(
            "it is a legacy (not pre-hashed) minisign signature: sign again with a current \
             minisign or `gate sign`"
                .into(),
        )),
        Err(_) => Err(IntegrityError::Tampered {
            path: path.to_owned(),
            signature: rule.signature.clone(),
            actual: actual.to_owned(),
        }),
    }
}

/// Holds a verified signature to the file name its trusted comment names.
/// minisign and `gate sign` write `timestamp:…<TAB>file:NAME<TAB>hashed`,
/// and the trusted comment is signed with the file: without this check a
/// pull request could replace `prod.wasm` and its signature with another
/// policy the same key signed (a lenient one, or an old one), and both
/// would verify. A comment with no `file:` field (`--trusted-comment`) is
/// not held to a name.
fn signed_for(path: &Path, rule: &SignatureRule, comment: &str) -> Result<(), IntegrityError> {
    let Some(signed_name) = comment
        .split('\t')
        .find_map(|field| field.strip_prefix("file:"))
    else {
        return Ok(());
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if signed_name == name {
        return Ok(());
    }
    Err(IntegrityError::SignedForAnotherFile {
        path: path.to_owned(),
        signature: rule.signature.clone(),
        name,
        signed_name: crate::text::escape_controls(&crate::text::truncate(signed_name, 200)),
    })
}

/// Checks arbitrary signature text against a fixed key and policy (the
/// fuzz target's view of [`verify`]).
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_signature(text: &str) -> Result<VerifiedSignature, IntegrityError> {
    // The public key of minisign's documentation; nobody here has its secret.
    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
    let rule = SignatureRule {
        signature: PathBuf::from("p.wasm.minisig"),
        key: KeySource::Inline(KEY.into()),
        from: "--verify-key".into(),
    };
    let trusted = rule.key.load(&rule.from)?;
    let bytes = b"\0asm\x0d\0\x01\0";
    let actual = crate::policy::sha256_hex(bytes);
    check_signature(Path::new("p.wasm"), bytes, &rule, &trusted, text, &actual)
}

/// minisign's key id, as it prints it: the 8 key-number bytes as a
/// little-endian integer in upper-case hex.
fn key_id(keynum: &[u8]) -> String {
    let mut le = [0u8; 8];
    le.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(le))
}

fn key_id_of_public_key(base64: &str) -> Option<String> {
    let key = minisign::PublicKey::from_base64(base64).ok()?;
    Some(key_id(key.keynum()))
}

fn key_id_of_signature(text: &str) -> Option<String> {
    let signature = minisign::SignatureBox::from_string(text).ok()?;
    Some(key_id(signature.keynum()))
}

/// Runs `gate verify POLICY --verify-key PUB [--signature SIG] [--sha256
/// HEX]`: exit 0 when the policy is signed by that key (and has that
/// digest), 2 when not.
pub fn verify_command(args: VerifyArgs) -> anyhow::Result<i32> {
    // No environment is read: any policy some environment's wasm_size
    // allows can be checked; a run then holds it to its own.
    let bytes = crate::policy::read(&args.policy, crate::limits::MAX_WASM_BYTES)?;
    let requirement = Requirement {
        pins: args
            .sha256
            .iter()
            .map(|sha256| Pin {
                sha256: sha256.clone(),
                from: "--sha256".into(),
            })
            .collect(),
        signature: Some(SignatureRule {
            signature: args
                .signature
                .clone()
                .unwrap_or_else(|| default_signature_path(&args.policy)),
            key: args.verify_key.clone(),
            from: "--verify-key".into(),
        }),
    };
    let verified = verify(&args.policy, &bytes, &requirement)?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        crate::report::Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &verified)?;
            writeln!(stdout)?;
        }
        crate::report::Format::Human => {
            let signature = verified
                .signature
                .as_ref()
                .expect("a signature was required");
            writeln!(stdout, "policy           {}", verified.path)?;
            writeln!(stdout, "sha256           {}", verified.sha256)?;
            writeln!(
                stdout,
                "signature        {} (good, by key {})",
                signature.file, signature.key_id
            )?;
            writeln!(stdout, "trusted comment  {}", signature.trusted_comment)?;
            if !verified.pinned_by.is_empty() {
                writeln!(stdout, "pin              matches")?;
            }
        }
    }
    Ok(crate::verdict::EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_flags() {
        let hex = "A".repeat(64);
        assert_eq!(
            ShaFlag::parse(&hex).unwrap(),
            ShaFlag {
                path: None,
                sha256: "a".repeat(64)
            }
        );
        let flag = ShaFlag::parse(&format!("p/x.wasm=sha256:{hex}")).unwrap();
        assert_eq!(flag.path.as_deref(), Some(Path::new("p/x.wasm")));
        assert!(ShaFlag::parse("abc").unwrap_err().contains("64 hex digits"));
        assert!(ShaFlag::parse(&format!("={hex}")).is_err());
    }

    #[test]
    fn signature_beside_the_policy() {
        assert_eq!(
            default_signature_path(Path::new("policies/prod.wasm")),
            PathBuf::from("policies/prod.wasm.minisig")
        );
    }

    /// Written by the `minisign` tool (Debian's 0.11): `minisign -G -W`, then
    /// `minisign -S -m hostile-wit-0.1.0.wasm`.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name)
    }

    const FIXTURE_KEY: &str = "RWT102q6shy4U2btRkTeqTzEoD6DmOkUGJC1VhNyzCqt8drvD29WBaP2";

    #[test]
    fn key_sources() {
        assert_eq!(
            KeySource::parse(FIXTURE_KEY),
            Ok(KeySource::Inline(FIXTURE_KEY.into()))
        );
        assert_eq!(
            KeySource::parse("keys/gate.pub"),
            Ok(KeySource::File("keys/gate.pub".into()))
        );
        // As the minisign tool wrote it in the key file's comment.
        assert_eq!(
            key_id_of_public_key(FIXTURE_KEY).as_deref(),
            Some("53B81CB2BA6AD3F5")
        );
        assert!(KeySource::parse(" ").is_err());
        // A file named after the key (a checkout can hold anything) does
        // not turn the key into that file's.
        // (The key has no `/`: the file is in the working directory.)
        std::fs::write(FIXTURE_KEY, "untrusted comment: another key\nRWQ...\n").unwrap();
        let parsed = KeySource::parse(FIXTURE_KEY);
        std::fs::remove_file(FIXTURE_KEY).unwrap();
        assert_eq!(parsed, Ok(KeySource::Inline(FIXTURE_KEY.into())));
    }

    fn rule(signature: PathBuf, key: KeySource) -> Requirement {
        Requirement {
            pins: Vec::new(),
            signature: Some(SignatureRule {
                signature,
                key,
                from: "--verify-key".into(),
            }),
        }
    }

    #[test]
    fn a_signature_made_by_the_minisign_tool_verifies() {
        let policy = fixture("hostile-wit-0.1.0.wasm");
        let bytes = std::fs::read(&policy).unwrap();
        for key in [
            KeySource::File(fixture("minisign.pub")),
            KeySource::Inline(FIXTURE_KEY.into()),
        ] {
            let verified =
                verify(&policy, &bytes, &rule(default_signature_path(&policy), key)).unwrap();
            let signature = verified.signature.unwrap();
            assert_eq!(signature.key_id, "53B81CB2BA6AD3F5");
            assert_eq!(
                signature.trusted_comment,
                "signed with the minisign tool for gate's interop test"
            );
        }
        // One byte flipped: the same signature no longer verifies.
        let mut tampered = bytes.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 1;
        let error = verify(
            &policy,
            &tampered,
            &rule(
                default_signature_path(&policy),
                KeySource::Inline(FIXTURE_KEY.into()),
            ),
        )
        .unwrap_err();
        assert!(matches!(error, IntegrityError::Tampered { .. }), "{error}");
    }

    #[test]
    fn what_the_minisign_crate_signs_verifies_and_other_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("gate-integrity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = b"\0asm\x0d\0\x01\0 a policy".to_vec();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let signature =
            minisign::sign(Some(&pair.pk), &pair.sk, bytes.as_slice(), Some("ok"), None).unwrap();
        let sig_path = dir.join("p.wasm.minisig");
        std::fs::write(&sig_path, signature.to_string()).unwrap();
        let good = KeySource::Inline(pair.pk.to_base64());
        let verified = verify(Path::new("p.wasm"), &bytes, &rule(sig_path.clone(), good)).unwrap();
        assert_eq!(verified.signature.unwrap().trusted_comment, "ok");

        let wrong = KeySource::Inline(other.pk.to_base64());
        let error =
            verify(Path::new("p.wasm"), &bytes, &rule(sig_path.clone(), wrong)).unwrap_err();
        assert!(matches!(error, IntegrityError::WrongKey { .. }), "{error}");
        assert!(
            error.to_string().contains("not with the trusted key"),
            "{error}"
        );

        // The trusted comment names the file it was made for: another name
        // is refused (a signed policy swapped in for another), no file: or
        // the same name is not.
        for (comment, runs_as, accepted) in [
            ("timestamp:1\tfile:p.wasm\thashed", "p.wasm", true),
            ("timestamp:1\tfile:p.wasm\thashed", "policies/p.wasm", true),
            ("timestamp:1\tfile:dev.wasm\thashed", "p.wasm", false),
            ("file:p.wasm.bak", "p.wasm", false),
            ("release 1.4.2", "p.wasm", true),
        ] {
            let signature = minisign::sign(
                Some(&pair.pk),
                &pair.sk,
                bytes.as_slice(),
                Some(comment),
                None,
            )
            .unwrap();
            std::fs::write(&sig_path, signature.to_string()).unwrap();
            let key = KeySource::Inline(pair.pk.to_base64());
            let result = verify(Path::new(runs_as), &bytes, &rule(sig_path.clone(), key));
            match result {
                Ok(_) => assert!(accepted, "{comment} as {runs_as}"),
                Err(error) => {
                    assert!(!accepted, "{comment} as {runs_as}: {error}");
                    assert!(
                        matches!(error, IntegrityError::SignedForAnotherFile { .. }),
                        "{error}"
                    );
                    assert!(
                        error.to_string().contains("cannot be renamed")
                            && error.to_string().contains("`gate sign p.wasm`"),
                        "{error}"
                    );
                }
            }
        }

        let unsigned = rule(
            dir.join("missing.minisig"),
            KeySource::Inline(pair.pk.to_base64()),
        );
        let error = verify(Path::new("p.wasm"), &bytes, &unsigned).unwrap_err();
        assert!(matches!(error, IntegrityError::Unsigned { .. }), "{error}");

        std::fs::write(&sig_path, "untrusted comment: x\nnot base64\n").unwrap();
        let garbage = rule(sig_path, KeySource::Inline(pair.pk.to_base64()));
        let error = verify(Path::new("p.wasm"), &bytes, &garbage).unwrap_err();
        assert!(
            matches!(error, IntegrityError::BadSignature { .. }),
            "{error}"
        );
        assert!(fuzz_signature("").is_err());
    }

    #[test]
    fn pins_are_checked_first_and_name_their_source() {
        let bytes = b"\0asm policy";
        let actual = crate::policy::sha256_hex(bytes);
        let good = Requirement {
            pins: vec![Pin {
                sha256: actual.clone(),
                from: "--sha256".into(),
            }],
            signature: None,
        };
        let verified = verify(Path::new("p.wasm"), bytes, &good).unwrap();
        assert_eq!(verified.sha256, actual);
        let bad = Requirement {
            pins: vec![Pin {
                sha256: "0".repeat(64),
                from: "gate.toml:3:1 policies[0].sha256".into(),
            }],
            signature: None,
        };
        let error = verify(Path::new("p.wasm"), bytes, &bad)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("sha256 does not match the pin (gate.toml:3:1"),
            "{error}"
        );
        assert!(error.contains(&format!("the file has {actual}")), "{error}");
    }
}
