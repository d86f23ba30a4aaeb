//! Running the service: on a private thread for tests, or inside a caller's runtime.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::Config;
use crate::app::{self, AppState};
use crate::faults::{FaultState, Faults};
use crate::metrics::Metrics;

/// How long a shutdown waits for in-flight requests (e.g. ones sleeping on
/// injected latency) before dropping them, so stopping never hangs a test.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A service running on its own thread and tokio runtime; shuts down on drop.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    faults: Arc<FaultState>,
    metrics: Arc<Metrics>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Server {
    /// Starts the service on `127.0.0.1:<port>` (0 picks a free port) on a
    /// background thread with its own tokio runtime.
    ///
    /// Returns once the socket is listening: the kernel queues connections
    /// from then on, so callers can send requests right away.
    pub fn start(port: u16, config: Config) -> io::Result<Server> {
        // Bound here rather than on the thread so bind errors reach the caller.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        // One thread is plenty for a test target and keeps test runs light.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };

        let state = AppState::new(config);
        let faults = state.faults.clone();
        let metrics = state.metrics.clone();
        let (shutdown, stop_requested) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("gate-demo-{}", addr.port()))
            .spawn(move || {
                // An error means the sender was dropped, which is a stop too.
                let signal = async {
                    let _ = stop_requested.await;
                };
                runtime.block_on(serve_state(listener, state, signal, true))
            })?;

        Ok(Server {
            addr,
            faults,
            metrics,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address the server listens on (always loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces all faults, as `PUT /admin/faults` does, but without its
    /// validation; an out-of-range `error_rate` is clamped to `0..=1`.
    pub fn set_faults(&self, faults: Faults) {
        self.faults.set(faults);
    }

    /// The faults currently in effect.
    pub fn faults(&self) -> Faults {
        self.faults.get()
    }

    /// Requests handled so far on any path, admin and `/metrics` included.
    pub fn requests_served(&self) -> u64 {
        self.metrics.requests_served()
    }

    /// The most requests that were being answered at once so far.
    pub fn most_requests_in_flight(&self) -> u64 {
        self.metrics.most_in_flight()
    }

    /// Shuts down gracefully and waits for the server thread to finish.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The receiver is gone only if the server already stopped.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Nobody to return an error to from here; say it rather than lose it.
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => eprintln!("gate-demo server on {} failed: {err}", self.addr),
                Err(_) => eprintln!("gate-demo server thread on {} panicked", self.addr),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Serves the sample stack on `listener` until `shutdown` completes, then
/// lets in-flight requests finish (for at most a few seconds).
///
/// For callers that already run tokio, like the `sample-service` binary.
/// Fails with [`io::ErrorKind::InvalidInput`] if `listener` is not bound to a
/// loopback address: the admin endpoints are unauthenticated.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_state(listener, AppState::new(config), shutdown, true).await
}

/// [`serve`] on any address, for the service inside a container: there the
/// network namespace is the container's own, and only the port the compose
/// file publishes (on the host's 127.0.0.1) is reachable.
pub async fn serve_in_container(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_state(listener, AppState::new(config), shutdown, false).await
}

async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    loopback_only: bool,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    if loopback_only && !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to serve on non-loopback address {addr}"),
        ));
    }

    // Both the graceful shutdown and the grace deadline wait for the one
    // caller-supplied signal, so it is fanned out through a watch channel.
    let (stopping_tx, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    });
    let mut graceful_signal = stopping.clone();
    let mut deadline_signal = stopping;

    let serving = axum::serve(listener, app::router(state)).with_graceful_shutdown(async move {
        let _ = graceful_signal.wait_for(|stopping| *stopping).await;
    });
    let deadline = async move {
        let _ = deadline_signal.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = serving => result,
        () = deadline => Ok(()),
    }
}
