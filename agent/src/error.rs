//! The crate's one error type. Network errors of the reusable HTTP client keep their own type
//! ([`ClientError`]) so the CLI can use the client without the agent.

use agora_client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A value in [`crate::AgentConfig`] or a flag cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A resource flag such as `cpus:2,mem:1024` did not parse.
    #[error("invalid resources: {0}")]
    Resources(String),
    /// A launch cannot go ahead, before any process exists (bad id, empty argv).
    #[error("{0}")]
    InvalidTask(String),
    /// A file in a task's sandbox is not what the agent may touch: a link, a FIFO, a device,
    /// or someone else's file. The task could have put it there.
    #[error("{0}")]
    UnsafeFile(String),
    /// A local file or process operation failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An image could not be pulled or unpacked: the registry, a digest, or a layer.
    #[error("{0}")]
    Image(String),
}

impl AgentError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> AgentError {
        AgentError::Io { context: context.into(), source }
    }
}
