//! The image store against a real registry (Debian's `docker-registry`, on loopback, started
//! here) holding an image these tests build from this machine's files (busybox from Debian's
//! `busybox-static`) and push with the registry client: pulls by tag and by digest, whiteouts,
//! a tampered blob refused, and layers that try to write outside the root refused.

use agora_agent::images::{Credentials, ImageStore, Pull};
use agora_agent::testing::{busybox, sha256_hex, tar_of, Entry, Registry};
use oci_client::client::{Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// A busybox image of two layers: the second changes a file, whites one out, and makes a
/// directory opaque.
fn busybox_layers(busybox: Vec<u8>) -> Vec<Vec<Entry>> {
    vec![
        vec![
            Entry::Dir("bin/"),
            Entry::File("bin/busybox", busybox, 0o755),
            Entry::Link("bin/sh", "busybox"),
            Entry::Dir("etc/"),
            Entry::File("etc/motd", b"one\n".to_vec(), 0o644),
            Entry::File("etc/gone", b"x\n".to_vec(), 0o644),
            Entry::Dir("data/"),
            Entry::File("data/old", b"old\n".to_vec(), 0o644),
        ],
        vec![
            Entry::File("etc/motd", b"two\n".to_vec(), 0o644),
            Entry::File("etc/.wh.gone", Vec::new(), 0o644),
            Entry::File("data/.wh..wh..opq", Vec::new(), 0o644),
            Entry::File("data/new", b"new\n".to_vec(), 0o644),
        ],
    ]
}

#[tokio::test]
async fn images_are_pulled_by_tag_and_by_digest_with_their_whiteouts_applied() {
    let (Some(registry), Some(busybox)) = (Registry::start(), busybox()) else { return };
    let digest = registry.push("tools/busybox", &busybox_layers(busybox.clone())).await;
    let cache = tempfile::tempdir().expect("cache");
    let store = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());

    let image =
        store.pull(&format!("{}/tools/busybox:latest", registry.host), Pull::IfMissing).await.expect("pull by tag");
    assert_eq!(image.digest, digest);
    let root = &image.rootfs;
    assert_eq!(std::fs::read(root.join("bin/busybox")).expect("busybox"), busybox);
    assert_eq!(std::fs::read_link(root.join("bin/sh")).expect("sh"), Path::new("busybox"));
    assert_eq!(std::fs::read_to_string(root.join("etc/motd")).expect("motd"), "two\n");
    assert!(!root.join("etc/gone").exists(), "a whiteout removes a lower layer's file");
    assert!(!root.join("data/old").exists(), "an opaque directory hides a lower layer's files");
    assert_eq!(std::fs::read_to_string(root.join("data/new")).expect("new"), "new\n");
    assert!(!root.join("etc/.wh.gone").exists() && !root.join("data/.wh..wh..opq").exists());
    assert_eq!(image.config["config"]["User"], "65534");
    // The cache keeps the image's files and config, not the compressed layers.
    let mut kept: Vec<String> = std::fs::read_dir(root.parent().expect("image dir"))
        .expect("image dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, ["config.json", "last-used", "rootfs"]);

    // The busybox of the image runs (outside a container, for now: its root is plain files).
    let out = Command::new(root.join("bin/busybox")).args(["cat", "/dev/null"]).output().expect("busybox runs");
    assert!(out.status.success());

    // By digest: the cached image, with no layer fetched again.
    std::fs::write(root.join("etc/marker"), "cached").expect("marker");
    let by_digest = format!("{}/tools/busybox@{digest}", registry.host);
    let again = store.pull(&by_digest, Pull::IfMissing).await.expect("pull by digest");
    assert_eq!((again.digest.as_str(), &again.rootfs), (digest.as_str(), &image.rootfs));
    assert!(again.rootfs.join("etc/marker").exists());

    // A digest the registry does not have is an error, not another image.
    let unknown = format!("{}/tools/busybox@sha256:{}", registry.host, "0".repeat(64));
    assert!(store.pull(&unknown, Pull::Always).await.is_err());
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_is_refused() {
    let (Some(registry), Some(busybox)) = (Registry::start(), busybox()) else { return };
    registry.push("tools/tampered", &busybox_layers(busybox)).await;
    let reference: Reference = format!("{}/tools/tampered:latest", registry.host).parse().expect("reference");
    let (manifest, _) =
        registry.client().pull_image_manifest(&reference, &RegistryAuth::Anonymous).await.expect("manifest");
    // Someone with the registry's disk (or on the wire) changes a layer's bytes.
    let blob = registry.blob_path(&manifest.layers[1].digest);
    let mut bytes = std::fs::read(&blob).expect("blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).expect("tamper");

    let cache = tempfile::tempdir().expect("cache");
    let store = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());
    let error = store.pull(&reference.whole(), Pull::Always).await.expect_err("a tampered layer is refused");
    assert!(error.to_string().contains("igest"), "{error}");
    assert!(
        !cache.path().join("images").exists()
            || std::fs::read_dir(cache.path().join("images")).expect("dir").next().is_none()
    );
    assert!(std::fs::read_dir(cache.path().join("tmp")).expect("tmp").next().is_none(), "the partial pull is removed");
}

#[tokio::test]
async fn layers_that_write_outside_the_root_are_refused() {
    let Some(registry) = Registry::start() else { return };
    let outside = tempfile::tempdir().expect("outside");
    let target: &'static str = Box::leak(outside.path().display().to_string().into_boxed_str());
    let cache = tempfile::tempdir().expect("cache");
    let store = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());
    let attacks: Vec<(&str, Vec<Vec<Entry>>)> = vec![
        ("dotdot", vec![vec![Entry::File("../../../../escaped", b"x".to_vec(), 0o644)]]),
        // A link to a directory outside, then a file written through it.
        (
            "through-a-link",
            vec![vec![Entry::Link("etc", target)], vec![Entry::File("etc/escaped", b"x".to_vec(), 0o644)]],
        ),
        // A link, then a whiteout through it that would delete outside.
        (
            "whiteout-through-a-link",
            vec![vec![Entry::Link("etc", target)], vec![Entry::File("etc/.wh.victim", Vec::new(), 0o644)]],
        ),
    ];
    std::fs::write(outside.path().join("victim"), "still here").expect("victim");
    for (name, layers) in attacks {
        registry.push(&format!("attacks/{name}"), &layers).await;
        let pulled = store.pull(&format!("{}/attacks/{name}:latest", registry.host), Pull::Always).await;
        let error = pulled.expect_err(&format!("{name}: the image was accepted"));
        eprintln!("{name}: {error}");
        assert!(!outside.path().join("escaped").exists(), "{name}: a file was written outside");
        assert_eq!(std::fs::read_to_string(outside.path().join("victim")).expect("victim"), "still here", "{name}");
    }
    assert!(!cache.path().join("escaped").exists() && !Path::new("/escaped").exists());
}

/// An image of one layer holding one file, `data/blob`.
async fn push_blob_image(registry: &Registry, name: &str, bytes: Vec<u8>) -> String {
    registry.push(name, &[vec![Entry::Dir("data/"), Entry::File("data/blob", bytes, 0o644)]]).await
}

#[tokio::test]
async fn zstd_layers_are_unpacked() {
    let Some(registry) = Registry::start() else { return };
    if !Path::new("/usr/bin/zstd").exists() {
        eprintln!("skipped: the zstd command is not installed (apt-get install zstd)");
        return;
    }
    let tar = tar_of(&[Entry::Dir("etc/"), Entry::File("etc/motd", b"zstd\n".to_vec(), 0o644)]);
    let mut zstd = Command::new("/usr/bin/zstd")
        .args(["-q", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd");
    zstd.stdin.take().expect("stdin").write_all(&tar).expect("write");
    let compressed = zstd.wait_with_output().expect("zstd output").stdout;
    let layer = ImageLayer::new(compressed, "application/vnd.oci.image.layer.v1.tar+zstd".to_string(), None);
    let reference: Reference = format!("{}/tools/zstd:latest", registry.host).parse().expect("reference");
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]}});
    let config = Config::oci_v1(serde_json::to_vec(&config).expect("json"), None);
    registry.client().push(&reference, &[layer], config, &RegistryAuth::Anonymous, None).await.expect("push");

    let cache = tempfile::tempdir().expect("cache");
    let store = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());
    let image = store.pull(&reference.whole(), Pull::IfMissing).await.expect("pull");
    assert_eq!(std::fs::read_to_string(image.rootfs.join("etc/motd")).expect("motd"), "zstd\n");
}

#[tokio::test]
async fn garbage_collection_removes_the_least_recently_used_images_not_in_use() {
    let Some(registry) = Registry::start() else { return };
    const MIB: usize = 1 << 20;
    let mut digests = std::collections::HashMap::new();
    for (name, fill) in [("a", 1u8), ("b", 2), ("c", 3)] {
        digests.insert(name, push_blob_image(&registry, &format!("gc/{name}"), vec![fill; MIB]).await);
    }
    let cache = tempfile::tempdir().expect("cache");
    let store = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());
    let reference = |name: &str| format!("{}/gc/{name}:latest", registry.host);
    // Used in this order: b, c, then a twice (the second from the cache).
    let mut roots = std::collections::HashMap::new();
    for name in ["b", "c", "a", "a"] {
        roots.insert(name, store.pull(&reference(name), Pull::IfMissing).await.expect("pull").rootfs);
    }
    let in_use: std::collections::HashSet<String> = [digests["b"].clone()].into();

    // Over a budget of two and a half images: the least recently used not in use goes (c; b
    // is older but in use).
    let collected = store.collect_garbage((5 * MIB / 2) as u64, &in_use).expect("gc");
    assert_eq!(collected.removed, vec![digests["c"].clone()]);
    assert!(!roots["c"].exists() && roots["a"].exists() && roots["b"].exists());
    assert!(collected.bytes >= 2 * MIB as u64 && collected.bytes <= (5 * MIB / 2) as u64, "{collected:?}");

    // Over a budget of nothing: all but the one in use, even though that is over budget.
    let collected = store.collect_garbage(0, &in_use).expect("gc");
    assert_eq!(collected.removed, vec![digests["a"].clone()]);
    assert!(roots["b"].join("data/blob").exists());

    // A removed image is pulled again when asked for.
    let again = store.pull(&reference("c"), Pull::IfMissing).await.expect("pull again");
    assert_eq!(std::fs::read(again.rootfs.join("data/blob")).expect("blob"), vec![3u8; MIB]);
}

#[tokio::test]
async fn credentials_come_from_a_docker_config_json() {
    let Some(registry) = Registry::start_with(Some(("alice", "s3cret"))) else { return };
    push_blob_image(&registry, "private/app", b"private".to_vec()).await;
    let reference = format!("{}/private/app:latest", registry.host);
    let dir = tempfile::tempdir().expect("dir");
    let with_config = |auths: serde_json::Value| {
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec(&serde_json::json!({ "auths": auths })).expect("json"))
            .expect("write");
        Credentials::from_docker_config(&path).expect("a config.json")
    };
    let caches = [(); 3].map(|()| tempfile::tempdir().expect("cache"));
    let store = |cache: usize, credentials: Credentials| {
        ImageStore::new(caches[cache].path(), std::slice::from_ref(&registry.host), credentials)
    };

    // Anonymously, or as someone else, the registry says no.
    assert!(store(0, Credentials::default()).pull(&reference, Pull::Always).await.is_err());
    let wrong = with_config(serde_json::json!({ registry.host.clone(): {"username": "alice", "password": "guess"} }));
    assert!(store(1, wrong).pull(&reference, Pull::Always).await.is_err());

    // As `docker login` writes it: base64 of user:password under the registry's host.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let login = with_config(serde_json::json!({ registry.host.clone(): {"auth": auth} }));
    assert!(!format!("{login:?}").contains("s3cret"), "a password in a log line: {login:?}");
    let image = store(2, login).pull(&reference, Pull::Always).await.expect("pull with credentials");
    assert_eq!(std::fs::read(image.rootfs.join("data/blob")).expect("blob"), b"private");
}

/// A tag naming an image index (a multi-arch image) is resolved to the manifest for this
/// host's platform: the pulled root holds that platform's file, not the other's.
#[tokio::test]
async fn a_multi_arch_index_is_resolved_to_this_hosts_platform() {
    use oci_client::manifest::{
        ImageIndexEntry, OciImageIndex, Platform, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
    };
    let Some(registry) = Registry::start() else { return };
    let this = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other = if this == "amd64" { "arm64" } else { "amd64" };
    let client = registry.client();
    let tag: Reference = format!("{}/tools/multi:latest", registry.host).parse().expect("reference");
    let mut manifests = Vec::new();
    // Each platform's image is pushed to the repository in turn (the tag moves; the manifest
    // stays, by digest), then the index takes the tag.
    for arch in [other, this] {
        registry.push("tools/multi", &[vec![Entry::File("arch", format!("{arch}\n").into_bytes(), 0o644)]]).await;
        let (raw, digest) =
            client.pull_manifest_raw(&tag, &registry.auth, &[OCI_IMAGE_MEDIA_TYPE]).await.expect("manifest");
        let platform = Platform {
            architecture: arch.to_string(),
            os: "linux".to_string(),
            os_version: None,
            os_features: None,
            variant: None,
            features: None,
        };
        manifests.push(ImageIndexEntry {
            media_type: OCI_IMAGE_MEDIA_TYPE.to_string(),
            digest,
            size: raw.len() as i64,
            platform: Some(platform),
            annotations: None,
        });
    }
    let index = OciImageIndex {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_string()),
        manifests,
        artifact_type: None,
        annotations: None,
    };
    client.push_manifest_list(&tag, &registry.auth, index).await.expect("push the index");

    let cache = tempfile::tempdir().expect("cache");
    let store = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());
    let image = store.pull(&format!("{}/tools/multi:latest", registry.host), Pull::Always).await.expect("pull");
    assert_eq!(std::fs::read_to_string(image.rootfs.join("arch")).expect("arch"), format!("{this}\n"));
}

/// A token server for a registry that takes bearer tokens: it answers `GET /token` with a JWT
/// (ES256, its certificate in the header's `x5c`) granting pull and push on every repository,
/// to a client that shows `user`'s password, and 401 to any other. Counts the tokens it gave.
async fn token_server(
    key: rcgen::KeyPair,
    cert_der: Vec<u8>,
    service: &'static str,
    issuer: &'static str,
    user: (&'static str, &'static str),
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let realm = format!("http://{}/token", listener.local_addr().expect("addr"));
    let given = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = given.clone();
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("key");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.0, user.1)));
    let x5c = base64::engine::general_purpose::STANDARD.encode(&cert_der);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let authorized = text.lines().any(|l| {
                l.split_once(':').is_some_and(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.trim() == basic)
            });
            let (status, body) = if authorized {
                let now = jsonwebtoken::get_current_timestamp();
                let claims = serde_json::json!({
                    "iss": issuer, "sub": user.0, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
                    "jti": format!("t{now}"),
                    "access": [{"type": "repository", "name": "tools/secret", "actions": ["pull", "push"]}],
                });
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                header.x5c = Some(vec![x5c.clone()]);
                let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("sign");
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ("200 OK", serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string())
            } else {
                ("401 Unauthorized", "{}".to_string())
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (realm, given)
}

/// A registry that takes only bearer tokens from a token server: the pull exchanges the
/// credentials of the Docker config for a token there and succeeds; without credentials the
/// token server refuses, and so does the pull.
#[tokio::test]
async fn pulls_exchange_credentials_for_a_registry_token() {
    let Some(busybox) = busybox() else { return };
    let (service, issuer, user) = ("agora-test", "agora-test-issuer", ("puller", "s3cret"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = rcgen::CertificateParams::new(vec!["token-issuer".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("issuer.pem");
    std::fs::write(&bundle, cert.pem()).expect("bundle");
    let (realm, given) = token_server(key, cert.der().to_vec(), service, issuer, user).await;
    let Some(registry) = Registry::start_with_tokens(&realm, service, issuer, &bundle, user) else { return };
    registry.push("tools/secret", &[vec![Entry::File("bin/busybox", busybox, 0o755)]]).await;
    assert!(given.load(std::sync::atomic::Ordering::SeqCst) > 0, "the push went through the token server");
    let reference = format!("{}/tools/secret:latest", registry.host);

    let cache = tempfile::tempdir().expect("cache");
    let anonymous = ImageStore::new(cache.path(), std::slice::from_ref(&registry.host), Credentials::default());
    assert!(anonymous.pull(&reference, Pull::Always).await.is_err(), "an anonymous pull is refused");

    let config = dir.path().join("config.json");
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{}:{}", user.0, user.1));
    std::fs::write(&config, serde_json::json!({"auths": {registry.host.clone(): {"auth": auth}}}).to_string())
        .expect("config.json");
    let before = given.load(std::sync::atomic::Ordering::SeqCst);
    let store = ImageStore::new(
        cache.path(),
        std::slice::from_ref(&registry.host),
        Credentials::from_docker_config(&config).expect("credentials"),
    );
    let image = store.pull(&reference, Pull::Always).await.expect("a pull with the credentials");
    assert!(image.rootfs.join("bin/busybox").is_file());
    assert!(given.load(std::sync::atomic::Ordering::SeqCst) > before, "the pull got its token from the token server");
}
