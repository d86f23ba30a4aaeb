//! Host-side bindings of the `gate:policy` WIT package.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    imports: { default: async | trappable },
    exports: { default: async },
    // Answers of docker and tls calls go on the record/replay tape as they
    // are (see crate::tape).
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use self::gate::policy::types::{Capability, CheckInfo, Measurement, Outcome, PolicyKind};
pub use exports::gate::policy::checks::{CheckResult, PolicyInfo};
