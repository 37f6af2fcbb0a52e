//! Offer constraints and offer filters, per framework role: checked at registration, and
//! compiled once per round to test agents against.

use super::check_role;
use crate::error::ServerError;
use agora_api::framework::{OfferConstraint, OfferFilters, Predicate, RegisterFramework, Selector};
use agora_api::resources::SCALAR_NAMES;
use agora_api::Resources;
use regex::Regex;
use std::collections::BTreeMap;

/// At most this many groups per role, and constraints per group.
const MAX_GROUPS: usize = 16;
/// The compiled size a `matches` expression may take (the regex crate's own default is 10 MiB).
const MAX_REGEX_BYTES: usize = 64 * 1024;

/// Checks a registration's offer constraints and filters: each names one of its roles, and
/// each expression and amount is valid.
pub(super) fn check_offer_settings(req: &RegisterFramework) -> Result<(), ServerError> {
    let own = |role: &String, what: &str| {
        check_role(role)?;
        if req.roles.contains(role) {
            Ok(())
        } else {
            Err(ServerError::bad(
                "invalid_role",
                format!("{what} names role {role}, which the framework does not have"),
            ))
        }
    };
    for (role, groups) in &req.offer_constraints {
        own(role, "offer_constraints")?;
        if groups.len() > MAX_GROUPS || groups.iter().any(|g| g.is_empty() || g.len() > MAX_GROUPS) {
            return Err(ServerError::bad(
                "invalid_constraint",
                format!("each role takes 1 to {MAX_GROUPS} groups of 1 to {MAX_GROUPS} constraints"),
            ));
        }
        for constraint in groups.iter().flatten() {
            Compiled::new(constraint)?;
        }
    }
    for (role, filters) in &req.offer_filters {
        own(role, "offer_filters")?;
        if filters.min_allocatable_resources.len() > MAX_GROUPS {
            return Err(ServerError::bad(
                "invalid_filter",
                format!("min_allocatable_resources takes at most {MAX_GROUPS} amounts"),
            ));
        }
        for amounts in &filters.min_allocatable_resources {
            quantity(amounts)?;
        }
    }
    Ok(())
}

/// `{"cpus": 1, "mem": 512}` as resources, checked.
pub(crate) fn quantity(amounts: &BTreeMap<String, f64>) -> Result<Resources, ServerError> {
    let mut scalars = [0.0; 4];
    for (name, amount) in amounts {
        let Some(i) = SCALAR_NAMES.iter().position(|n| n == name) else {
            return Err(ServerError::bad(
                "invalid_filter",
                format!("unknown resource `{}`: one of {}", name.escape_debug(), SCALAR_NAMES.join(", ")),
            ));
        };
        if !amount.is_finite() || *amount < 0.0 {
            return Err(ServerError::bad("invalid_filter", format!("{name} must be a non-negative number")));
        }
        scalars[i] = *amount;
    }
    let [cpus, mem, disk, gpus] = scalars;
    Ok(Resources { cpus, mem, disk, gpus, ports: Vec::new() })
}

/// The smallest offers a role takes: at least one of these amounts (none: any).
pub(crate) fn min_offers(filters: Option<&OfferFilters>) -> Vec<Resources> {
    filters.map_or_else(Vec::new, |f| f.min_allocatable_resources.iter().filter_map(|a| quantity(a).ok()).collect())
}

/// One constraint, ready to test agents with.
struct Compiled {
    selector: Selector,
    test: Test,
}

enum Test {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    Matches(Regex),
}

impl Compiled {
    fn new(constraint: &OfferConstraint) -> Result<Compiled, ServerError> {
        let test = match &constraint.predicate {
            Predicate::Exists => Test::Exists,
            Predicate::NotExists => Test::NotExists,
            Predicate::Equals(text) => Test::Equals(text.clone()),
            Predicate::NotEquals(text) => Test::NotEquals(text.clone()),
            // The whole value must match, as Mesos's `text_matches` (RE2 FullMatch).
            Predicate::Matches(expression) => Test::Matches(
                regex::RegexBuilder::new(&format!("^(?:{expression})$"))
                    .size_limit(MAX_REGEX_BYTES)
                    .build()
                    .map_err(|e| ServerError::bad("invalid_constraint", format!("`matches`: {e}")))?,
            ),
        };
        Ok(Compiled { selector: constraint.selector.clone(), test })
    }

    fn matches(&self, hostname: &str, attributes: &BTreeMap<String, String>) -> bool {
        let value = match &self.selector {
            Selector::Hostname => Some(hostname),
            Selector::Attribute(name) => attributes.get(name).map(String::as_str),
        };
        match (&self.test, value) {
            (Test::Exists, value) => value.is_some(),
            (Test::NotExists, value) => value.is_none(),
            (Test::Equals(text), value) => value == Some(text.as_str()),
            (Test::NotEquals(text), value) => value != Some(text.as_str()),
            (Test::Matches(regex), value) => value.is_some_and(|v| regex.is_match(v)),
        }
    }
}

/// A role's constraints, compiled: an agent matches if it matches every constraint of one group.
pub(crate) struct RoleConstraints {
    groups: Vec<Vec<Compiled>>,
}

impl RoleConstraints {
    /// Compiles what was checked at registration; a constraint that no longer compiles (it
    /// cannot, once checked) matches nothing.
    pub fn new(groups: &[Vec<OfferConstraint>]) -> RoleConstraints {
        let groups = groups
            .iter()
            .filter_map(|group| group.iter().map(Compiled::new).collect::<Result<Vec<_>, _>>().ok())
            .collect();
        RoleConstraints { groups }
    }

    pub fn matches(&self, hostname: &str, attributes: &BTreeMap<String, String>) -> bool {
        self.groups.iter().any(|group| group.iter().all(|c| c.matches(hostname, attributes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(selector: Selector, predicate: Predicate) -> OfferConstraint {
        OfferConstraint { selector, predicate }
    }

    #[test]
    fn an_agent_matches_when_one_group_matches_whole() {
        let attributes: BTreeMap<String, String> =
            [("rack".to_string(), "r1".to_string()), ("zone".to_string(), "a".to_string())].into();
        let rack = |r: &str| constraint(Selector::Attribute("rack".into()), Predicate::Equals(r.into()));
        let host = |re: &str| constraint(Selector::Hostname, Predicate::Matches(re.into()));
        let gpu = constraint(Selector::Attribute("gpu".into()), Predicate::Exists);
        let no_gpu = constraint(Selector::Attribute("gpu".into()), Predicate::NotExists);
        let check = |groups: Vec<Vec<OfferConstraint>>| RoleConstraints::new(&groups).matches("web-12", &attributes);
        assert!(check(vec![vec![rack("r1"), host("web-\\d+")]]));
        assert!(!check(vec![vec![rack("r1"), host("web")]]), "a match is of the whole hostname");
        assert!(!check(vec![vec![rack("r2")], vec![gpu.clone()]]));
        assert!(check(vec![vec![rack("r2")], vec![no_gpu]]), "one group of two");
        let not_r2 = constraint(Selector::Attribute("rack".into()), Predicate::NotEquals("r2".into()));
        assert!(check(vec![vec![not_r2]]));
        let missing = constraint(Selector::Attribute("gpu".into()), Predicate::NotEquals("x".into()));
        assert!(check(vec![vec![missing]]), "a missing attribute is not equal to anything");
    }
}
