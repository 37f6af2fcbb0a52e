//! Resources: scalar amounts (`cpus`, `mem`, `disk`, `gpus`) and port ranges, with the
//! arithmetic the allocator, the accept validation and the agent share.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Amounts below this are treated as zero, so that repeated float arithmetic on `cpus`
/// cannot leave a phantom 0.0000001 CPU behind or refuse an exact fit.
const EPSILON: f64 = 1e-9;

/// A bundle of resources. `mem` and `disk` are in MiB; `ports` are inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    pub cpus: f64,
    /// MiB.
    pub mem: f64,
    /// MiB.
    pub disk: f64,
    pub gpus: f64,
    /// Inclusive port ranges, e.g. `[[31000, 31004]]`.
    #[schema(value_type = Vec<Vec<u16>>)]
    pub ports: Vec<[u16; 2]>,
}

/// The scalar resource names, in the order tables and metrics show them.
pub const SCALAR_NAMES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

impl Resources {
    pub fn new(cpus: f64, mem: f64) -> Self {
        Resources { cpus, mem, ..Default::default() }
    }

    /// The scalar amounts, in the order of [`SCALAR_NAMES`].
    pub fn scalars(&self) -> [f64; 4] {
        [self.cpus, self.mem, self.disk, self.gpus]
    }

    fn scalars_mut(&mut self) -> [&mut f64; 4] {
        [&mut self.cpus, &mut self.mem, &mut self.disk, &mut self.gpus]
    }

    /// The scalar amounts alone: what is asked or free when ports are counted apart.
    pub fn without_ports(&self) -> Resources {
        Resources { ports: Vec::new(), ..self.clone() }
    }

    /// The number of ports in all ranges.
    pub fn port_count(&self) -> u64 {
        self.ports.iter().map(|[a, b]| u64::from(b.saturating_sub(*a)) + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.scalars().iter().all(|v| *v <= EPSILON) && self.ports.is_empty()
    }

    /// Whether every amount is finite and non-negative and every range is ordered.
    pub fn is_well_formed(&self) -> bool {
        self.scalars().iter().all(|v| v.is_finite() && *v >= 0.0) && self.ports.iter().all(|[a, b]| a <= b)
    }

    /// Whether `self` fits inside `other`: each scalar no larger, each port inside a range.
    pub fn fits_in(&self, other: &Resources) -> bool {
        let fits_scalars = self.scalars().iter().zip(other.scalars()).all(|(a, b)| *a <= b + EPSILON);
        let available = normalize(other.ports.clone());
        fits_scalars && normalize(self.ports.clone()).iter().all(|r| contains_range(&available, *r))
    }

    pub fn add(&mut self, other: &Resources) {
        for (mine, theirs) in self.scalars_mut().into_iter().zip(other.scalars()) {
            *mine += theirs;
        }
        let mut all = std::mem::take(&mut self.ports);
        all.extend_from_slice(&other.ports);
        self.ports = normalize(all);
    }

    /// Removes `other`, clamping at zero; ports in `other` are taken out of the ranges.
    pub fn subtract(&mut self, other: &Resources) {
        for (mine, theirs) in self.scalars_mut().into_iter().zip(other.scalars()) {
            *mine = (*mine - theirs).max(0.0);
            if *mine <= EPSILON {
                *mine = 0.0;
            }
        }
        self.ports = subtract_ranges(&self.ports, &other.ports);
    }

    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.add(other);
        r
    }

    pub fn minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.subtract(other);
        r
    }

    /// The largest of this bundle's scalar amounts as a fraction of `total`'s: the dominant share.
    pub fn dominant_share(&self, total: &Resources) -> f64 {
        self.scalars().iter().zip(total.scalars()).filter(|(_, t)| *t > EPSILON).map(|(a, t)| a / t).fold(0.0, f64::max)
    }

    /// Parses `cpus:2,mem:1024,disk:0,gpus:0,ports:[31000-32000]`. Names not given stay at zero.
    pub fn parse(text: &str) -> Result<Resources, String> {
        let mut r = Resources::default();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once(':').ok_or_else(|| format!("`{part}` is not NAME:VALUE"))?;
            let name = name.trim();
            let value = value.trim();
            if name == "ports" {
                r.ports = parse_ranges(value)?;
                continue;
            }
            let amount: f64 = value.parse().map_err(|_| format!("`{value}` is not a number for {name}"))?;
            if !amount.is_finite() || amount < 0.0 {
                return Err(format!("{name} must be a non-negative number"));
            }
            match name {
                "cpus" => r.cpus = amount,
                "mem" => r.mem = amount,
                "disk" => r.disk = amount,
                "gpus" => r.gpus = amount,
                other => return Err(format!("unknown resource `{other}`")),
            }
        }
        Ok(r)
    }
}

/// Parses an agent's `--resources` with static reservations: `cpus:8,cpus(analytics):4` gives
/// the unreserved entries (`cpus:8`) and, per role, what is reserved to it (`analytics`:
/// `cpus:4`). Reservations take scalars only.
pub fn parse_reservations(text: &str) -> Result<(Resources, BTreeMap<String, Resources>), String> {
    let mut plain = Vec::new();
    let mut reserved: BTreeMap<String, Resources> = BTreeMap::new();
    for part in split_top_level(text) {
        let Some((name, value)) = part.split_once(':') else {
            plain.push(part);
            continue;
        };
        let Some((resource, role)) = name.trim().strip_suffix(')').and_then(|n| n.split_once('(')) else {
            plain.push(part);
            continue;
        };
        if resource == "ports" {
            return Err("ports cannot be reserved".to_string());
        }
        if role.is_empty() {
            return Err(format!("`{part}` names no role"));
        }
        let amount = Resources::parse(&format!("{resource}:{value}"))?;
        reserved.entry(role.to_string()).or_default().add(&amount);
    }
    Ok((Resources::parse(&plain.join(","))?, reserved))
}

/// Splits on commas that are not inside `[...]`, so `ports:[1-2,5-6]` stays whole.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_ranges(value: &str) -> Result<Vec<[u16; 2]>, String> {
    let inner = value.trim().trim_start_matches('[').trim_end_matches(']');
    let mut ranges = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u16 = a.trim().parse().map_err(|_| format!("bad port `{a}`"))?;
        let b: u16 = b.trim().parse().map_err(|_| format!("bad port `{b}`"))?;
        if a > b {
            return Err(format!("port range {a}-{b} is reversed"));
        }
        ranges.push([a, b]);
    }
    Ok(normalize(ranges))
}

/// Sorts ranges and merges those that overlap or touch.
fn normalize(mut ranges: Vec<[u16; 2]>) -> Vec<[u16; 2]> {
    ranges.retain(|[a, b]| a <= b);
    ranges.sort_unstable();
    let mut out: Vec<[u16; 2]> = Vec::with_capacity(ranges.len());
    for [a, b] in ranges {
        match out.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last[1]) + 1 => last[1] = last[1].max(b),
            _ => out.push([a, b]),
        }
    }
    out
}

fn contains_range(ranges: &[[u16; 2]], [a, b]: [u16; 2]) -> bool {
    ranges.iter().any(|[x, y]| *x <= a && b <= *y)
}

fn subtract_ranges(from: &[[u16; 2]], take: &[[u16; 2]]) -> Vec<[u16; 2]> {
    let mut out = normalize(from.to_vec());
    for &[ta, tb] in take {
        let mut next = Vec::with_capacity(out.len() + 1);
        for [a, b] in out {
            if tb < a || ta > b {
                next.push([a, b]);
                continue;
            }
            if ta > a {
                next.push([a, ta - 1]);
            }
            if tb < b {
                next.push([tb + 1, b]);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_agent_flag_form() {
        let r = Resources::parse("cpus:2,mem:1024,ports:[31000-31009,32000-32000]").expect("parses");
        assert_eq!(r.cpus, 2.0);
        assert_eq!(r.mem, 1024.0);
        assert_eq!(r.ports, vec![[31000, 31009], [32000, 32000]]);
        assert_eq!(r.port_count(), 11);
        assert!(Resources::parse("cpus:-1").is_err());
        assert!(Resources::parse("cpus:NaN").is_err());
        assert!(Resources::parse("bogus:1").is_err());
        let (plain, reserved) =
            parse_reservations("cpus:8,cpus(analytics):4,mem(analytics):1024,ports:[1-2]").expect("parses");
        assert_eq!((plain.cpus, plain.ports.clone()), (8.0, vec![[1, 2]]));
        assert_eq!((reserved["analytics"].cpus, reserved["analytics"].mem), (4.0, 1024.0));
        assert!(parse_reservations("ports(a):[1-2]").is_err());
        assert!(parse_reservations("cpus():1").is_err());
        assert!(parse_reservations("cpus(a):-1").is_err());
    }

    #[test]
    fn arithmetic_keeps_ports_and_scalars_consistent() {
        let total = Resources::parse("cpus:1,mem:100,ports:[10-20]").expect("parses");
        let task = Resources::parse("cpus:0.1,mem:10,ports:[12-13]").expect("parses");
        assert!(task.fits_in(&total));
        let left = total.minus(&task);
        assert_eq!(left.ports, vec![[10, 11], [14, 20]]);
        assert!(!task.fits_in(&left));
        let mut back = left.clone();
        back.add(&task);
        assert_eq!(back.ports, total.ports);
        // Ten tenths of a CPU fit in one CPU despite float rounding.
        let tenth = Resources::new(0.1, 0.0);
        let mut rest = Resources::new(1.0, 0.0);
        for _ in 0..10 {
            assert!(tenth.fits_in(&rest));
            rest.subtract(&tenth);
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn dominant_share_is_the_largest_fraction() {
        let total = Resources::new(10.0, 1000.0);
        assert_eq!(Resources::new(1.0, 500.0).dominant_share(&total), 0.5);
        assert_eq!(Resources::default().dominant_share(&Resources::default()), 0.0);
    }
}
