//! The fetcher: the artifacts a task lists in `fetch`, downloaded before it starts (Mesos's
//! fetcher). Each goes to a staging directory of the launch's own under
//! `{work_dir}/fetch/staging/`, where no task reaches, is checked against its `sha256`, and is
//! unpacked there if it is an archive; once the task's sandbox exists, what was staged is given
//! to the task's user and moved in.
//!
//! Artifacts with a `sha256` and `cache: true` are kept in `{work_dir}/fetch/cache/sha256-HEX`
//! for later tasks, bounded by size, least recently used first.
//!
//! Everything fetched is hostile: archives are unpacked with the tar crate's `unpack_in` (no
//! `..`, no absolute paths, nothing written through a link leading out), zip entries only by
//! their enclosed names and without links, and nothing lands on the sandbox's own files.
//! `file://` reads only under the directories the operator lists (`--fetch-roots`): the agent
//! is root, and a task must not be handed files its user could not read.

use crate::AgentError;
use agora_api::FetchUri;
use sha2::Digest as _;
use std::io::{Read, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The most bytes one artifact may have.
pub const MAX_ARTIFACT_BYTES: u64 = 4 << 30;

/// Names an artifact may not take in the sandbox: the agent's own files there.
const RESERVED: [&str; 3] = ["stdout", "stderr", crate::sandbox::EXIT_FILE];

/// How the fetcher is set up.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// Directories `file://` URIs may read from.
    pub roots: Vec<PathBuf>,
    /// Bytes the cache may take.
    pub cache_bytes: u64,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig { roots: Vec::new(), cache_bytes: 2 << 30 }
    }
}

pub struct Fetcher {
    client: reqwest::Client,
    dir: PathBuf,
    roots: Vec<PathBuf>,
    cache_bytes: u64,
}

/// An artifact that could not be fetched, and why: what the task's `fetch_failed` says.
#[derive(Debug)]
pub struct FetchFailed(pub String);

fn failed(uri: &str, what: impl std::fmt::Display) -> FetchFailed {
    FetchFailed(format!("{uri}: {what}"))
}

impl Fetcher {
    pub fn new(config: &FetchConfig, work_dir: &Path) -> Result<Fetcher, AgentError> {
        let dir = work_dir.join("fetch");
        for sub in ["cache", "staging"] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir.join(sub))
                .map_err(|e| AgentError::io(format!("cannot create {}", dir.join(sub).display()), e))?;
        }
        // What launches of an earlier run staged and never moved.
        if let Ok(entries) = std::fs::read_dir(dir.join("staging")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let roots = config
            .roots
            .iter()
            .map(|p| p.canonicalize().map_err(|e| AgentError::io(format!("--fetch-roots {}", p.display()), e)))
            .collect::<Result<_, _>>()?;
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| AgentError::Config(format!("cannot make the fetcher's HTTP client: {e}")))?;
        Ok(Fetcher { client, dir, roots, cache_bytes: config.cache_bytes })
    }

    /// The staging directory of launch `id`.
    pub fn staging(&self, id: &str) -> PathBuf {
        self.dir.join("staging").join(id)
    }

    /// Fetches every artifact into launch `id`'s staging directory (made afresh) and returns it.
    /// Downloads land first in a directory beside it, `{id}.downloads`, under numbers: what an
    /// archive unpacks into the staging directory (links included) never lies on their way.
    pub async fn fetch_all(&self, id: &str, uris: &[FetchUri]) -> Result<PathBuf, FetchFailed> {
        let staging = self.staging(id);
        let downloads = self.dir.join("staging").join(format!("{id}.downloads"));
        for dir in [&staging, &downloads] {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::DirBuilder::new().mode(0o700).create(dir).map_err(|e| FetchFailed(format!("staging: {e}")))?;
        }
        let mut fetched = Ok(());
        for (i, uri) in uris.iter().enumerate() {
            fetched = self.fetch_one(uri, &staging, &downloads.join(i.to_string())).await;
            if fetched.is_err() {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&downloads);
        if fetched.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        fetched.map(|()| staging)
    }

    async fn fetch_one(&self, fetch: &FetchUri, staging: &Path, download: &Path) -> Result<(), FetchFailed> {
        let uri = fetch.uri.as_str();
        let name = fetch.file_name().ok_or_else(|| failed(uri, "names no file"))?;
        if RESERVED.contains(&name) {
            return Err(failed(uri, format!("`{name}` is a name the sandbox keeps for the agent")));
        }
        let download = download.to_path_buf();
        let cached = fetch.sha256.as_deref().map(|hex| self.dir.join("cache").join(format!("sha256-{hex}")));
        match cached.as_ref().filter(|c| c.is_file()) {
            Some(cached) => {
                // A copy: the task owns what lands in its sandbox, and the cache must not change.
                let mut from = std::fs::File::open(cached).map_err(|e| failed(uri, format!("the cache: {e}")))?;
                let mut to = new_file(&download).map_err(|e| failed(uri, e))?;
                std::io::copy(&mut from, &mut to).map_err(|e| failed(uri, format!("copying from the cache: {e}")))?;
                touch(cached);
            }
            None => {
                let digest = self.download(uri, &download).await?;
                if let Some(wanted) = &fetch.sha256 {
                    if &digest != wanted {
                        let _ = std::fs::remove_file(&download);
                        return Err(failed(uri, format!("its sha256 is {digest}, not {wanted}")));
                    }
                }
                if let (Some(cached), true) = (&cached, fetch.cache) {
                    self.keep(&download, cached);
                }
            }
        }
        let archive = archive_kind(name);
        match (fetch.extract, archive) {
            (true, Some(kind)) => {
                let (from, into) = (download.clone(), staging.to_path_buf());
                let unpacked = tokio::task::spawn_blocking(move || unpack(kind, &from, &into))
                    .await
                    .map_err(|e| failed(uri, e))?;
                let _ = std::fs::remove_file(&download);
                unpacked.map_err(|e| failed(uri, format!("cannot unpack it: {e}")))
            }
            _ => {
                let mode = if fetch.executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&download, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| failed(uri, e))?;
                std::fs::rename(&download, staging.join(name)).map_err(|e| failed(uri, e))
            }
        }
    }

    /// Downloads `uri` to `to`; returns the hex sha256 of what came.
    async fn download(&self, uri: &str, to: &Path) -> Result<String, FetchFailed> {
        let mut file = new_file(to).map_err(|e| failed(uri, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut total: u64 = 0;
        let mut write = |chunk: &[u8]| -> Result<(), FetchFailed> {
            total += chunk.len() as u64;
            if total > MAX_ARTIFACT_BYTES {
                return Err(failed(uri, format!("it is over {MAX_ARTIFACT_BYTES} bytes")));
            }
            hasher.update(chunk);
            file.write_all(chunk).map_err(|e| failed(uri, e))
        };
        if let Some(path) = uri.strip_prefix("file://") {
            let path = self.local(uri, path)?;
            let mut source = std::fs::File::open(&path).map_err(|e| failed(uri, e))?;
            let mut buffer = vec![0u8; 1 << 16];
            loop {
                let n = source.read(&mut buffer).map_err(|e| failed(uri, e))?;
                if n == 0 {
                    break;
                }
                write(&buffer[..n])?;
            }
        } else {
            let response = self.client.get(uri).send().await.map_err(|e| failed(uri, chain(&e)))?;
            if !response.status().is_success() {
                return Err(failed(uri, format!("the server answered {}", response.status())));
            }
            let mut response = response;
            while let Some(chunk) = response.chunk().await.map_err(|e| failed(uri, chain(&e)))? {
                write(&chunk)?;
            }
        }
        Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A `file://` path, resolved, if it is a regular file under one of the fetch roots.
    fn local(&self, uri: &str, path: &str) -> Result<PathBuf, FetchFailed> {
        let resolved = Path::new(path).canonicalize().map_err(|e| failed(uri, e))?;
        if !self.roots.iter().any(|root| resolved.starts_with(root)) {
            return Err(failed(uri, "it is not under a directory this agent fetches from (--fetch-roots)"));
        }
        if !resolved.is_file() {
            return Err(failed(uri, "it is not a regular file"));
        }
        Ok(resolved)
    }

    /// Copies a verified download into the cache, then trims the cache to its budget.
    fn keep(&self, download: &Path, cached: &Path) {
        let partial = cached.with_extension("partial");
        let kept = std::fs::copy(download, &partial).and_then(|_| std::fs::rename(&partial, cached));
        if let Err(e) = kept {
            tracing::warn!(error = %e, "cannot keep a fetched artifact in the cache");
            let _ = std::fs::remove_file(&partial);
        }
        self.trim_cache();
    }

    /// Removes the least recently used cached artifacts beyond the budget.
    fn trim_cache(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("cache")) else { return };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let meta = e.path().symlink_metadata().ok().filter(|m| m.is_file())?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
        for (_, size, path) in files {
            if total <= self.cache_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
    }
}

/// A new file at `path`, never through a link and never over anything already there.
fn new_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc_nofollow()).mode(0o600).open(path)
}

fn libc_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

/// Makes the directories of `relative` below `into`, one at a time, refusing any part that is
/// already there as something other than a directory (a link an earlier entry or artifact
/// left, above all).
fn make_dirs_inside(into: &Path, relative: &Path) -> Result<PathBuf, String> {
    let mut at = into.to_path_buf();
    for part in relative.components() {
        let std::path::Component::Normal(part) = part else {
            return Err(format!("{} is not a plain relative path", relative.display()));
        };
        at.push(part);
        match at.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} crosses something that is not a directory", relative.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at).map_err(|e| format!("{}: {e}", relative.display()))?
            }
            Err(e) => return Err(format!("{}: {e}", relative.display())),
        }
    }
    Ok(at)
}

/// Marks a cached artifact used now (its modification time orders the cache).
fn touch(path: &Path) {
    let now = std::time::SystemTime::now();
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(now);
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Archive {
    Tar,
    TarGz,
    TarZst,
    Zip,
}

fn archive_kind(name: &str) -> Option<Archive> {
    let name = name.to_ascii_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Archive::TarGz)
    } else if name.ends_with(".tar.zst") {
        Some(Archive::TarZst)
    } else if name.ends_with(".tar") {
        Some(Archive::Tar)
    } else if name.ends_with(".zip") {
        Some(Archive::Zip)
    } else {
        None
    }
}

fn unpack(kind: Archive, archive: &Path, into: &Path) -> Result<(), String> {
    let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let reader: Box<dyn Read> = match kind {
        Archive::Zip => return unzip(file, into),
        Archive::Tar => Box::new(file),
        Archive::TarGz => Box::new(flate2::read::GzDecoder::new(file)),
        Archive::TarZst => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(file).map_err(|e| format!("not zstd: {e}"))?)
        }
    };
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_ownerships(false);
    tar.set_unpack_xattrs(false);
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        if path.components().next().and_then(|c| c.as_os_str().to_str()).is_some_and(|n| RESERVED.contains(&n)) {
            return Err(format!("{} would replace a file the agent keeps in the sandbox", path.display()));
        }
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            return Err(format!("{} is a device or a FIFO", path.display()));
        }
        if !entry.unpack_in(into).map_err(|e| format!("{}: {e}", path.display()))? {
            return Err(format!("{} would land outside the sandbox", path.display()));
        }
    }
    Ok(())
}

fn unzip(file: std::fs::File, into: &Path) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(format!("{} would land outside the sandbox", entry.name().unwrap_or_default()));
        };
        if relative.components().next().and_then(|c| c.as_os_str().to_str()).is_some_and(|n| RESERVED.contains(&n)) {
            return Err(format!("{} would replace a file the agent keeps in the sandbox", relative.display()));
        }
        if entry.is_symlink() {
            return Err(format!("{} is a link; links in zip files are not unpacked", relative.display()));
        }
        // Earlier artifacts may have left links here: every directory on the way is checked.
        if entry.is_dir() {
            make_dirs_inside(into, &relative)?;
            continue;
        }
        let parent = make_dirs_inside(into, relative.parent().unwrap_or(Path::new("")))?;
        let Some(file_name) = relative.file_name() else { continue };
        let path = parent.join(file_name);
        let mode = entry.unix_mode().map_or(0o644, |m| m & 0o755);
        let mut out = new_file(&path).map_err(|e| format!("{}: {e}", relative.display()))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Gives what was staged to `owner` and moves it into the sandbox, then removes the staging
/// directory. The sandbox is new and its task has not started: nothing there can race this.
pub fn move_into(staging: &Path, sandbox: &Path, owner: Option<(u32, u32)>) -> Result<(), AgentError> {
    let io = |what: &str, e: std::io::Error| AgentError::io(format!("moving fetched artifacts: {what}"), e);
    if let Some((uid, gid)) = owner {
        chown_tree(staging, uid, gid).map_err(|e| io("chown", e))?;
    }
    for entry in std::fs::read_dir(staging).map_err(|e| io("read", e))? {
        let entry = entry.map_err(|e| io("read", e))?;
        let name = entry.file_name();
        let target = sandbox.join(&name);
        if target.symlink_metadata().is_ok() {
            return Err(AgentError::InvalidTask(format!(
                "a fetched artifact would replace {} in the sandbox",
                name.to_string_lossy()
            )));
        }
        std::fs::rename(entry.path(), &target).map_err(|e| io("rename", e))?;
    }
    std::fs::remove_dir_all(staging).map_err(|e| io("remove", e))
}

/// `lchown`s everything under `dir` (not `dir` itself), never following a link.
fn chown_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
        if path.symlink_metadata()?.is_dir() {
            chown_tree(&path, uid, gid)?;
        }
    }
    Ok(())
}
