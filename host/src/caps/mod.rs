//! Capabilities: the WIT interfaces the host implements for policies, one
//! module each. Each asks the run's [`Grants`](crate::grants::Grants) before
//! any I/O and counts itself against the check's host-call budget.

pub mod context;
pub mod docker;
pub mod http;
pub mod metrics;
pub mod tls;

use wasmtime::component::Linker;

use crate::bindings::Policy;
use crate::state::HostState;

impl crate::bindings::gate::policy::types::Host for HostState {}

/// Links WASI p2 (nothing granted, see [`HostState::new`]) and every
/// capability interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Policy::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}
