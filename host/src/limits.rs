//! What one check may consume. Every limit has a safe default.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one check, host calls included (`--timeout`).
    pub timeout: Duration,
    /// Linear memory of one check's instance (`--memory-limit`).
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
            wasm_bytes: 32 << 20,
            compile_timeout: Duration::from_secs(60),
        }
    }
}
