//! OCI images, for the `oci` containerizer (not built yet): pulled with oci-client (registry
//! token auth, every manifest and blob checked against its digest, a multi-arch index resolved
//! to this host's platform by its default resolver), and unpacked layer by layer, OCI whiteouts applied, into one root filesystem per
//! image in a cache keyed by the manifest's digest:
//!
//! ```text
//! {root}/images/sha256-{hex}/rootfs        the image's files
//! {root}/images/sha256-{hex}/config.json   its OCI config (user, env, entrypoint, ...)
//! {root}/images/sha256-{hex}/last-used     when a pull last gave it, for garbage collection
//! {root}/tmp/                              pulls in progress, renamed into images/ when whole
//! ```
//!
//! Nothing in the cache is reachable by tasks until a container is made from it, so the only
//! hostile input here is the image itself: a layer's entries are unpacked with the tar crate's
//! `unpack_in`, which refuses `..`, absolute paths and writing through a symbolic link that
//! leads out of the root, and an entry it refuses fails the pull.

use crate::error::AgentError;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, IMAGE_LAYER_GZIP_MEDIA_TYPE, IMAGE_LAYER_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt as _;

/// A zstd-compressed layer (the OCI name; oci-client has no constant for it).
const IMAGE_LAYER_ZSTD_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker's names for the same layer types.
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// The file in an image's directory that says when it was last used (nanoseconds since 1970).
const LAST_USED: &str = "last-used";
/// A whiteout's prefix, and the name of an opaque-directory marker.
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// When to ask the registry for the image again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Only when no image is cached under the reference's digest. A tag is still resolved to
    /// its digest at the registry, so that a moved tag is followed.
    IfMissing,
    /// Every time, layers included.
    Always,
}

/// An image in the cache.
#[derive(Clone, Debug)]
pub struct Image {
    /// The manifest's digest, `sha256:...`.
    pub digest: String,
    /// Its root filesystem.
    pub rootfs: PathBuf,
    /// Its OCI config, as the registry gave it.
    pub config: serde_json::Value,
    /// Whether this pull downloaded it (rather than finding it in the cache).
    pub downloaded: bool,
}

/// What a garbage collection did.
#[derive(Debug, Default)]
pub struct Collected {
    /// The digests of the images removed, least recently used first.
    pub removed: Vec<String>,
    /// The bytes the images left take.
    pub bytes: u64,
}

/// Registry credentials by registry (`host[:port]`), as a Docker-style `config.json` holds
/// them (`docker login` writes one): `{"auths": {"HOST": {"auth": base64("user:password")}}}`,
/// or `"username"` and `"password"` instead of `"auth"`. Credential helpers (`credsStore`)
/// are not run.
#[derive(Clone, Default)]
pub struct Credentials {
    by_registry: std::collections::BTreeMap<String, (String, String)>,
}

impl std::fmt::Debug for Credentials {
    // Written by hand so that no password reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("registries", &self.by_registry.keys().collect::<Vec<_>>()).finish()
    }
}

impl Credentials {
    /// Reads a Docker-style `config.json`.
    pub fn from_docker_config(path: &Path) -> Result<Credentials, AgentError> {
        let text = std::fs::read(path).map_err(|e| AgentError::io(format!("reading {}", path.display()), e))?;
        let bad = |what: &str| AgentError::Config(format!("{}: {what}", path.display()));
        let config: serde_json::Value = serde_json::from_slice(&text).map_err(|_| bad("not JSON"))?;
        let mut credentials = Credentials::default();
        let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else { return Ok(credentials) };
        for (key, entry) in auths {
            // `https://index.docker.io/v1/` and `host:port` both name a registry.
            let host = key.split("://").last().unwrap_or(key).split('/').next().unwrap_or("").to_string();
            let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
            let pair = match (field("auth"), field("username"), field("password")) {
                (Some(auth), _, _) => {
                    use base64::Engine as _;
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth)
                        .map_err(|_| bad(&format!("the auth of {key} is not base64")))?;
                    let text =
                        String::from_utf8(decoded).map_err(|_| bad(&format!("the auth of {key} is not UTF-8")))?;
                    let (user, password) =
                        text.split_once(':').ok_or_else(|| bad(&format!("the auth of {key} is not user:password")))?;
                    (user.to_string(), password.to_string())
                }
                (None, Some(user), Some(password)) => (user.to_string(), password.to_string()),
                _ => continue,
            };
            credentials.by_registry.insert(host, pair);
        }
        Ok(credentials)
    }

    fn for_registry(&self, registry: &str) -> RegistryAuth {
        match self.by_registry.get(registry) {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

/// The image cache and the registry client.
pub struct ImageStore {
    root: PathBuf,
    client: Client,
    credentials: Credentials,
}

impl ImageStore {
    /// A cache under `root`; `insecure` lists the `host:port` registries spoken to over plain
    /// HTTP (every other is HTTPS). Registries without credentials are asked anonymously.
    pub fn new(root: &Path, insecure: &[String], credentials: Credentials) -> ImageStore {
        let config = ClientConfig { protocol: ClientProtocol::HttpsExcept(insecure.to_vec()), ..Default::default() };
        ImageStore { root: root.to_path_buf(), client: Client::new(config), credentials }
    }

    /// Removes what pulls that never finished (an agent that died) left in `tmp/`. Only while
    /// no pull of this store runs: at start.
    pub fn remove_unfinished(&self) {
        let _ = std::fs::remove_dir_all(self.root.join("tmp"));
    }

    /// The image `reference` names (`registry/name:tag` or `registry/name@sha256:...`),
    /// pulled when `policy` says so.
    pub async fn pull(&self, reference: &str, policy: Pull) -> Result<Image, AgentError> {
        let parsed: Reference = reference
            .parse()
            .map_err(|e| AgentError::Image(format!("`{reference}` is not an image reference: {e}")))?;
        let auth = self.credentials.for_registry(parsed.resolve_registry());
        let registry_error =
            |e: oci_client::errors::OciDistributionError| AgentError::Image(format!("pulling {reference}: {e}"));
        if let (Some(digest), Pull::IfMissing) = (parsed.digest(), policy) {
            if let Some(image) = self.cached(digest)? {
                return Ok(image);
            }
        }
        let (manifest, digest) = self.client.pull_image_manifest(&parsed, &auth).await.map_err(registry_error)?;
        if policy == Pull::IfMissing {
            if let Some(image) = self.cached(&digest)? {
                return Ok(image);
            }
        }
        let scratch = self.scratch_dir()?;
        let result = async {
            let mut config = Vec::new();
            self.client.pull_blob(&parsed, &manifest.config, &mut config).await.map_err(registry_error)?;
            let rootfs = scratch.join("rootfs");
            create_dir(&rootfs)?;
            for layer in &manifest.layers {
                let blob = scratch.join("layer");
                let mut file = tokio::fs::File::create(&blob).await.map_err(|e| AgentError::io("a layer file", e))?;
                self.client.pull_blob(&parsed, layer, &mut file).await.map_err(registry_error)?;
                // tokio's file writes in the background: what it still holds is lost on drop.
                file.flush().await.map_err(|e| AgentError::io("writing a layer", e))?;
                drop(file);
                let (rootfs, layer) = (rootfs.clone(), layer.clone());
                let unpacked = blob.clone();
                tokio::task::spawn_blocking(move || unpack_layer(&unpacked, &layer, &rootfs))
                    .await
                    .map_err(|e| AgentError::Image(format!("unpacking a layer: {e}")))??;
                std::fs::remove_file(&blob).map_err(|e| AgentError::io("removing a layer file", e))?;
            }
            std::fs::write(scratch.join("config.json"), &config).map_err(|e| AgentError::io("the image config", e))?;
            self.keep(&scratch, &digest).map(|image| Image { downloaded: true, ..image })
        }
        .await;
        if scratch.exists() {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        result
    }

    /// The cached image of a manifest digest, if whole, marked as used now.
    fn cached(&self, digest: &str) -> Result<Option<Image>, AgentError> {
        let dir = self.image_dir(digest)?;
        let Ok(config) = std::fs::read(dir.join("config.json")) else { return Ok(None) };
        let config = serde_json::from_slice(&config).unwrap_or(serde_json::Value::Null);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        std::fs::write(dir.join(LAST_USED), now.as_nanos().to_string())
            .map_err(|e| AgentError::io("marking an image used", e))?;
        Ok(Some(Image { digest: digest.to_string(), rootfs: dir.join("rootfs"), config, downloaded: false }))
    }

    /// Removes cached images, least recently used first, until the cache takes at most
    /// `budget` bytes; never one whose digest is in `in_use`, even when that leaves the cache
    /// over its budget. Safe while pulls run: each pulls into a directory of its own.
    pub fn collect_garbage(&self, budget: u64, in_use: &HashSet<String>) -> Result<Collected, AgentError> {
        let mut images = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.root.join("images")) else { return Ok(Collected::default()) };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(hex) = name.strip_prefix("sha256-") else { continue };
            let dir = entry.path();
            let last_used: u128 =
                std::fs::read_to_string(dir.join(LAST_USED)).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
            images.push((last_used, format!("sha256:{hex}"), disk_usage(&dir), dir));
        }
        images.sort();
        let mut total: u64 = images.iter().map(|(_, _, size, _)| size).sum();
        let mut collected = Collected::default();
        for (_, digest, size, dir) in images {
            if total <= budget {
                break;
            }
            if in_use.contains(&digest) {
                continue;
            }
            // Out of `images/` first, in one step, so that no pull finds it half removed.
            let doomed = self.scratch_dir()?;
            std::fs::rename(&dir, doomed.join("image")).map_err(|e| AgentError::io("removing an image", e))?;
            std::fs::remove_dir_all(&doomed).map_err(|e| AgentError::io("removing an image", e))?;
            total -= size;
            collected.removed.push(digest);
        }
        collected.bytes = total;
        Ok(collected)
    }

    /// Moves a whole pull into the cache; another pull of the same image may have won.
    fn keep(&self, scratch: &Path, digest: &str) -> Result<Image, AgentError> {
        let dir = self.image_dir(digest)?;
        create_dir(dir.parent().unwrap_or(&self.root))?;
        match std::fs::rename(scratch, &dir) {
            Ok(()) => {}
            Err(_) if dir.join("config.json").exists() => {}
            Err(e) => return Err(AgentError::io(format!("keeping {}", dir.display()), e)),
        }
        self.cached(digest)?.ok_or_else(|| AgentError::Image(format!("{digest} vanished from the cache")))
    }

    fn image_dir(&self, digest: &str) -> Result<PathBuf, AgentError> {
        let (algorithm, hex) = digest.split_once(':').unwrap_or(("", ""));
        let valid = algorithm == "sha256" && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(AgentError::Image(format!("`{digest}` is not a sha256 digest")));
        }
        Ok(self.root.join("images").join(format!("sha256-{}", hex.to_ascii_lowercase())))
    }

    fn scratch_dir(&self) -> Result<PathBuf, AgentError> {
        // A random name (an id type is the way to a UUID here).
        let dir = self.root.join("tmp").join(agora_api::UpdateId::random().as_str());
        create_dir(&dir)?;
        Ok(dir)
    }
}

/// The bytes of the regular files under `dir`, links not followed.
fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.path().symlink_metadata() {
            Ok(meta) if meta.is_dir() => disk_usage(&entry.path()),
            Ok(meta) if meta.is_file() => meta.len(),
            _ => 0,
        })
        .sum()
}

fn create_dir(dir: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(format!("creating {}", dir.display()), e))
}

/// Unpacks one layer onto `rootfs`, whiteouts first removing what lower layers put there.
fn unpack_layer(blob: &Path, layer: &OciDescriptor, rootfs: &Path) -> Result<(), AgentError> {
    let file = std::fs::File::open(blob).map_err(|e| AgentError::io("opening a layer", e))?;
    let reader: Box<dyn std::io::Read> = match layer.media_type.as_str() {
        IMAGE_LAYER_GZIP_MEDIA_TYPE | DOCKER_LAYER_GZIP => Box::new(flate2::read::GzDecoder::new(file)),
        IMAGE_LAYER_ZSTD_MEDIA_TYPE => Box::new(
            ruzstd::decoding::StreamingDecoder::new(file)
                .map_err(|e| AgentError::Image(format!("layer {}: not zstd: {e}", layer.digest)))?,
        ),
        IMAGE_LAYER_MEDIA_TYPE | DOCKER_LAYER_TAR => Box::new(file),
        other => return Err(AgentError::Image(format!("layer {}: media type {other} is not supported", layer.digest))),
    };
    let bad = |what: String| AgentError::Image(format!("layer {}: {what}", layer.digest));
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            let parent = path.parent().unwrap_or(Path::new(""));
            let target = inside(rootfs, parent).ok_or_else(|| bad(format!("whiteout {} leads out", path.display())))?;
            if name == OPAQUE {
                clear_dir(&target)?;
            } else {
                remove(&target.join(hidden))?;
            }
            continue;
        }
        // `false`: an entry the tar crate would not write inside the root (`..`, or through a
        // link that leads out). A layer that tries is not a layer to run.
        let unpacked = entry.unpack_in(rootfs).map_err(|e| bad(format!("{}: {}", path.display(), chain(&e))))?;
        if !unpacked {
            return Err(bad(format!("{} would land outside the root filesystem", path.display())));
        }
    }
    Ok(())
}

/// An error with its causes, which the tar crate keeps out of its own message.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `rootfs/relative`, if `relative` has no `..`, no root, and no symbolic link on the way (a
/// lower layer's link must not make a whiteout remove files elsewhere).
fn inside(rootfs: &Path, relative: &Path) -> Option<PathBuf> {
    let mut path = rootfs.to_path_buf();
    for part in relative.components() {
        match part {
            std::path::Component::Normal(name) => {
                path.push(name);
                if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
                    return None;
                }
            }
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    Some(path)
}

/// Removes a file, a link or a whole directory (never following a link).
fn remove(path: &Path) -> Result<(), AgentError> {
    let Ok(meta) = path.symlink_metadata() else { return Ok(()) };
    let removed = if meta.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    removed.map_err(|e| AgentError::io(format!("applying a whiteout to {}", path.display()), e))
}

/// Empties a directory: an opaque whiteout hides what lower layers put in it.
fn clear_dir(dir: &Path) -> Result<(), AgentError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        remove(&entry.path())?;
    }
    Ok(())
}
