//! `gate:policy/context`: target, environment, release, params, secrets, log,
//! sleep.

use crate::bindings::gate::policy::context::{Host, LogLevel};
use crate::state::{HostState, LogSource};
use crate::text::truncate;

impl Host for HostState {
    async fn target(&mut self) -> wasmtime::Result<Option<String>> {
        self.count_call()?;
        Ok(self.session.grants.target.as_ref().map(|u| u.to_string()))
    }

    async fn env_name(&mut self) -> wasmtime::Result<String> {
        self.count_call()?;
        Ok(self.session.grants.env_name.clone())
    }

    async fn release(&mut self) -> wasmtime::Result<Option<String>> {
        self.count_call()?;
        Ok(self.session.grants.release.clone())
    }

    async fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        self.count_call()?;
        Ok(self.session.grants.params.get(&name).cloned())
    }

    async fn params(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        self.count_call()?;
        Ok(self
            .session
            .grants
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        self.count_call()?;
        Ok(self.session.grants.secrets.get(&secret_key(&name)).cloned())
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.count_call()?;
        let source = match level {
            LogLevel::Debug => LogSource::Debug,
            LogLevel::Info => LogSource::Info,
            LogLevel::Warn => LogSource::Warn,
            LogLevel::Error => LogSource::Error,
        };
        let limit = self.session.limits.log_bytes;
        // Redacted before it is cut, so that the cut leaves no part of a
        // secret (the whole log is cleaned again when the check ends).
        let cleaner = &self.session.cleaner;
        self.log
            .push_with(source, || truncate(&cleaner.redact(&message), limit));
        Ok(())
    }

    async fn sleep(&mut self, ms: u32) -> wasmtime::Result<()> {
        self.count_call()?;
        let wanted = std::time::Duration::from_millis(u64::from(ms));
        // Replayed at once: waiting changes nothing. A fixture that has no
        // sleep of the check (written by hand, or by a gate before sleeps
        // were recorded) ends it at one longer than the time left.
        if self.tape.is_replay() && !self.tape.replays_any(SLEEP) {
            return if wanted >= self.remaining() {
                Err(wasmtime::Error::new(crate::runtime::DeadlineExceeded))
            } else {
                Ok(())
            };
        }
        // Taped, so that a replay ends the check at the sleep the deadline
        // ended it at (`within_deadline`), the sleeps before it at once.
        // Any sleep matches: the order tells them apart, and a policy that
        // now sleeps longer or shorter still replays.
        self.taped(
            SLEEP,
            || serde_json::json!({}),
            async |state| {
                tokio::time::sleep(wanted.min(state.remaining())).await;
                Slept {}
            },
        )
        .await
        .map(|Slept {}| ())
    }
}

/// The tape's name for a sleep.
pub const SLEEP: &str = "context.sleep";

/// A sleep's answer in a fixture: `{}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slept {}

/// The key a secret is stored under: `api-token` and `api_token` both read
/// `GATE_SECRET_API_TOKEN`.
pub fn secret_key(name: &str) -> String {
    gate_units::secret_key(name)
}

/// Whether `name` makes a variable, `GATE_SECRET_<NAME>`, someone can
/// export.
pub fn valid_secret_name(name: &str) -> Result<(), String> {
    let key = secret_key(name);
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a secret name: use letters, digits, `_`, `-` or `.`"
        ));
    }
    Ok(())
}

/// Reads every `GATE_SECRET_<NAME>` of the host's environment.
pub fn secrets_from_env() -> std::collections::BTreeMap<String, String> {
    std::env::vars()
        .filter_map(|(key, value)| Some((key.strip_prefix("GATE_SECRET_")?.to_owned(), value)))
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::secret_key;

    #[test]
    fn secret_names() {
        assert_eq!(secret_key("api_token"), "API_TOKEN");
        assert_eq!(secret_key("api-token"), "API_TOKEN");
    }
}
