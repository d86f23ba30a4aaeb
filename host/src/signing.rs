//! `gate keygen` and `gate sign`: minisign keys and detached signatures,
//! in minisign's own format, so the standard `minisign` tool verifies what
//! gate signs and gate verifies what `minisign -S` signs.

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::{KeygenArgs, SignArgs};
use crate::integrity::default_signature_path;
use crate::verdict::EXIT_PASS;

/// The variable that holds the password of an encrypted secret key.
pub const PASSWORD_VAR: &str = "GATE_SIGNING_PASSWORD";

fn password() -> Option<String> {
    std::env::var(PASSWORD_VAR).ok().filter(|p| !p.is_empty())
}

/// Runs `gate keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<i32> {
    for path in [&args.public_key, &args.secret_key] {
        if path.exists() && !args.force {
            bail!(
                "{} exists: keep it, or give --force to replace it (policies signed with the old \
                 key will no longer verify)",
                path.display()
            );
        }
    }
    let pair = match (password(), args.no_password) {
        (Some(_), true) => bail!("--no-password and {PASSWORD_VAR} contradict each other"),
        (Some(password), false) => minisign::KeyPair::generate_encrypted_keypair(Some(password)),
        (None, true) => minisign::KeyPair::generate_unencrypted_keypair(),
        (None, false) => bail!(
            "set {PASSWORD_VAR} to encrypt the secret key, or give --no-password to write it \
             unencrypted (as `minisign -G -W`) for a secret store that protects it"
        ),
    }
    .map_err(|e| anyhow::anyhow!("cannot generate a key pair: {e}"))?;
    let public = pair
        .pk
        .to_box()
        .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))?;
    let secret = pair
        .sk
        .to_box(None)
        .map_err(|e| anyhow::anyhow!("cannot encode the secret key: {e}"))?;
    write_pair(
        &args.public_key,
        &public.to_bytes(),
        &args.secret_key,
        &secret.to_bytes(),
    )?;
    println!(
        "public key  {}  (trust it with: gate run --verify-key {}, or verify_key in gate.toml)",
        args.public_key.display(),
        args.public_key.display()
    );
    println!(
        "secret key  {}  (keep it secret; sign with: gate sign POLICY --secret-key {})",
        args.secret_key.display(),
        args.secret_key.display()
    );
    Ok(EXIT_PASS)
}

/// Writes a key pair. Both files are whole before either replaces a key
/// (`--force`): a new secret key beside the old public key would sign what
/// nothing verifies. The secret key is readable by its owner only: it is
/// written to a new file made 0600, then renamed over its path, as opening
/// an existing file would keep its mode, 0644 say, and anyone who had it
/// open could read the new key through it.
fn write_pair(
    public_path: &Path,
    public: &[u8],
    secret_path: &Path,
    secret: &[u8],
) -> anyhow::Result<()> {
    crate::files::write_all_atomically(&[
        (public_path, public, 0o644),
        (secret_path, secret, 0o600),
    ])
    .with_context(|| {
        format!(
            "cannot write the key pair {} and {}",
            public_path.display(),
            secret_path.display()
        )
    })
}

/// Runs `gate sign`: one `POLICY.minisig` per policy.
pub fn sign(args: SignArgs) -> anyhow::Result<i32> {
    // A key is a few hundred bytes. It may come through a pipe, so that it
    // never touches the disk (`--secret-key <(vault kv get …)`).
    let text = crate::files::read_piped_text_capped(&args.secret_key, 64 << 10)
        .with_context(|| format!("cannot read the secret key {}", args.secret_key.display()))?;
    let secret_box = minisign::SecretKeyBox::from_string(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a minisign secret key: {e}",
            args.secret_key.display()
        )
    })?;
    let opened = match password() {
        Some(password) => minisign::SecretKey::from_box(secret_box, Some(password)),
        None => minisign::SecretKey::from_unencrypted_box(secret_box),
    };
    let secret = opened.map_err(|e| {
        anyhow::anyhow!(
            "cannot open the secret key {}: {e} (an encrypted key needs its password in \
             {PASSWORD_VAR})",
            args.secret_key.display()
        )
    })?;
    let public = minisign::PublicKey::from_secret_key(&secret)
        .map_err(|e| anyhow::anyhow!("the secret key holds no public key: {e}"))?;
    for policy in &args.policies {
        // Sign only what gate could run: a component within the largest
        // wasm_size an environment may set (this reads none).
        let bytes = crate::policy::read(policy, crate::limits::MAX_WASM_BYTES)?;
        let file_name = policy
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let trusted = match &args.trusted_comment {
            Some(comment) => comment.clone(),
            None => format!(
                "timestamp:{}\tfile:{file_name}\thashed",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            ),
        };
        if trusted.contains(['\n', '\r']) {
            bail!("--trusted-comment must be one line");
        }
        let signature = minisign::sign(
            Some(&public),
            &secret,
            bytes.as_slice(),
            Some(&trusted),
            Some("signature from gate secret key"),
        )
        .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", policy.display()))?;
        let out = default_signature_path(policy);
        // Whole or not at all: a signature cut short would replace a good one.
        crate::files::write_atomically(&out, signature.to_string().as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", out.display()))?;
        println!(
            "signed {} (sha256 {}) → {}",
            policy.display(),
            crate::policy::sha256_hex(&bytes),
            out.display()
        );
    }
    Ok(EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_secret_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gate-signing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gate.key");
        std::fs::write(&path, "old key").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let public = dir.join("gate.pub");
        write_pair(&public, b"pub", &path, b"new key").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new key");
        assert_eq!(mode(&path), 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file is left: {left:?}");

        // A new file, too.
        let fresh = dir.join("fresh.key");
        write_pair(&public, b"pub", &fresh, b"key").unwrap();
        assert_eq!(mode(&fresh), 0o600);

        // A folder that is not there: an error naming the file, nothing left.
        let error = write_pair(&public, b"pub", &dir.join("none/gate.key"), b"key").unwrap_err();
        assert!(format!("{error:#}").contains("cannot write"), "{error:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
