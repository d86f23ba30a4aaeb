//! Host-side bindings of the `gate:policy` WIT package.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports::gate::policy::checks::{CheckResult, PolicyInfo};
pub use gate::policy::types::{Capability, CheckInfo, Measurement, Outcome, PolicyKind};
