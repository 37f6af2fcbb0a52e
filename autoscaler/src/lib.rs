//! The EC2 autoscaler of an Agora cluster: reads what waits from the API, simulates where it
//! would go on the pools' instance types, launches what would place it, and drains and
//! terminates agents that stay idle (docs/autoscaling.md).

pub mod config;
pub mod demand;
pub mod ec2;
pub mod error;
pub mod metrics;
pub mod plan;
pub mod run;

pub use error::Error;
