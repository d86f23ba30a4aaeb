//! Lines appended to the check's log, shown with its report.
//!
//! The host redacts secret values from everything a policy logs, but a
//! policy should still not log credentials on purpose.
//!
//! ```no_run
//! gate_sdk::log::info("sampling /api/v1/products");
//! gate_sdk::log::warn(format!("slow answer: {} ms", 812));
//! ```

use crate::__private::bindings::gate::policy::context::LogLevel;

/// Logs a detail useful when debugging the policy.
///
/// ```no_run
/// gate_sdk::log::debug(format!("GET /ready took {} ms", 12.5));
/// ```
pub fn debug(message: impl AsRef<str>) {
    crate::host::log(LogLevel::Debug, message.as_ref());
}

/// Logs a step of the check.
///
/// ```no_run
/// gate_sdk::log::info("checking /ready");
/// ```
pub fn info(message: impl AsRef<str>) {
    crate::host::log(LogLevel::Info, message.as_ref());
}

/// Logs something odd that does not change the outcome.
///
/// ```no_run
/// gate_sdk::log::warn("response had no content-type");
/// ```
pub fn warn(message: impl AsRef<str>) {
    crate::host::log(LogLevel::Warn, message.as_ref());
}

/// Logs a failure the check works around or reports.
///
/// ```no_run
/// gate_sdk::log::error("upstream answered 502");
/// ```
pub fn error(message: impl AsRef<str>) {
    crate::host::log(LogLevel::Error, message.as_ref());
}
