//! `agora agents`, `agora frameworks`, `agora tasks`, `agora roles`, `agora why`: tables for
//! people, more columns with `--output wide`, the server's JSON with `--output json` (or
//! `--json`); and `agora role set` and `agora node ...`.

use crate::output::{print_json, write_out, OutputArgs};
use crate::target;
use crate::Target;
use agora_api::operator::{DrainAgent, Maintenance, RoleConfig, TaskFilter};
use agora_api::{AgentId, FrameworkId, Resources, TaskState};
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct TaskListArgs {
    #[command(flatten)]
    list: ListArgs,
    /// Only this framework's tasks.
    #[arg(long)]
    framework: Option<String>,
    /// Only tasks on this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only tasks in this state (running, finished, ...).
    #[arg(long, value_parser = parse_state)]
    state: Option<TaskState>,
}

/// `--state running`: a task state as the API writes it.
fn parse_state(text: &str) -> Result<TaskState, String> {
    TaskState::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
        let all: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
        format!("`{text}` is not a task state: one of {}", all.join(", "))
    })
}

/// Writes to stdout; a closed pipe (`agora tasks | head`) ends the output quietly.
/// Prints rows under a header, each column as wide as its widest cell.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        text.push_str(&line(row));
    }
    write_out(&text)
}

fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn cpus_mem(r: &Resources) -> (String, String) {
    (num(r.cpus), num(r.mem))
}

pub async fn agents(args: ListArgs) -> anyhow::Result<()> {
    let list = target::client(&args.target)?.list_agents().await?;
    if args.output.is_json() {
        return print_json(&list);
    }
    let wide = args.output.is_wide();
    let rows: Vec<Vec<String>> = list
        .agents
        .iter()
        .map(|a| {
            let (cpus, mem) = cpus_mem(&a.total);
            let (used_cpus, used_mem) = cpus_mem(&a.used);
            let attributes: Vec<String> = a.attributes.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let mut row = vec![
                a.id.to_string(),
                a.hostname.clone(),
                agent_state(a),
                format!("{used_cpus}/{cpus}"),
                format!("{used_mem}/{mem}"),
                a.tasks.to_string(),
                a.containerizers.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
                attributes.join(","),
            ];
            if wide {
                let reserved: Vec<String> =
                    a.reserved.iter().map(|(role, r)| format!("{role}={}", amounts_of(r))).collect();
                let volumes: Vec<String> = a.volumes.iter().map(|v| v.id.clone()).collect();
                row.extend([
                    amounts_of(&a.offered),
                    if reserved.is_empty() { "-".into() } else { reserved.join(";") },
                    if volumes.is_empty() { "-".into() } else { volumes.join(",") },
                    ago(a.last_seen),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec!["ID", "HOSTNAME", "STATE", "CPUS", "MEM", "TASKS", "CONTAINERIZERS", "ATTRIBUTES"];
    if wide {
        header.extend(["OFFERED", "RESERVED", "VOLUMES", "SEEN"]);
    }
    print_table(&header, &rows)
}

/// `active`, `unreachable`, and an operator's hold: `active,draining`, `active,drained`,
/// `active,deactivated`.
fn agent_state(a: &agora_api::operator::AgentView) -> String {
    let state = format!("{:?}", a.state).to_lowercase();
    match &a.maintenance {
        None => state,
        Some(_) if a.drained => format!("{state},drained"),
        Some(Maintenance::Draining { .. }) => format!("{state},draining"),
        Some(Maintenance::Deactivated { .. }) => format!("{state},deactivated"),
    }
}

#[derive(clap::Args)]
pub struct NodeArgs {
    /// The agent's id.
    agent: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct DrainArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Seconds the frameworks have to move their tasks before what is left is killed.
    #[arg(long, default_value_t = 0.0)]
    grace_period: f64,
}

/// `agora node drain AGENT`.
pub async fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let body = DrainAgent { grace_period_secs: args.grace_period };
    let (client, agent) = (target::client(&args.node.target)?, AgentId::from(args.node.agent.as_str()));
    client.drain_agent(&agent, &body).await?;
    if args.node.output.is_json() {
        return print_json(&client.get_agent(&agent).await?);
    }
    write_out(&format!("agent {} is draining; `agora agents` shows when it is drained\n", args.node.agent))
}

/// `agora node deactivate|reactivate AGENT`.
pub async fn hold(args: NodeArgs, verb: &str) -> anyhow::Result<()> {
    let (client, agent) = (target::client(&args.target)?, AgentId::from(args.agent.as_str()));
    if verb == "deactivate" {
        client.deactivate_agent(&agent).await?;
    } else {
        client.reactivate_agent(&agent).await?;
    }
    if args.output.is_json() {
        return print_json(&client.get_agent(&agent).await?);
    }
    write_out(&format!("agent {}: {verb}d\n", args.agent))
}

pub async fn frameworks(args: ListArgs) -> anyhow::Result<()> {
    let list = target::client(&args.target)?.list_frameworks().await?;
    if args.output.is_json() {
        return print_json(&list);
    }
    let wide = args.output.is_wide();
    let rows: Vec<Vec<String>> = list
        .frameworks
        .iter()
        .map(|f| {
            let (cpus, mem) = cpus_mem(&f.used);
            let mut row = vec![
                f.id.to_string(),
                f.name.clone(),
                f.roles.join(","),
                if f.connected { "yes".into() } else { "no".into() },
                f.tasks.to_string(),
                cpus,
                mem,
            ];
            if wide {
                let suppressed = if f.suppressed_roles.is_empty() { "-".into() } else { f.suppressed_roles.join(",") };
                row.extend([f.principal.clone(), amounts_of(&f.offered), suppressed, num(f.failover_timeout_secs)]);
            }
            row
        })
        .collect();
    let mut header = vec!["ID", "NAME", "ROLES", "CONNECTED", "TASKS", "CPUS", "MEM"];
    if wide {
        header.extend(["PRINCIPAL", "OFFERED", "SUPPRESSED", "FAILOVER_SECS"]);
    }
    print_table(&header, &rows)
}

pub async fn tasks(args: TaskListArgs) -> anyhow::Result<()> {
    let filter = TaskFilter {
        framework_id: args.framework.as_deref().map(FrameworkId::from),
        agent_id: args.agent.as_deref().map(AgentId::from),
        state: args.state,
    };
    let list = target::client(&args.list.target)?.list_tasks(&filter).await?;
    if args.list.output.is_json() {
        return print_json(&list);
    }
    let wide = args.list.output.is_wide();
    let rows: Vec<Vec<String>> = list
        .tasks
        .iter()
        .map(|t| {
            let (cpus, mem) = cpus_mem(&t.resources);
            let mut row = vec![
                t.task_id.to_string(),
                t.name.clone(),
                t.state.as_str().to_string(),
                t.framework_id.to_string(),
                t.agent_id.to_string(),
                cpus,
                mem,
                t.status.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            ];
            if wide {
                let healthy = t.status.healthy.map_or("-", |h| if h { "yes" } else { "no" });
                let why = t.status.message.clone().or_else(|| t.status.reason.clone()).unwrap_or_default();
                row.extend([healthy.to_string(), ago(t.status.timestamp), why.replace(['\n', '\t'], " ")]);
            }
            row
        })
        .collect();
    let mut header = vec!["ID", "NAME", "STATE", "FRAMEWORK", "AGENT", "CPUS", "MEM", "EXIT"];
    if wide {
        header.extend(["HEALTHY", "UPDATED", "MESSAGE"]);
    }
    print_table(&header, &rows)
}

pub async fn roles(args: ListArgs) -> anyhow::Result<()> {
    let list = target::client(&args.target)?.list_roles().await?;
    // Every column already: `wide` is the same table.
    if args.output.is_json() {
        return print_json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .roles
        .iter()
        .map(|r| {
            let (cpus, mem) = cpus_mem(&r.allocated);
            vec![
                r.role.clone(),
                num(r.weight),
                amounts(&r.quota.guarantee),
                amounts(&r.quota.limit),
                amounts_of(&r.reserved),
                cpus,
                mem,
                format!("{:.1}%", r.dominant_share * 100.0),
                r.frameworks.to_string(),
            ]
        })
        .collect();
    print_table(&["ROLE", "WEIGHT", "GUARANTEE", "LIMIT", "RESERVED", "CPUS", "MEM", "SHARE", "FRAMEWORKS"], &rows)
}

/// The scalar resources of `r` that are not zero (what is reserved to a role, say),
/// `cpus:2,mem:1024`, or `-` for none.
fn amounts_of(r: &Resources) -> String {
    let named = agora_api::resources::SCALAR_NAMES.iter().zip(r.scalars()).filter(|(_, v)| *v > 0.0);
    amounts(&named.map(|(name, v)| (name.to_string(), v)).collect())
}

/// How long ago a Unix time was, `12s`, `5m`, `3h` or `2d`.
fn ago(at: f64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let secs = (now - at).max(0.0) as u64;
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// `cpus:2,mem:1024`, or `-` for none.
fn amounts(map: &BTreeMap<String, f64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter().map(|(name, v)| format!("{name}:{}", num(*v))).collect::<Vec<_>>().join(",")
}

#[derive(clap::Args)]
pub struct RoleSetArgs {
    /// The role, e.g. `eng` or `eng/backend`.
    role: String,
    /// The role's weight in fair sharing (default 1).
    #[arg(long)]
    weight: Option<f64>,
    /// Resources kept for the role while it is below them, e.g. `cpus:4,mem:8192`; `none`
    /// removes the guarantee.
    #[arg(long, value_parser = parse_amounts)]
    guarantee: Option<BTreeMap<String, f64>>,
    /// Resources the role and the roles below it never exceed, e.g. `cpus:16`; `none`
    /// removes the limit.
    #[arg(long, value_parser = parse_amounts)]
    limit: Option<BTreeMap<String, f64>>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    target: Target,
}

/// `cpus:4,mem:8192` into amounts by name; `none` into no amounts.
fn parse_amounts(text: &str) -> Result<BTreeMap<String, f64>, String> {
    if text.trim() == "none" {
        return Ok(BTreeMap::new());
    }
    let mut map = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once(':').ok_or_else(|| format!("`{part}` is not NAME:AMOUNT"))?;
        let value: f64 = value.trim().parse().map_err(|_| format!("`{value}` is not a number"))?;
        map.insert(name.trim().to_string(), value);
    }
    Ok(map)
}

/// `agora role set`: changes what the flags name and keeps the rest of the role's settings.
pub async fn role_set(args: RoleSetArgs) -> anyhow::Result<()> {
    let client = target::client(&args.target)?;
    let list = client.list_roles().await?;
    let mut config = list
        .roles
        .into_iter()
        .find(|r| r.role == args.role)
        .map(|r| RoleConfig { weight: r.weight, quota: r.quota })
        .unwrap_or_default();
    if let Some(weight) = args.weight {
        config.weight = weight;
    }
    if let Some(guarantee) = args.guarantee {
        config.quota.guarantee = guarantee;
    }
    if let Some(limit) = args.limit {
        config.quota.limit = limit;
    }
    let view = client.set_role(&args.role, &config).await?;
    if args.output.is_json() {
        return print_json(&view);
    }
    let line = format!(
        "{}: weight {}, guarantee {}, limit {}\n",
        view.role,
        num(view.weight),
        amounts(&view.quota.guarantee),
        amounts(&view.quota.limit)
    );
    write_out(&line)
}

#[derive(clap::Args)]
pub struct WhyArgs {
    /// The framework's id.
    framework: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    target: Target,
}

/// `agora why FRAMEWORK`: why a framework is not offered more right now.
pub async fn why(args: WhyArgs) -> anyhow::Result<()> {
    let id = FrameworkId::from(args.framework.as_str());
    let diagnostics = target::client(&args.target)?.framework_diagnostics(&id).await?;
    if args.output.is_json() {
        return print_json(&diagnostics);
    }
    let blocked = !diagnostics.reasons.is_empty() || diagnostics.roles.iter().any(|r| !r.reasons.is_empty());
    if !blocked {
        let message =
            format!("framework {}: resources are free for it; the next round offers them\n", diagnostics.framework_id);
        return write_out(&message);
    }
    let mut text = format!("framework {} is not offered more:\n", diagnostics.framework_id);
    for reason in &diagnostics.reasons {
        text.push_str(&format!("  {}: {}\n", reason.code, reason.message));
    }
    for role in &diagnostics.roles {
        if role.reasons.is_empty() {
            text.push_str(&format!("  role {}: resources are free for it\n", role.role));
        }
        for reason in &role.reasons {
            text.push_str(&format!("  role {}: {}: {}\n", role.role, reason.code, reason.message));
        }
    }
    write_out(&text)
}
