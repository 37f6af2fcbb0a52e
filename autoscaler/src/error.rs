//! The autoscaler's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("Agora API: {0}")]
    Api(#[from] agora_client::ClientError),
    #[error("EC2 {operation}: {message}")]
    Ec2 { operation: &'static str, code: Option<String>, message: String },
    #[error("{0}")]
    Other(String),
}
