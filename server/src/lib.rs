//! Agora's master: the HTTP API, the allocator, event streams and metrics, on the embedded
//! store. [`serve`] runs it on a listener until a shutdown future resolves.

pub mod allocator;
pub mod auth;
pub mod error;
pub mod events;
pub mod http;
pub mod logs;
pub mod master;
pub mod metrics;
pub mod ratelimit;
pub mod serve;
pub mod store;
pub mod tls;

pub use auth::{Keys, Kind};
pub use error::ServerError;
pub use master::{Master, MasterConfig};

use std::future::Future;
use std::sync::Arc;

/// Serves the API on `listener` (over TLS with `tls`) and runs the allocator until `shutdown` resolves; then open
/// streams end and in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    master: Arc<Master>,
    keys: Arc<Keys>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let allocator = tokio::spawn(master.clone().run_leader_loop(stop_rx.clone()));
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
    });
    serve::run(listener, tls, ctx, shutdown, move || {
        // Event streams and log followers end when they see this.
        let _ = stop_tx.send(true);
    })
    .await;
    allocator.abort();
    reloader.abort();
}

/// How often a server reads its data directory's keys again.
const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
