//! The one seam between the SDK and the host. Every call the SDK makes to
//! the runner goes through a function here: compiled for wasm32 it is the
//! WIT import; natively it asks the [`MockHost`](crate::mock::MockHost) of
//! the running test, since the real host exists only inside gate.
//!
//! A new capability function is one line of `seam!` (and a method of the
//! same name on the mock's state). HTTP and metrics cross the seam as WIT
//! types; docker and tls as the SDK's own types, converted from WIT on the
//! wasm side only, so the mock deals in what authors write.

use crate::__private::bindings::gate::policy as wit;
use wit::context::LogLevel;
use wit::http::{HttpError, Request, Response};
use wit::metrics::{MetricsError, QueryResult};

use crate::docker::{Container, DockerError, Filter, Stats, Summary};
use crate::tls::{Peer, TlsError};

macro_rules! seam {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $import:path;)*) => {
        $(
            #[cfg(target_arch = "wasm32")]
            pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                $import($($arg),*)
            }

            #[cfg(not(target_arch = "wasm32"))]
            pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                crate::mock::with(|host| host.$name($($arg),*))
            }
        )*
    };
}

seam! {
    fn http_send(request: &Request) -> Result<Response, HttpError> = wit::http::send;
    fn metrics_query(promql: &str, time: Option<f64>) -> Result<QueryResult, MetricsError> = wit::metrics::query;
    fn metrics_query_range(promql: &str, start: f64, end: f64, step: f64) -> Result<QueryResult, MetricsError> = wit::metrics::query_range;
    fn target() -> Option<String> = wit::context::target;
    fn env_name() -> String = wit::context::env_name;
    fn release() -> Option<String> = wit::context::release;
    fn param(name: &str) -> Option<String> = cached_param;
    fn params() -> Vec<(String, String)> = wit::context::params;
    fn secret(name: &str) -> Option<String> = wit::context::secret;
    fn log(level: LogLevel, message: &str) = wit::context::log;
    fn sleep(ms: u32) = wit::context::sleep;
    fn docker_list(filter: &Filter) -> Result<Vec<Summary>, DockerError> = crate::docker::wit_calls::list;
    fn docker_inspect(container: &str) -> Result<Container, DockerError> = crate::docker::wit_calls::inspect;
    fn docker_stats(container: &str) -> Result<Stats, DockerError> = crate::docker::wit_calls::stats;
    fn tls_inspect(host: &str, port: u16) -> Result<Peer, TlsError> = crate::tls::wit_inspect;
}

/// A parameter, from a copy of all of them fetched in one host call the
/// first time the check asks for one: a check reading twenty parameters
/// would otherwise cross into the host twenty times. Each instance runs one
/// check with one set of parameters, so the copy cannot go stale.
#[cfg(target_arch = "wasm32")]
fn cached_param(name: &str) -> Option<String> {
    static PARAMS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    PARAMS
        .get_or_init(wit::context::params)
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}
