//! Secrets stay secret: the data directory and the files that hold keys, tokens and state are
//! owner-only whatever the umask. Each test runs the real `agora` binary.

mod common;

use common::{eventually, stop, AGORA, DEADLINE};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The directory `agora dev` said its sandboxes are in, removed when dropped: an `agora dev`
/// run as root puts them in a directory of its own under /tmp.
struct Sandboxes(PathBuf);

impl Drop for Sandboxes {
    fn drop(&mut self) {
        if self.0.starts_with(std::env::temp_dir()) && self.0.file_name().is_some_and(|n| n != "tmp") {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process stopped when dropped, so that a failing test leaves none behind.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// Starts `agora dev` under `umask 000`, without `--agent-work-dir`, and waits until it answers;
/// returns the process and what it printed.
async fn dev_with_umask_000(scratch: &Path, data_dir: &Path) -> (Stopped, String) {
    let address = data_dir.join("address");
    let _ = std::fs::remove_file(&address);
    let stdout = scratch.join("dev.stdout");
    let dev = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(AGORA)
        .args(["dev", "--listen", "127.0.0.1:0", "--resources", "cpus:2,mem:1024,disk:512", "--data-dir"])
        .arg(data_dir)
        .env("AGORA_LOG", "info")
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(scratch.join("dev.stderr")).expect("stderr"))
        .spawn()
        .map(Stopped)
        .expect("agora dev starts");
    eventually(DEADLINE, "agora dev to write its address", || {
        let written = std::fs::read_to_string(&address).is_ok_and(|t| !t.trim().is_empty());
        async move { written.then_some(()) }
    })
    .await;
    (dev, std::fs::read_to_string(&stdout).expect("agora dev's output"))
}

/// The directory `agora dev` said its sandboxes are in.
fn sandboxes(printed: &str) -> Sandboxes {
    let line = printed.lines().find_map(|l| l.split_once("andboxes are in ")).map(|(_, dir)| dir.trim().to_string());
    let sandboxes =
        Sandboxes(PathBuf::from(line.unwrap_or_else(|| panic!("agora dev says where sandboxes are: {printed}"))));
    assert!(sandboxes.0.is_dir(), "{} is a directory", sandboxes.0.display());
    sandboxes
}

/// The modes of everything secret in `data_dir`, by name.
fn secret_modes(data_dir: &Path) -> Vec<(String, u32)> {
    let mut paths = vec![
        data_dir.to_path_buf(),
        data_dir.join("cluster.key"),
        data_dir.join("admin.token"),
        data_dir.join("state"),
        data_dir.join("state/state.redb"),
    ];
    let retired = data_dir.join("keys");
    if retired.is_dir() {
        paths.push(retired.clone());
        for entry in std::fs::read_dir(&retired).expect("keys/") {
            paths.push(entry.expect("entry").path());
        }
    }
    paths.into_iter().map(|p| (p.display().to_string(), mode(&p))).collect()
}

fn owner_only(data_dir: &Path) -> Vec<(String, u32)> {
    secret_modes(data_dir)
        .into_iter()
        .map(|(path, _)| {
            let dir = Path::new(&path).is_dir();
            (path, if dir { 0o700 } else { 0o600 })
        })
        .collect()
}

/// `agora run` as a new user would, with the token read from the file `agora dev` wrote.
fn run_echo(data_dir: &Path, word: &str) -> std::process::Output {
    let address = std::fs::read_to_string(data_dir.join("address")).expect("address");
    Command::new(AGORA)
        .args(["run", "--cpus", "0.1", "--mem", "32", "--", "echo", word])
        .env("AGORA_ADDR", address.trim())
        .env_remove("AGORA_TOKEN")
        .env_remove("AGORA_DATA_DIR")
        .env("AGORA_TOKEN_FILE", data_dir.join("admin.token"))
        .output()
        .expect("agora run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_its_secrets_are_owner_only_whatever_the_umask() {
    let scratch = common::task_dir();
    let data_dir = scratch.path().join("data");

    // A fresh data directory, made under umask 000.
    let (dev, printed) = dev_with_umask_000(scratch.path(), &data_dir).await;
    assert_eq!(secret_modes(&data_dir), owner_only(&data_dir));
    let sandboxes = sandboxes(&printed);
    // The built-in agent runs tasks: where the task user cannot reach the data directory (a
    // root agent's `nobody`), in the directory it named.
    let out = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || run_echo(&data_dir, "fresh")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "fresh");
    if nix::unistd::Uid::effective().is_root() {
        assert!(!sandboxes.0.starts_with(&data_dir), "nobody cannot reach {}", data_dir.display());
        assert!(!data_dir.join("agent").exists(), "no empty DATA_DIR/agent is left behind");
    }
    drop(dev);

    // Someone opens everything up, and a rotation adds a retired key; the next start, still
    // under umask 000, closes it all again.
    let rotated = Command::new(AGORA).args(["keys", "rotate", "--data-dir"]).arg(&data_dir).output().expect("rotate");
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    for (path, _) in secret_modes(&data_dir) {
        let path = Path::new(&path);
        chmod(path, if path.is_dir() { 0o777 } else { 0o666 });
    }
    assert!(secret_modes(&data_dir).iter().all(|(_, m)| *m == 0o777 || *m == 0o666));
    let (dev, printed) = dev_with_umask_000(scratch.path(), &data_dir).await;
    assert_eq!(secret_modes(&data_dir), owner_only(&data_dir));
    let again = self::sandboxes(&printed);
    assert_eq!(again.0, sandboxes.0, "a restart finds the same sandboxes (and the agent's id in them)");
    let out = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || run_echo(&data_dir, "again")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "again");
    drop(dev);
    drop(sandboxes);
}
