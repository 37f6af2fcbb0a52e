//! The binary's command line: what it refuses before it starts, and why. (Its behaviour against
//! EC2 and a cluster is tested in cli/tests/autoscaler.rs, which runs this binary: having a
//! test here is also what makes `cargo test --workspace` build it.)

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_agora-autoscaler");

fn run(config: &str, extra: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("autoscaler.yaml");
    std::fs::write(&path, config).expect("the config");
    let out = Command::new(BINARY)
        .arg("--config")
        .arg(&path)
        .args(["--master", "http://127.0.0.1:9"])
        .args(extra)
        .env_remove("AGORA_TOKEN")
        .env_remove("AGORA_TOKEN_FILE")
        .output()
        .expect("agora-autoscaler runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const GOOD: &str = "cluster: prod\npools:\n- name: general\n  instance_types: [{type: m5.large}]\n  subnets: [subnet-1]\n  launch_template: {id: lt-1}\n  max: 3\n";

#[test]
fn a_bad_configuration_is_refused_before_anything_runs() {
    let (ok, stderr) = run(&GOOD.replace("max: 3", "max: 3\n  min: 4"), &["--token", "t"]);
    assert!(!ok);
    assert!(stderr.contains("min 4 is above max 3"), "{stderr}");
    let (ok, stderr) = run(&GOOD.replace("max: 3", "max: 3\n  mx: 4"), &["--token", "t"]);
    assert!(!ok);
    assert!(stderr.contains("unknown field `mx`"), "{stderr}");
    let (ok, stderr) = run(GOOD, &["--token", "t", "--interval-secs", "10", "--lease-ttl-secs", "15"]);
    assert!(!ok);
    assert!(stderr.contains("more than twice --interval-secs"), "{stderr}");
    // With every default but the token.
    let (ok, stderr) = run(GOOD, &[]);
    assert!(!ok);
    assert!(stderr.contains("give an operator token"), "{stderr}");
}

#[test]
fn help_names_the_flags_the_docs_use() {
    let out = Command::new(BINARY).arg("--help").output().expect("agora-autoscaler --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--master", "--token-file", "--dry-run", "--scale-in-idle-secs", "--metrics-listen"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
