//! gate: runs sandboxed WebAssembly policies (promotion gates, rollback
//! triggers, smoke tests) against a deployed stack.
//!
//! The binary is a thin layer over this library: [`cli`] defines the
//! commands, [`config`] reads gate.toml, [`plan`] decides what a run does
//! (flags over gate.toml), [`runtime`] loads and runs policies, [`caps`] implements the
//! capabilities policies import, [`report`] writes results, [`verdict`]
//! turns them into an exit code.

pub mod bindings;
pub mod cache;
pub mod caps;
pub mod cli;
pub mod config;
pub mod decision_log;
pub mod env_cmd;
pub mod files;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod grants;
pub mod inspect;
pub mod integrity;
pub mod limiter;
pub mod limits;
pub mod log_cmd;
pub mod net;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod pooling;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod run;
pub mod runtime;
pub mod scaffold;
pub mod selection;
pub mod signing;
pub mod state;
pub mod tape;
pub mod text;
pub mod trust;
pub mod units;
pub mod verdict;
pub mod watch;
