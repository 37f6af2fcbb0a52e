//! The events of the three streams, typed for the OpenAPI document: each stream's answer is
//! `oneOf` its events, told apart by a `discriminator` on `event`, so that code generators make a
//! type per event. Each event is an object with the SSE fields: `event` (its name), `data` (its
//! JSON, of the schema named here) and `id` (to resume after with `Last-Event-ID`).

use crate::agent::AgentCommand;
use crate::framework::FrameworkEvent;
use crate::operator::OperatorEvent;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{Discriminator, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};

/// One stream: the name of its union schema, the prefix of its events' schemas, and each
/// event's name with the schema of its `data` (`None`: an empty object).
pub struct Stream {
    pub union: &'static str,
    pub prefix: &'static str,
    pub events: &'static [(&'static str, Option<&'static str>)],
    /// Whether an event name is one the stream's type knows (its `parse` does not skip it).
    pub known: fn(&str) -> bool,
}

/// The framework stream (`GET /v1/frameworks/{id}/events`), the agent's command stream
/// (`GET /v1/agents/{id}/commands`) and the operator stream (`GET /v1/events`).
pub const STREAMS: [(&str, Stream); 3] = [
    (
        "/v1/frameworks/{id}/events",
        Stream {
            union: "FrameworkStreamEvent",
            prefix: "Framework",
            events: &[
                ("subscribed", Some("Subscribed")),
                ("offers", Some("Offers")),
                ("inverse_offers", Some("InverseOffers")),
                ("rescind", Some("Rescind")),
                ("update", Some("Update")),
                ("failure", Some("Failure")),
                ("error", Some("ErrorBody")),
                ("heartbeat", None),
            ],
            known: |name| !matches!(FrameworkEvent::parse(name, "{}"), Ok(None)),
        },
    ),
    (
        "/v1/agents/{id}/commands",
        Stream {
            union: "AgentStreamCommand",
            prefix: "Agent",
            events: &[
                ("launch", Some("LaunchCommand")),
                ("kill", Some("KillCommand")),
                ("acknowledge", Some("AcknowledgeCommand")),
                ("read_log", Some("ReadLogCommand")),
                ("destroy_volume", Some("DestroyVolumeCommand")),
                ("shutdown", None),
                ("ping", None),
                ("error", Some("ErrorBody")),
            ],
            known: |name| name == "error" || !matches!(AgentCommand::parse(name, "{}"), Ok(None)),
        },
    ),
    (
        "/v1/events",
        Stream {
            union: "OperatorStreamEvent",
            prefix: "Operator",
            events: &[
                ("agent_added", Some("AgentEvent")),
                ("agent_unreachable", Some("AgentEvent")),
                ("agent_removed", Some("AgentEvent")),
                ("framework_added", Some("FrameworkEventData")),
                ("framework_removed", Some("FrameworkEventData")),
                ("task_updated", Some("TaskEvent")),
                ("service_updated", Some("ServiceEvent")),
                ("deployment_started", Some("DeploymentEvent")),
                ("deployment_step", Some("DeploymentEvent")),
                ("deployment_finished", Some("DeploymentEvent")),
                ("deployment_failed", Some("DeploymentEvent")),
                ("endpoints_changed", Some("EndpointsEvent")),
                ("autoscaler", Some("AutoscalerEvent")),
                ("heartbeat", None),
                ("error", Some("ErrorBody")),
            ],
            known: |name| {
                matches!(name, "heartbeat" | "error") || !matches!(OperatorEvent::parse(name, "{}"), Ok(None))
            },
        },
    ),
];

/// `inverse_offers` as `InverseOffers`.
fn camel(name: &str) -> String {
    name.split('_').map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect()
}

/// The schemas of one stream: each event's, and the union of them.
pub fn schemas(stream: &Stream) -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = Vec::new();
    let mut union =
        OneOfBuilder::new().description(Some("One event of the stream: `event` says which, `data` is its JSON."));
    let mut discriminator = Discriminator::new("event");
    for (name, data) in stream.events {
        let schema_name = format!("{}{}Event", stream.prefix, camel(name));
        // The wire carries `data` as text: JSON of the schema its description names.
        let about = match data {
            Some(schema) => format!("The JSON of `{schema}`."),
            None => "`{}`.".to_string(),
        };
        // `contentSchema` (JSON Schema 2020-12) names the schema of that JSON for tools: the
        // SDKs decode `data` by it. utoipa has no setter for it, so it goes in as an extension
        // key (extensions built from an iterator keep their keys as given).
        let content_schema = data.map(|schema| {
            Extensions::from_iter([(
                "contentSchema",
                serde_json::json!({ "$ref": format!("#/components/schemas/{schema}") }),
            )])
        });
        let data: RefOr<Schema> = ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/json")
            .description(Some(about))
            .extensions(content_schema)
            .build()
            .into();
        let event = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(format!("The `{name}` event.")))
            .property("event", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([*name])))
            .required("event")
            .property("data", data)
            .required("data")
            .property("id", ObjectBuilder::new().schema_type(Type::String).description(Some("The id to resume after.")))
            .build();
        let reference = format!("#/components/schemas/{schema_name}");
        union = union.item(Ref::new(&reference));
        discriminator.mapping.insert(name.to_string(), reference);
        schemas.push((schema_name, event.into()));
    }
    let union: Schema = union.discriminator(Some(discriminator)).build().into();
    schemas.push((stream.union.to_string(), union.into()));
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_event_is_one_the_types_know() {
        for (path, stream) in &STREAMS {
            for (name, _) in stream.events {
                assert!((stream.known)(name), "{path}: `{name}` is documented but no type reads it");
            }
        }
    }

    /// Every event name the types can produce, by stream. Each match is exhaustive: a new
    /// variant does not compile until it is named here, and then the document must have it.
    fn produced() -> [(&'static str, Vec<&'static str>); 3] {
        use AgentCommand as A;
        use FrameworkEvent as F;
        use OperatorEvent as O;
        let _ = |e: F| match e {
            F::Subscribed(_) | F::Offers(_) | F::InverseOffers(_) | F::Rescind(_) => {}
            F::Update(_) | F::Failure(_) | F::Error(_) | F::Heartbeat => {}
        };
        let _ = |c: A| match c {
            A::Launch(_) | A::Kill(_) | A::Acknowledge(_) | A::ReadLog(_) | A::DestroyVolume(_) => {}
            A::Shutdown | A::Ping => {}
        };
        let _ = |e: O| match e {
            O::AgentAdded(_) | O::AgentUnreachable(_) | O::AgentRemoved(_) => {}
            O::FrameworkAdded(_) | O::FrameworkRemoved(_) => {}
            O::TaskUpdated(_) | O::ServiceUpdated(_) | O::EndpointsChanged(_) | O::Autoscaler(_) => {}
            O::DeploymentStarted(_) | O::DeploymentStep(_) | O::DeploymentFinished(_) | O::DeploymentFailed(_) => {}
        };
        [
            (
                "/v1/frameworks/{id}/events",
                vec!["subscribed", "offers", "inverse_offers", "rescind", "update", "failure", "error", "heartbeat"],
            ),
            // The server also ends a command stream with an `error` event.
            (
                "/v1/agents/{id}/commands",
                vec!["launch", "kill", "acknowledge", "read_log", "destroy_volume", "shutdown", "ping", "error"],
            ),
            // The operator stream's heartbeats and its closing `error` come from the server.
            (
                "/v1/events",
                vec![
                    "agent_added",
                    "agent_unreachable",
                    "agent_removed",
                    "framework_added",
                    "framework_removed",
                    "task_updated",
                    "service_updated",
                    "deployment_started",
                    "deployment_step",
                    "deployment_finished",
                    "deployment_failed",
                    "endpoints_changed",
                    "autoscaler",
                    "heartbeat",
                    "error",
                ],
            ),
        ]
    }

    #[test]
    fn every_event_the_types_produce_is_documented() {
        for (path, names) in produced() {
            let (_, stream) = STREAMS.iter().find(|(p, _)| *p == path).expect("the stream is documented");
            for name in &names {
                assert!((stream.known)(name), "{path}: `{name}` is not an event the types read");
                assert!(
                    stream.events.iter().any(|(n, _)| n == name),
                    "{path}: `{name}` is produced but not documented"
                );
            }
            assert_eq!(names.len(), stream.events.len(), "{path}: the document lists events no type produces");
        }
    }
}
