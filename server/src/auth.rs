//! Tokens: Ed25519-signed JWTs. The cluster key lives in the data directory (`cluster.key`,
//! PKCS#8 in PEM); whoever holds it can mint tokens, so it is written owner-only.
//!
//! Every token names a `kind`, which bounds what it may call (see [`Kind::may`]), and carries
//! `exp`, which is always enforced.

use crate::error::ServerError;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "cluster.key";
/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 30;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Everything.
    Operator,
    /// Read-only views.
    Viewer,
    /// The framework API and the read-only views.
    Framework,
    /// The agent protocol only.
    Agent,
}

/// The part of the API a route belongs to, for authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    FrameworkApi,
    AgentApi,
    Read,
}

impl Kind {
    pub fn may(self, area: Area) -> bool {
        matches!(
            (self, area),
            (Kind::Operator, _)
                | (Kind::Viewer, Area::Read)
                | (Kind::Framework, Area::FrameworkApi | Area::Read)
                | (Kind::Agent, Area::AgentApi)
        )
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "operator" => Some(Kind::Operator),
            "viewer" => Some(Kind::Viewer),
            "framework" => Some(Kind::Framework),
            "agent" => Some(Kind::Agent),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal's name.
    pub sub: String,
    pub kind: Kind,
    pub iat: u64,
    pub exp: u64,
}

/// The cluster's signing key and the matching verifier.
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    /// Loads `DIR/cluster.key`, creating it (and DIR) when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Keys, ServerError> {
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| ServerError::io(format!("creating {}", data_dir.display()), e))?;
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| ServerError::Internal("generating an Ed25519 key failed".into()))?;
            write_private(&path, &to_pem(pkcs8.as_ref()))?;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?;
        Keys::from_pem(&text).map_err(|m| ServerError::Internal(format!("{}: {m}", path.display())))
    }

    pub fn from_pem(text: &str) -> Result<Keys, String> {
        let der = from_pem(text)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?;
        let public = pair.public_key().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public);
        let kid = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Keys {
            kid,
            encoding: EncodingKey::from_ed_der(&der),
            decoding: DecodingKey::from_ed_der(&public),
            validation,
        })
    }

    /// Signs a token for `name` of `kind`, valid for `ttl_secs`.
    pub fn issue(&self, kind: Kind, name: &str, ttl_secs: u64) -> Result<String, ServerError> {
        let iat = jsonwebtoken::get_current_timestamp();
        self.sign(&Claims { sub: name.to_string(), kind, iat, exp: iat.saturating_add(ttl_secs) })
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, ServerError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| ServerError::Internal(format!("signing a token failed: {e}")))
    }

    /// Checks an `Authorization` header value and returns the token's claims.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, ServerError> {
        let unauthorized = |m: &str| ServerError::Unauthorized { message: m.to_string() };
        let value = header.ok_or_else(|| unauthorized("an Authorization: Bearer token is required"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let header = jsonwebtoken::decode_header(token.trim()).map_err(|_| unauthorized("the token is malformed"))?;
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(unauthorized("the token was not signed by this cluster's key"));
        }
        let data =
            jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("the token has expired"),
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        unauthorized("the token's signature is invalid")
                    }
                    _ => unauthorized("the token is invalid"),
                }
            })?;
        Ok(data.claims)
    }

    /// Verifies the header and checks that the token's kind may act in `area`.
    pub fn authorize(&self, header: Option<&str>, area: Area) -> Result<Claims, ServerError> {
        let claims = self.verify_header(header)?;
        if !claims.kind.may(area) {
            return Err(ServerError::Forbidden {
                message: format!("{:?} tokens may not call this endpoint", claims.kind).to_lowercase(),
            });
        }
        Ok(claims)
    }
}

fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn from_pem(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("bad PEM: {e}"))
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<(), ServerError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ServerError::io(format!("writing {}", path.display()), e))?;
    file.write_all(contents.as_bytes()).map_err(|e| ServerError::io(format!("writing {}", path.display()), e))
}

/// The per-user default data directory: `$XDG_DATA_HOME/agora` or `~/.local/share/agora`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agora");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".local/share/agora")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_forgeries_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Keys::load_or_create(dir.path()).expect("keys");
        let token = keys.issue(Kind::Framework, "spark", 60).expect("token");
        let claims = keys.verify_header(Some(&format!("Bearer {token}"))).expect("valid");
        assert_eq!(claims.sub, "spark");
        assert_eq!(claims.kind, Kind::Framework);
        // Reloading gives the same key.
        let again = Keys::load_or_create(dir.path()).expect("keys");
        assert!(again.verify_header(Some(&format!("Bearer {token}"))).is_ok());
        // Another cluster's key is refused.
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = Keys::load_or_create(other_dir.path()).expect("keys");
        assert!(other.verify_header(Some(&format!("Bearer {token}"))).is_err());
        // Expired (beyond the leeway) is refused.
        let now = jsonwebtoken::get_current_timestamp();
        let expired = Claims { sub: "old".into(), kind: Kind::Operator, iat: now - 600, exp: now - 120 };
        let old = keys.sign(&expired).expect("token");
        assert!(keys.verify_header(Some(&format!("Bearer {old}"))).is_err());
        assert!(keys.verify_header(None).is_err());
        assert!(keys.verify_header(Some("Bearer not.a.jwt")).is_err());
    }

    #[test]
    fn kinds_bound_areas() {
        assert!(Kind::Operator.may(Area::AgentApi));
        assert!(!Kind::Agent.may(Area::FrameworkApi));
        assert!(!Kind::Framework.may(Area::AgentApi));
        assert!(!Kind::Viewer.may(Area::FrameworkApi));
        assert!(Kind::Viewer.may(Area::Read));
    }
}
