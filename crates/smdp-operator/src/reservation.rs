//! The reservation worker: takes `new` profiles created through the REST API to `reserving`
//! and then `available` — numbers from the plan, a personalised template, a Sim resource and
//! the $3.00 charge, all in one store transaction — or to `failed` with the reason. The same
//! loop completes the Sims' asynchronous status changes (`scheduled` → the status asked for).
//!
//! It claims work from the store with a lease (and is woken on create), so that several
//! workers on one database reserve each order once, and profiles left `new` or `reserving` by
//! a stopped server are picked up again when its lease expires. Up to 256 orders are in
//! flight at once, each waiting the simulated delay on its own: the delay is how long one
//! order stays `reserving`, not a cap on orders per second.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rsp_saip::NumberPlan;
use tokio::sync::watch;

use crate::rest::{Operator, PROFILE_CHARGE_CENTS};
use smdp_core::orders::{OrderError, PLAN_COUNTER};
use smdp_core::store::{Lease, Reservation};
use smdp_core::store::{Profile, ProfileStatus};
use smdp_core::template::TemplateSource;

/// How long a claimed reservation is this worker's: long past the reservation delay and the
/// work; a worker that dies gives its claims back after this.
const LEASE_SECS: i64 = 60;
/// Error code recorded when a reservation fails (Twilio's generic server error).
const RESERVATION_FAILED: i64 = 20500;

/// How the worker reserves.
#[derive(Debug, Clone)]
pub struct Settings {
    pub plan: NumberPlan,
    pub shared: Option<PathBuf>,
    /// Time spent in `reserving`, like the real service's asynchronous reservation.
    pub delay: Duration,
}

/// Reservations in flight at once: each waits its delay concurrently, so the delay is a
/// latency per profile, not a rate, up to MAX_IN_FLIGHT / delay orders per second (256 in
/// flight capped the default 500 ms at 512/s, below what the writes sustain). An order in
/// flight is a sleeping task and its row, about a kilobyte.
const MAX_IN_FLIGHT: usize = 8192;
/// Orders claimed per poll (one transaction).
const CLAIM_BATCH: usize = 256;

/// Runs until `stop` turns true; `wake` is what the operator's [`crate::rest::Wake`] notifies.
pub async fn run(
    op: Arc<Operator>,
    settings: Settings,
    wake: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    // The delays overlap, the store writes do not: hundreds of blocking threads queueing on
    // the store's writer cost more in futex wake-ups and context switches than the writes
    // (measured: a third of the server's CPU at 3,000 orders). One writer per core.
    let writers = Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while in_flight.try_join_next().is_some() {}
        complete_sim_updates(&op).await;
        let store = op.store.clone();
        let now = op.smdp.clock.unix();
        let lease = Lease {
            owner: op.node.clone(),
            until: now + LEASE_SECS,
        };
        // Claim only what can start now: every claimed order gets a permit.
        let room = permits.available_permits().min(CLAIM_BATCH);
        let batch = if room == 0 {
            Vec::new()
        } else {
            tokio::task::spawn_blocking(move || store.claim_reservations(&lease, now, room))
                .await
                .ok()
                .and_then(|r| {
                    r.map_err(|e| tracing::error!(error = %e, "reservation poll"))
                        .ok()
                })
                .unwrap_or_default()
        };
        if batch.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(if room == 0 { 20 } else { 1000 })) => {}
                _ = stop.changed() => break,
            }
            continue;
        }
        for p in batch {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (op, settings, mut stop) = (op.clone(), settings.clone(), stop.clone());
            let writers = writers.clone();
            in_flight.spawn(async move {
                let _permit = permit;
                reserve_after_delay(&op, &settings, &writers, p, &mut stop).await;
            });
        }
    }
    // Stopping: the delays end at once (they watch `stop`); reservations being written finish.
    while in_flight.join_next().await.is_some() {}
}

/// One order: `new` → `reserving`, the simulated delay, then the reservation.
async fn reserve_after_delay(
    op: &Arc<Operator>,
    settings: &Settings,
    writers: &tokio::sync::Semaphore,
    p: Profile,
    stop: &mut watch::Receiver<bool>,
) {
    if p.status == ProfileStatus::New {
        let store = op.smdp.store.clone();
        let (id, now) = (p.id, op.smdp.clock.unix());
        let Ok(_writer) = writers.acquire().await else {
            return;
        };
        let moved = tokio::task::spawn_blocking(move || {
            store.set_status(
                id,
                &[ProfileStatus::New],
                ProfileStatus::Reserving,
                None,
                now,
            )
        })
        .await;
        if !matches!(moved, Ok(Ok(true))) {
            return;
        }
    }
    if !settings.delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(settings.delay) => {}
            // Left `reserving` under this node's lease: picked up again once it expires.
            _ = stop.changed() => return,
        }
    }
    let (op2, s2) = (op.clone(), settings.clone());
    let Ok(_writer) = writers.acquire().await else {
        return;
    };
    let _ = tokio::task::spawn_blocking(move || reserve_one(&op2, &s2, &p)).await;
}

/// Completes the Sims' scheduled status changes (woken like reservations): each completes
/// once, in a store transaction that also queues its callback.
async fn complete_sim_updates(op: &Arc<Operator>) {
    let store = op.store.clone();
    let now = op.smdp.clock.unix();
    match tokio::task::spawn_blocking(move || store.complete_sim_updates(now)).await {
        Ok(Ok(done)) => {
            for s in done {
                tracing::info!(sid = %s.sid, status = %s.status, "Sim update completed");
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "Sim updates"),
        Err(e) => tracing::error!(error = %e, "Sim updates task"),
    }
}

/// Allocates and completes one reservation; on failure the profile goes to `failed`.
fn reserve_one(op: &Operator, s: &Settings, p: &Profile) {
    let now = op.smdp.clock.unix();
    match allocate(op, s, p) {
        Ok(r) => match op.store.complete_reservation(p.id, &r, &op.node, now) {
            Ok(true) => tracing::info!(sid = %p.sid, iccid = %r.iccid, "ESimProfile available"),
            Ok(false) => {}
            Err(e) => fail(op, p, &format!("store: {e}")),
        },
        Err(e) => fail(op, p, &e.to_string()),
    }
}

fn allocate(op: &Operator, s: &Settings, p: &Profile) -> Result<Reservation, OrderError> {
    let template: TemplateSource = p.template.parse()?;
    let mut package = template.load(s.shared.as_deref())?;
    let milenage = op.store.milenage(&p.account_sid)?;
    let serial = op.smdp.store.next_serial(PLAN_COUNTER)?;
    let (values, sim_sid, ppk) = {
        let mut rng = op.smdp.rng();
        let mut values = s.plan.allocate(serial, &mut *rng)?;
        // With the account's OP set, the card's OPc is derived from it (TS 35.206 §4.1), so
        // a core network configured with OP alone authenticates it.
        if let Some(ki) = values.ki {
            if let Some(opc) = milenage.opc_for(&ki) {
                values.opc = Some(opc);
            }
        }
        let sim_sid = smdp_core::orders::new_sid("HS", &mut *rng);
        let ppk = p
            .options
            .pre_protected
            .then(|| smdp_core::orders::new_ppk(&mut *rng));
        (values, sim_sid, ppk)
    };
    package.personalise(&values)?;
    Ok(Reservation {
        iccid: values.iccid.unwrap_or_default(),
        imsi: values.imsi.unwrap_or_default(),
        package: package.to_der(),
        sim_sid,
        charge_cents: PROFILE_CHARGE_CENTS,
        ppk,
    })
}

fn fail(op: &Operator, p: &Profile, why: &str) {
    tracing::warn!(sid = %p.sid, why, "reservation failed");
    let msg = format!("Reservation failed: {why}");
    if let Err(e) = op.smdp.store.set_status(
        p.id,
        &[ProfileStatus::New, ProfileStatus::Reserving],
        ProfileStatus::Failed,
        Some((RESERVATION_FAILED, &msg)),
        op.smdp.clock.unix(),
    ) {
        tracing::error!(error = %e, "recording a failed reservation");
    }
}
