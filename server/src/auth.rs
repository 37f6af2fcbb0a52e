//! Tokens: Ed25519-signed JWTs. The active cluster key lives in the data directory
//! (`cluster.key`, PKCS#8 in PEM); whoever holds it can mint tokens, so it is written
//! owner-only. Keys retired by a rotation stay in `keys/KID.key` and still verify the tokens
//! they signed, each chosen by the token's `kid`; deleting one revokes every token it signed.
//! A running server reads the directory again every few seconds, so rotations and removals
//! need no restart.
//!
//! Every token names a `kind`, which bounds what it may call (see `master::policy`), and carries
//! `exp`, which is always enforced.

use crate::error::ServerError;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "cluster.key";
/// Where retired keys wait until they are removed.
pub const RETIRED_DIR: &str = "keys";
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

impl Kind {
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
    /// For framework tokens: the roles its frameworks may register with; absent, only the
    /// default role `*`. [`ANY_ROLE`] in the list allows every role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// For framework tokens: the OS users its tasks may name; absent, none (its tasks run as
    /// each agent's default task user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

/// The role of frameworks that name no other, which every framework token may use.
pub const DEFAULT_ROLE: &str = "*";
/// In a framework token's roles: every role (an explicit opt-in; a token names none by default).
pub const ANY_ROLE: &str = "*any*";

/// What a framework token is limited to, beyond its principal's frameworks.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The roles its frameworks may register with; `None`: the default role `*` only.
    pub roles: Option<Vec<String>>,
    /// The OS users its tasks may name; `None`: none.
    pub users: Option<Vec<String>>,
}

/// The cluster's signing key, and the keys that verify tokens (it and the retired ones).
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    validation: Validation,
    /// Verifying keys by kid; re-read from `dir` by [`Keys::reload`].
    verifiers: std::sync::RwLock<std::collections::HashMap<String, DecodingKey>>,
    dir: Option<PathBuf>,
    /// Tokens whose signature checked out, with their key id and claims: an Ed25519
    /// verification costs about 50 us, a lookup well under 1 us, and agents send the same token
    /// with every heartbeat. An entry is used only while its key is still known and the token
    /// has not expired.
    verified: std::sync::Mutex<std::collections::HashMap<String, (String, Claims)>>,
}

/// The most verified tokens remembered; past it the memory is cleared and refilled.
const VERIFIED_TOKENS_KEPT: usize = 16_384;

/// A key read from a PEM file: its kid, signing half and verifying half.
struct KeyPair {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

fn read_key(text: &str) -> Result<KeyPair, String> {
    let der = from_pem(text)?;
    let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?;
    let public = pair.public_key().as_ref().to_vec();
    Ok(KeyPair {
        kid: kid_of(&public),
        encoding: EncodingKey::from_ed_der(&der),
        decoding: DecodingKey::from_ed_der(&public),
    })
}

/// A key's id: the first 8 bytes of the SHA-256 of its public key, in hex.
fn kid_of(public: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn new_key_pem() -> Result<String, ServerError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| ServerError::Internal("generating an Ed25519 key failed".into()))?;
    Ok(to_pem(pkcs8.as_ref()))
}

fn read_file(path: &Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(|e| ServerError::io(format!("reading {}", path.display()), e))
}

/// The retired keys in `dir`, by kid. Unreadable files are skipped with a warning, so that one
/// bad file does not lock everyone out.
/// The retired keys in `dir`. A file that is not a key is skipped; a directory or file that
/// cannot be read (out of file descriptors, say) is an error, so that a reload keeps the keys it
/// had rather than forget some and refuse their tokens.
fn retired_keys(dir: &Path) -> Result<std::collections::HashMap<String, DecodingKey>, String> {
    let mut keys = std::collections::HashMap::new();
    let entries = match std::fs::read_dir(dir.join(RETIRED_DIR)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(format!("reading {}: {e}", dir.join(RETIRED_DIR).display())),
    };
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("key") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        match read_key(&text) {
            Ok(key) => {
                keys.insert(key.kid, key.decoding);
            }
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "skipping a retired key that does not parse"),
        }
    }
    Ok(keys)
}

/// A key in the data directory, for `agora keys list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub active: bool,
}

impl Keys {
    /// Loads `DIR/cluster.key` (creating it and DIR when missing) and the retired keys.
    /// The data directory is made owner-only (0700) and its key files 0600, whatever the umask
    /// and whatever modes they had before.
    pub fn load_or_create(data_dir: &Path) -> Result<Keys, ServerError> {
        secure_data_dir(data_dir)?;
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            write_private(&path, &new_key_pem()?)?;
        }
        let mut keys = Keys::from_pem(&read_file(&path)?)
            .map_err(|m| ServerError::Internal(format!("{}: {m}", path.display())))?;
        keys.dir = Some(data_dir.to_path_buf());
        keys.reload();
        Ok(keys)
    }

    pub fn from_pem(text: &str) -> Result<Keys, String> {
        let key = read_key(text)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let verifiers = std::collections::HashMap::from([(key.kid.clone(), key.decoding)]);
        Ok(Keys {
            kid: key.kid,
            encoding: key.encoding,
            validation,
            verifiers: verifiers.into(),
            dir: None,
            verified: Default::default(),
        })
    }

    /// The active key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Reads the data directory's keys again: after a rotation the new active key verifies
    /// (and the retired one still does); a removed key no longer does. The key this process
    /// signs with verifies for as long as it is in the directory.
    pub fn reload(&self) {
        let Some(dir) = &self.dir else { return };
        let path = dir.join(KEY_FILE);
        let read = retired_keys(dir).and_then(|mut verifiers| {
            let active = std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| read_key(&t))?;
            verifiers.insert(active.kid, active.decoding);
            Ok(verifiers)
        });
        match read {
            Ok(verifiers) => *self.verifiers.write().unwrap_or_else(|p| p.into_inner()) = verifiers,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the keys again: keeping those known")
            }
        }
    }

    /// Retires the active key of `data_dir` and makes a new one; returns the new kid. Tokens
    /// signed with the old key stay valid until it is removed.
    pub fn rotate(data_dir: &Path) -> Result<String, ServerError> {
        let path = data_dir.join(KEY_FILE);
        let old = read_file(&path)?;
        let old_kid = read_key(&old).map_err(|m| ServerError::Internal(format!("{}: {m}", path.display())))?.kid;
        let retired = data_dir.join(RETIRED_DIR);
        private_dir(&retired)?;
        write_private(&retired.join(format!("{old_kid}.key")), &old)?;
        let new = new_key_pem()?;
        write_private(&path, &new)?;
        Ok(read_key(&new).map_err(ServerError::Internal)?.kid)
    }

    /// The keys of `data_dir`: the active one first.
    pub fn list(data_dir: &Path) -> Result<Vec<KeyInfo>, ServerError> {
        let path = data_dir.join(KEY_FILE);
        let active =
            read_key(&read_file(&path)?).map_err(|m| ServerError::Internal(format!("{}: {m}", path.display())))?;
        let mut retired: Vec<String> =
            retired_keys(data_dir).map_err(ServerError::Internal)?.into_keys().filter(|k| *k != active.kid).collect();
        retired.sort();
        let mut keys = vec![KeyInfo { kid: active.kid, active: true }];
        keys.extend(retired.into_iter().map(|kid| KeyInfo { kid, active: false }));
        Ok(keys)
    }

    /// Removes a retired key, revoking every token it signed. The active key cannot be removed:
    /// rotate first.
    pub fn remove(data_dir: &Path, kid: &str) -> Result<(), ServerError> {
        let keys = Keys::list(data_dir)?;
        match keys.iter().find(|k| k.kid == kid) {
            None => Err(ServerError::not_found("key", "unknown_key", kid)),
            Some(k) if k.active => {
                Err(ServerError::bad("active_key", "the active key cannot be removed: rotate first, then remove it"))
            }
            Some(_) => {
                let path = data_dir.join(RETIRED_DIR).join(format!("{kid}.key"));
                std::fs::remove_file(&path).map_err(|e| ServerError::io(format!("removing {}", path.display()), e))
            }
        }
    }

    /// Signs a token for `name` of `kind`, valid for `ttl_secs`.
    pub fn issue(&self, kind: Kind, name: &str, ttl_secs: u64) -> Result<String, ServerError> {
        self.issue_scoped(kind, name, ttl_secs, Scope::default())
    }

    /// Signs a token limited to `scope` (framework tokens).
    pub fn issue_scoped(&self, kind: Kind, name: &str, ttl_secs: u64, scope: Scope) -> Result<String, ServerError> {
        let iat = jsonwebtoken::get_current_timestamp();
        let Scope { roles, users } = scope;
        self.sign(&Claims { sub: name.to_string(), kind, iat, exp: iat.saturating_add(ttl_secs), roles, users })
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
        let token = token.trim();
        if let Some(claims) = self.remembered(token) {
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("the token is malformed"))?;
        let kid = header.kid.unwrap_or_default();
        let key = self
            .verifiers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&kid)
            .cloned()
            .ok_or_else(|| unauthorized("the token was not signed by one of this cluster's keys"))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("the token has expired"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => unauthorized("the token's signature is invalid"),
            _ => unauthorized("the token is invalid"),
        })?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_TOKENS_KEPT {
            verified.clear();
        }
        verified.insert(token.to_string(), (kid, data.claims.clone()));
        Ok(data.claims)
    }

    /// The claims of a token verified before, if its key is still known and it has not expired
    /// (with the same leeway as a full verification).
    fn remembered(&self, token: &str) -> Option<Claims> {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let (kid, claims) = verified.get(token)?;
        let known = self.verifiers.read().unwrap_or_else(|p| p.into_inner()).contains_key(kid);
        if known && claims.exp.saturating_add(LEEWAY_SECS) > jsonwebtoken::get_current_timestamp() {
            return Some(claims.clone());
        }
        verified.remove(token);
        None
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

/// Writes a secret file readable by its owner only: a new file is created 0600, and one that
/// was there is set to 0600 before anything is written to it, whatever its mode was.
pub fn write_private(path: &Path, contents: &str) -> Result<(), ServerError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let context = || format!("writing {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ServerError::io(context(), e))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| ServerError::io(context(), e))?;
    file.write_all(contents.as_bytes()).map_err(|e| ServerError::io(context(), e))
}

/// Creates `dir` (and its parents) if missing, and makes it owner-only (0700) whatever the
/// umask and whatever mode it had.
pub fn private_dir(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ServerError::io(format!("creating {}", dir.display()), e))?;
    set_mode(dir, 0o700)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ServerError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ServerError::io(format!("setting the mode of {} to {mode:o}", path.display()), e))
}

/// Makes the data directory owner-only (0700), creating it if missing, and its key files (the
/// active key and the retired ones, and `keys/`) owner-only too, whatever modes they had:
/// whoever reads a key can mint any token.
pub fn secure_data_dir(data_dir: &Path) -> Result<(), ServerError> {
    private_dir(data_dir)?;
    let key = data_dir.join(KEY_FILE);
    if key.is_file() {
        set_mode(&key, 0o600)?;
    }
    let retired = data_dir.join(RETIRED_DIR);
    if !retired.is_dir() {
        return Ok(());
    }
    set_mode(&retired, 0o700)?;
    let entries =
        std::fs::read_dir(&retired).map_err(|e| ServerError::io(format!("reading {}", retired.display()), e))?;
    for entry in entries {
        let path = entry.map_err(|e| ServerError::io(format!("reading {}", retired.display()), e))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("key") && path.is_file() {
            set_mode(&path, 0o600)?;
        }
    }
    Ok(())
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

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    #[test]
    fn a_data_dir_and_keys_left_open_are_made_owner_only() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("data");
        Keys::load_or_create(&dir).expect("keys");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        Keys::rotate(&dir).expect("rotate");
        let retired = std::fs::read_dir(dir.join(RETIRED_DIR)).expect("retired").next().expect("one").expect("entry");
        // Someone opens everything up; the next start closes it again.
        for (path, open) in [(&dir, 0o777), (&dir.join(RETIRED_DIR), 0o777), (&dir.join(KEY_FILE), 0o666)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(open)).expect("chmod");
        }
        std::fs::set_permissions(retired.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        Keys::load_or_create(&dir).expect("keys");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(RETIRED_DIR)), 0o700);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&retired.path()), 0o600);
        // A secret file written over an open one is closed before it is written.
        let token = dir.join("admin.token");
        std::fs::write(&token, "old").expect("write");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        write_private(&token, "new").expect("write_private");
        assert_eq!(mode(&token), 0o600);
        assert_eq!(std::fs::read_to_string(&token).expect("read"), "new");
    }

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
        let expired = Claims {
            sub: "old".into(),
            kind: Kind::Operator,
            iat: now - 600,
            exp: now - 120,
            roles: None,
            users: None,
        };
        let old = keys.sign(&expired).expect("token");
        assert!(keys.verify_header(Some(&format!("Bearer {old}"))).is_err());
        assert!(keys.verify_header(None).is_err());
        assert!(keys.verify_header(Some("Bearer not.a.jwt")).is_err());
    }

    #[test]
    fn a_remembered_token_is_still_refused_once_expired_or_its_key_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Keys::load_or_create(dir.path()).expect("keys");
        let token = keys.issue(Kind::Agent, "node", 60).expect("token");
        let bearer = format!("Bearer {token}");
        keys.verify_header(Some(&bearer)).expect("valid");
        assert!(keys.remembered(&token).is_some(), "the second check is a lookup");
        // Its expiry passes while it is remembered.
        let now = jsonwebtoken::get_current_timestamp();
        if let Some((_, claims)) = keys.verified.lock().expect("lock").get_mut(&token) {
            claims.exp = now - LEEWAY_SECS - 1;
        }
        assert!(keys.remembered(&token).is_none());
        // Verified again from scratch, then its key goes away.
        keys.verify_header(Some(&bearer)).expect("still valid in fact");
        keys.verifiers.write().expect("lock").clear();
        assert!(keys.verify_header(Some(&bearer)).is_err(), "a removed key's tokens are refused at once");
    }

    #[test]
    fn a_reload_that_cannot_read_the_keys_keeps_those_it_knows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Keys::load_or_create(dir.path()).expect("keys");
        let token = keys.issue(Kind::Agent, "node", 60).expect("token");
        // The key file cannot be read (as when the process is out of file descriptors).
        std::fs::rename(dir.path().join(KEY_FILE), dir.path().join("moved")).expect("rename");
        std::fs::create_dir(dir.path().join(KEY_FILE)).expect("a directory in its place");
        keys.reload();
        keys.verified.lock().expect("lock").clear();
        keys.verify_header(Some(&format!("Bearer {token}"))).expect("the known key still verifies");
    }

    #[test]
    fn rotated_keys_verify_until_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Keys::load_or_create(dir.path()).expect("keys");
        let old = keys.issue(Kind::Operator, "before", 60).expect("token");
        let old_kid = keys.kid().to_string();
        let new_kid = Keys::rotate(dir.path()).expect("rotate");
        assert_ne!(new_kid, old_kid);
        let rotated = Keys::load_or_create(dir.path()).expect("keys");
        assert_eq!(rotated.kid(), new_kid);
        let new = rotated.issue(Kind::Operator, "after", 60).expect("token");
        let ok = |keys: &Keys, t: &str| keys.verify_header(Some(&format!("Bearer {t}"))).is_ok();
        // A server started before the rotation learns of the new key on reload, and keeps the old.
        assert!(!ok(&keys, &new));
        keys.reload();
        assert!(ok(&keys, &old) && ok(&keys, &new));
        assert!(ok(&rotated, &old) && ok(&rotated, &new));
        let listed = Keys::list(dir.path()).expect("list");
        assert_eq!(
            listed,
            vec![KeyInfo { kid: new_kid.clone(), active: true }, KeyInfo { kid: old_kid.clone(), active: false }]
        );
        assert_eq!(Keys::remove(dir.path(), &new_kid).expect_err("active").code(), "active_key");
        Keys::remove(dir.path(), &old_kid).expect("remove");
        rotated.reload();
        assert!(!ok(&rotated, &old), "a removed key's tokens are revoked");
        assert!(ok(&rotated, &new));
    }
}
