//! TLS for the API: the server's rustls configuration from PEM files, and the small private CA
//! that `agora certs create` makes for a cluster (a CA, server certificates, and agent client
//! certificates).
//!
//! Only the `ring` provider is built in, so that no C toolchain beyond `cc` is needed.

use crate::error::ServerError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use rustls::ServerConfig;

/// The CA's files in a certificate directory.
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca.key";
/// The CA's common name; also how an existing CA key is turned back into an issuer.
const CA_NAME: &str = "Agora cluster CA";
/// How long a CA made by `agora certs create` is valid.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn tls_error(context: impl std::fmt::Display, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{context}: {e}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate in a PEM file; an empty file is an error.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(path.display(), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path.display(), e))?;
    if certs.is_empty() {
        return Err(tls_error(path.display(), "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The rustls configuration of a server with the certificate chain in `cert` and the private key
/// in `key`. With `client_ca`, every client must present a certificate that CA signed (mutual
/// TLS); tokens are still checked on top.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let chain = read_certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key.display(), e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS versions", e))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certificates(ca)? {
                roots.add(cert).map_err(|e| tls_error(ca.display(), e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| tls_error(ca.display(), e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(format!("{} with {}", cert.display(), "its key"), e))?;
    // Only HTTP/1.1 is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What `agora certs create` wrote.
#[derive(Debug, Default)]
pub struct CreatedCerts {
    /// Whether the CA was made now (false: an existing one in the directory signed the rest).
    pub new_ca: bool,
    pub files: Vec<PathBuf>,
}

/// Makes (or reuses) the CA in `dir`, then one server certificate valid for every name in
/// `server_names` (DNS names or IP addresses) and one client certificate per agent name.
/// Certificates are valid for `lifetime`; keys are ECDSA P-256 and written readable by the
/// owner only.
pub fn create_certs(
    dir: &Path,
    server_names: &[String],
    agent_names: &[String],
    lifetime: Duration,
) -> Result<CreatedCerts, ServerError> {
    if !dir.exists() {
        // A new directory holds the CA key: owner-only. One given that exists keeps its mode
        // (it may be a shared place); the keys in it are 0600 whatever it is.
        crate::auth::private_dir(dir)?;
    }
    let mut created = CreatedCerts::default();
    let (ca_params, ca_key) = match std::fs::read_to_string(dir.join(CA_KEY_FILE)) {
        Ok(pem) => {
            let key = KeyPair::from_pem(&pem).map_err(|e| tls_error(CA_KEY_FILE, e))?;
            // Whoever reads the CA key can sign certificates: owner-only, whatever it was.
            use std::os::unix::fs::PermissionsExt as _;
            let path = dir.join(CA_KEY_FILE);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| ServerError::io(format!("setting the mode of {}", path.display()), e))?;
            (ca_params(Duration::ZERO)?, key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let params = ca_params(CA_LIFETIME)?;
            let key = KeyPair::generate().map_err(|e| tls_error("making the CA key", e))?;
            let cert = params.self_signed(&key).map_err(|e| tls_error("signing the CA", e))?;
            write_pair(dir, "ca", &cert.pem(), &key, &mut created)?;
            created.new_ca = true;
            (params, key)
        }
        Err(e) => return Err(ServerError::io(format!("reading {}", dir.join(CA_KEY_FILE).display()), e)),
    };
    let issuer = Issuer::new(ca_params, ca_key);
    if !server_names.is_empty() {
        let params = leaf_params(&server_names[0], server_names, ExtendedKeyUsagePurpose::ServerAuth, lifetime)?;
        sign_leaf(dir, "server", params, &issuer, &mut created)?;
    }
    for agent in agent_names {
        let params = leaf_params(agent, std::slice::from_ref(agent), ExtendedKeyUsagePurpose::ClientAuth, lifetime)?;
        sign_leaf(dir, &format!("agent-{agent}"), params, &issuer, &mut created)?;
    }
    Ok(created)
}

/// The CA's parameters. What an issuer needs of them (name, key usages, key id method) is the
/// same every time, which is how a CA key read back from disk signs again.
fn ca_params(lifetime: Duration) -> Result<CertificateParams, ServerError> {
    let mut params = CertificateParams::new(Vec::new()).map_err(|e| tls_error("CA parameters", e))?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, lifetime);
    Ok(params)
}

fn leaf_params(
    common_name: &str,
    names: &[String],
    usage: ExtendedKeyUsagePurpose,
    lifetime: Duration,
) -> Result<CertificateParams, ServerError> {
    let mut params =
        CertificateParams::new(names.to_vec()).map_err(|e| tls_error(format!("name `{common_name}`"), e))?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, lifetime);
    Ok(params)
}

/// Valid from an hour ago (clocks drift) for `lifetime`.
fn set_validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + lifetime;
}

fn sign_leaf(
    dir: &Path,
    name: &str,
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
    created: &mut CreatedCerts,
) -> Result<(), ServerError> {
    let key = KeyPair::generate().map_err(|e| tls_error(format!("making the key of {name}"), e))?;
    let cert = params.signed_by(&key, issuer).map_err(|e| tls_error(format!("signing {name}"), e))?;
    write_pair(dir, name, &cert.pem(), &key, created)
}

/// Writes `NAME.pem` and `NAME.key` (owner-only).
fn write_pair(
    dir: &Path,
    name: &str,
    cert: &str,
    key: &KeyPair,
    created: &mut CreatedCerts,
) -> Result<(), ServerError> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    crate::auth::write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&cert_path, cert).map_err(|e| ServerError::io(format!("writing {}", cert_path.display()), e))?;
    created.files.push(cert_path);
    created.files.push(key_path);
    Ok(())
}

/// The names a client certificate (DER) gives its holder: its subject's common names and
/// its DNS subject alternative names. None for a certificate that does not parse.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return Vec::new() };
    let mut names: Vec<String> =
        cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_string).collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_signs_with_the_same_ca() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777;
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("certs");
        let year = Duration::from_secs(365 * 24 * 3600);
        let first = create_certs(dir.as_path(), &["localhost".into(), "127.0.0.1".into()], &[], year).expect("certs");
        assert!(first.new_ca);
        assert_eq!(mode(dir.as_path()), 0o700, "a new certificate directory is owner-only");
        for key in [CA_KEY_FILE, "server.key"] {
            assert_eq!(mode(&dir.as_path().join(key)), 0o600, "{key}");
            std::fs::set_permissions(dir.as_path().join(key), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let ca_before = std::fs::read(dir.as_path().join(CA_CERT_FILE)).expect("CA");
        let second = create_certs(dir.as_path(), &["localhost".into()], &["node-1".into()], year).expect("agent cert");
        assert!(!second.new_ca);
        for key in [CA_KEY_FILE, "server.key", "agent-node-1.key"] {
            assert_eq!(mode(&dir.as_path().join(key)), 0o600, "{key} is owner-only again");
        }
        assert_eq!(std::fs::read(dir.as_path().join(CA_CERT_FILE)).expect("CA"), ca_before);
        // Both leaves chain to the one CA: the server config accepts them, and a client
        // verifier built from the CA accepts the agent's.
        let config = server_config(
            &dir.as_path().join("server.pem"),
            &dir.as_path().join("server.key"),
            Some(&dir.as_path().join(CA_CERT_FILE)),
        );
        assert!(config.is_ok(), "{config:?}");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(read_certificates(&dir.as_path().join(CA_CERT_FILE)).expect("CA")[0].clone()).expect("root");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("verifier");
        let agent = read_certificates(&dir.as_path().join("agent-node-1.pem")).expect("agent cert");
        let now = rustls::pki_types::UnixTime::now();
        verifier.verify_client_cert(&agent[0], &[], now).expect("the CA signed the agent's certificate");
        assert!(certificate_names(agent[0].as_ref()).contains(&"node-1".to_string()));
        let server = read_certificates(&dir.as_path().join("server.pem")).expect("server cert");
        assert!(
            verifier.verify_client_cert(&server[0], &[], now).is_err(),
            "a server certificate is not a client certificate"
        );
    }
}
