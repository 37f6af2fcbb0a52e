//! Distinct id types, so that an offer id is never passed where an agent id belongs.
//!
//! Every id is a short string of `[A-Za-z0-9._-]`, which keeps ids safe to put in URLs, file names
//! and Redis keys. Ids minted by Agora are UUIDs; frameworks choose their own task ids.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// The longest id accepted from a client.
pub const MAX_ID_LEN: usize = 128;

/// Whether `s` is acceptable as an id: 1 to 128 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, example = "3f1c2a9e-6a41-4f0e-9d7b-2a8e6f7c1b20")]
        pub struct $name(pub String);

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
