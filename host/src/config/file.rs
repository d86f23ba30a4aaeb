//! The shape of gate.toml as written, with the span of every value so a
//! problem found later can still name its line and column.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use toml::Spanned;

/// One table of settings: the top level (shared by every environment) or an
/// `[env.NAME]` table. One struct for both, so a key means the same in each;
/// `env` and `default_env` only make sense at the top and are refused below.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub default_env: Option<Spanned<String>>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<RawSettings>>>,

    pub target: Option<Spanned<String>>,
    pub allow_hosts: Option<Spanned<Vec<Spanned<String>>>>,
    pub prometheus: Option<Spanned<String>>,
    pub prometheus_auth: Option<Spanned<String>>,
    pub docker: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,

    pub params: Option<BTreeMap<Spanned<String>, Spanned<RawParam>>>,
    pub secrets: Option<BTreeMap<Spanned<String>, Spanned<RawSecret>>>,
    pub policies: Option<Spanned<Vec<Spanned<RawPolicy>>>>,

    pub timeout: Option<Spanned<String>>,
    pub memory_limit: Option<Spanned<String>>,
    pub jobs: Option<Spanned<i64>>,
    pub strict: Option<Spanned<bool>>,
    pub retry: Option<Spanned<i64>>,
    pub retry_interval: Option<Spanned<String>>,
    /// Limits of each check beyond `timeout` and `memory_limit`:
    /// `[limits]`, numbers or text (`host_calls = 5000`, `wasm_stack = "256KiB"`).
    pub limits: Option<BTreeMap<Spanned<String>, Spanned<RawParam>>>,
    /// The minisign public key every policy of the table must be signed with.
    pub verify_key: Option<Spanned<String>>,

    pub decision_log: Option<Spanned<String>>,
    pub webhook: Option<Spanned<String>>,

    /// `[watch]`: the bake window of `gate watch`, as its flags set it.
    pub watch: Option<Spanned<RawWatch>>,
}

/// `[watch]` / `[env.NAME.watch]`: the keys are `gate watch`'s flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    pub interval: Option<Spanned<String>>,
    pub count: Option<Spanned<i64>>,
    pub duration: Option<Spanned<String>>,
    pub initial_delay: Option<Spanned<String>>,
    pub failure_limit: Option<Spanned<i64>>,
    pub inconclusive_limit: Option<Spanned<i64>>,
    pub consecutive_error_limit: Option<Spanned<i64>>,
    pub on_rollback: Option<Spanned<String>>,
    pub rollback_timeout: Option<Spanned<String>>,
}

/// A param value: policies read strings, so numbers and booleans are
/// accepted for convenience and turned into their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParam(pub String);

impl<'de> Deserialize<'de> for RawParam {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamVisitor;
        impl Visitor<'_> for ParamVisitor {
            type Value = RawParam;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawParam, E> {
                Ok(RawParam(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawParam, E> {
                Ok(RawParam(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawParam, E> {
                Ok(RawParam(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawParam, E> {
                Ok(RawParam(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawParam, E> {
                Ok(RawParam(v.to_string()))
            }
        }
        deserializer.deserialize_any(ParamVisitor)
    }
}

/// Where a secret comes from: `{ env = "VAR", required = true }`, or `{}`
/// for `GATE_SECRET_<NAME>`. A value written in the file is remembered only
/// as the fact that it was, so the check can refuse it with a hint, and so
/// no error message ever quotes it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawSecret {
    pub env: Option<Spanned<String>>,
    pub required: Option<Spanned<bool>>,
    pub value_in_file: bool,
}

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FIELDS: &[&str] = &["env", "required"];
        struct SecretVisitor;
        impl SecretVisitor {
            fn inline<E>(self) -> Result<RawSecret, E> {
                Ok(RawSecret {
                    value_in_file: true,
                    ..RawSecret::default()
                })
            }
        }
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = RawSecret;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table such as { env = \"VARIABLE\", required = true }")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawSecret, E> {
                self.inline()
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawSecret, E> {
                self.inline()
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawSecret, E> {
                self.inline()
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawSecret, E> {
                self.inline()
            }
            // Not a value anyone would hide, so it can be named.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawSecret, E> {
                Err(de::Error::invalid_type(de::Unexpected::Bool(v), &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSecret, A::Error> {
                let mut secret = RawSecret::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "env" if secret.env.is_some() => {
                            return Err(de::Error::duplicate_field("env"));
                        }
                        "env" => secret.env = Some(map.next_value()?),
                        "required" if secret.required.is_some() => {
                            return Err(de::Error::duplicate_field("required"));
                        }
                        "required" => secret.required = Some(map.next_value()?),
                        "value" | "secret" | "token" | "password" => {
                            map.next_value::<IgnoredAny>()?;
                            secret.value_in_file = true;
                        }
                        other => return Err(de::Error::unknown_field(other, FIELDS)),
                    }
                }
                Ok(secret)
            }
        }
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// A policy to run: `"path.wasm"`, or a table with a pin and a signature
/// requirement: `{ path = "…", sha256 = "…", signature = "…", verify_key = "…" }`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawPolicy {
    pub path: String,
    pub sha256: Option<Spanned<String>>,
    pub signature: Option<Spanned<String>>,
    pub verify_key: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawPolicy {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FIELDS: &[&str] = &["path", "sha256", "signature", "verify_key"];
        struct PolicyVisitor;
        impl<'de> Visitor<'de> for PolicyVisitor {
            type Value = RawPolicy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path, or a table such as { path = \"policy.wasm\", sha256 = \"…\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPolicy, E> {
                Ok(RawPolicy {
                    path: v.to_owned(),
                    ..RawPolicy::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPolicy, A::Error> {
                let mut path = None;
                let mut policy = RawPolicy::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "path" => {
                            if path.is_some() {
                                return Err(de::Error::duplicate_field("path"));
                            }
                            path = Some(map.next_value::<String>()?);
                            continue;
                        }
                        "sha256" => &mut policy.sha256,
                        "signature" => &mut policy.signature,
                        "verify_key" => &mut policy.verify_key,
                        other => return Err(de::Error::unknown_field(other, FIELDS)),
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    *slot = Some(map.next_value()?);
                }
                policy.path = path.ok_or_else(|| de::Error::missing_field("path"))?;
                Ok(policy)
            }
        }
        deserializer.deserialize_any(PolicyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawSettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn every_key_parses() {
        let raw = parse(
            r#"
            default_env = "local"
            target = "http://127.0.0.1:8080"
            allow_hosts = ["a.example"]
            prometheus = "http://127.0.0.1:9090"
            prometheus_auth = "bearer:prom"
            docker = "unix:///var/run/docker.sock"
            ca_file = "ca.pem"
            client_cert = "client.pem"
            client_key = "client.key"
            timeout = "5s"
            memory_limit = "32MiB"
            jobs = 4
            strict = true
            retry = 3
            retry_interval = "2s"
            decision_log = "decisions.jsonl"
            webhook = "secret:slack"
            policies = ["a.wasm", { path = "b.wasm", sha256 = "00", signature = "b.sig", verify_key = "k.pub" }]
            [params]
            samples = 20
            ratio = 0.5
            name = "x"
            on = true
            [secrets]
            api_token = { env = "STAGE_TOKEN", required = true }
            other = {}
            [watch]
            interval = "30s"
            duration = "10m"
            initial_delay = "1m"
            failure_limit = 1
            inconclusive_limit = 2
            consecutive_error_limit = 3
            [env.local]
            target = "http://127.0.0.1:8081"
            watch.count = 3
            "#,
        )
        .unwrap();
        assert_eq!(raw.default_env.unwrap().into_inner(), "local");
        let params = raw.params.unwrap();
        let values: Vec<&str> = params.values().map(|v| v.get_ref().0.as_str()).collect();
        assert_eq!(values, ["x", "true", "0.5", "20"]);
        let policies = raw.policies.unwrap().into_inner();
        assert_eq!(policies[0].get_ref().path, "a.wasm");
        assert_eq!(policies[1].get_ref().path, "b.wasm");
        assert_eq!(
            policies[1].get_ref().sha256.as_ref().unwrap().get_ref(),
            "00"
        );
        let secrets = raw.secrets.unwrap();
        let token = secrets.values().next().unwrap().get_ref();
        assert_eq!(token.env.as_ref().unwrap().get_ref(), "STAGE_TOKEN");
        assert!(*token.required.as_ref().unwrap().get_ref());
        let watch = raw.watch.unwrap().into_inner();
        assert_eq!(watch.interval.unwrap().into_inner(), "30s");
        assert_eq!(*watch.consecutive_error_limit.unwrap().get_ref(), 3);
        let env = raw.env.unwrap();
        assert!(env.len() == 1);
        let local = env.values().next().unwrap().get_ref();
        assert_eq!(
            *local
                .watch
                .as_ref()
                .unwrap()
                .get_ref()
                .count
                .as_ref()
                .unwrap()
                .get_ref(),
            3
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = parse("timout = \"5s\"").unwrap_err();
        assert!(
            error.message().contains("unknown field `timout`"),
            "{error}"
        );
        let error = parse("[env.x]\nfoo = 1").unwrap_err();
        assert!(error.message().contains("unknown field `foo`"), "{error}");
        let error = parse("policies = [{ path = \"a\", sha = \"b\" }]").unwrap_err();
        assert!(error.message().contains("unknown field `sha`"), "{error}");
        let error = parse("policies = [{ sha256 = \"b\" }]").unwrap_err();
        assert!(error.message().contains("missing field `path`"), "{error}");
        let error = parse("secrets.x = true").unwrap_err();
        assert!(
            error
                .message()
                .contains("invalid type: boolean `true`, expected a table"),
            "{error}"
        );
        let error = parse("[watch]\nintervall = \"1s\"").unwrap_err();
        assert!(
            error.message().contains("unknown field `intervall`"),
            "{error}"
        );
        let error = parse("secrets.x = { from = \"b\" }").unwrap_err();
        assert!(error.message().contains("unknown field `from`"), "{error}");
    }

    #[test]
    fn secret_values_are_noted_never_kept_or_quoted() {
        for text in [
            "secrets.x = \"hunter2\"",
            "secrets.x = { value = \"hunter2\" }",
        ] {
            let raw = parse(text).unwrap();
            let secrets = raw.secrets.unwrap();
            let secret = secrets.values().next().unwrap().get_ref();
            assert!(secret.value_in_file, "{text}");
            assert!(!format!("{secret:?}").contains("hunter2"));
        }
    }
}
