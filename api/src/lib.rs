//! Agora's wire types: every JSON shape that crosses the network, and the OpenAPI document
//! that describes them. No HTTP server or store code lives here, so SDKs, the CLI, the agent
//! and the server all share one definition.

pub mod agent;
pub mod constraints;
pub mod containers;
pub mod framework;
pub mod ids;
pub mod operator;
pub mod paths;
pub mod resources;
pub mod services;
pub mod streams;
pub mod types;

pub use containers::{ContainerInfo, Containerizer, FetchUri};
pub use ids::{AgentId, FrameworkId, OfferId, TaskId, UpdateId};
pub use resources::Resources;
pub use types::{
    Check, Command, ErrorBody, HealthCheck, HttpProbe, Labels, Offer, TaskInfo, TaskState, TaskStatus, TcpProbe, Volume,
};

/// The OpenAPI document as pretty JSON, exactly as checked in at `openapi/agora.json`.
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    let mut doc = paths::ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut text = doc.to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// A random version-4 UUID string.
pub(crate) fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
