//! Importing a manufacturer's batch of pre-installed profiles for an account (`smdp profile
//! import`, `POST /v1/ESimProfiles/Import`): each row becomes an ESimProfile `installed` on its
//! EID, with no matching ID or activation code (never downloadable over ES9+), and its Sim.
//!
//! Charging rule: each imported profile is charged like a reserved one ($3.00, configurable
//! with `--preinstalled-charge-cents`; 0 charges nothing), once: a re-run of the same file
//! changes nothing and charges nothing.

use rand_core::CryptoRng;
use smdp_core::import::{self, ImportReport};
use smdp_core::orders::new_sid;
use smdp_core::store::{NewPreinstalled, OperatorStore, StoreError};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The ESimProfile sids created, in file order.
    pub created: Vec<String>,
    /// Rows already imported before (same account, ICCID, EID and IMSI).
    pub unchanged: usize,
}

/// Why nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file, or rows of it, are invalid.
    #[error(transparent)]
    File(#[from] ImportReport),
    /// The store refused rows (ICCIDs or Sim names in use) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Every bad row with its reason (row 0: the file, or the store as a whole).
    pub fn rows(&self) -> Vec<(usize, String)> {
        match self {
            Self::File(r) => r.problems.clone(),
            Self::Store(StoreError::Rows(rows)) => rows.clone(),
            Self::Store(e) => vec![(0, e.to_string())],
        }
    }
}

/// Parses, validates and records `bytes` (CSV or JSON) for `account`, all or nothing.
pub fn import(
    store: &dyn OperatorStore,
    account: &str,
    bytes: &[u8],
    charge_cents: i64,
    rng: &mut impl CryptoRng,
    now: i64,
) -> Result<ImportOutcome, ImportError> {
    let rows: Vec<NewPreinstalled> = import::parse(bytes)?
        .into_iter()
        .map(|profile| NewPreinstalled {
            sid: new_sid("HP", rng),
            sim_sid: new_sid("HS", rng),
            profile,
        })
        .collect();
    let created = store.import_preinstalled(account, &rows, charge_cents, now)?;
    Ok(ImportOutcome {
        created: rows
            .iter()
            .zip(&created)
            .filter(|(_, c)| **c)
            .map(|(r, _)| r.sid.clone())
            .collect(),
        unchanged: created.iter().filter(|c| !**c).count(),
    })
}
