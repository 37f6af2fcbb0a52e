//! A task's sandbox, as the agent touches it.
//!
//! The agent runs as root and the task owns its sandbox, so anything in it may have been
//! replaced by a link, a FIFO or a device by the time the agent looks. The agent therefore
//! reaches into a sandbox only through a handle on the sandbox directory (`openat` and its
//! kin, with `O_NOFOLLOW`), opens only regular files that the sandbox's owner owns, never waits
//! on what it opens, and gives every launch a new sandbox, whatever an earlier task of the
//! same id left behind.
//!
//! The directories above a sandbox (`{work_dir}/sandboxes/{framework_id}`) are the agent's and
//! no task can write to them, so the path up to the sandbox directory itself is safe to walk.

use crate::process::Ended;
use crate::tasks::sandbox_dir;
use crate::AgentError;
use agora_api::{FrameworkId, TaskId};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A sandbox's mode: its user reads and writes, the user's group reads, no one else enters.
pub const MODE: u32 = 0o750;
/// The mode of the output files the agent makes.
const OUTPUT_MODE: u32 = 0o640;
/// The files that receive a task's output.
pub const STDOUT: &str = "stdout";
pub const STDERR: &str = "stderr";
/// Where the supervising shell writes how the task ended.
pub const EXIT_FILE: &str = ".agora-exit";

/// A task's open output files, for its process to inherit.
#[derive(Debug)]
pub struct Output {
    pub stdout: File,
    pub stderr: File,
}

/// An open sandbox directory.
#[derive(Debug)]
pub struct Sandbox {
    dir: OwnedFd,
    path: PathBuf,
    /// The sandbox's owner: the task's user. Files the agent reads must be theirs.
    owner: u32,
}

/// The uid and gid a new sandbox is given to; `None` keeps the agent's own.
pub type Owner = Option<(u32, u32)>;

fn io(context: impl Into<String>, e: Errno) -> AgentError {
    AgentError::io(context, e.into())
}

/// Opens the directory `name` under `at` without following a link there.
fn open_dir(at: impl AsFd, name: &str) -> Result<OwnedFd, Errno> {
    rfs::openat(at, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
}

fn chown(fd: impl AsFd, owner: Owner, what: &str) -> Result<(), AgentError> {
    if let Some((uid, gid)) = owner {
        rfs::fchown(fd, Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)))
            .map_err(|e| io(format!("cannot give {what} to uid {uid}"), e))?;
    }
    Ok(())
}

impl Sandbox {
    /// Makes a new sandbox for a launch at `{work_dir}/sandboxes/{framework_id}/{task_id}`.
    /// Whatever an earlier task of the same id left there is deleted first: what a task leaves
    /// behind is never trusted. The output files are made before the directory is handed to
    /// `owner`, and each volume (its directory, and its path in the sandbox) is linked in, so
    /// that nothing the task's user runs can plant anything on the way.
    pub fn create(
        work_dir: &Path,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        owner: Owner,
        volumes: &[(PathBuf, String)],
    ) -> Result<(Sandbox, Output), AgentError> {
        let path = sandbox_dir(work_dir, framework_id, task_id)?;
        let framework_dir = path.parent().unwrap_or(work_dir);
        create_dirs_traversable(framework_dir)?;
        // Tasks get an absolute AGORA_SANDBOX even when the work dir was given relative.
        let framework_dir = framework_dir
            .canonicalize()
            .map_err(|e| AgentError::io(format!("cannot resolve {}", framework_dir.display()), e))?;
        let path = framework_dir.join(task_id.as_str());
        let parent = rfs::open(&framework_dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io(format!("cannot open {}", framework_dir.display()), e))?;
        remove_earlier(&parent, &path, task_id.as_str())?;
        rfs::mkdirat(&parent, task_id.as_str(), Mode::from_raw_mode(0o700))
            .map_err(|e| io(format!("cannot create sandbox {}", path.display()), e))?;
        let dir = open_dir(&parent, task_id.as_str()).map_err(|e| io(format!("cannot open {}", path.display()), e))?;
        let output = Output { stdout: new_output(&dir, STDOUT, owner)?, stderr: new_output(&dir, STDERR, owner)? };
        for (target, container_path) in volumes {
            link_volume(&dir, target, container_path, owner)?;
        }
        chown(&dir, owner, "the sandbox")?;
        rfs::fchmod(&dir, Mode::from_raw_mode(MODE)).map_err(|e| io("cannot set the sandbox's mode", e))?;
        let owner_uid = owner.map_or_else(|| nix::unistd::Uid::effective().as_raw(), |(uid, _)| uid);
        Ok((Sandbox { dir, path, owner: owner_uid }, output))
    }

    /// Opens the sandbox at `path`, if there is one.
    pub fn open(path: &Path) -> Result<Option<Sandbox>, AgentError> {
        let dir = match rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(dir) => dir,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io(format!("cannot open sandbox {}", path.display()), e)),
        };
        let owner = rfs::fstat(&dir).map_err(|e| io(format!("cannot read sandbox {}", path.display()), e))?.st_uid;
        Ok(Some(Sandbox { dir, path: path.to_path_buf(), owner }))
    }

    /// The sandbox's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file `name`, directly in the sandbox, for reading: only a regular file of the
    /// sandbox's owner, reached without following a link and without waiting (a FIFO would
    /// block a reader). `None` when there is no such file; an error that says why otherwise.
    pub fn open_file(&self, name: &str) -> Result<Option<File>, AgentError> {
        // A name, not a path: `..` or a `/` would lead out of the sandbox.
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(AgentError::UnsafeFile(format!("`{}` is not a file name in the sandbox", name.escape_debug())));
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rfs::openat(&self.dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(refused(name, "a symbolic link")),
            // A socket cannot be opened at all.
            Err(Errno::NXIO) => return Err(refused(name, "a socket")),
            Err(e) => return Err(io(format!("cannot open {name} in {}", self.path.display()), e)),
        };
        let stat = rfs::fstat(&fd).map_err(|e| io(format!("cannot read {name}"), e))?;
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => None,
            FileType::Fifo => Some("a FIFO"),
            FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
            FileType::Socket => Some("a socket"),
            FileType::Directory => Some("a directory"),
            _ => Some("not a regular file"),
        };
        if let Some(kind) = kind {
            return Err(refused(name, kind));
        }
        // A hard link to someone else's file (where the kernel allows making one) is not the
        // task's output, even if its name is.
        if stat.st_uid != self.owner {
            return Err(AgentError::UnsafeFile(format!(
                "{name} belongs to uid {}, not to the task's user (uid {}): the agent does not read it",
                stat.st_uid, self.owner
            )));
        }
        Ok(Some(File::from(fd)))
    }

    /// Reads up to `max_bytes` at `offset` of the output file `name`.
    pub fn read_output(&self, name: &str, offset: u64, max_bytes: u64) -> Result<Option<Vec<u8>>, AgentError> {
        let Some(mut file) = self.open_file(name)? else { return Ok(None) };
        let context = |e| AgentError::io(format!("cannot read {name} in {}", self.path.display()), e);
        file.seek(SeekFrom::Start(offset)).map_err(context)?;
        let mut data = Vec::new();
        file.take(max_bytes).read_to_end(&mut data).map_err(context)?;
        Ok(Some(data))
    }

    /// How the task ended, by the supervising shell's exit file: `None` if it wrote none (it
    /// was killed with SIGKILL, or the host went down) or left something else there.
    pub fn read_exit(&self) -> Option<Ended> {
        let file = self.open_file(EXIT_FILE).ok()??;
        let mut text = String::new();
        file.take(16).read_to_string(&mut text).ok()?;
        parse_exit(&text)
    }
}

/// How a program ended, from what the supervising shell wrote to its exit file.
pub fn parse_exit(text: &str) -> Option<Ended> {
    let code: i32 = text.trim().parse().ok()?;
    // As the shell reports it: a program that died of signal N shows as 128 + N.
    let signal = code.checked_sub(128).filter(|s| *s > 0 && nix::sys::signal::Signal::try_from(*s).is_ok());
    Some(signal.map_or(Ended::Code(code), Ended::Signal))
}

fn refused(name: &str, kind: &str) -> AgentError {
    AgentError::UnsafeFile(format!("{name} is {kind}, not a regular file: the agent does not open it"))
}

/// Deletes what an earlier task of the same id left at `path` (`name` in `parent`).
fn remove_earlier(parent: &OwnedFd, path: &Path, name: &str) -> Result<(), AgentError> {
    let stat = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(io(format!("cannot look at {}", path.display()), e)),
    };
    tracing::info!(sandbox = %path.display(), "deleting the sandbox an earlier task of the same id left");
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        // The standard library deletes a tree without following the links in it.
        std::fs::remove_dir_all(path)
    } else {
        rfs::unlinkat(parent, name, AtFlags::empty()).map_err(Into::into)
    }
    .map_err(|e| AgentError::io(format!("cannot delete the earlier sandbox {}", path.display()), e))
}

/// Makes the output file `name` in a new sandbox, for appending.
fn new_output(dir: &OwnedFd, name: &str, owner: Owner) -> Result<File, AgentError> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::openat(dir, name, flags, Mode::from_raw_mode(OUTPUT_MODE))
        .map_err(|e| io(format!("cannot create {name}"), e))?;
    chown(&fd, owner, name)?;
    Ok(File::from(fd))
}

/// Makes `path` and whatever is missing above it, each made 0711 whatever the umask: the
/// tasks' users must pass through to their sandboxes (but may not list them). Directories that
/// already exist are left as they are.
pub fn create_dirs_traversable(path: &Path) -> Result<(), AgentError> {
    use std::os::unix::fs::PermissionsExt as _;
    let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.as_os_str().is_empty() && !p.exists()).collect();
    for dir in missing.into_iter().rev() {
        match std::fs::create_dir(dir) {
            Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
                .map_err(|e| AgentError::io(format!("cannot set the mode of {}", dir.display()), e))?,
            // Made meanwhile by another task's launch.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(AgentError::io(format!("cannot create {}", dir.display()), e)),
        }
    }
    Ok(())
}

/// Links the volume directory `target` at `container_path` (checked: relative, no `..`) in a
/// new sandbox, making the directories on the way, each given to `owner`.
fn link_volume(dir: &OwnedFd, target: &Path, container_path: &str, owner: Owner) -> Result<(), AgentError> {
    let mut parts: Vec<&str> = container_path.split('/').collect();
    let Some(last) = parts.pop() else { return Ok(()) };
    let mut at = dir.try_clone().map_err(|e| AgentError::io("cannot duplicate the sandbox handle", e))?;
    for part in parts {
        match rfs::mkdirat(&at, part, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io(format!("cannot create {part} in the sandbox"), e)),
        }
        at = open_dir(&at, part).map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => AgentError::UnsafeFile(format!(
                "{part} on the way to volume path {container_path} is not a directory: the agent does not follow it"
            )),
            e => io(format!("cannot open {part} in the sandbox"), e),
        })?;
        chown(&at, owner, part)?;
    }
    rfs::symlinkat(target, &at, last).map_err(|e| io(format!("cannot link a volume at {container_path}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn ids(task: &str) -> (FrameworkId, TaskId) {
        (FrameworkId::from("fw"), TaskId::from(task))
    }

    #[test]
    fn a_new_sandbox_has_empty_output_files_and_replaces_an_earlier_one() {
        let work = tempfile::tempdir().expect("dir");
        let (fw, task) = ids("t");
        let (sandbox, mut output) = Sandbox::create(work.path(), &fw, &task, None, &[]).expect("creates");
        output.stdout.write_all(b"first").expect("writes");
        std::fs::write(sandbox.path().join("left-behind"), "x").expect("writes");
        assert_eq!(sandbox.read_output(STDOUT, 0, 100).expect("reads"), Some(b"first".to_vec()));
        assert_eq!(sandbox.read_output(STDOUT, 2, 2).expect("reads"), Some(b"rs".to_vec()));

        let (again, _) = Sandbox::create(work.path(), &fw, &task, None, &[]).expect("creates again");
        assert_eq!(again.read_output(STDOUT, 0, 100).expect("reads"), Some(Vec::new()));
        assert!(!again.path().join("left-behind").exists());
        assert_eq!(again.read_output("nothing", 0, 100).expect("reads"), None);
    }

    #[test]
    fn links_fifos_and_directories_are_refused() {
        let work = tempfile::tempdir().expect("dir");
        let (fw, task) = ids("t");
        let (sandbox, _) = Sandbox::create(work.path(), &fw, &task, None, &[]).expect("creates");
        let secret = work.path().join("secret");
        std::fs::write(&secret, "secret").expect("writes");
        std::fs::remove_file(sandbox.path().join(STDOUT)).expect("removes");
        std::os::unix::fs::symlink(&secret, sandbox.path().join(STDOUT)).expect("links");
        std::fs::remove_file(sandbox.path().join(STDERR)).expect("removes");
        nix::unistd::mkfifo(&sandbox.path().join(STDERR), nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        std::fs::create_dir(sandbox.path().join(EXIT_FILE)).expect("mkdir");

        let err = sandbox.read_output(STDOUT, 0, 100).expect_err("a link is refused");
        assert!(err.to_string().contains("stdout is a symbolic link"), "{err}");
        // Returns at once: the FIFO has no writer, and opening it would otherwise wait for one.
        let err = sandbox.read_output(STDERR, 0, 100).expect_err("a FIFO is refused");
        assert!(err.to_string().contains("stderr is a FIFO"), "{err}");
        assert_eq!(sandbox.read_exit(), None);
    }

    #[test]
    fn exit_files_are_read() {
        let work = tempfile::tempdir().expect("dir");
        let (fw, task) = ids("t");
        let (sandbox, _) = Sandbox::create(work.path(), &fw, &task, None, &[]).expect("creates");
        std::fs::write(sandbox.path().join(EXIT_FILE), "3\n").expect("writes");
        assert_eq!(sandbox.read_exit(), Some(Ended::Code(3)));
        std::fs::write(sandbox.path().join(EXIT_FILE), "137\n").expect("writes");
        assert_eq!(sandbox.read_exit(), Some(Ended::Signal(9)));
        std::fs::write(sandbox.path().join(EXIT_FILE), "garbage").expect("writes");
        assert_eq!(sandbox.read_exit(), None);
    }

    #[test]
    fn volumes_are_linked_through_new_directories() {
        let work = tempfile::tempdir().expect("dir");
        let (fw, task) = ids("t");
        let volume = work.path().join("volumes/pg");
        std::fs::create_dir_all(&volume).expect("volume");
        let volumes = [(volume.clone(), "data/db/pg".to_string())];
        let (sandbox, _) = Sandbox::create(work.path(), &fw, &task, None, &volumes).expect("creates");
        std::fs::write(sandbox.path().join("data/db/pg/file"), "kept").expect("writes through the link");
        assert_eq!(std::fs::read_to_string(volume.join("file")).expect("reads"), "kept");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(sandbox.path()).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, MODE);
    }
}
