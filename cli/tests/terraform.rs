//! The Terraform module of `terraform/` (terraform/README.md), checked without AWS:
//!
//! - every `agora` flag its user-data templates use exists in the real binary's `--help`, and
//!   the module hands each template exactly the variables it uses (always run: no terraform);
//! - the agents' user data, rendered by `terraform console` (`templatefile`, in an empty
//!   directory: no provider needed), is run for real, isolated from the host, against a real
//!   `agora dev`: the agent it installs joins, with the attributes it was given, and runs a task;
//! - the servers' user data, rendered the same way, is run twice at once against one real
//!   `redis-server` with a password: the two servers agree on one cluster key, publish an
//!   operator token and an agent token that both accept, and share the store.
//!
//! Isolation: each script runs in `unshare --mount --pid --fork`, where /etc and /var are
//! overlays whose writes go to a tmpfs, and /usr/local/bin and /run are tmpfs (so no systemd or
//! D-Bus is seen there: the scripts start the agent or server directly, as they do wherever
//! systemd is not running). Everything the script installs, and every process it starts, goes
//! when the namespace's first process is killed.
//!
//! Stand-ins: the scripts' only AWS-specific commands are in their `aws_*` functions. The tests
//! put two stand-ins first on the script's PATH (written by [`StandIns`]): an `aws` that answers
//! `ssm get-parameter`, `ssm put-parameter` (refusing to overwrite, as SSM does without
//! `--overwrite`) and `secretsmanager get-secret-value` from files, and a `curl` that answers
//! the instance metadata service, IMDSv2 only (a session token first, then requests carrying
//! it), and hands every other URL to the real curl. There is no SSM, Secrets Manager or IMDS
//! here; what only AWS can prove is listed in terraform/README.md.

mod common;

use agora_api::operator::AgentList;
use agora_api::TaskState;
use common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MODULE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../terraform/modules/agora");
const REGION: &str = "eu-test-1";
const CLUSTER: &str = "tf-test";
/// User data downloads a binary of this test's size (a debug build) and may make a key: more
/// than the usual deadline on a busy machine.
const USER_DATA_DEADLINE: Duration = Duration::from_secs(120);

fn template(name: &str) -> PathBuf {
    Path::new(MODULE).join("templates").join(name)
}

fn templates() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(Path::new(MODULE).join("templates"))
        .expect("the module's templates")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tftpl"))
        .collect();
    found.sort();
    found
}

// ------------------------------------------------------------------------------------------------
// The flags and variables of the templates (no terraform needed)
// ------------------------------------------------------------------------------------------------

/// The `"$AGORA" ...` command lines of a script, as words: a line continued with `\`, or a bash
/// array written over several lines up to its `)`, counts as one line.
fn agora_commands(script: &str) -> Vec<Vec<String>> {
    let mut logical = Vec::new();
    let mut current = String::new();
    let mut in_array = false;
    for line in script.lines() {
        let trimmed = line.trim();
        if in_array {
            if trimmed == ")" {
                in_array = false;
                logical.push(std::mem::take(&mut current));
            } else if !trimmed.starts_with('#') {
                current.push(' ');
                current.push_str(trimmed);
            }
        } else if let Some(rest) = trimmed.strip_suffix('\\') {
            current.push_str(rest);
            current.push(' ');
        } else if trimmed.ends_with("=(") {
            in_array = true;
            current.push_str(trimmed);
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut commands = Vec::new();
    for line in logical.iter().filter(|l| !l.starts_with('#')) {
        for (at, pattern) in line.match_indices("\"$AGORA\"") {
            // Only where it is the command run: first on its line, or first in an array.
            let before = line[..at].trim_end();
            if !(before.is_empty() || before.ends_with("=(")) {
                continue;
            }
            let words = line[at + pattern.len()..]
                .split_whitespace()
                .take_while(|w| !["|", ";", "&", "&&", "||", ">", "<"].iter().any(|op| w.starts_with(op)))
                .map(str::to_string)
                .collect();
            commands.push(words);
        }
    }
    commands
}

/// The subcommand (`agent`, `token issue`) and the flags of one command line.
fn subcommand_and_flags(words: &[String]) -> (Vec<String>, Vec<String>) {
    let subcommand: Vec<String> =
        words.iter().take_while(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())).cloned().collect();
    let flags = words
        .iter()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.split('=').next().expect("a flag").to_string())
        .collect();
    (subcommand, flags)
}

/// Every `--flag` that `agora SUBCOMMAND --help` names.
fn help_flags(subcommand: &[String]) -> BTreeSet<String> {
    let out = Command::new(AGORA).args(subcommand).arg("--help").output().expect("agora --help");
    assert!(out.status.success(), "agora {} --help: {}", subcommand.join(" "), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags = BTreeSet::new();
    for (at, _) in text.match_indices("--") {
        let name: String =
            text[at + 2..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect();
        if !name.is_empty() {
            flags.insert(format!("--{name}"));
        }
    }
    flags
}

#[test]
fn every_agora_flag_in_the_user_data_exists_in_the_binarys_help() {
    let mut checked = Vec::new();
    let mut unknown = Vec::new();
    for path in templates() {
        let script = std::fs::read_to_string(&path).expect("template");
        for words in agora_commands(&script) {
            let (subcommand, flags) = subcommand_and_flags(&words);
            assert!(!subcommand.is_empty(), "{}: an agora command without a subcommand: {words:?}", path.display());
            let known = help_flags(&subcommand);
            for flag in flags {
                if !known.contains(&flag) {
                    unknown.push(format!("{}: agora {} {flag}", path.display(), subcommand.join(" ")));
                }
                checked.push(format!("{} {flag}", subcommand.join(" ")));
            }
        }
    }
    assert!(unknown.is_empty(), "flags the binary does not have:\n{}", unknown.join("\n"));
    // The extraction must have found the commands the module is about, or this test would pass
    // on templates it cannot read.
    for expected in ["agent --master", "agent --token-file", "server --store", "server --store-password-file"] {
        assert!(checked.iter().any(|c| c == expected), "found no `agora {expected}` in the templates: {checked:?}");
    }
    eprintln!("checked {} agora flags in the templates against --help", checked.len());
}

#[test]
fn the_flag_extraction_sees_a_flag_the_binary_lacks() {
    // The check above fails on a flag `agora agent --help` does not name, continued lines and
    // arrays alike.
    let script = "x=(\n    \"$AGORA\" agent\n    --master \"$M\"\n    --no-such-flag\n)\n\"$AGORA\" token issue --kind agent \\\n    --bogus 1 >\"$f\"\n";
    let commands = agora_commands(script);
    assert_eq!(commands.len(), 2, "{commands:?}");
    let (subcommand, flags) = subcommand_and_flags(&commands[0]);
    assert_eq!(
        (subcommand, flags.clone()),
        (vec!["agent".to_string()], vec!["--master".into(), "--no-such-flag".into()])
    );
    let known = help_flags(&["agent".to_string()]);
    assert!(known.contains("--master") && !known.contains("--no-such-flag"));
    let (subcommand, flags) = subcommand_and_flags(&commands[1]);
    assert_eq!(subcommand, vec!["token".to_string(), "issue".into()]);
    assert_eq!(flags, vec!["--kind".to_string(), "--bogus".into()]);
}

/// The `${name}` a template interpolates (not the `$${...}` it escapes for bash).
fn template_variables(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("${") {
        if at > 0 && bytes[at - 1] == b'$' {
            continue;
        }
        let name: String = text[at + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        names.insert(name);
    }
    names
}

#[test]
fn the_module_gives_each_template_exactly_the_variables_it_uses() {
    let mut calls = 0;
    for entry in std::fs::read_dir(MODULE).expect("module") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "tf") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("tf file");
        for (at, pattern) in text.match_indices("templatefile(\"${path.module}/templates/") {
            let rest = &text[at + pattern.len()..];
            let name = &rest[..rest.find('"').expect("the template's name ends")];
            // The map: one `key = value` a line, up to the line that closes it.
            let mut given = BTreeSet::new();
            for line in rest.lines().skip(1) {
                let line = line.trim();
                if line.starts_with('}') {
                    break;
                }
                let key = line.split('=').next().expect("a key").trim();
                given.insert(key.to_string());
            }
            let used = template_variables(&std::fs::read_to_string(template(name)).expect("template"));
            assert_eq!(given, used, "{}: the variables given to {name} and those it uses", path.display());
            calls += 1;
        }
    }
    assert_eq!(calls, templates().len(), "every template is rendered by the module once");
}

// ------------------------------------------------------------------------------------------------
// Rendering and running the user data
// ------------------------------------------------------------------------------------------------

/// Why this host cannot run the user data for real, if it cannot.
fn cannot_run_user_data() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root (mounting and unsharing need it)".into());
    }
    for tool in ["terraform", "unshare", "curl", "sha256sum", "setsid"] {
        if !on_path(tool) {
            return Some(format!("{tool} is not installed"));
        }
    }
    // A container may be root and still not be allowed to mount.
    let probe = tempfile::tempdir().expect("tempdir");
    let dir = probe.path().to_str().expect("utf-8 path");
    let mounts = format!(
        "set -e; mount -t tmpfs probe {dir}; mkdir {dir}/l {dir}/u {dir}/w {dir}/m; \
         mount -t overlay overlay -o lowerdir={dir}/l,upperdir={dir}/u,workdir={dir}/w {dir}/m"
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &mounts])
        .output()
        .expect("unshare");
    if !out.status.success() {
        return Some(format!(
            "cannot mount a tmpfs and an overlay in a mount namespace: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    None
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

fn which(tool: &str) -> PathBuf {
    let paths = std::env::var_os("PATH").expect("PATH");
    std::env::split_paths(&paths).map(|dir| dir.join(tool)).find(|p| p.is_file()).expect("on PATH")
}

/// An HCL string literal.
fn hcl_string(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace("${", "$${").replace("%{", "%%{");
    format!("\"{escaped}\"")
}

/// Renders a template of the module as the module does (`templatefile`), with `terraform
/// console` in an empty directory, so that no provider is needed.
fn render(name: &str, vars: &[(&str, String)]) -> String {
    let empty = tempfile::tempdir().expect("tempdir");
    let map: Vec<String> = vars.iter().map(|(k, v)| format!("{k} = {}", hcl_string(v))).collect();
    let expression = format!(
        "base64encode(templatefile({}, {{ {} }}))\n",
        hcl_string(template(name).to_str().expect("utf-8 path")),
        map.join(", ")
    );
    let mut console = Command::new("terraform")
        .arg("console")
        .current_dir(empty.path())
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("terraform console");
    use std::io::Write as _;
    console.stdin.take().expect("stdin").write_all(expression.as_bytes()).expect("write the expression");
    let out = console.wait_with_output().expect("terraform console");
    assert!(out.status.success(), "terraform console: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let encoded = printed.trim().trim_matches('"');
    String::from_utf8(base64_decode(encoded)).expect("a UTF-8 script")
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn sha256_of(path: &str) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("a digest").to_string()
}

/// The stand-ins for `aws` and for curl's requests to the instance metadata service, and the
/// state they answer from: `ssm/`, `secrets/` and `imds/`, one file each, and `calls.log`.
struct StandIns {
    dir: PathBuf,
}

const AWS_STAND_IN: &str = r#"#!/bin/bash
# Stand-in for the AWS CLI (cli/tests/terraform.rs): SSM parameters and Secrets Manager secrets
# from files under STATE; every call is logged. put-parameter refuses to overwrite unless told,
# as SSM does: that refusal is what decides which server's cluster key wins.
set -u
state=STATE
printf '%s\n' "aws $*" >>"$state/calls.log"
service=$1 op=$2
shift 2
region="" name="" value="" secret="" overwrite=no decrypt=no query="" output=""
while [ $# -gt 0 ]; do
    case $1 in
    --region) region=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --value) value=$2; shift 2 ;;
    --secret-id) secret=$2; shift 2 ;;
    --query) query=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --type | --key-id) shift 2 ;;
    --with-decryption) decrypt=yes; shift ;;
    --overwrite) overwrite=yes; shift ;;
    --no-overwrite) overwrite=no; shift ;;
    *) echo "aws stand-in: unexpected argument $1" >&2; exit 252 ;;
    esac
done
if [ "$region" != REGION ]; then
    echo "aws stand-in: region '$region', not REGION" >&2
    exit 253
fi
case "$service $op" in
"ssm get-parameter")
    if [ "$decrypt $query $output" != "yes Parameter.Value text" ]; then
        echo "aws stand-in: get-parameter wants --with-decryption --query Parameter.Value --output text" >&2
        exit 252
    fi
    file="$state/ssm/$(printf '%s' "$name" | tr / %)"
    if [ ! -f "$file" ]; then
        echo "An error occurred (ParameterNotFound) when calling the GetParameter operation:" >&2
        exit 254
    fi
    cat "$file"
    echo
    ;;
"ssm put-parameter")
    # A race on demand: a put of the parameter named in put-waits-for-gets waits until that many
    # reads of it have been made (each server's first look), as when instances boot together.
    if read -r held count <"$state/put-waits-for-gets" 2>/dev/null && [ "$held" = "$name" ]; then
        for _ in $(seq 600); do
            [ "$(grep -c -- "get-parameter --region $region --name $name " "$state/calls.log")" -ge "$count" ] && break
            sleep 0.1
        done
    fi
    source=${value#file://}
    if [ "$source" = "$value" ]; then
        echo "aws stand-in: put-parameter takes its value from a file (never the command line)" >&2
        exit 252
    fi
    file="$state/ssm/$(printf '%s' "$name" | tr / %)"
    if [ "$overwrite" = yes ]; then
        cat "$source" >"$file"
    elif ! (set -o noclobber; cat "$source" >"$file") 2>/dev/null; then
        echo "An error occurred (ParameterAlreadyExists) when calling the PutParameter operation:" >&2
        exit 254
    fi
    echo '{"Version": 1, "Tier": "Standard"}'
    ;;
"secretsmanager get-secret-value")
    file="$state/secrets/$(printf '%s' "$secret" | tr / %)"
    if [ "$query $output" != "SecretString text" ] || [ ! -f "$file" ]; then
        echo "aws stand-in: no secret $secret (or not --query SecretString --output text)" >&2
        exit 254
    fi
    cat "$file"
    echo
    ;;
*)
    echo "aws stand-in: $service $op is not stood in for" >&2
    exit 252
    ;;
esac
"#;

const CURL_STAND_IN: &str = r#"#!/bin/bash
# Stand-in for curl (cli/tests/terraform.rs): answers the instance metadata service from files
# under STATE/imds, IMDSv2 only (a PUT for a session token, then requests that carry it), and
# hands every other request to the real curl.
arguments=("$@")
url="" method=GET token=""
while [ $# -gt 0 ]; do
    case $1 in
    -X) method=$2; shift 2 ;;
    -H)
        case $2 in "X-aws-ec2-metadata-token: "*) token=${2#*: } ;; esac
        shift 2
        ;;
    http://169.254.169.254/*) url=$1; shift ;;
    *) shift ;;
    esac
done
if [ -z "$url" ]; then
    exec REAL_CURL "${arguments[@]}"
fi
printf '%s\n' "curl $method $url" >>STATE/calls.log
case $url in
http://169.254.169.254/latest/api/token)
    [ "$method" = PUT ] || exit 22
    printf 'imds-session-token'
    ;;
http://169.254.169.254/latest/meta-data/*)
    if [ "$token" != imds-session-token ]; then
        echo "curl stand-in: a metadata request without the IMDSv2 session token" >&2
        exit 22
    fi
    file="STATE/imds/${url#http://169.254.169.254/latest/meta-data/}"
    [ -f "$file" ] || exit 22
    cat "$file"
    ;;
*) exit 22 ;;
esac
"#;

impl StandIns {
    fn new(dir: PathBuf, imds: &[(&str, &str)]) -> StandIns {
        for sub in ["bin", "ssm", "secrets", "imds/placement"] {
            std::fs::create_dir_all(dir.join(sub)).expect("stand-in dirs");
        }
        let state = dir.to_str().expect("utf-8 path");
        let write = |name: &str, text: String| {
            let path = dir.join("bin").join(name);
            std::fs::write(&path, text).expect("stand-in");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        write("aws", AWS_STAND_IN.replace("STATE", state).replace("REGION", REGION));
        let real_curl = which("curl");
        write("curl", CURL_STAND_IN.replace("STATE", state).replace("REAL_CURL", real_curl.to_str().expect("utf-8")));
        for (path, value) in imds {
            std::fs::write(dir.join("imds").join(path), value).expect("imds value");
        }
        StandIns { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    fn file(kind: &str, name: &str) -> String {
        format!("{kind}/{}", name.replace('/', "%"))
    }

    fn put_parameter(&self, name: &str, value: &str) {
        std::fs::write(self.dir.join(Self::file("ssm", name)), value).expect("parameter");
    }

    fn parameter(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(Self::file("ssm", name))).ok()
    }

    fn put_secret(&self, name: &str, value: &str) {
        std::fs::write(self.dir.join(Self::file("secrets", name)), value).expect("secret");
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default()
    }
}

/// The commands run in the namespace, as its first process: the mounts that keep the host
/// unchanged, the user data, a check of the unit it wrote, then a wait until killed.
const ISOLATION: &str = r#"set -eu
base=SCRATCH/mounts
mount -t tmpfs -o mode=0700 agora-user-data "$base"
for dir in /etc /var; do
    mkdir -p "$base$dir/upper" "$base$dir/work"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=$base$dir/upper,workdir=$base$dir/work" "$dir"
done
mount -t tmpfs -o mode=0755 agora-user-data /usr/local/bin
mount -t tmpfs -o mode=0755 agora-user-data /run
rc=0
PATH="STAND_INS:$PATH" bash SCRIPT >SCRATCH/user-data.out 2>&1 </dev/null || rc=$?
if [ "$rc" -eq 0 ] && command -v systemd-analyze >/dev/null; then
    verify=0
    systemd-analyze verify UNIT >SCRATCH/verify.out 2>&1 || verify=$?
    echo "$verify" >SCRATCH/verify.rc
fi
echo "$rc" >SCRATCH/user-data.rc.new
mv SCRATCH/user-data.rc.new SCRATCH/user-data.rc
exec sleep infinity
"#;

/// A rendered user-data script running in a mount and PID namespace of its own.
struct Isolated {
    unshare: Child,
    scratch: PathBuf,
}

impl Drop for Isolated {
    fn drop(&mut self) {
        // --kill-child: the namespace's first process, and with it everything in there, goes too.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

impl Isolated {
    /// Runs `script` as user data with the stand-ins first on its PATH; `unit` is the systemd
    /// unit it should write, checked with `systemd-analyze verify` where that exists.
    fn start(scratch: PathBuf, script: &str, stand_ins: &StandIns, unit: &str) -> Isolated {
        std::fs::create_dir_all(scratch.join("mounts")).expect("scratch");
        let script_path = scratch.join("user-data.sh");
        std::fs::write(&script_path, script).expect("script");
        let commands = ISOLATION
            .replace("SCRATCH", scratch.to_str().expect("utf-8 path"))
            .replace("STAND_INS", stand_ins.bin().to_str().expect("utf-8 path"))
            .replace("SCRIPT", script_path.to_str().expect("utf-8 path"))
            .replace("UNIT", unit);
        let unshare = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc"])
            .args(["sh", "-c", &commands])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(scratch.join("namespace.out")).expect("out"))
            .stderr(std::fs::File::create(scratch.join("namespace.err")).expect("err"))
            .spawn()
            .expect("unshare");
        Isolated { unshare, scratch }
    }

    /// The user data's exit status, once it has ended.
    async fn finished(&mut self) -> i32 {
        let rc = self.scratch.join("user-data.rc");
        let unshare = &mut self.unshare;
        let scratch = self.scratch.clone();
        eventually(USER_DATA_DEADLINE, "the user data to finish", || {
            if let Ok(Some(status)) = unshare.try_wait() {
                panic!(
                    "the namespace ended ({status}) before the user data did: {}",
                    std::fs::read_to_string(scratch.join("namespace.err")).unwrap_or_default()
                );
            }
            let read = std::fs::read_to_string(&rc).ok();
            async move { read.and_then(|t| t.trim().parse().ok()) }
        })
        .await
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.scratch.join("user-data.out")).unwrap_or_default()
    }

    /// A path as the namespace sees it, through its first process's root.
    fn path(&self, inside: &str) -> PathBuf {
        let pid = self.unshare.id().to_string();
        let init = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok())
            .find(|e| {
                std::fs::read_to_string(e.path().join("status"))
                    .is_ok_and(|s| s.lines().any(|l| l.strip_prefix("PPid:").is_some_and(|p| p.trim() == pid)))
            })
            .expect("the namespace's first process");
        init.path().join("root").join(inside.trim_start_matches('/'))
    }

    fn read(&self, inside: &str) -> String {
        std::fs::read_to_string(self.path(inside)).unwrap_or_else(|e| format!("({inside}: {e})"))
    }

    fn mode(&self, inside: &str) -> u32 {
        std::fs::metadata(self.path(inside)).expect(inside).permissions().mode() & 0o7777
    }

    /// `systemd-analyze verify` of the unit: passes with nothing to say, or is skipped (printed)
    /// where the tool is missing.
    fn check_unit_verifies(&self, unit: &str) {
        match std::fs::read_to_string(self.scratch.join("verify.rc")) {
            Err(_) => eprintln!("skipped systemd-analyze verify {unit}: systemd-analyze is not installed"),
            Ok(rc) => {
                let said = std::fs::read_to_string(self.scratch.join("verify.out")).unwrap_or_default();
                assert_eq!(rc.trim(), "0", "systemd-analyze verify {unit}: {said}");
                assert!(
                    !said.contains(unit.rsplit('/').next().expect("name")),
                    "systemd-analyze verify {unit}: {said}"
                );
                eprintln!("systemd-analyze verify {unit}: no complaint");
            }
        }
    }
}

fn agent_vars(binary_sha256: &str, master: &str, metrics_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("cluster_name", CLUSTER.to_string()),
        ("region", REGION.to_string()),
        ("binary_url", format!("file://{AGORA}")),
        ("binary_sha256", binary_sha256.to_string()),
        ("master_url", master.to_string()),
        ("agent_token_parameter", format!("/agora/{CLUSTER}/agent-token")),
        ("metrics_port", metrics_port.to_string()),
        ("extra_attributes", "pool:terraform-test".to_string()),
    ]
}

const AGENT_HOST: &str = "ip-10-9-8-7.eu-test-1.compute.internal";

fn agent_imds() -> Vec<(&'static str, &'static str)> {
    vec![
        ("instance-id", "i-0123456789abcdef0"),
        ("placement/availability-zone", "eu-test-1b"),
        ("instance-type", "t3.test"),
        ("local-hostname", AGENT_HOST),
        ("local-ipv4", "127.0.0.1"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_user_data_installs_an_agent_that_joins_and_runs_a_task() {
    if let Some(why) = cannot_run_user_data() {
        eprintln!("skipped the_agent_user_data_installs_an_agent_that_joins_and_runs_a_task: {why}");
        return;
    }
    let cluster = Cluster::start(&[]).await;
    let scratch = cluster.scratch().join("terraform");
    let stand_ins = StandIns::new(scratch.join("aws"), &agent_imds());
    stand_ins.put_parameter(&format!("/agora/{CLUSTER}/agent-token"), &cluster.issue_token("agent", "aws-agents"));
    let digest = sha256_of(AGORA);
    let metrics_port = free_port();

    // A binary that is not the one named by its SHA-256 is not installed, and nothing starts.
    let tampered = render("agent-user-data.sh.tftpl", &agent_vars(&"0".repeat(64), &cluster.url, metrics_port));
    let mut refused = Isolated::start(scratch.join("tampered"), &tampered, &stand_ins, "/dev/null");
    let rc = refused.finished().await;
    assert_ne!(rc, 0, "a binary with another SHA-256 was accepted: {}", refused.output());
    assert!(refused.output().contains("does not have the SHA-256"), "{}", refused.output());
    assert!(!refused.path("/usr/local/bin/agora").exists(), "the refused binary was installed");
    drop(refused);

    let script = render("agent-user-data.sh.tftpl", &agent_vars(&digest, &cluster.url, metrics_port));
    let unit = "/etc/systemd/system/agora-agent.service";
    let mut instance = Isolated::start(scratch.join("instance"), &script, &stand_ins, unit);
    let rc = instance.finished().await;
    assert_eq!(rc, 0, "the user data failed: {}", instance.output());

    // It joins under the instance's hostname, with the attributes of the instance and the module.
    let agent_id = cluster.agent_id_by_hostname(AGENT_HOST).await;
    let agents: AgentList = cluster.client().get("/v1/agents").await.expect("agents");
    let agent = agents.agents.iter().find(|a| a.id == agent_id).expect("the agent");
    let attribute = |k: &str| agent.attributes.get(k).map(String::as_str);
    assert_eq!(
        (attribute("zone"), attribute("instance_type"), attribute("instance_id")),
        (Some("eu-test-1b"), Some("t3.test"), Some("i-0123456789abcdef0")),
        "{:?}; agent log: {}",
        agent.attributes,
        instance.read("/var/log/agora/agent.log")
    );
    assert_eq!((attribute("cluster"), attribute("pool")), (Some(CLUSTER), Some("terraform-test")));

    // A task runs on it.
    let mut framework = Framework::register(cluster.client(), registration("terraform-test")).await;
    let offer = offer_where(&framework, "an offer of the new agent", |o| o.agent_id == agent_id).await;
    let task = shell_task(&agent_id, "on-the-instance", "echo ran on the instance", 0.1, 32.0);
    framework.launch(&offer, vec![task]).await.expect("launch");
    let status = framework.terminal("on-the-instance").await;
    assert_eq!(
        status.state,
        TaskState::Finished,
        "{status:?}; agent log: {}",
        instance.read("/var/log/agora/agent.log")
    );

    // Its metrics answer where the template said.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    assert!(metrics.contains("agora_agent_resources_total"), "{metrics}");

    // The token went through the stand-in SSM and IMDSv2, and lies owner-only on the instance.
    let calls = stand_ins.calls();
    assert!(
        calls.contains(&format!(
            "aws ssm get-parameter --region {REGION} --name /agora/{CLUSTER}/agent-token --with-decryption"
        )),
        "{calls}"
    );
    assert!(calls.contains("curl PUT http://169.254.169.254/latest/api/token"), "{calls}");
    assert_eq!(instance.mode("/etc/agora/agent.token"), 0o600);
    let parameter = stand_ins.parameter(&format!("/agora/{CLUSTER}/agent-token")).expect("the token parameter");
    assert_eq!(instance.read("/etc/agora/agent.token").trim(), parameter.trim());

    // The unit it installed: the same command, and a restart (an upgrade) leaves tasks running.
    let unit_text = instance.read(unit);
    assert!(unit_text.contains("ExecStart=/usr/local/bin/agora agent --master "), "{unit_text}");
    assert!(unit_text.lines().any(|l| l == "KillMode=process"), "{unit_text}");
    instance.check_unit_verifies(unit);
}

/// A `redis-server` of the test's own that wants a password, as ElastiCache with an AUTH token.
struct PasswordRedis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PasswordRedis {
    async fn start(password: &str) -> PasswordRedis {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--requirepass", password])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        eventually(DEADLINE, "redis-server to listen", || async move {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        })
        .await;
        PasswordRedis { child, port, _dir: dir }
    }
}

impl Drop for PasswordRedis {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn server_vars(binary_sha256: &str, store_port: u16, server_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("cluster_name", CLUSTER.to_string()),
        ("region", REGION.to_string()),
        ("binary_url", format!("file://{AGORA}")),
        ("binary_sha256", binary_sha256.to_string()),
        // rediss:// (TLS) on AWS; this redis-server speaks plain Redis.
        ("store_url", format!("redis://127.0.0.1:{store_port}")),
        ("store_secret_id", format!("agora/{CLUSTER}/store-password")),
        ("kms_key_id", format!("arn:aws:kms:{REGION}:123456789012:key/test")),
        ("cluster_key_parameter", format!("/agora/{CLUSTER}/cluster-key")),
        ("admin_token_parameter", format!("/agora/{CLUSTER}/admin-token")),
        ("agent_token_parameter", format!("/agora/{CLUSTER}/agent-token")),
        ("admin_token_ttl_secs", "3600".to_string()),
        ("agent_token_ttl_secs", "3600".to_string()),
        // 0.0.0.0 on AWS; here the servers stay on loopback.
        ("listen_host", "127.0.0.1".to_string()),
        ("server_port", server_port.to_string()),
        ("trusted_proxies", "10.40.0.0/16".to_string()),
    ]
}

/// `agora agents --json` against one server, over its self-signed certificate.
fn agents_on(url: &str, token: &str, ca: &Path) -> Option<AgentList> {
    let out = Command::new(AGORA)
        .args(["agents", "--json"])
        .env("AGORA_ADDR", url)
        .env("AGORA_TOKEN", token)
        .env("AGORA_CA", ca)
        .env_remove("AGORA_DATA_DIR")
        .output()
        .expect("agora agents");
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("agents as JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_user_data_agree_on_one_cluster_key_and_publish_working_tokens() {
    if let Some(why) = cannot_run_user_data().or_else(|| (!on_path("redis-server")).then(|| "no redis-server".into())) {
        eprintln!("skipped two_servers_user_data_agree_on_one_cluster_key_and_publish_working_tokens: {why}");
        return;
    }
    let scratch = task_dir();
    let password = "a-store-password-of-the-test";
    let redis = PasswordRedis::start(password).await;
    let stand_ins = StandIns::new(
        scratch.path().join("aws"),
        &[
            ("instance-id", "i-0fedcba9876543210"),
            ("placement/availability-zone", "eu-test-1a"),
            ("instance-type", "t3.test"),
            ("local-hostname", "localhost"),
            ("local-ipv4", "127.0.0.1"),
        ],
    );
    stand_ins.put_secret(&format!("agora/{CLUSTER}/store-password"), password);
    let digest = sha256_of(AGORA);
    let unit = "/etc/systemd/system/agora-server.service";

    // Two instances boot at once, and both find no cluster key (the stand-in holds each put of
    // it until both have looked): both make one, SSM keeps the first put, the other server must
    // take that one.
    std::fs::write(stand_ins.dir.join("put-waits-for-gets"), format!("/agora/{CLUSTER}/cluster-key 2\n"))
        .expect("the race");
    let ports = [free_port(), free_port()];
    let mut servers: Vec<Isolated> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let script = render("server-user-data.sh.tftpl", &server_vars(&digest, redis.port, *port));
            Isolated::start(scratch.path().join(format!("server{i}")), &script, &stand_ins, unit)
        })
        .collect();
    for server in &mut servers {
        let rc = server.finished().await;
        assert_eq!(rc, 0, "the user data failed: {}", server.output());
    }
    let lost: Vec<bool> =
        servers.iter().map(|s| s.output().contains("another server put its cluster key first")).collect();
    assert_eq!(lost.iter().filter(|l| **l).count(), 1, "exactly one server loses the race: {lost:?}");

    // One key, the same on both; the secrets owner-only.
    let key = stand_ins.parameter(&format!("/agora/{CLUSTER}/cluster-key")).expect("a cluster key in SSM");
    assert!(key.contains("PRIVATE KEY"), "{key}");
    for server in &servers {
        assert_eq!(server.read("/var/lib/agora/server/cluster.key").trim(), key.trim());
        assert_eq!(server.mode("/var/lib/agora/server/cluster.key"), 0o600);
        assert_eq!(server.read("/etc/agora/store-password").trim(), password);
        assert_eq!(server.mode("/etc/agora/store-password"), 0o600);
    }

    // The operator token in SSM works on both, over each one's own certificate.
    let admin = stand_ins.parameter(&format!("/agora/{CLUSTER}/admin-token")).expect("an admin token in SSM");
    let mut cas = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let ca = scratch.path().join(format!("ca{i}.pem"));
        std::fs::copy(server.path("/etc/agora/tls/ca.pem"), &ca).expect("the server's CA");
        let url = format!("https://127.0.0.1:{}", ports[i]);
        eventually(DEADLINE, "the server to answer the admin token", || {
            let list = agents_on(&url, admin.trim(), &ca);
            async move { list.map(|_| ()) }
        })
        .await;
        cas.push(ca);
    }

    // The agent token registers an agent through the first; the second sees it: one store.
    let token = stand_ins.parameter(&format!("/agora/{CLUSTER}/agent-token")).expect("an agent token in SSM");
    let mut agent = agent_command(
        Path::new(AGORA),
        scratch.path(),
        &format!("https://127.0.0.1:{}", ports[0]),
        token.trim(),
        "from-ssm",
        "cpus:1,mem:256",
    )
    .arg("--ca")
    .arg(&cas[0])
    .spawn()
    .expect("agora agent");
    let url = format!("https://127.0.0.1:{}", ports[1]);
    let seen = eventually(DEADLINE, "the agent on the second server", || {
        let list = agents_on(&url, admin.trim(), &cas[1]);
        async move { list.filter(|l| l.agents.iter().any(|a| a.hostname == "from-ssm")) }
    })
    .await;
    assert_eq!(seen.agents.len(), 1, "{seen:?}");
    stop(&mut agent);

    let calls = stand_ins.calls();
    assert!(calls.contains(&format!("aws secretsmanager get-secret-value --region {REGION}")), "{calls}");
    assert!(calls.contains("--no-overwrite"), "{calls}");
    for server in &servers {
        let unit_text = server.read(unit);
        assert!(unit_text.contains("ExecStart=/usr/local/bin/agora server --listen "), "{unit_text}");
        assert!(unit_text.contains("--store-password-file /etc/agora/store-password"), "{unit_text}");
        server.check_unit_verifies(unit);
    }
}
