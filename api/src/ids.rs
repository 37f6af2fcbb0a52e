//! Distinct id types, so that an offer id is never passed where an agent id belongs.
//!
//! Every id is a short string of `[A-Za-z0-9._-]`, which keeps ids safe to put in URLs, file names
//! and Redis keys. Ids minted by Agora are UUIDs; frameworks choose their own task ids.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// The longest id accepted from a client.
pub const MAX_ID_LEN: usize = 128;

/// The characters of an id, as the OpenAPI document writes them.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]+$";

/// Whether `s` is acceptable as an id: 1 to 128 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// An id's schema: what [`is_valid_id`] accepts (but for `.` and `..`, which the description
/// names: a pattern without lookahead cannot, and generators do not read lookahead).
fn id_schema(about: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_LEN))
        .pattern(Some(ID_PATTERN))
        .description(Some(format!(
            "{}: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.",
            about.trim().trim_end_matches('.')
        )))
        .examples([serde_json::json!("3f1c2a9e-6a41-4f0e-9d7b-2a8e6f7c1b20")])
        .into()
}

macro_rules! id_type {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema(concat!($($doc),*))
            }
        }

        impl ToSchema for $name {}

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(crate::random_uuid())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn is_valid(&self) -> bool {
                is_valid_id(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self(s.to_string()))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }
    };
}

id_type!(
    /// A framework's id, minted at registration and kept across failovers.
    FrameworkId
);
id_type!(
    /// An agent's id, minted at its first registration and kept across its restarts.
    AgentId
);
id_type!(
    /// An offer's id; an offer may be used by one accept or decline only.
    OfferId
);
id_type!(
    /// A task's id, chosen by its framework and unique within it.
    TaskId
);
id_type!(
    /// A status update's id, which the framework acknowledges.
    UpdateId
);
