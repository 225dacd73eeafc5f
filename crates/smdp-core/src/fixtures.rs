//! Conformance fixtures: named orders that SGP.23-derived suites expect (the osmo-ttcn3-hacks
//! smdpp suite, pySim's test mode), from a declarative file (`fixtures/sgp23.toml`, or any
//! file of the same shape). Each order remembers its fixture name; [`provision`] creates
//! what is missing and replenishes what was consumed (installed, failed, or out of
//! attempts), handing the matching ID to a fresh order with a fresh ICCID, so a suite can run
//! again and again against one server. [`reset`] consumes every fixture order at once.

use rand_core::CryptoRng;
use rsp_saip::NumberPlan;
use serde::Deserialize;

use crate::order_options::{OrderOptions, Version};
use crate::orders::{reserve, OrderRequest};
use crate::store::{Profile, ProfileStatus, Store};

/// The fixture file this repository ships (`fixtures/sgp23.toml`).
pub const SGP23: &str = include_str!("../../../fixtures/sgp23.toml");

/// A fixture file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    #[serde(rename = "order")]
    pub orders: Vec<FixtureOrder>,
}

/// One named order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureOrder {
    pub name: String,
    pub matching_id: Option<String>,
    pub eid: Option<String>,
    pub confirmation_code: Option<String>,
    #[serde(default = "yes")]
    pub released: bool,
    #[serde(default)]
    pub expired: bool,
    pub max_attempts: Option<i64>,
    pub min_euicc_svn: Option<String>,
}

fn yes() -> bool {
    true
}

impl FixtureFile {
    /// Names unique, each order reservable (EIDs with check digits, an EID or a matching ID).
    pub fn check(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for o in &self.orders {
            if !names.insert(&o.name) {
                return Err(format!("fixture {:?} is named twice", o.name));
            }
            if o.eid.is_none() && o.matching_id.is_none() {
                return Err(format!(
                    "fixture {:?} has neither eid nor matching_id",
                    o.name
                ));
            }
            if let Some(e) = &o.eid {
                rsp_asn1::ids::Eid::parse(e)
                    .map_err(|err| format!("fixture {:?}: {err}", o.name))?;
            }
            if let Some(v) = &o.min_euicc_svn {
                v.parse::<Version>()
                    .map_err(|err| format!("fixture {:?}: {err}", o.name))?;
            }
        }
        Ok(())
    }
}

/// An order of this fixture that is no longer what the fixture promises.
fn consumed(p: &Profile, f: &FixtureOrder) -> bool {
    matches!(p.status, ProfileStatus::Installed | ProfileStatus::Failed)
        || (f.max_attempts.is_none() && p.attempts >= p.max_attempts)
}

/// Creates each fixture order that has no live order, retiring consumed ones (their
/// matching ID freed); the sids created.
pub fn provision(
    store: &dyn Store,
    file: &FixtureFile,
    plan: &NumberPlan,
    shared: Option<&std::path::Path>,
    rng: &mut impl CryptoRng,
    now: i64,
) -> Result<Vec<String>, FixtureError> {
    let all = store.fixture_profiles()?;
    let mut created = Vec::new();
    for f in &file.orders {
        let mine: Vec<&Profile> = all
            .iter()
            .filter(|p| p.options.fixture.as_deref() == Some(f.name.as_str()))
            .collect();
        let live = mine
            .iter()
            .any(|p| !consumed(p, f) && p.status != ProfileStatus::Failed);
        if live {
            continue;
        }
        for p in mine.iter().filter(|p| p.matching_id.is_some()) {
            store.retire_matching_id(p.id, now)?;
        }
        // The replacement's sid follows from the fixture and its generation, so that two
        // provisioners racing (a CLI beside a serving --fixtures server, or two nodes) insert
        // the same order once: the second meets its sid taken and moves on.
        let generation = mine.len();
        let sid = {
            use sha2::Digest;
            let h = sha2::Sha256::digest(format!("smdp-sim fixture {}:{generation}", f.name));
            format!("HP{}", hex::encode(&h[..16]))
        };
        let req = OrderRequest {
            sid: Some(sid),
            eid: f
                .eid
                .as_deref()
                .map(rsp_asn1::ids::Eid::parse)
                .transpose()?,
            matching_id: f.matching_id.clone(),
            confirmation_code: f.confirmation_code.clone(),
            expires_at: f.expired.then_some(now - 1),
            max_attempts: f.max_attempts.unwrap_or(5),
            unreleased: !f.released,
            options: OrderOptions {
                fixture: Some(f.name.clone()),
                requires: crate::order_options::DeviceRequirements {
                    min_euicc_svn: f.min_euicc_svn.as_deref().map(str::parse).transpose()?,
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        };
        match reserve(store, plan, shared, &req, rng, now) {
            Ok(p) => created.push(p.sid),
            Err(crate::orders::OrderError::Store(crate::store::StoreError::Duplicate {
                ..
            })) => {}
            // Another provisioner took the matching ID between our look and our insert.
            Err(e) => match &f.matching_id {
                Some(m) if store.profile_by_matching_id(m)?.is_some() => {}
                _ => return Err(e.into()),
            },
        }
    }
    Ok(created)
}

/// Consumes every live fixture order (failed, "fixtures reset"), so that [`provision`]
/// creates them all afresh; the number reset.
pub fn reset(store: &dyn Store, now: i64) -> Result<usize, FixtureError> {
    let mut n = 0;
    for p in store.fixture_profiles()? {
        if p.options.fixture.is_some()
            && !matches!(p.status, ProfileStatus::Installed | ProfileStatus::Failed)
        {
            store.set_status(
                p.id,
                &[p.status],
                ProfileStatus::Failed,
                Some((0, "fixtures reset")),
                now,
            )?;
            n += 1;
        }
    }
    Ok(n)
}

/// A fixture step's failure, as text (store, order and parse errors alike).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FixtureError(pub String);

macro_rules! from {
    ($($t:ty),*) => {$(
        impl From<$t> for FixtureError {
            fn from(e: $t) -> Self {
                Self(e.to_string())
            }
        }
    )*};
}
from!(
    crate::store::StoreError,
    crate::orders::OrderError,
    rsp_asn1::Error,
    crate::order_options::OptionError
);

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_file_parses_and_checks() {
        let f: super::FixtureFile = toml_lite(super::SGP23);
        f.check().unwrap();
        assert_eq!(f.orders.len(), 13);
    }

    /// The crate has no TOML parser; the file's shape is simple enough to check with JSON
    /// after a line-by-line rewrite. (The server parses it with `toml`.)
    fn toml_lite(s: &str) -> super::FixtureFile {
        let mut orders = Vec::new();
        let mut cur: Option<serde_json::Map<String, serde_json::Value>> = None;
        for line in s.lines().map(str::trim) {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if line == "[[order]]" {
                orders.extend(cur.take());
                cur = Some(Default::default());
                continue;
            }
            let (k, v) = line.split_once('=').unwrap();
            let v: serde_json::Value = serde_json::from_str(v.trim()).unwrap();
            cur.as_mut().unwrap().insert(k.trim().into(), v);
        }
        orders.extend(cur);
        serde_json::from_value(serde_json::json!({ "order": orders })).unwrap()
    }
}
