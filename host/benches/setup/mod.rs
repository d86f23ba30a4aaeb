//! What the benches share: the bench guest, a runtime, a session and the
//! loaded policy, and a run that must pass.

use std::path::PathBuf;
use std::sync::Arc;

use gate::cli::{EngineArgs, Pooling};
use gate::grants::Grants;
use gate::limits::Limits;
use gate::report::progress::Progress;
use gate::runtime::{LoadedPolicy, Runtime};
use gate::state::Session;

pub fn guest() -> PathBuf {
    if let Some(path) = std::env::var_os("GATE_BENCH_GUEST") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("wasm32-wasip2/guest/gate_policy_bench.wasm");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --target wasm32-wasip2 --profile guest -p gate-policy-bench` (or set GATE_BENCH_GUEST)",
        path.display()
    );
    path
}

pub struct Setup {
    pub tokio: tokio::runtime::Runtime,
    pub runtime: Runtime,
    pub session: Arc<Session>,
    pub policy: LoadedPolicy,
}

/// Runs the policy's checks once, one at a time, as `gate run` would, and
/// insists they passed (a benchmark of a failing check measures nothing).
pub fn run_passing(s: &Setup) -> Vec<gate::report::CheckReport> {
    let reports = s.tokio.block_on(s.runtime.run(
        &s.policy,
        &s.session,
        1,
        false,
        gate::runtime::Retry::NONE,
        &Progress::default(),
    ));
    for report in &reports {
        assert_eq!(
            report.outcome,
            gate::report::Outcome::Pass,
            "{}: {}",
            report.name,
            report.message
        );
    }
    reports
}

/// `target`: the `--target` the checks' HTTP requests go to, if any.
pub fn setup(
    pooling: Pooling,
    cache_dir: Option<PathBuf>,
    params: &[(String, String)],
    target: Option<url::Url>,
) -> Setup {
    // One thread, as `gate` runs by default.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limits = Limits::default();
    let engine = EngineArgs {
        no_cache: cache_dir.is_none(),
        cache_dir,
        pooling,
    };
    let runtime = Runtime::with_options(&limits, &engine, Some(1)).unwrap();
    let grants = Grants {
        params: params.iter().cloned().collect(),
        target,
        ..Grants::default()
    };
    let session = Arc::new(Session::new(grants, limits, []).unwrap());
    let policy = tokio.block_on(runtime.load(&guest(), &session)).unwrap();
    Setup {
        tokio,
        runtime,
        session,
        policy,
    }
}

pub fn suite(name: &str) -> Vec<(String, String)> {
    vec![("suite".to_owned(), name.to_owned())]
}
