//! Capabilities: the WIT interfaces the host implements for policies, one
//! module each. Each asks the run's [`Grants`](crate::grants::Grants) before
//! any I/O and counts itself against the check's host-call budget.

pub mod context;
pub mod docker;
pub mod http;
pub mod metrics;
pub mod tls;

use wasmtime::component::Linker;
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, io, random};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

use crate::bindings::Policy;
use crate::state::HostState;

impl crate::bindings::gate::policy::types::Host for HostState {}

/// How much of WASI p2 a linker holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wasi {
    /// The interfaces in [`COMMON`]: all that Rust's std imports in a
    /// policy that opens no file and no socket, which is every policy the
    /// SDK builds.
    Common,
    /// All of WASI p2, the filesystem and sockets too (nothing granted).
    All,
}

impl Wasi {
    /// What a component whose imports are `imports` (names such as
    /// `wasi:cli/stdout@0.2.6`) needs linked.
    pub fn for_imports<'a>(imports: impl IntoIterator<Item = &'a str>) -> Wasi {
        let common = |name: &str| {
            let interface = name.split_once('@').map_or(name, |(i, _)| i);
            !interface.starts_with("wasi:") || COMMON.iter().any(|(n, _)| *n == interface)
        };
        if imports.into_iter().all(common) {
            Wasi::Common
        } else {
            Wasi::All
        }
    }
}

type AddInterface = fn(&mut Linker<HostState>) -> wasmtime::Result<()>;

/// An entry of [`COMMON`]: `interface`, linked by wasmtime-wasi's
/// `module`, whose functions reach their part of the host state through
/// `view`.
macro_rules! wasi {
    ($interface:literal, $($module:ident)::+, $data:ty, $view:expr) => {
        ($interface, |l| $($module)::+::add_to_linker::<_, $data>(l, $view))
    };
}

/// The interfaces of [`Wasi::Common`], each with what links it. The
/// filesystem and sockets left out are more than half of WASI's functions,
/// and linking them was most of a run's time to link, on the path to its
/// first check.
#[rustfmt::skip] // a table: one line an interface
pub const COMMON: &[(&str, AddInterface)] = &[
    wasi!("wasi:io/error", io::error, Io, table),
    wasi!("wasi:io/poll", io::poll, Io, table),
    wasi!("wasi:io/streams", io::streams, Io, table),
    wasi!("wasi:clocks/wall-clock", clocks::wall_clock, WasiClocks, HostState::clocks),
    wasi!("wasi:clocks/monotonic-clock", clocks::monotonic_clock, WasiClocks, HostState::clocks),
    wasi!("wasi:random/random", random::random, WasiRandom, HostState::random),
    wasi!("wasi:random/insecure", random::insecure, WasiRandom, HostState::random),
    wasi!("wasi:random/insecure-seed", random::insecure_seed, WasiRandom, HostState::random),
    wasi!("wasi:cli/exit", cli::exit, WasiCli, HostState::cli),
    wasi!("wasi:cli/environment", cli::environment, WasiCli, HostState::cli),
    wasi!("wasi:cli/stdin", cli::stdin, WasiCli, HostState::cli),
    wasi!("wasi:cli/stdout", cli::stdout, WasiCli, HostState::cli),
    wasi!("wasi:cli/stderr", cli::stderr, WasiCli, HostState::cli),
    wasi!("wasi:cli/terminal-input", cli::terminal_input, WasiCli, HostState::cli),
    wasi!("wasi:cli/terminal-output", cli::terminal_output, WasiCli, HostState::cli),
    wasi!("wasi:cli/terminal-stdin", cli::terminal_stdin, WasiCli, HostState::cli),
    wasi!("wasi:cli/terminal-stdout", cli::terminal_stdout, WasiCli, HostState::cli),
    wasi!("wasi:cli/terminal-stderr", cli::terminal_stderr, WasiCli, HostState::cli),
];

fn table(state: &mut HostState) -> &mut wasmtime::component::ResourceTable {
    state.ctx().table
}

/// wasmtime-wasi's I/O interfaces reach the resource table alone.
struct Io;

impl wasmtime::component::HasData for Io {
    type Data<'a> = &'a mut wasmtime::component::ResourceTable;
}

/// Links `wasi` (nothing granted, see [`HostState::new`]) and every
/// capability interface.
pub fn add_to_linker(linker: &mut Linker<HostState>, wasi: Wasi) -> wasmtime::Result<()> {
    match wasi {
        Wasi::Common => {
            for (_, add) in COMMON {
                add(linker)?;
            }
        }
        Wasi::All => wasmtime_wasi::p2::add_to_linker_async(linker)?,
    }
    Policy::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use wasmtime::component::Component;
    use wasmtime::{Config, Engine};

    use super::*;

    /// The WASI version Rust's std for wasm32-wasip2 imports.
    const STD_WASI: &str = "0.2.6";

    fn engine() -> Engine {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).expect("engine")
    }

    /// A component that imports `name` as an instance with `items`
    /// (instance type declarations), after the imports `before`: it links
    /// only where `name` is defined with them.
    fn importing(engine: &Engine, before: &str, name: &str, items: &str) -> Component {
        let wasm = wat::parse_str(format!(
            r#"(component {before} (import "{name}" (instance {items})))"#
        ))
        .expect("component text");
        Component::from_binary(engine, &wasm).expect("component")
    }

    /// What an interface that returns another's resource imports first,
    /// as Rust's std does: the resource's own interface.
    fn uses(interface: &str, resource: &str) -> String {
        format!(
            r#"(import "{interface}@{STD_WASI}" (instance $used (export "{resource}" (type (sub resource)))))
               (alias export $used "{resource}" (type $resource))"#
        )
    }

    /// An item of `resource`-returning `getter`: the resource as `uses`
    /// brought it in, then the function.
    fn getter(resource: &str, getter: &str, optional: bool) -> String {
        let result = if optional {
            "(option (own 1))"
        } else {
            "(own 1)"
        };
        format!(
            r#"(alias outer 1 $resource (type))
               (export "{resource}" (type (eq 0)))
               (export "{getter}" (func (result {result})))"#
        )
    }

    /// Imports to make first, and an item of each interface of [`COMMON`]
    /// as its instance type declares it.
    fn item(interface: &str) -> (String, String) {
        const DATETIME: &str = r#"(type (record (field "seconds" u64) (field "nanoseconds" u32)))
            (export "datetime" (type (eq 0)))
            (export "now" (func (result 1)))"#;
        let own = |item: &str| (String::new(), item.to_owned());
        let streams = |resource: &str, name: &str| {
            (
                uses("wasi:io/streams", resource),
                getter(resource, name, false),
            )
        };
        let terminal = |resource: &str, name: &str| {
            let interface = format!("wasi:cli/{resource}");
            (uses(&interface, resource), getter(resource, name, true))
        };
        match interface {
            "wasi:io/error" => own(r#"(export "error" (type (sub resource)))"#),
            "wasi:io/poll" => own(r#"(export "pollable" (type (sub resource)))"#),
            "wasi:io/streams" => own(r#"(export "input-stream" (type (sub resource)))"#),
            "wasi:clocks/wall-clock" => own(DATETIME),
            "wasi:clocks/monotonic-clock" => own(r#"(export "now" (func (result u64)))"#),
            "wasi:random/random" => own(r#"(export "get-random-u64" (func (result u64)))"#),
            "wasi:random/insecure" => {
                own(r#"(export "get-insecure-random-u64" (func (result u64)))"#)
            }
            "wasi:random/insecure-seed" => {
                own(r#"(export "insecure-seed" (func (result (tuple u64 u64))))"#)
            }
            "wasi:cli/exit" => own(r#"(export "exit" (func (param "status" (result))))"#),
            "wasi:cli/environment" => {
                own(r#"(export "get-arguments" (func (result (list string))))"#)
            }
            "wasi:cli/stdin" => streams("input-stream", "get-stdin"),
            "wasi:cli/stdout" => streams("output-stream", "get-stdout"),
            "wasi:cli/stderr" => streams("output-stream", "get-stderr"),
            "wasi:cli/terminal-input" => own(r#"(export "terminal-input" (type (sub resource)))"#),
            "wasi:cli/terminal-output" => {
                own(r#"(export "terminal-output" (type (sub resource)))"#)
            }
            "wasi:cli/terminal-stdin" => terminal("terminal-input", "get-terminal-stdin"),
            "wasi:cli/terminal-stdout" => terminal("terminal-output", "get-terminal-stdout"),
            "wasi:cli/terminal-stderr" => terminal("terminal-output", "get-terminal-stderr"),
            other => panic!("no item known for {other}: add one"),
        }
    }

    #[test]
    fn each_common_interface_is_linked_by_its_own_entry() {
        let engine = engine();
        for (name, add) in COMMON {
            let (before, items) = item(name);
            let component = importing(&engine, &before, &format!("{name}@{STD_WASI}"), &items);
            // Every other entry, since an interface may use another's types
            // (`wasi:cli/stdin` returns `wasi:io/streams`' input-stream).
            let mut linker = Linker::<HostState>::new(&engine);
            for (_, other) in COMMON.iter().filter(|(other, _)| other != name) {
                other(&mut linker).expect("link");
            }
            assert!(
                linker.instantiate_pre(&component).is_err(),
                "{name} links without its entry"
            );
            add(&mut linker).expect("link");
            if let Err(e) = linker.instantiate_pre(&component) {
                panic!("{name} is not linked by its entry: {e:#}");
            }
        }
    }

    #[test]
    fn a_policy_gets_all_of_wasi_only_when_it_imports_files_or_sockets() {
        let sdk_policy = [
            "gate:policy/context@0.1.3",
            "gate:policy/http@0.1.3",
            "wasi:cli/environment@0.2.6",
            "wasi:cli/stderr@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.6",
            "wasi:io/streams@0.2.6",
        ];
        assert_eq!(Wasi::for_imports(sdk_policy), Wasi::Common);
        assert_eq!(Wasi::for_imports([]), Wasi::Common);
        for rare in [
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:sockets/tcp@0.2.6",
            // Not WASI p2 as wasmtime-wasi links it: the linker of all of
            // WASI lacks it too, and says so.
            "wasi:http/types@0.2.6",
        ] {
            let imports = sdk_policy.into_iter().chain([rare]);
            assert_eq!(Wasi::for_imports(imports), Wasi::All, "{rare}");
        }
    }

    #[test]
    fn all_of_wasi_links_files_and_sockets_and_the_common_part_does_not() {
        let engine = engine();
        let component = importing(
            &engine,
            "",
            "wasi:sockets/tcp@0.2.6",
            r#"(export "tcp-socket" (type (sub resource)))"#,
        );
        let mut common = Linker::<HostState>::new(&engine);
        add_to_linker(&mut common, Wasi::Common).expect("link");
        assert!(common.instantiate_pre(&component).is_err());
        let mut all = Linker::<HostState>::new(&engine);
        add_to_linker(&mut all, Wasi::All).expect("link");
        all.instantiate_pre(&component).expect("sockets linked");
    }
}
