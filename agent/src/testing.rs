//! Helpers for tests and benchmarks (feature `test-support`): a private `docker-registry`,
//! images pushed to it from tar entries, and busybox from Debian's `busybox-static`. Not in the
//! production binary.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `docker-registry` serving from a directory of its own; stopped on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub storage: PathBuf,
    /// What pushes use: anonymous, or the one user of a registry started with one.
    pub auth: RegistryAuth,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts one, or says why it cannot (no `docker-registry` here).
    pub fn start() -> Option<Registry> {
        Registry::start_with(None)
    }

    /// Starts one that, given a user and password, lets in only that user (htpasswd, bcrypt).
    pub fn start_with(user: Option<(&str, &str)>) -> Option<Registry> {
        Registry::start_configured(user.map(Access::Htpasswd))
    }

    /// Starts one that takes bearer tokens from a token server (`realm`), signed by the
    /// certificate `bundle` holds, for `service`, from `issuer`; pushes use `user`'s
    /// credentials, which the token server takes.
    pub fn start_with_tokens(
        realm: &str,
        service: &str,
        issuer: &str,
        bundle: &Path,
        user: (&str, &str),
    ) -> Option<Registry> {
        Registry::start_configured(Some(Access::Token { realm, service, issuer, bundle, user }))
    }

    fn start_configured(access: Option<Access<'_>>) -> Option<Registry> {
        let binary =
            ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"].into_iter().find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            eprintln!("skipped: docker-registry is not installed (apt-get install docker-registry)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        let mut auth = RegistryAuth::Anonymous;
        match access {
            None => {}
            Some(Access::Htpasswd((name, password))) => {
                let htpasswd = dir.path().join("htpasswd");
                let hash = bcrypt::hash(password, 5).expect("bcrypt");
                std::fs::write(&htpasswd, format!("{name}:{hash}\n")).expect("htpasswd");
                yaml.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: agora-test\n    path: {}\n",
                    htpasswd.display()
                ));
                auth = RegistryAuth::Basic(name.to_string(), password.to_string());
            }
            Some(Access::Token { realm, service, issuer, bundle, user: (name, password) }) => {
                yaml.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    bundle.display()
                ));
                auth = RegistryAuth::Basic(name.to_string(), password.to_string());
            }
        }
        std::fs::write(&config, yaml).expect("registry config");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .expect("docker-registry starts");
        let host = format!("127.0.0.1:{port}");
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(Instant::now() < until, "docker-registry did not listen on {host}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Registry { child, host, storage, auth, _dir: dir })
    }

    pub fn client(&self) -> Client {
        Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(vec![self.host.clone()]),
            ..Default::default()
        })
    }

    /// Pushes an image of these layers (each a list of tar entries) as `name:tag`; returns the
    /// manifest's digest.
    pub async fn push(&self, name: &str, layers: &[Vec<Entry>]) -> String {
        let config = serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "User": "65534"});
        self.push_with_config(name, layers, config).await
    }

    /// Pushes as [`Registry::push`] does, with `config` as the image's run config (`Env`,
    /// `Cmd`, `Entrypoint`, `User`, `WorkingDir`).
    pub async fn push_with_config(&self, name: &str, layers: &[Vec<Entry>], run: serde_json::Value) -> String {
        let mut image_layers = Vec::new();
        let mut diff_ids = Vec::new();
        for entries in layers {
            let tar = tar_of(entries);
            diff_ids.push(format!("sha256:{}", sha256_hex(&tar)));
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).expect("gzip");
            image_layers.push(ImageLayer::oci_v1_gzip(gz.finish().expect("gzip"), None));
        }
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": run,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let reference: Reference = format!("{}/{name}:latest", self.host).parse().expect("reference");
        let client = self.client();
        let config = Config::oci_v1(serde_json::to_vec(&config).expect("json"), None);
        client.push(&reference, &image_layers, config, &self.auth, None).await.expect("push");
        let (_, digest) = client.pull_image_manifest(&reference, &self.auth).await.expect("manifest");
        digest
    }

    /// The file the registry keeps a blob's bytes in.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

/// How a registry lets clients in.
enum Access<'a> {
    Htpasswd((&'a str, &'a str)),
    Token { realm: &'a str, service: &'a str, issuer: &'a str, bundle: &'a Path, user: (&'a str, &'a str) },
}

pub enum Entry {
    File(&'static str, Vec<u8>, u32),
    Dir(&'static str),
    Link(&'static str, &'static str),
}

pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                header.set_mode(*mode);
                // Written by hand: `append_data` would refuse the `..` the attacks need.
                header.as_gnu_mut().expect("gnu").name[..path.len()].copy_from_slice(path.as_bytes());
                header.set_cksum();
                builder.append(&header, data.as_slice()).expect("file");
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                builder.append_data(&mut header, path, std::io::empty()).expect("dir");
            }
            Entry::Link(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                builder.append_link(&mut header, path, target).expect("link");
            }
        }
    }
    builder.into_inner().expect("tar")
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn busybox() -> Option<Vec<u8>> {
    match std::fs::read("/bin/busybox") {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            eprintln!("skipped: /bin/busybox is not here (apt-get install busybox-static)");
            None
        }
    }
}

/// Entries for a busybox root: the binary, links to the applets tests use, `/etc/passwd` and
/// `/etc/group` with root and nobody, and the directories a container needs.
pub fn busybox_root(busybox: Vec<u8>) -> Vec<Entry> {
    let mut entries = vec![
        Entry::Dir("bin/"),
        Entry::File("bin/busybox", busybox, 0o755),
        Entry::Dir("etc/"),
        Entry::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n".to_vec(),
            0o644,
        ),
        Entry::File("etc/group", b"root:x:0:\nnogroup:x:65534:\n".to_vec(), 0o644),
        Entry::Dir("tmp/"),
    ];
    for applet in APPLETS {
        entries.push(Entry::Link(applet, "busybox"));
    }
    entries
}

/// The busybox applets [`busybox_root`] links, as `bin/NAME`.
const APPLETS: [&str; 21] = [
    "bin/sh",
    "bin/ls",
    "bin/cat",
    "bin/echo",
    "bin/ps",
    "bin/sleep",
    "bin/id",
    "bin/hostname",
    "bin/touch",
    "bin/head",
    "bin/dd",
    "bin/grep",
    "bin/wc",
    "bin/mkdir",
    "bin/true",
    "bin/false",
    "bin/test",
    "bin/kill",
    "bin/env",
    "bin/nc",
    "bin/tail",
];
