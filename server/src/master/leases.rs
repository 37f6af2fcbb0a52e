//! What operators' tools (an autoscaler) keep here: named leases, so that of several replicas
//! of a tool one acts at a time, and the decisions they append to the operator stream.
//!
//! A named lease is a versioned record (`lease:NAME`), taken and renewed by optimistic
//! transactions like every other record, so both stores keep it alike. It is not the
//! allocator's lease, which the store keeps apart (`Store::acquire_lease`) and which these
//! never touch. Expiry is by the wall clock of the replica that answers.

use super::records::{key, LeaseRecord};
use super::*;
use agora_api::operator::{AcquireLease, AutoscalerEvent, Lease, OperatorEvent};

/// The longest a lease may be taken for: an hour.
pub const MAX_LEASE_TTL_SECS: f64 = 3600.0;
/// The longest lease name.
const MAX_LEASE_NAME_LEN: usize = agora_api::ids::MAX_ID_LEN;
/// Limits on an autoscaler event's fields, in characters.
const MAX_ACTION_LEN: usize = 64;
const MAX_REASON_LEN: usize = 4096;
/// The most instance ids one autoscaler event names.
const MAX_INSTANCE_IDS: usize = 1000;

impl Master {
    /// Takes the lease `name` for `req.holder`, or renews it if the holder has it unexpired;
    /// taking it raises its epoch. Another holder's unexpired lease is a 409 `lease_held`.
    pub async fn acquire_lease(&self, caller: &Caller, name: &str, req: AcquireLease) -> Result<Lease, ServerError> {
        caller.check_operates()?;
        check_lease_name(name)?;
        check_text("holder", &req.holder, 1, MAX_NAME_LEN)?;
        if !req.ttl_secs.is_finite() || req.ttl_secs <= 0.0 || req.ttl_secs > MAX_LEASE_TTL_SECS {
            return Err(ServerError::bad(
                "invalid_ttl",
                format!("ttl_secs must be more than 0 and at most {MAX_LEASE_TTL_SECS}"),
            ));
        }
        transact!(self, {
            let existing = self.load::<LeaseRecord>(&key::lease(name)).await?;
            let now = now_secs();
            let epoch = match &existing {
                Some(held) if held.value.is_held(now) && held.value.holder != req.holder => {
                    let lease = &held.value;
                    return Err(ServerError::Conflict {
                        code: "lease_held",
                        message: format!(
                            "lease {name} is held by {} until {:.3} (in {:.1} s)",
                            lease.holder.escape_debug(),
                            lease.expires_at,
                            lease.expires_at - now
                        ),
                    });
                }
                // Renewed: the holder has had it without a break.
                Some(held) if held.value.is_held(now) => held.value.epoch,
                // Free, expired or released: taken anew.
                Some(held) => held.value.epoch + 1,
                None => 1,
            };
            let record = LeaseRecord { holder: req.holder.clone(), epoch, expires_at: now + req.ttl_secs };
            let mut txn = Txn::default();
            txn.check(key::lease(name), existing.map_or(0, |l| l.version));
            txn.put(key::lease(name), encode(&record));
            Ok((txn, lease_view(name, &record)))
        })
    }

    /// The lease `name` as it is: 404 `unknown_lease` if it was never taken.
    pub async fn lease(&self, name: &str) -> Result<Lease, ServerError> {
        check_lease_name(name)?;
        let lease = self.load::<LeaseRecord>(&key::lease(name)).await?;
        let lease = lease.ok_or_else(|| ServerError::not_found("lease", "unknown_lease", name))?;
        Ok(lease_view(name, &lease.value))
    }

    /// Gives the lease `name` up if `holder` has it (expired or not); otherwise changes nothing.
    pub async fn release_lease(&self, caller: &Caller, name: &str, holder: &str) -> Result<(), ServerError> {
        caller.check_operates()?;
        check_lease_name(name)?;
        check_text("holder", holder, 1, MAX_NAME_LEN)?;
        transact!(self, {
            let mut txn = Txn::default();
            let existing = self.load::<LeaseRecord>(&key::lease(name)).await?;
            if let Some(held) = existing.filter(|l| l.value.holder == holder) {
                let released = LeaseRecord { holder: String::new(), epoch: held.value.epoch, expires_at: now_secs() };
                txn.check(key::lease(name), held.version);
                txn.put(key::lease(name), encode(&released));
            }
            Ok((txn, ()))
        })
    }

    /// Appends an autoscaler's decision to the operator stream as an `autoscaler` event.
    pub async fn autoscaler_event(&self, caller: &Caller, event: AutoscalerEvent) -> Result<(), ServerError> {
        caller.check_operates()?;
        check_autoscaler_event(&event)?;
        let event = OperatorEvent::Autoscaler(event);
        transact!(self, {
            let mut txn = Txn::default();
            push_operator_event(&mut txn, &event);
            Ok((txn, ()))
        })
    }
}

fn lease_view(name: &str, record: &LeaseRecord) -> Lease {
    Lease { name: name.to_string(), holder: record.holder.clone(), epoch: record.epoch, expires_at: record.expires_at }
}

/// A lease's name is an id: 1 to 128 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
fn check_lease_name(name: &str) -> Result<(), ServerError> {
    if agora_api::ids::is_valid_id(name) {
        Ok(())
    } else {
        Err(ServerError::bad(
            "invalid_lease_name",
            format!(
                "lease name `{}` must be 1 to {MAX_LEASE_NAME_LEN} characters of A-Z a-z 0-9 . _ -",
                name.escape_debug()
            ),
        ))
    }
}

/// Fails unless `value` has `min` to `max` characters, none of them control characters.
fn check_text(what: &str, value: &str, min: usize, max: usize) -> Result<(), ServerError> {
    let length = value.chars().count();
    if length < min || length > max || value.chars().any(char::is_control) {
        return Err(ServerError::bad(
            "invalid_text",
            format!("{what} must be {min} to {max} characters, without control characters"),
        ));
    }
    Ok(())
}

fn check_autoscaler_event(event: &AutoscalerEvent) -> Result<(), ServerError> {
    check_text("action", &event.action, 1, MAX_ACTION_LEN)?;
    // A reason may run over lines.
    if event.reason.chars().count() > MAX_REASON_LEN {
        return Err(ServerError::bad("invalid_text", format!("reason must be at most {MAX_REASON_LEN} characters")));
    }
    check_text("holder", &event.holder, 0, MAX_NAME_LEN)?;
    if let Some(pool) = &event.pool {
        check_text("pool", pool, 0, MAX_NAME_LEN)?;
    }
    if let Some(instance_type) = &event.instance_type {
        check_text("instance_type", instance_type, 0, MAX_NAME_LEN)?;
    }
    if event.instance_ids.len() > MAX_INSTANCE_IDS {
        return Err(ServerError::bad("invalid_text", format!("at most {MAX_INSTANCE_IDS} instance_ids")));
    }
    for id in &event.instance_ids {
        check_text("each instance id", id, 1, MAX_NAME_LEN)?;
    }
    if let Some(agent_id) = &event.agent_id {
        check_id("agent id", agent_id.as_str())?;
    }
    Ok(())
}
