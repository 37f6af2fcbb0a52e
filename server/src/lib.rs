//! Agora's master: the HTTP API, the allocator, event streams and metrics, on the embedded
//! store. [`serve`] runs it on a listener until a shutdown future resolves.

pub mod allocator;
pub mod auth;
pub mod dns;
pub mod error;
pub mod http;
pub mod logs;
pub mod master;
pub mod metrics;
mod proxy_protocol;
pub mod ratelimit;
pub mod serve;
pub mod services;
pub mod store;
pub mod tls;

pub use auth::{Keys, Kind};

/// Raises this process's soft limit on open files to its hard limit, and returns the two soft
/// limits, before and after. Every agent holds a connection to the server, and many systems
/// start a process with a soft limit of 1,024 under a hard limit of a million or more, so a
/// server left at the soft limit would turn agents away past a thousand (Go's runtime raises
/// it the same way).
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((soft, getrlimit(Resource::RLIMIT_NOFILE)?.0))
}
pub use error::ServerError;
pub use master::{Master, MasterConfig};
pub use serve::EdgeConfig;

use std::future::Future;
use std::sync::Arc;

/// Serves the API on `listener` (over TLS with `tls`) and runs the allocator until `shutdown` resolves; then open
/// streams end and in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    master: Arc<Master>,
    keys: Arc<Keys>,
    edge: serve::EdgeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let allocator = tokio::spawn(master.clone().run_leader_loop(stop_rx.clone()));
    let services = tokio::spawn(services::run(master.clone(), stop_rx.clone()));
    // Rotated and removed keys take effect without a restart.
    let reloader = {
        let keys = keys.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEY_RELOAD_INTERVAL).await;
                keys.reload();
            }
        })
    };
    let ctx = Arc::new(http::Ctx {
        master,
        keys,
        shutdown: stop_rx,
        logs: logs::LogRelay::default(),
        auth_failures: ratelimit::AuthFailures::default(),
        edge,
        metrics_cache: Default::default(),
    });
    serve::run(listener, tls, ctx, shutdown, move || {
        // Event streams and log followers end when they see this.
        let _ = stop_tx.send(true);
    })
    .await;
    allocator.abort();
    services.abort();
    reloader.abort();
}

/// How often a server reads its data directory's keys again.
const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

#[cfg(test)]
mod tests {
    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("limit");
        // As a process started with the common default of 1,024 (any process may lower it).
        let low = hard.min(1024);
        setrlimit(Resource::RLIMIT_NOFILE, low, hard).expect("lowered");
        let (before, after) = super::raise_open_file_limit().expect("raised");
        assert_eq!((before, after), (low, hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).expect("limit"), (hard, hard));
    }
}
