//! Subscriber export for private networks (`smdp profile export`, `GET
//! /v1/ESimProfiles/Export`): the IMSI, Ki and OPc of an account's issued profiles, for the
//! HSS/UDM of a lab core (Open5GS, free5GC, srsRAN, pyHSS). This is the only place secrets
//! leave the store: list and fetch responses and logs never carry them.
//!
//! The keys are read from what the eUICC gets: the personalised package of a reserved profile
//! (its akaParameter), or the row of a pre-installed one. OP is given only when the account's
//! OP derives exactly the card's OPc, so an export never pairs a card with a wrong OP.

use rsp_saip::package::ProfilePackage;
use smdp_core::export::Subscriber;
use smdp_core::store::{Cursor, OperatorStore, Profile, ProfileFilter, ProfileStatus, StoreError};

/// The statuses whose profiles have numbers and keys a network can use.
pub const EXPORTABLE: [ProfileStatus; 3] = [
    ProfileStatus::Available,
    ProfileStatus::Downloaded,
    ProfileStatus::Installed,
];

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("status {0} has no subscriber keys: use available, downloaded or installed")]
    Status(ProfileStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored package whose keys cannot be read (a corrupt store, or a template without an
    /// akaParameter).
    #[error("ESimProfile {sid}: {why}")]
    Keys { sid: String, why: String },
}

/// The account's subscribers, in profile order: those in `status`, or in any exportable one.
pub fn subscribers(
    store: &dyn OperatorStore,
    account: &str,
    status: Option<ProfileStatus>,
) -> Result<Vec<Subscriber>, ExportError> {
    if let Some(s) = status.filter(|s| !EXPORTABLE.contains(s)) {
        return Err(ExportError::Status(s));
    }
    let milenage = store.milenage(account)?;
    let filter = ProfileFilter {
        status,
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut cursor = Cursor::Start;
    loop {
        let page = store.list_profiles(account, &filter, cursor, 500)?;
        let Some(last) = page.last() else {
            break;
        };
        cursor = Cursor::After(last.id);
        for p in page.iter().filter(|p| EXPORTABLE.contains(&p.status)) {
            let (Some(iccid), Some(imsi)) = (&p.iccid, &p.imsi) else {
                continue;
            };
            let (ki, opc) = keys(store, p)?;
            let op = milenage
                .op
                .filter(|op| rsp_saip::milenage::opc(&ki, op) == opc);
            out.push(Subscriber {
                esim_profile_sid: p.sid.clone(),
                sim_sid: p.sim_sid.clone(),
                status: p.status.to_string(),
                eid: p.eid.map(|e| e.to_string()),
                iccid: iccid.clone(),
                imsi: imsi.clone(),
                ki,
                opc,
                op,
                amf: milenage.amf,
            });
        }
    }
    Ok(out)
}

/// (Ki, OPc) of the profile's first akaParameter, or of its pre-installed row.
fn keys(store: &dyn OperatorStore, p: &Profile) -> Result<([u8; 16], [u8; 16]), ExportError> {
    if let Some(k) = store.preinstalled_keys(p.id)? {
        return Ok(k);
    }
    let bad = |why: String| ExportError::Keys {
        sid: p.sid.clone(),
        why,
    };
    let der = store
        .package(p.id)?
        .ok_or_else(|| bad("no package stored".into()))?;
    let package = ProfilePackage::parse(&der).map_err(|e| bad(format!("package: {e}")))?;
    package
        .aka_keys()
        .into_iter()
        .next()
        .ok_or_else(|| bad("the package has no akaParameter with 16-byte keys".into()))
}
