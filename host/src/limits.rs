//! What one check may consume. Every limit has a safe default.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Wall-clock budget of one check, host calls included (`--timeout`).
    pub timeout: Duration,
    /// Linear memory of one check, all its memories together
    /// (`--memory-limit`).
    pub memory_bytes: u64,
    /// Table elements per table.
    pub table_elements: usize,
    /// Core instances, tables and memories one component may create.
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
    /// WebAssembly stack of one check.
    pub wasm_stack_bytes: usize,
    /// Host calls one check may make (logs, params, requests…).
    pub host_calls: u64,
    /// Live host resources (streams, pollables, component handles) one
    /// check may hold.
    pub resources: usize,
    /// Bytes one host call may carry from the policy (wasmtime's hostcall
    /// fuel): a request body, a log line.
    pub hostcall_bytes: usize,
    /// Default per-request timeout when the policy sets none.
    pub http_timeout: Duration,
    /// Response bodies larger than this are refused with `too-large`.
    pub response_bytes: u64,
    /// Captured stdout, stderr and log lines of one check.
    pub log_bytes: usize,
    /// A check's message; longer ones are cut.
    pub message_bytes: usize,
    /// Measurements one check may report; extra ones are dropped, said so.
    pub measurements: usize,
    /// Bytes of a check's whole result (message, measurements' text and
    /// values); a larger result is discarded and the check errors.
    pub result_bytes: usize,
    /// Size of a `.wasm` file gate agrees to compile.
    pub wasm_bytes: u64,
    /// Time gate waits for a policy to compile.
    pub compile_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 32,
            tables: 32,
            memories: 8,
            wasm_stack_bytes: 512 << 10,
            host_calls: 100_000,
            resources: 1024,
            hostcall_bytes: 16 << 20,
            http_timeout: Duration::from_secs(30),
            response_bytes: 8 << 20,
            log_bytes: 256 << 10,
            message_bytes: 4 << 10,
            measurements: 64,
            result_bytes: 1 << 20,
            wasm_bytes: 32 << 20,
            compile_timeout: Duration::from_secs(60),
        }
    }
}

/// How a limit is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A plain number: `20000`.
    Count,
    /// A byte size: `512KiB`, `16MiB`.
    Size,
    /// A duration: `500ms`, `30s`.
    Duration,
}

/// One settable limit: its key in gate.toml's `[limits]` and in
/// `--limit KEY=VALUE`, and the range gate accepts. The ranges keep a typo
/// from turning a limit off.
struct Spec {
    key: &'static str,
    kind: Kind,
    min: u64,
    max: u64,
    /// The limit's value in [`Kind`]'s unit (a count, bytes, milliseconds).
    get: fn(&Limits) -> u64,
    put: fn(&mut Limits, u64),
}

/// Every limit that `[limits]` and `--limit` set. `timeout` and
/// `memory_limit` have their own keys and flags.
const SPECS: &[Spec] = &[
    Spec {
        key: "table_elements",
        kind: Kind::Count,
        min: 1,
        max: 10_000_000,
        get: |l| l.table_elements as u64,
        put: |l, v| l.table_elements = v as usize,
    },
    Spec {
        key: "instances",
        kind: Kind::Count,
        min: 1,
        max: 10_000,
        get: |l| l.instances as u64,
        put: |l, v| l.instances = v as usize,
    },
    Spec {
        key: "tables",
        kind: Kind::Count,
        min: 1,
        max: 10_000,
        get: |l| l.tables as u64,
        put: |l, v| l.tables = v as usize,
    },
    Spec {
        key: "memories",
        kind: Kind::Count,
        min: 1,
        max: 100,
        get: |l| l.memories as u64,
        put: |l, v| l.memories = v as usize,
    },
    // wasmtime needs the wasm stack to fit in its 2 MiB async stack.
    Spec {
        key: "wasm_stack",
        kind: Kind::Size,
        min: 64 << 10,
        max: 1 << 20,
        get: |l| l.wasm_stack_bytes as u64,
        put: |l, v| l.wasm_stack_bytes = v as usize,
    },
    Spec {
        key: "host_calls",
        kind: Kind::Count,
        min: 1,
        max: 100_000_000,
        get: |l| l.host_calls,
        put: |l, v| l.host_calls = v,
    },
    Spec {
        key: "resources",
        kind: Kind::Count,
        min: 1,
        max: 1_000_000,
        get: |l| l.resources as u64,
        put: |l, v| l.resources = v as usize,
    },
    Spec {
        key: "host_call_bytes",
        kind: Kind::Size,
        min: 1 << 10,
        max: 1 << 30,
        get: |l| l.hostcall_bytes as u64,
        put: |l, v| l.hostcall_bytes = v as usize,
    },
    Spec {
        key: "http_timeout",
        kind: Kind::Duration,
        min: 1,
        max: 3_600_000,
        get: |l| l.http_timeout.as_millis() as u64,
        put: |l, v| l.http_timeout = Duration::from_millis(v),
    },
    Spec {
        key: "response_bytes",
        kind: Kind::Size,
        min: 1,
        max: 1 << 30,
        get: |l| l.response_bytes,
        put: |l, v| l.response_bytes = v,
    },
    Spec {
        key: "log_bytes",
        kind: Kind::Size,
        min: 1 << 10,
        max: 64 << 20,
        get: |l| l.log_bytes as u64,
        put: |l, v| l.log_bytes = v as usize,
    },
    Spec {
        key: "message_bytes",
        kind: Kind::Size,
        min: 64,
        max: 1 << 20,
        get: |l| l.message_bytes as u64,
        put: |l, v| l.message_bytes = v as usize,
    },
    Spec {
        key: "measurements",
        kind: Kind::Count,
        min: 1,
        max: 10_000,
        get: |l| l.measurements as u64,
        put: |l, v| l.measurements = v as usize,
    },
    Spec {
        key: "result_bytes",
        kind: Kind::Size,
        min: 1 << 10,
        max: 64 << 20,
        get: |l| l.result_bytes as u64,
        put: |l, v| l.result_bytes = v as usize,
    },
    Spec {
        key: "wasm_size",
        kind: Kind::Size,
        min: 1 << 10,
        max: MAX_WASM_BYTES,
        get: |l| l.wasm_bytes,
        put: |l, v| l.wasm_bytes = v,
    },
    Spec {
        key: "compile_timeout",
        kind: Kind::Duration,
        min: 1_000,
        max: 3_600_000,
        get: |l| l.compile_timeout.as_millis() as u64,
        put: |l, v| l.compile_timeout = Duration::from_millis(v),
    },
];

/// The largest `wasm_size` any environment may set: what `gate sign` and
/// `gate verify`, which read no environment, accept, so that they never
/// refuse a policy some run is allowed to load.
pub const MAX_WASM_BYTES: u64 = 1 << 30;

/// The keys `[limits]` and `--limit` accept, for messages.
pub fn keys() -> String {
    SPECS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
}

impl Limits {
    /// Sets one limit from its text (`host_calls` = `5000`, `wasm_stack` =
    /// `256KiB`, `compile_timeout` = `20s`), checking its range.
    pub fn set(&mut self, key: &str, text: &str) -> Result<(), String> {
        let spec = SPECS.iter().find(|s| s.key == key).ok_or_else(|| {
            format!("unknown limit `{key}` (known: {}; `timeout` and `memory_limit` are keys of their own)", keys())
        })?;
        let value = spec.parse(text)?;
        (spec.put)(self, value);
        Ok(())
    }

    /// The limits that differ from the defaults, by key (`timeout` and
    /// `memory_limit` among them), written as gate.toml would take them:
    /// what a recording keeps, so that its replay runs under the same.
    pub fn recorded(&self) -> std::collections::BTreeMap<String, String> {
        let default = Limits::default();
        let mut recorded: std::collections::BTreeMap<String, String> = self
            .settable()
            .into_iter()
            .zip(default.settable())
            .filter(|(ours, theirs)| ours != theirs)
            .map(|((key, value), _)| (key.to_owned(), value))
            .collect();
        if self.timeout != default.timeout {
            recorded.insert("timeout".into(), format!("{}ms", self.timeout.as_millis()));
        }
        if self.memory_bytes != default.memory_bytes {
            recorded.insert("memory_limit".into(), self.memory_bytes.to_string());
        }
        recorded
    }

    /// The defaults with what [`Limits::recorded`] kept applied.
    pub fn of_recorded(
        recorded: &std::collections::BTreeMap<String, String>,
    ) -> Result<Limits, String> {
        let mut limits = Limits::default();
        for (key, value) in recorded {
            // Named once: a value out of range names its key already.
            let named = |e: String| {
                if e.contains(key.as_str()) {
                    e
                } else {
                    format!("`{key}`: {e}")
                }
            };
            match key.as_str() {
                "timeout" => limits.timeout = gate_units::parse_duration(value).map_err(named)?,
                "memory_limit" => {
                    limits.memory_bytes = crate::units::parse_size(value).map_err(named)?;
                }
                known if SPECS.iter().any(|spec| spec.key == known) => {
                    limits.set(key, value).map_err(named)?;
                }
                // Names itself, with the keys there are.
                _ => limits.set(key, value)?,
            }
        }
        Ok(limits)
    }

    /// Every limit `[limits]` and `--limit` set, by key, with its value
    /// here written as gate.toml would take it (`20000`, `512 KiB`, `30s`).
    pub fn settable(&self) -> Vec<(&'static str, String)> {
        SPECS
            .iter()
            .map(|spec| (spec.key, spec.written((spec.get)(self))))
            .collect()
    }
}

impl Spec {
    /// The value in the spec's unit: a count, bytes or milliseconds.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let text = text.trim();
        let value = match self.kind {
            Kind::Count => text
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("`{text}` is not a whole number"))?,
            Kind::Size => crate::units::parse_size(text)?,
            Kind::Duration => {
                let duration = crate::units::parse_duration(text)?;
                u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
            }
        };
        if (self.min..=self.max).contains(&value) {
            return Ok(value);
        }
        Err(format!(
            "`{text}` is out of range for {}: {} to {}",
            self.key,
            self.written(self.min),
            self.written(self.max)
        ))
    }

    /// A value in this limit's unit as gate.toml would take it.
    fn written(&self, value: u64) -> String {
        match self.kind {
            Kind::Count => value.to_string(),
            Kind::Size => crate::units::size_as_written(value),
            Kind::Duration => crate::units::duration_as_written(Duration::from_millis(value)),
        }
    }
}

/// `--limit KEY=VALUE`, checked when the command line is read.
pub fn parse_flag(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE (keys: {})", keys()))?;
    let key = key.trim().to_owned();
    Limits::default().set(&key, value)?;
    Ok((key, value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_limits_give_back_the_same_limits() {
        assert!(Limits::default().recorded().is_empty());
        let mut limits = Limits::default();
        limits.set("host_calls", "5000").unwrap();
        limits.set("message_bytes", "16KiB").unwrap();
        limits.timeout = Duration::from_millis(2500);
        limits.memory_bytes = 256 << 20;
        let recorded = limits.recorded();
        assert_eq!(recorded.len(), 4, "{recorded:?}");
        let back = Limits::of_recorded(&recorded).unwrap();
        assert_eq!(back, limits);
        for (key, value) in [
            ("host_calls", "0"),
            ("response_bytes", "0"),
            ("timeout", "soon"),
            ("memory_limit", "lots"),
        ] {
            let bad = [(key.to_owned(), value.to_owned())].into();
            let error = Limits::of_recorded(&bad).unwrap_err();
            assert_eq!(error.matches(key).count(), 1, "{error}");
        }
        let unknown = [("fuel".to_owned(), "1".to_owned())].into();
        let error = Limits::of_recorded(&unknown).unwrap_err();
        assert!(error.starts_with("unknown limit `fuel`"), "{error}");
    }

    #[test]
    fn every_limit_can_be_set_within_its_range() {
        let mut limits = Limits::default();
        for (key, text) in [
            ("table_elements", "1_000"),
            ("instances", "4"),
            ("tables", "5"),
            ("memories", "2"),
            ("wasm_stack", "256KiB"),
            ("host_calls", "5000"),
            ("resources", "64"),
            ("host_call_bytes", "1MiB"),
            ("http_timeout", "2s"),
            ("response_bytes", "64KiB"),
            ("log_bytes", "8KiB"),
            ("message_bytes", "512"),
            ("measurements", "8"),
            ("result_bytes", "256KiB"),
            ("wasm_size", "4MiB"),
            ("compile_timeout", "20s"),
        ] {
            limits
                .set(key, text)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        assert_eq!(limits.table_elements, 1000);
        assert_eq!(limits.instances, 4);
        assert_eq!(limits.tables, 5);
        assert_eq!(limits.memories, 2);
        assert_eq!(limits.wasm_stack_bytes, 256 << 10);
        assert_eq!(limits.host_calls, 5000);
        assert_eq!(limits.resources, 64);
        assert_eq!(limits.hostcall_bytes, 1 << 20);
        assert_eq!(limits.http_timeout, Duration::from_secs(2));
        assert_eq!(limits.response_bytes, 64 << 10);
        assert_eq!(limits.log_bytes, 8 << 10);
        assert_eq!(limits.message_bytes, 512);
        assert_eq!(limits.measurements, 8);
        assert_eq!(limits.wasm_bytes, 4 << 20);
        assert_eq!(limits.result_bytes, 256 << 10);
        assert_eq!(limits.compile_timeout, Duration::from_secs(20));
        assert_eq!(SPECS.len(), 16);
    }

    #[test]
    fn every_limit_reads_back_as_written() {
        let defaults = Limits::default().settable();
        assert_eq!(defaults.len(), SPECS.len());
        assert!(defaults.contains(&("wasm_stack", "512 KiB".to_owned())));
        assert!(defaults.contains(&("http_timeout", "30s".to_owned())));
        assert!(defaults.contains(&("host_calls", "100000".to_owned())));
        // What is shown, set again, changes nothing.
        let mut limits = Limits::default();
        for (key, written) in &defaults {
            limits
                .set(key, written)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        assert_eq!(limits.settable(), defaults);
        limits.set("response_bytes", "64KiB").unwrap();
        limits.set("compile_timeout", "90s").unwrap();
        let shown = limits.settable();
        assert!(shown.contains(&("response_bytes", "64 KiB".to_owned())));
        assert!(shown.contains(&("compile_timeout", "90s".to_owned())));
    }

    #[test]
    fn bad_limits_say_why() {
        let mut limits = Limits::default();
        let error = limits.set("wasm_stack", "64MiB").unwrap_err();
        assert_eq!(
            error,
            "`64MiB` is out of range for wasm_stack: 64 KiB to 1 MiB"
        );
        let error = limits.set("host_calls", "0").unwrap_err();
        assert!(error.contains("1 to 100000000"), "{error}");
        let error = limits.set("host_calls", "lots").unwrap_err();
        assert!(error.contains("not a whole number"), "{error}");
        let error = limits.set("compile_timeout", "10ms").unwrap_err();
        assert!(error.contains("1s to 1h"), "{error}");
        let error = limits.set("hostcalls", "1").unwrap_err();
        assert!(
            error.starts_with("unknown limit `hostcalls` (known: table_elements"),
            "{error}"
        );
        assert!(parse_flag("host_calls").is_err());
        assert_eq!(
            parse_flag("host_calls=5"),
            Ok(("host_calls".into(), "5".into()))
        );
        // Nothing changed on error.
        assert_eq!(limits.wasm_stack_bytes, Limits::default().wasm_stack_bytes);
    }
}
