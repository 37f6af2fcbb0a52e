//! Secrets stay secret: the data directory and the files that hold keys, tokens and state are
//! owner-only whatever the umask, and the store's password never needs a command line. Each
//! test runs the real `agora` binary, and the Redis test a real `redis-server` that requires a
//! password.

mod common;

use agora_api::operator::ClusterView;
use common::{eventually, free_port, stop, AGORA, DEADLINE};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

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

/// A `redis-server` that requires `password`, configured by a file so that the password is not
/// on its command line either.
struct PasswordRedis {
    child: Child,
    port: u16,
}

impl Drop for PasswordRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a Redis answers on `port` (with anything: it asks for a password).
fn answers(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
    let mut reply = [0u8; 64];
    stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut reply).is_ok_and(|n| n > 0)
}

impl PasswordRedis {
    async fn start(dir: &Path, password: &str) -> PasswordRedis {
        let port = free_port();
        let conf = dir.join("redis.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\nrequirepass {password}\n",
            dir.display()
        );
        std::fs::write(&conf, text).expect("redis.conf");
        chmod(&conf, 0o600);
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdout(std::fs::File::create(dir.join("redis.log")).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        let redis = PasswordRedis { child, port };
        eventually(DEADLINE, "redis-server to answer", || async move { answers(port).then_some(()) }).await;
        redis
    }

    fn url(&self, prefix: &str) -> String {
        format!("redis://127.0.0.1:{}/0?prefix={prefix}", self.port)
    }
}

/// Starts `agora server` on `store` with the environment and flags given; the caller waits.
fn spawn_server(dir: &Path, name: &str, store: &str, env: &[(&str, &str)], extra: &[&str]) -> (Child, PathBuf) {
    let stdout = dir.join(format!("{name}.stdout"));
    let mut cmd = Command::new(AGORA);
    cmd.args(["server", "--listen", "127.0.0.1:0", "--store", store, "--data-dir"])
        .arg(dir.join("data"))
        .args(extra)
        .env("AGORA_LOG", "info")
        .env_remove("AGORA_STORE_PASSWORD")
        .env_remove("AGORA_STORE_PASSWORD_FILE")
        .stdout(std::fs::File::create(&stdout).expect("stdout"))
        .stderr(std::fs::File::create(dir.join(format!("{name}.stderr"))).expect("stderr"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.spawn().expect("agora server starts"), stdout)
}

/// Waits for the server to listen, checks that its command line does not hold `password`, and
/// that it leads the cluster (it took the lease in Redis, so it talks to Redis).
async fn serves_without_showing(server: Child, stdout: &Path, dir: &Path, password: &str) {
    let server = Stopped(server);
    let url = eventually(DEADLINE, "agora server to listen", || {
        let text = std::fs::read_to_string(stdout).unwrap_or_default();
        async move {
            let line = text.lines().find(|l| l.starts_with("Agora server listening at "))?;
            Some(line.trim_start_matches("Agora server listening at ").trim().to_string())
        }
    })
    .await;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.0.id())).expect("/proc/PID/cmdline");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("agora") && cmdline.contains("--store"), "the server's command line: {cmdline}");
    assert!(!cmdline.contains(password), "the password is on the command line: {cmdline}");
    let token = common::issue_token(&dir.join("data"), "operator", "ops");
    let client = agora_client::Client::new(&url, &token).expect("client");
    eventually(DEADLINE, "the server to lead through Redis", || {
        let client = client.clone();
        async move {
            let view: ClusterView = client.get("/v1/cluster").await.ok()?;
            (!view.leader.is_empty()).then_some(())
        }
    })
    .await;
    drop(server);
}

/// Waits for the server to give up; returns what it printed on stderr.
async fn fails(server: Child, dir: &Path, name: &str) -> String {
    let mut server = Stopped(server);
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < until, "agora server {name} should give up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(!status.success());
    std::fs::read_to_string(dir.join(format!("{name}.stderr"))).expect("stderr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_password_comes_from_the_environment_or_a_file_never_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    let password = format!("pw-{}-{nanos}", std::process::id());
    let redis = PasswordRedis::start(dir.path(), &password).await;

    // From the environment.
    let (server, stdout) =
        spawn_server(dir.path(), "env", &redis.url("secrets-env"), &[("AGORA_STORE_PASSWORD", &password)], &[]);
    serves_without_showing(server, &stdout, dir.path(), &password).await;

    // From a file, with its trailing newline.
    let file = dir.path().join("store.password");
    std::fs::write(&file, format!("{password}\n")).expect("password file");
    chmod(&file, 0o600);
    let file_arg = file.to_str().expect("utf-8 path");
    let (server, stdout) =
        spawn_server(dir.path(), "file", &redis.url("secrets-file"), &[], &["--store-password-file", file_arg]);
    serves_without_showing(server, &stdout, dir.path(), &password).await;

    // Without it, and with a wrong one: the server says so and stops.
    let (server, _) = spawn_server(dir.path(), "none", &redis.url("secrets-none"), &[], &[]);
    let stderr = fails(server, dir.path(), "none").await;
    assert!(stderr.contains("requires a password") && stderr.contains("AGORA_STORE_PASSWORD"), "{stderr}");
    let wrong = format!("not-{password}");
    let (server, _) =
        spawn_server(dir.path(), "wrong", &redis.url("secrets-wrong"), &[("AGORA_STORE_PASSWORD", &wrong)], &[]);
    let stderr = fails(server, dir.path(), "wrong").await;
    assert!(stderr.contains("refused the password"), "{stderr}");
    assert!(!stderr.contains(&wrong), "the error shows the password: {stderr}");

    for name in ["env", "file", "none", "wrong"] {
        for stream in ["stdout", "stderr"] {
            let text = std::fs::read_to_string(dir.path().join(format!("{name}.{stream}"))).unwrap_or_default();
            assert!(!text.contains(&password), "{name}.{stream} shows the password: {text}");
        }
    }
}

/// A `redis-server` that speaks only TLS (no plain port), with its certificate signed by a
/// private CA (made by `agora certs create`), and whose only user is an ACL user `agora`
/// allowed the keys and channels under `allowed_prefix` and no dangerous command.
struct TlsRedis {
    child: Child,
    port: u16,
    ca: PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsRedis {
    async fn start(dir: &Path, password: &str, allowed_prefix: &str) -> TlsRedis {
        let certs = dir.join("certs");
        let out = Command::new(AGORA)
            .args(["certs", "create", "--server", "127.0.0.1,localhost", "--dir"])
            .arg(&certs)
            .output()
            .expect("agora certs create");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let conf = dir.join("redis-tls.conf");
        let text = format!(
            "port 0\ntls-port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {dir}\n\
             tls-cert-file {certs}/server.pem\ntls-key-file {certs}/server.key\ntls-ca-cert-file {certs}/ca.pem\n\
             tls-auth-clients no\nuser default off\n\
             user agora on >{password} ~{allowed_prefix}:* &{allowed_prefix}:* +@all -@dangerous\n",
            dir = dir.display(),
            certs = certs.display(),
        );
        std::fs::write(&conf, text).expect("redis.conf");
        chmod(&conf, 0o600);
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdout(std::fs::File::create(dir.join("redis-tls.log")).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        let redis = TlsRedis { child, port, ca: certs.join("ca.pem") };
        eventually(DEADLINE, "redis-server to listen for TLS", || async move {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok().then_some(())
        })
        .await;
        redis
    }

    fn url(&self, scheme: &str, prefix: &str) -> String {
        format!("{scheme}://agora@127.0.0.1:{}/0?prefix={prefix}", self.port)
    }
}

/// The managed-Redis setup (ElastiCache with in-transit encryption and AUTH): `rediss://` with
/// an ACL user, its password from the environment, and a private CA given with --store-ca. The
/// server leads through that Redis; without the CA, with a prefix outside the user's keys, or
/// with the CA on a plain address, it says what is wrong and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_speaks_tls_to_redis_as_an_acl_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let password = format!("tls-pw-{}", std::process::id());
    let redis = TlsRedis::start(dir.path(), &password, "tenant-a").await;
    let ca = redis.ca.to_str().expect("utf-8 path").to_string();
    let env = [("AGORA_STORE_PASSWORD", password.as_str())];

    let (server, stdout) =
        spawn_server(dir.path(), "tls", &redis.url("rediss", "tenant-a"), &env, &["--store-ca", &ca]);
    serves_without_showing(server, &stdout, dir.path(), &password).await;

    // The system's roots do not know the private CA.
    let (server, _) = spawn_server(dir.path(), "no-ca", &redis.url("rediss", "tenant-a"), &env, &[]);
    let stderr = fails(server, dir.path(), "no-ca").await;
    assert!(stderr.contains("certificate") && stderr.contains("--store-ca"), "{stderr}");

    // The ACL keeps the user to its own prefix.
    let (server, _) =
        spawn_server(dir.path(), "other-prefix", &redis.url("rediss", "tenant-b"), &env, &["--store-ca", &ca]);
    let stderr = fails(server, dir.path(), "other-prefix").await;
    assert!(stderr.to_lowercase().contains("no permissions"), "{stderr}");

    // A CA for an address that is not TLS is a mistake, not ignored.
    let (server, _) = spawn_server(dir.path(), "plain", &redis.url("redis", "tenant-a"), &env, &["--store-ca", &ca]);
    let stderr = fails(server, dir.path(), "plain").await;
    assert!(stderr.contains("not a TLS address"), "{stderr}");

    for name in ["tls", "no-ca", "other-prefix", "plain"] {
        let text = std::fs::read_to_string(dir.path().join(format!("{name}.stderr"))).unwrap_or_default();
        assert!(!text.contains(&password), "{name}.stderr shows the password: {text}");
    }
}
