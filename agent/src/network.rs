//! Bridge networking for containers, through the standard CNI plugins (Debian's
//! `containernetworking-plugins`), run the way a CNI runtime runs them: each plugin is an
//! executable given `CNI_*` variables and its configuration on stdin, chained with the previous
//! plugin's result as `prevResult`, and deleted in reverse order.
//!
//! A container on the bridge gets a network namespace of its own, bound at
//! `{work_dir}/netns/{id}`; `bridge` (with `host-local` addresses) puts a veth pair between it
//! and the host's `agora0` bridge, `portmap` publishes its port mappings on the agent's ports,
//! and `loopback` brings its `lo` up. Every agent on a host shares the bridge and the address
//! pool (host-local keeps it under `/var/lib/cni/networks/agora`), so their containers reach
//! each other by address.

use crate::AgentError;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The CNI network's name, and the bridge's.
const NETWORK: &str = "agora";
const BRIDGE: &str = "agora0";
const CNI_VERSION: &str = "1.0.0";
/// The plugins the bridge needs.
const PLUGINS: [&str; 4] = ["bridge", "host-local", "portmap", "loopback"];

/// One published port: on the agent, in the container, and its protocol (`tcp` or `udp`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// What a container's network is: kept in its bundle so that it can be torn down.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub netns: PathBuf,
    pub address: Option<IpAddr>,
    pub published: Vec<Published>,
}

#[derive(Clone, Debug)]
pub struct Bridge {
    /// Where the plugins are (`CNI_PATH`).
    plugins: PathBuf,
    subnet: String,
    work_dir: PathBuf,
}

impl Bridge {
    /// The bridge network with the plugins in `plugins` and addresses from `subnet`, or why
    /// this host cannot have it.
    pub fn new(plugins: &Path, subnet: &str, work_dir: &Path) -> Result<Bridge, String> {
        if let Some(missing) = PLUGINS.iter().find(|p| !plugins.join(p).is_file()) {
            return Err(format!(
                "the CNI plugin `{missing}` is not in {} (apt-get install containernetworking-plugins)",
                plugins.display()
            ));
        }
        if subnet.parse::<ipnet::IpNet>().is_err() {
            return Err(format!("`{subnet}` is not a subnet such as 10.88.0.0/16"));
        }
        Ok(Bridge { plugins: plugins.to_path_buf(), subnet: subnet.to_string(), work_dir: work_dir.to_path_buf() })
    }

    fn bridge_config(&self) -> Value {
        json!({
            "cniVersion": CNI_VERSION,
            "name": NETWORK,
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]], "routes": [{"dst": "0.0.0.0/0"}]},
        })
    }

    fn portmap_config(published: &[Published], previous: Option<Value>) -> Value {
        let mappings: Vec<Value> = published
            .iter()
            .map(|p| json!({"hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.protocol}))
            .collect();
        let mut config = json!({
            "cniVersion": CNI_VERSION,
            "name": NETWORK,
            "type": "portmap",
            "capabilities": {"portMappings": true},
            "runtimeConfig": {"portMappings": mappings},
            "snat": true,
        });
        if let Some(previous) = previous {
            config["prevResult"] = previous;
        }
        config
    }

    /// Makes container `id`'s network namespace, attaches it to the bridge and publishes its
    /// ports. On failure, whatever was done is undone.
    pub fn attach(&self, id: &str, published: &[Published]) -> Result<Attachment, AgentError> {
        let netns = self.work_dir.join("netns").join(id);
        make_netns(&netns)?;
        let attachment = Attachment { netns: netns.clone(), address: None, published: published.to_vec() };
        let attached = (|| {
            self.plugin(
                "loopback",
                "ADD",
                id,
                &netns,
                "lo",
                &json!({"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"}),
            )?;
            let result = self.plugin("bridge", "ADD", id, &netns, "eth0", &self.bridge_config())?;
            let address = result
                .pointer("/ips/0/address")
                .and_then(Value::as_str)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            if !published.is_empty() {
                self.plugin("portmap", "ADD", id, &netns, "eth0", &Self::portmap_config(published, Some(result)))?;
            }
            Ok(Attachment { address, ..attachment.clone() })
        })();
        if attached.is_err() {
            self.detach(id, &attachment);
        }
        attached
    }

    /// Undoes [`Bridge::attach`]: the port mappings, the address and the veth, the namespace.
    /// Quiet about what is already gone.
    pub fn detach(&self, id: &str, attachment: &Attachment) {
        let netns = &attachment.netns;
        if !attachment.published.is_empty() {
            if let Err(e) =
                self.plugin("portmap", "DEL", id, netns, "eth0", &Self::portmap_config(&attachment.published, None))
            {
                tracing::warn!(container = id, error = %e, "cannot remove a container's port mappings");
            }
        }
        if let Err(e) = self.plugin("bridge", "DEL", id, netns, "eth0", &self.bridge_config()) {
            tracing::warn!(container = id, error = %e, "cannot detach a container from the bridge");
        }
        match nix::mount::umount2(netns, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => tracing::warn!(container = id, error = %e, "cannot unmount a network namespace"),
        }
        let _ = std::fs::remove_file(netns);
    }

    /// Runs one plugin; returns its result.
    fn plugin(
        &self,
        name: &str,
        command: &str,
        id: &str,
        netns: &Path,
        ifname: &str,
        config: &Value,
    ) -> Result<Value, AgentError> {
        use std::io::Write as _;
        let mut child = std::process::Command::new(self.plugins.join(name))
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", &self.plugins)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| AgentError::io(format!("cannot run the CNI plugin {name}"), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(config.to_string().as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| AgentError::io(format!("the CNI plugin {name}"), e))?;
        let result: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if !out.status.success() {
            let message = result.get("msg").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
                format!("{} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
            });
            return Err(AgentError::InvalidTask(format!("CNI {name} {command}: {}", message.trim())));
        }
        Ok(result)
    }
}

/// Makes a new network namespace and binds it at `path` (as `ip netns add` does), from a thread
/// of its own: `unshare` moves only the calling thread, which then ends.
fn make_netns(path: &Path) -> Result<(), AgentError> {
    let io = |what: &str, e: std::io::Error| AgentError::io(format!("cannot make a network namespace: {what}"), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("its directory", e))?;
    }
    std::fs::File::create(path).map_err(|e| io("its file", e))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<(), nix::errno::Errno> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        nix::mount::mount(Some(own.as_str()), &target, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
    })
    .join()
    .map_err(|_| io("the thread panicked", std::io::Error::other("panic")))?;
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(io("unshare and bind", e.into()));
    }
    Ok(())
}
