//! Finding the server and the token: flags, then `AGORA_ADDR` / `AGORA_TOKEN_FILE` /
//! `AGORA_TOKEN`, then the files
//! `agora dev` writes to its data directory (`address`, `admin.token`).

use crate::Target;
use agora_client::Client;
use anyhow::{anyhow, Context as _};
use std::path::{Path, PathBuf};

pub const ADDRESS_FILE: &str = "address";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    explicit.map(Path::to_path_buf).unwrap_or_else(agora_server::auth::default_data_dir)
}

fn read_trimmed(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_string())
}

pub fn client(target: &Target) -> anyhow::Result<Client> {
    let dir = data_dir(target.data_dir.as_deref());
    let addr = match &target.addr {
        Some(a) => a.clone(),
        None => read_trimmed(&dir.join(ADDRESS_FILE))
            .map_err(|_| anyhow!("no server found: start one with `agora dev`, or set AGORA_ADDR"))?,
    };
    let token = match (&target.token_file, &target.token) {
        (Some(file), _) => {
            let token = read_trimmed(file)?;
            if token.is_empty() {
                return Err(anyhow!("{} is empty: it should hold a token", file.display()));
            }
            token
        }
        (None, Some(t)) => t.clone(),
        (None, None) => read_trimmed(&dir.join(ADMIN_TOKEN_FILE)).map_err(|_| {
            anyhow!("no token found: set AGORA_TOKEN or AGORA_TOKEN_FILE, or run `agora dev` to create one")
        })?,
    };
    Client::with_tls(&addr, &token, &target.tls.options()).with_context(|| format!("server address {addr}"))
}
