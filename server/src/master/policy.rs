//! Who may do what: the one place that decides.
//!
//! Every request's token becomes a [`Caller`] once, at the edge. The router admits or refuses
//! a caller by its operation's [`Rule`] (by the kind of its token); the master then asks the
//! methods of [`Caller`] here whether it owns the framework, task or agent it names.
//! Reservations and volumes are operators' alone. The authorization test is generated from
//! [`rule`] and the OpenAPI document together: an operation without a rule fails it.

use crate::auth::{Claims, Kind, ANY_ROLE, DEFAULT_ROLE};
use crate::error::ServerError;
use agora_api::{AgentId, FrameworkId};

/// Who calls: built once per request from its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub kind: Kind,
    /// The token's principal.
    pub principal: String,
    /// For framework tokens: the roles its frameworks may register with (see
    /// [`Caller::may_use_role`]).
    pub roles: Option<Vec<String>>,
    /// For framework tokens: the OS users its tasks may name.
    pub users: Option<Vec<String>>,
    /// The client's address (the one a trusted proxy names, behind one).
    pub address: Option<std::net::IpAddr>,
}

impl Caller {
    pub fn new(claims: Claims, address: Option<std::net::IpAddr>) -> Caller {
        Caller { kind: claims.kind, principal: claims.sub, roles: claims.roles, users: claims.users, address }
    }

    /// An operator: for the master's own callers and tests.
    pub fn operator(principal: &str) -> Caller {
        Caller { kind: Kind::Operator, principal: principal.to_string(), roles: None, users: None, address: None }
    }

    /// Whether a framework of this caller may register with `role`: operators may use any; a
    /// framework token the roles it names (every role if it names [`ANY_ROLE`]), and only the
    /// default role `*` if it names none, so that a role's quota and reservations are not
    /// open to every framework token by default.
    pub fn may_use_role(&self, role: &str) -> bool {
        match &self.roles {
            _ if self.kind == Kind::Operator => true,
            None => role == DEFAULT_ROLE,
            Some(roles) => roles.iter().any(|r| r == ANY_ROLE || r == role),
        }
    }

    /// Whether this caller may launch tasks that run as the OS user `user`. Operators may name
    /// any user; framework tokens only those they were issued with.
    pub fn may_run_as(&self, user: &str) -> bool {
        self.kind == Kind::Operator || self.users.as_ref().is_some_and(|users| users.iter().any(|u| u == user))
    }

    /// Refuses an accept whose tasks name OS users this caller may not run as.
    pub fn check_task_users(&self, accept: &agora_api::framework::Accept) -> Result<(), ServerError> {
        let tasks = accept.operations.iter().flat_map(|op| match op {
            agora_api::framework::Operation::Launch { tasks } => tasks.as_slice(),
            _ => &[],
        });
        for task in tasks {
            if let Some(user) = task.user.as_deref().filter(|user| !self.may_run_as(user)) {
                return Err(ServerError::Forbidden {
                    message: format!("task {}: this token may not run tasks as user `{user}`", task.task_id),
                });
            }
        }
        Ok(())
    }

    /// Whether this caller may read what the framework of principal `owner` has (its view,
    /// tasks, offers, diagnostics and logs): operators and viewers read everything, a
    /// framework token only its own principal's.
    pub fn reads_framework_of(&self, owner: &str) -> bool {
        self.reads_every_framework() || (self.kind == Kind::Framework && owner == self.principal)
    }

    /// Whether this caller reads every principal's frameworks: operators and viewers do.
    pub fn reads_every_framework(&self) -> bool {
        matches!(self.kind, Kind::Operator | Kind::Viewer)
    }

    /// Fails unless this caller may read framework `id`, whose principal is `owner` (`None`:
    /// no record). Another principal's framework gets the 404 of an unknown one: its id is not
    /// confirmed to a stranger.
    pub fn check_reads_framework(&self, id: &FrameworkId, owner: Option<&str>) -> Result<(), ServerError> {
        match owner {
            Some(owner) if !self.reads_framework_of(owner) => Err(unknown_framework(id)),
            _ => Ok(()),
        }
    }

    /// Fails unless this caller may act for framework `id` (accept, kill, subscribe, tear
    /// down...), whose principal is `owner` (`None`: no record, which the operation answers).
    /// Only operators and the framework's own principal may.
    pub fn check_acts_for_framework(&self, id: &FrameworkId, owner: Option<&str>) -> Result<(), ServerError> {
        match (self.kind, owner) {
            (Kind::Operator, _) => Ok(()),
            (Kind::Framework, Some(owner)) if owner != self.principal => Err(unknown_framework(id)),
            (Kind::Framework, _) => Ok(()),
            (kind, _) => Err(refused(kind, "act for a framework")),
        }
    }

    /// Fails unless this caller may act as agent `id` (register it, read its commands, report
    /// for it), which principal `owner` registered (`None` or empty: no one yet). Operators may
    /// act as any agent; an agent token only as those of its principal.
    pub fn check_acts_for_agent(&self, id: &AgentId, owner: Option<&str>) -> Result<(), ServerError> {
        match (self.kind, owner) {
            (Kind::Operator, _) => Ok(()),
            (Kind::Agent, Some(owner)) if !owner.is_empty() && owner != self.principal => {
                Err(ServerError::Forbidden { message: format!("agent {id} belongs to another principal") })
            }
            (Kind::Agent, _) => Ok(()),
            (kind, _) => Err(refused(kind, "act as an agent")),
        }
    }

    /// The principal an agent is recorded under once this caller registers it, `owner` having
    /// registered it before (empty: no one): an agent token's own; an operator keeps the owner.
    pub fn agent_owner(&self, owner: &str) -> String {
        match self.kind {
            Kind::Agent => self.principal.clone(),
            _ => owner.to_string(),
        }
    }

    /// Fails unless this caller is an operator: changing the cluster's policy (roles, quota,
    /// maintenance, reservations, volumes) is theirs alone.
    pub fn check_operates(&self) -> Result<(), ServerError> {
        match self.kind {
            Kind::Operator => Ok(()),
            kind => Err(refused(kind, "change the cluster")),
        }
    }
}

/// Whether a reservation or volume made by `made_by` may be given back by `by`: operators
/// (`None`) give back any, a framework's principal only its own.
pub fn may_give_back(made_by: &str, by: Option<&str>) -> bool {
    by.is_none_or(|by| by == made_by)
}

fn unknown_framework(id: &FrameworkId) -> ServerError {
    ServerError::not_found("framework", "unknown_framework", id)
}

fn refused(kind: Kind, what: &str) -> ServerError {
    ServerError::Forbidden { message: format!("a {} token may not {what}", kind_name(kind)) }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Operator => "operator",
        Kind::Viewer => "viewer",
        Kind::Framework => "framework",
        Kind::Agent => "agent",
    }
}

/// What a kind of token may do with an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Refused with 403, whatever it names.
    Denied,
    /// Only on what its principal owns: another principal's framework or task is unknown to it
    /// (404), another principal's agent is refused (403), and lists leave out what is not its.
    Own,
    /// On everything.
    All,
}

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, without a token (`/metrics` may ask for its own token: `--metrics-token`).
    Public,
    /// A token, with what each kind may do.
    Tokens { operator: Access, viewer: Access, framework: Access, agent: Access },
}

impl Rule {
    /// What a token of `kind` may do; `None` for a public operation.
    pub fn access(self, kind: Kind) -> Option<Access> {
        match self {
            Rule::Public => None,
            Rule::Tokens { operator, viewer, framework, agent } => Some(match kind {
                Kind::Operator => operator,
                Kind::Viewer => viewer,
                Kind::Framework => framework,
                Kind::Agent => agent,
            }),
        }
    }

    /// Admits a caller: 403 for a kind of token this operation refuses.
    pub fn admit(self, caller: &Caller, operation: &str) -> Result<(), ServerError> {
        match self.access(caller.kind) {
            Some(Access::Denied) => Err(refused(caller.kind, &format!("call {operation}"))),
            _ => Ok(()),
        }
    }
}

use Access::{All, Denied, Own};

/// Operators, and each framework's own principal.
const FRAMEWORK_CALL: Rule = Rule::Tokens { operator: All, viewer: Denied, framework: Own, agent: Denied };
/// Operators, and each agent's own principal.
const AGENT_CALL: Rule = Rule::Tokens { operator: All, viewer: Denied, framework: Denied, agent: Own };
/// Views of the whole cluster, which hold no framework's tasks.
const CLUSTER_READ: Rule = Rule::Tokens { operator: All, viewer: All, framework: All, agent: Denied };
/// Views of frameworks and their tasks: a framework token sees its own principal's.
const FRAMEWORK_READ: Rule = Rule::Tokens { operator: All, viewer: All, framework: Own, agent: Denied };
/// Every task of every framework passes on the operator stream.
const OPERATOR_READ: Rule = Rule::Tokens { operator: All, viewer: All, framework: Denied, agent: Denied };
const OPERATE: Rule = Rule::Tokens { operator: All, viewer: Denied, framework: Denied, agent: Denied };

/// The rule of each operation of the OpenAPI document, by its `operationId`. Each is named:
/// there is no default, so an operation added without a rule is refused at startup and fails
/// the authorization test.
pub fn rule(operation: &str) -> Option<Rule> {
    Some(match operation {
        "healthz" | "readyz" | "metrics" | "openapi_json" => Rule::Public,
        "register_framework" | "teardown_framework" | "framework_events" => FRAMEWORK_CALL,
        "accept" | "decline" | "revive" | "suppress" | "acknowledge" | "reconcile" | "kill_task" => FRAMEWORK_CALL,
        "register_agent" | "agent_commands" | "agent_heartbeat" | "agent_updates" | "agent_log_chunk" => AGENT_CALL,
        "cluster" | "list_agents" | "get_agent" | "list_roles" => CLUSTER_READ,
        "list_frameworks" | "get_framework" | "framework_diagnostics" => FRAMEWORK_READ,
        "list_tasks" | "list_offers" | "task_logs" => FRAMEWORK_READ,
        "operator_events" => OPERATOR_READ,
        "set_role" | "drain_agent" | "deactivate_agent" | "reactivate_agent" => OPERATE,
        "reserve_resources" | "unreserve_resources" | "create_volume" | "destroy_volume" => OPERATE,
        "put_service" | "delete_service" | "scale_service" | "restart_service" | "rollback_service" => OPERATE,
        "cancel_deployment" => OPERATE,
        // An autoscaler's: its leases and the decisions it reports.
        "acquire_lease" | "release_lease" | "autoscaler_event" => OPERATE,
        "get_lease" => OPERATOR_READ,
        // What a framework declares waiting for resources.
        "set_demand" => FRAMEWORK_CALL,
        "list_services" | "get_service" | "list_deployments" => OPERATOR_READ,
        // Discovery: what applications read to find each other.
        "service_endpoints" => CLUSTER_READ,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(kind: Kind, principal: &str) -> Caller {
        Caller { kind, principal: principal.into(), roles: None, users: None, address: None }
    }

    #[test]
    fn a_framework_token_acts_only_for_its_own_principals_frameworks() {
        let id = FrameworkId::from("f1");
        let alice = caller(Kind::Framework, "alice");
        assert!(alice.check_acts_for_framework(&id, Some("alice")).is_ok());
        let err = alice.check_acts_for_framework(&id, Some("bob")).expect_err("another principal's");
        assert_eq!(err.code(), "unknown_framework");
        assert!(caller(Kind::Operator, "op").check_acts_for_framework(&id, Some("bob")).is_ok());
        assert_eq!(
            caller(Kind::Viewer, "v").check_acts_for_framework(&id, None).expect_err("viewer").code(),
            "forbidden"
        );
    }

    #[test]
    fn an_agent_token_acts_only_as_its_own_principals_agents() {
        let id = AgentId::from("a1");
        let node = caller(Kind::Agent, "node-1");
        assert!(node.check_acts_for_agent(&id, Some("node-1")).is_ok());
        assert!(node.check_acts_for_agent(&id, Some("")).is_ok());
        assert_eq!(node.check_acts_for_agent(&id, Some("node-2")).expect_err("another's").code(), "forbidden");
        assert!(caller(Kind::Framework, "f").check_acts_for_agent(&id, None).is_err());
    }

    #[test]
    fn every_rule_is_named_and_unknown_operations_have_none() {
        assert_eq!(rule("no_such_operation"), None);
        assert_eq!(rule("healthz"), Some(Rule::Public));
        assert_eq!(rule("set_role").and_then(|r| r.access(Kind::Framework)), Some(Access::Denied));
    }
}
