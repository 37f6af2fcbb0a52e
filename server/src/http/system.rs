//! Routes of the process itself: health, readiness, metrics and the OpenAPI document.

use super::*;

/// How long one `/metrics` exposition serves: reading the gauges reads the store, so a flood
/// of scrapes costs one read a second.
const METRICS_CACHE: std::time::Duration = std::time::Duration::from_secs(1);

impl Ctx {
    /// The metrics exposition, made at most once per [`METRICS_CACHE`].
    async fn metrics_text(&self) -> Result<String, ServerError> {
        let mut cache = self.metrics_cache.lock().await;
        if let Some((made, text)) = cache.as_ref().filter(|(made, _)| made.elapsed() < METRICS_CACHE) {
            tracing::trace!(age = ?made.elapsed(), "metrics from the cache");
            return Ok(text.clone());
        }
        let text = self.master.metrics.render(&self.master.gauges().await?);
        *cache = Some((tokio::time::Instant::now(), text.clone()));
        Ok(text)
    }
}

/// Checks `--metrics-token`. Their digests are compared, so that how long the comparison takes
/// tells nothing of the token's bytes.
fn check_metrics_token(header: Option<&str>, token: &str) -> Result<(), ServerError> {
    let given = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("").trim();
    let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    if digest(given).as_ref() != digest(token).as_ref() {
        return Err(ServerError::Unauthorized {
            message: "/metrics needs the metrics token: Authorization: Bearer <token>".into(),
        });
    }
    Ok(())
}

fn text(body: String, content_type: &'static str) -> Reply_ {
    Ok(from_warp(warp::reply::with_header(body, "content-type", content_type).into_response()))
}

pub(super) async fn healthz(_: Arc<Ctx>, _: Call) -> Reply_ {
    text("ok".into(), "text/plain; charset=utf-8")
}

pub(super) async fn readyz(_: Arc<Ctx>, _: Call) -> Reply_ {
    text("ready".into(), "text/plain; charset=utf-8")
}

pub(super) async fn metrics(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    if let Some(token) = &ctx.edge.metrics_token {
        check_metrics_token(call.header("authorization")?, token)?;
    }
    text(ctx.metrics_text().await?, "text/plain; version=0.0.4; charset=utf-8")
}

pub(super) async fn openapi_json(_: Arc<Ctx>, _: Call) -> Reply_ {
    text(agora_api::openapi_json(), "application/json")
}
