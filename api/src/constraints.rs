//! Marathon's placement constraints, `[field, OPERATOR, value]`: parsed once, then asked
//! whether an agent may take one more instance, given where the service's instances are.

use regex::Regex;
use std::collections::{BTreeMap, HashMap};

/// The compiled size a `LIKE` or `UNLIKE` expression may take.
const MAX_REGEX_BYTES: usize = 64 * 1024;
/// The most constraints a service may have.
pub const MAX_CONSTRAINTS: usize = 16;

#[derive(Clone, Debug)]
pub enum Field {
    Hostname,
    Attribute(String),
}

#[derive(Clone, Debug)]
pub enum Operator {
    /// At most one instance per value.
    Unique,
    /// Every instance on the same value: the one given, or else the first instance's.
    Cluster(Option<String>),
    /// Spread evenly over the values; with `n`, over at least `n` values.
    GroupBy(Option<u32>),
    /// At most `n` instances per value.
    MaxPer(u32),
    Like(Regex),
    Unlike(Regex),
    Is(String),
}

#[derive(Clone, Debug)]
pub struct Constraint {
    pub field: Field,
    pub operator: Operator,
    /// As the user wrote it, for messages.
    pub text: String,
}

/// Where a service's instances are: for each instance, its agent's hostname and attributes.
pub type Placed<'a> = [(&'a str, &'a BTreeMap<String, String>)];

impl Constraint {
    /// Parses one `[field, OPERATOR]` or `[field, OPERATOR, value]`.
    pub fn parse(raw: &[String]) -> Result<Constraint, String> {
        let text = format!("[{}]", raw.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", "));
        let (field, operator, value) = match raw {
            [field, operator] => (field, operator, None),
            [field, operator, value] => (field, operator, Some(value.clone())),
            _ => return Err(format!("constraint {text} must be [field, OPERATOR] or [field, OPERATOR, value]")),
        };
        if field.is_empty() || field.len() > 255 || field.chars().any(char::is_control) {
            return Err(format!("constraint {text}: the field must be a hostname or attribute name"));
        }
        let field = match field.as_str() {
            "hostname" | "@hostname" => Field::Hostname,
            name => Field::Attribute(name.to_string()),
        };
        let need = |what: &str| value.clone().ok_or_else(|| format!("constraint {text}: {what} needs a value"));
        let number = |what: &str| -> Result<u32, String> {
            need(what)?
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("constraint {text}: {what}'s value must be a whole number above 0"))
        };
        let regex = |what: &str| -> Result<Regex, String> {
            // The whole value must match, as Marathon's (Java's `String.matches`).
            regex::RegexBuilder::new(&format!("^(?:{})$", need(what)?))
                .size_limit(MAX_REGEX_BYTES)
                .build()
                .map_err(|e| format!("constraint {text}: {e}"))
        };
        let operator = match operator.to_ascii_uppercase().as_str() {
            "UNIQUE" if value.is_none() => Operator::Unique,
            "CLUSTER" => Operator::Cluster(value.clone()),
            "GROUP_BY" if value.is_none() => Operator::GroupBy(None),
            "GROUP_BY" => Operator::GroupBy(Some(number("GROUP_BY")?)),
            "MAX_PER" => Operator::MaxPer(number("MAX_PER")?),
            "LIKE" => Operator::Like(regex("LIKE")?),
            "UNLIKE" => Operator::Unlike(regex("UNLIKE")?),
            "IS" => Operator::Is(need("IS")?),
            "UNIQUE" => return Err(format!("constraint {text}: UNIQUE takes no value")),
            _ => {
                return Err(format!(
                    "constraint {text}: the operator is one of UNIQUE, CLUSTER, GROUP_BY, MAX_PER, LIKE, UNLIKE, IS"
                ))
            }
        };
        Ok(Constraint { field, operator, text })
    }

    /// The field's value on an agent.
    pub fn value<'a>(&self, hostname: &'a str, attributes: &'a BTreeMap<String, String>) -> Option<&'a str> {
        match &self.field {
            Field::Hostname => Some(hostname),
            Field::Attribute(name) => attributes.get(name).map(String::as_str),
        }
    }

    /// Whether an agent can ever take an instance, wherever the others are: the tests that
    /// look only at the agent's own value.
    pub fn admits_agent(&self, hostname: &str, attributes: &BTreeMap<String, String>) -> bool {
        let value = self.value(hostname, attributes);
        match (&self.operator, value) {
            // A missing attribute fails every operator but UNLIKE, as in Marathon.
            (Operator::Unlike(re), value) => value.is_none_or(|v| !re.is_match(v)),
            (_, None) => false,
            (Operator::Like(re), Some(v)) => re.is_match(v),
            (Operator::Is(text) | Operator::Cluster(Some(text)), Some(v)) => v == text,
            _ => true,
        }
    }

    /// Whether an agent may take one more instance, with the service's instances at `placed`.
    pub fn allows(&self, hostname: &str, attributes: &BTreeMap<String, String>, placed: &Placed) -> bool {
        self.allows_counted(hostname, attributes, &self.count(placed))
    }

    /// How many of `placed` have each value of the field.
    pub fn count(&self, placed: &Placed) -> HashMap<String, u32> {
        let mut counts = HashMap::new();
        for (h, a) in placed {
            if let Some(v) = self.value(h, a) {
                *counts.entry(v.to_string()).or_default() += 1;
            }
        }
        counts
    }

    /// [`Constraint::allows`], given the instances' count per value ([`Constraint::count`]).
    pub fn allows_counted(
        &self,
        hostname: &str,
        attributes: &BTreeMap<String, String>,
        counts: &HashMap<String, u32>,
    ) -> bool {
        if !self.admits_agent(hostname, attributes) {
            return false;
        }
        let Some(value) = self.value(hostname, attributes) else { return true };
        let here = counts.get(value).copied().unwrap_or(0);
        match &self.operator {
            Operator::Unique => here == 0,
            Operator::MaxPer(n) => here < *n,
            Operator::Cluster(None) => counts.iter().all(|(v, c)| *c == 0 || v == value),
            // Marathon's rule: until `n` values hold instances, only a new value; then only a
            // value holding no more than the fewest.
            Operator::GroupBy(n) => {
                let held = counts.values().filter(|c| **c > 0);
                if held.clone().count() < n.unwrap_or(1) as usize {
                    here == 0
                } else {
                    held.into_iter().all(|c| here <= *c)
                }
            }
            _ => true,
        }
    }

    /// How many instances the values of `agents` can hold at most under this constraint
    /// (`None`: no bound).
    pub fn capacity<'a>(&self, agents: impl Iterator<Item = (&'a str, &'a BTreeMap<String, String>)>) -> Option<u64> {
        let values: std::collections::BTreeSet<&str> = agents.filter_map(|(h, a)| self.value(h, a)).collect();
        match &self.operator {
            Operator::Unique => Some(values.len() as u64),
            Operator::MaxPer(n) => Some(values.len() as u64 * u64::from(*n)),
            _ => None,
        }
    }
}

/// Parses a service's constraints.
pub fn parse_all(raw: &[Vec<String>]) -> Result<Vec<Constraint>, String> {
    if raw.len() > MAX_CONSTRAINTS {
        return Err(format!("at most {MAX_CONSTRAINTS} constraints"));
    }
    raw.iter().map(|c| Constraint::parse(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(parts: &[&str]) -> Constraint {
        Constraint::parse(&parts.iter().map(|p| p.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn operators_place_as_marathon_does() {
        let r1 = attrs(&[("rack", "r1")]);
        let r2 = attrs(&[("rack", "r2")]);
        let none = attrs(&[]);
        let unique = c(&["hostname", "UNIQUE"]);
        assert!(unique.allows("a", &none, &[("b", &none)]));
        assert!(!unique.allows("a", &none, &[("a", &none)]));
        let max = c(&["rack", "MAX_PER", "2"]);
        assert!(max.allows("a", &r1, &[("b", &r1)]));
        assert!(!max.allows("a", &r1, &[("b", &r1), ("c", &r1)]));
        assert!(!max.allows("a", &none, &[]), "a missing attribute fails");
        let group = c(&["rack", "GROUP_BY", "2"]);
        assert!(!group.allows("a", &r1, &[("b", &r1)]), "a second value first");
        assert!(group.allows("a", &r2, &[("b", &r1)]));
        assert!(group.allows("a", &r1, &[("b", &r1), ("c", &r2)]));
        assert!(!group.allows("a", &r1, &[("b", &r1), ("c", &r2), ("d", &r1)]));
        let cluster = c(&["rack", "CLUSTER"]);
        assert!(cluster.allows("a", &r2, &[]));
        assert!(!cluster.allows("a", &r2, &[("b", &r1)]));
        assert!(c(&["rack", "CLUSTER", "r1"]).allows("a", &r1, &[]));
        assert!(!c(&["rack", "CLUSTER", "r1"]).allows("a", &r2, &[]));
        assert!(c(&["rack", "LIKE", "r[12]"]).allows("a", &r2, &[]));
        assert!(!c(&["rack", "LIKE", "r"]).allows("a", &r2, &[]), "the whole value must match");
        assert!(!c(&["rack", "UNLIKE", "r[12]"]).allows("a", &r2, &[]));
        assert!(c(&["rack", "UNLIKE", "r[12]"]).allows("a", &none, &[]), "UNLIKE admits a missing attribute");
        assert!(c(&["rack", "IS", "r1"]).allows("a", &r1, &[]));
        assert_eq!(unique.capacity([("a", &none), ("b", &none), ("a", &none)].into_iter()), Some(2));
    }

    #[test]
    fn bad_constraints_are_refused_with_what_is_wrong() {
        let bad = |parts: &[&str]| {
            Constraint::parse(&parts.iter().map(|p| p.to_string()).collect::<Vec<_>>()).expect_err("refused")
        };
        assert!(bad(&["hostname"]).contains("[field, OPERATOR]"));
        assert!(bad(&["hostname", "SOMETIMES"]).contains("one of UNIQUE"));
        assert!(bad(&["rack", "MAX_PER", "0"]).contains("whole number"));
        assert!(bad(&["rack", "LIKE"]).contains("needs a value"));
        assert!(bad(&["rack", "LIKE", "("]).contains("regex parse error"));
        assert!(bad(&["hostname", "UNIQUE", "x"]).contains("no value"));
    }
}
