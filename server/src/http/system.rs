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

pub(super) fn routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz").and(warp::get()).map(|| "ok".into_response());
    let readyz = warp::path!("readyz").and(warp::get()).map(|| "ready".into_response());
    let metrics = warp::path!("metrics").and(warp::get()).and(with_ctx(ctx)).and(authorization()).then(
        |ctx: Arc<Ctx>, auth: Option<String>| async move {
            respond(
                async {
                    if let Some(token) = &ctx.edge.metrics_token {
                        check_metrics_token(auth.as_deref(), token)?;
                    }
                    let text = ctx.metrics_text().await?;
                    let content_type = "text/plain; version=0.0.4; charset=utf-8";
                    Ok(warp::reply::with_header(text, "content-type", content_type).into_response())
                }
                .await,
            )
        },
    );
    let openapi = warp::path!("openapi.json").and(warp::get()).map(|| {
        warp::reply::with_header(agora_api::openapi_json(), "content-type", "application/json").into_response()
    });
    healthz.or(readyz).unify().or(metrics).unify().or(openapi).unify().boxed()
}
