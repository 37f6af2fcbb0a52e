//! What a task may run in and bring along: a container image, and artifacts fetched into its
//! sandbox before it starts. A task with neither runs as a plain process.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The containerizers an agent may offer: how it runs a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Containerizer {
    /// A process in the task's sandbox and cgroup: tasks without a container.
    Process,
    /// An OCI image run by `runc`, pulled by the agent itself.
    Oci,
    /// An image run by the host's Docker daemon.
    Docker,
}

impl Containerizer {
    pub fn as_str(self) -> &'static str {
        match self {
            Containerizer::Process => "process",
            Containerizer::Oci => "oci",
            Containerizer::Docker => "docker",
        }
    }
}

impl std::str::FromStr for Containerizer {
    type Err = String;

    fn from_str(s: &str) -> Result<Containerizer, String> {
        match s {
            "process" => Ok(Containerizer::Process),
            "oci" => Ok(Containerizer::Oci),
            "docker" => Ok(Containerizer::Docker),
            _ => Err(format!("unknown containerizer `{s}` (process, oci or docker)")),
        }
    }
}

/// When the agent pulls a task's image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Only when the agent has no image under that reference yet.
    #[default]
    IfMissing,
    /// At every launch, so that a moved tag is followed.
    Always,
}

/// The network a container joins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The agent's own network namespace: the task binds its offered ports directly.
    #[default]
    Host,
    /// A network namespace of its own on the agent's bridge, reached through port mappings.
    Bridge,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// A port of a bridged container published on the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    #[schema(minimum = 1, maximum = 65535)]
    pub container_port: u16,
    /// One of the task's offered ports; absent: the task's ports in order, one per mapping
    /// that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65535)]
    pub host_port: Option<u16>,
    #[serde(default)]
    pub protocol: Protocol,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeMode {
    #[default]
    Ro,
    Rw,
}

/// A directory of the agent's host mounted into the container. The agent mounts only paths
/// under the roots its operator allows (`--host-volumes`); it refuses the task otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerVolume {
    /// An absolute path inside the container.
    #[schema(min_length = 2, max_length = 1024)]
    pub container_path: String,
    /// An absolute path on the agent.
    #[schema(min_length = 1, max_length = 1024)]
    pub host_path: String,
    #[serde(default)]
    pub mode: VolumeMode,
}

/// The image a task runs in, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerInfo {
    /// Which containerizer runs it; the agent must offer it (`containerizers` in its view).
    #[serde(rename = "type")]
    pub kind: Containerizer,
    /// `REGISTRY/NAME:TAG` or `REGISTRY/NAME@sha256:DIGEST`; a name without a registry is
    /// Docker Hub's.
    #[schema(min_length = 1, max_length = 1024)]
    pub image: String,
    #[serde(default)]
    pub pull: PullPolicy,
    #[serde(default)]
    pub network: NetworkMode,
    /// Only with the `bridge` network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ContainerVolume>,
    /// Every capability and device of the host; an agent refuses it unless started with
    /// `--allow-privileged`.
    #[serde(default)]
    pub privileged: bool,
    /// Whether the task may write to its root filesystem (its writes are its own and go with
    /// it); by default only the sandbox, mounted at `/mnt/sandbox`, and `/tmp` are writable.
    #[serde(default)]
    pub writable_root: bool,
}

/// Where the sandbox appears inside a container; `AGORA_SANDBOX` names it there.
pub const CONTAINER_SANDBOX: &str = "/mnt/sandbox";

impl ContainerInfo {
    /// A container of `kind` running `image`, with the defaults: pulled if missing, on the
    /// host network, no volumes, unprivileged, read-only root.
    pub fn new(kind: Containerizer, image: &str) -> ContainerInfo {
        ContainerInfo {
            kind,
            image: image.to_string(),
            pull: PullPolicy::IfMissing,
            network: NetworkMode::Host,
            port_mappings: Vec::new(),
            volumes: Vec::new(),
            privileged: false,
            writable_root: false,
        }
    }
}

/// An artifact the agent downloads into the sandbox before the task starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchUri {
    /// `http://`, `https://` or `file://` (a path on the agent).
    #[schema(min_length = 1, max_length = 4096)]
    pub uri: String,
    /// The hex SHA-256 the download must have; without it, anything is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: Option<String>,
    /// Unpack a `.tar`, `.tar.gz`, `.tgz`, `.tar.zst` or `.zip` into the sandbox instead of
    /// keeping the archive.
    #[serde(default = "yes")]
    pub extract: bool,
    /// Make the file executable (when not extracted).
    #[serde(default)]
    pub executable: bool,
    /// Keep it in the agent's fetch cache for later tasks (only with `sha256`, which names it
    /// there).
    #[serde(default)]
    pub cache: bool,
}

fn yes() -> bool {
    true
}

impl FetchUri {
    /// The file name it lands under in the sandbox: the last segment of the URI's path.
    pub fn file_name(&self) -> Option<&str> {
        let path = self.uri.split(['?', '#']).next()?;
        let name = path.rsplit('/').next()?;
        (!name.is_empty() && name != "." && name != ".." && name.len() <= 255).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_container_takes_the_defaults() {
        let c: ContainerInfo = serde_json::from_str(r#"{"type": "oci", "image": "busybox"}"#).expect("parses");
        assert_eq!(c, ContainerInfo::new(Containerizer::Oci, "busybox"));
        let bad = serde_json::from_str::<ContainerInfo>(r#"{"type": "oci", "image": "b", "netwrk": "host"}"#);
        assert!(bad.is_err(), "unknown fields are refused");
    }

    #[test]
    fn fetched_files_are_named_by_the_last_path_segment() {
        let f =
            |uri: &str| FetchUri { uri: uri.to_string(), sha256: None, extract: true, executable: false, cache: false };
        assert_eq!(f("https://h/a/b.tar.gz?x=1").file_name(), Some("b.tar.gz"));
        assert_eq!(f("file:///srv/tool").file_name(), Some("tool"));
        assert_eq!(f("https://h/a/").file_name(), None);
        assert_eq!(f("https://h/..").file_name(), None);
        let parsed: FetchUri = serde_json::from_str(r#"{"uri": "file:///x"}"#).expect("parses");
        assert!(parsed.extract && !parsed.executable && !parsed.cache);
    }
}
