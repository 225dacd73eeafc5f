//! Reserving a profile: allocate numbers, personalise a template, store the order as
//! downloadable. Used by `smdp profile add` now and by the operator REST API.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rand_core::CryptoRng;
use rsp_asn1::ids::{ActivationCode, Eid};
use rsp_saip::NumberPlan;

use crate::order_options::OrderOptions;
use crate::reservation::PLAN_COUNTER;
use crate::store::{NewProfile, Profile, ProfileStatus, Store};
use crate::template::TemplateSource;

/// Matching IDs: 4 groups of 5 from the characters lpac accepts (`[A-Z0-9-]`), like the
/// GSMA examples (`04386-AGYFT-A74Y8-3F815`).
const MATCHING_ID_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// What an order asks for.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub account_sid: String,
    /// 32 digits with valid check digits.
    pub eid: Option<String>,
    /// A given matching ID, or `generate` for a fresh one.
    pub matching_id: Option<String>,
    pub generate_matching_id: bool,
    pub confirmation_code: Option<String>,
    pub template: TemplateSource,
    pub expires_at: Option<i64>,
    pub max_attempts: i64,
    pub service_provider_name: String,
    pub profile_name: String,
    /// Held (not downloadable, 8.2/1.2) until released.
    pub unreleased: bool,
    pub options: OrderOptions,
}

impl Default for OrderRequest {
    fn default() -> Self {
        Self {
            account_sid: "AC00000000000000000000000000000000".into(),
            eid: None,
            matching_id: None,
            generate_matching_id: false,
            confirmation_code: None,
            template: TemplateSource::Minimal { size: None },
            expires_at: None,
            max_attempts: 5,
            service_provider_name: "smdp-sim".into(),
            profile_name: "smdp-sim test profile".into(),
            unreleased: false,
            options: OrderOptions::default(),
        }
    }
}

/// A random matching ID.
pub fn new_matching_id(rng: &mut impl CryptoRng) -> String {
    let mut b = [0u8; 20];
    rng.fill_bytes(&mut b);
    let chars: Vec<char> = b
        .iter()
        .map(|x| char::from(MATCHING_ID_ALPHABET[usize::from(*x) % MATCHING_ID_ALPHABET.len()]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Longest matching ID accepted (SGP.22 leaves the UTF8String unbounded; an activation code
/// must fit a QR code).
pub const MAX_MATCHING_ID_BYTES: usize = 255;

/// Checks a given matching ID. SGP.22 4.1 restricts activation-code tokens to `0-9 A-Z -`,
/// but ctxParams1.matchingId is a UTF8String and SGP.23 suites use others (`AC_WITH_CC`), so
/// any printable text without `$` (the activation-code separator) is accepted and compared
/// exactly. Returns a note when the ID is outside the activation-code alphabet.
pub fn check_matching_id(m: &str) -> Result<Option<String>> {
    if m.is_empty() {
        bail!("matching ID is empty (an empty matching ID means the default SM-DP+: use --eid)");
    }
    if m.len() > MAX_MATCHING_ID_BYTES {
        bail!(
            "matching ID is {} bytes, at most {MAX_MATCHING_ID_BYTES}",
            m.len()
        );
    }
    if let Some(c) = m.chars().find(|c| c.is_control() || *c == '$') {
        bail!("matching ID {m:?} contains {c:?}: printable characters other than '$' only");
    }
    let in_alphabet = m
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'-');
    Ok((!in_alphabet).then(|| {
        format!(
            "matching ID {m:?} is outside the SGP.22 4.1 activation-code alphabet (0-9 A-Z -): \
             some LPAs (lpac) refuse such activation codes; it is matched exactly"
        )
    }))
}

/// Fresh PPK-ENC ‖ PPK-MAC ‖ initial MCV for a pre-protected profile (SGP.22 2.5.4).
pub fn new_ppk(rng: &mut impl CryptoRng) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    rng.fill_bytes(&mut b);
    b
}

/// A resource sid: two letters and 32 lower-case hex digits (`HP…`, `HS…`).
pub fn new_sid(prefix: &str, rng: &mut impl CryptoRng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// The activation code for an order (`1$address$matchingId`, `$$1` when a confirmation code
/// is required).
pub fn activation_code(address: &str, p: &Profile) -> Option<ActivationCode> {
    let mid = p.matching_id.clone()?;
    let mut ac = ActivationCode::new(address, mid);
    if p.confirmation_code.is_some() {
        ac.confirmation_code_required = Some(true);
    }
    Some(ac)
}

/// Reserves one profile: number, personalised package, a downloadable order.
pub fn reserve(
    store: &dyn Store,
    plan: &NumberPlan,
    shared: Option<&std::path::Path>,
    req: &OrderRequest,
    rng: &mut impl CryptoRng,
    now: i64,
) -> Result<Profile> {
    if let Some(eid) = &req.eid {
        Eid::parse(eid).with_context(|| format!("EID {eid}"))?;
    }
    let matching_id = match (&req.matching_id, req.generate_matching_id) {
        (Some(m), _) => {
            check_matching_id(m)?;
            Some(m.clone())
        }
        (None, true) => Some(new_matching_id(rng)),
        (None, false) => None,
    };
    if req.eid.is_none() && matching_id.is_none() {
        bail!("an order needs an EID, a matching ID, or both");
    }
    if let Some(cc) = &req.confirmation_code {
        if cc.is_empty() || cc.len() > 64 {
            bail!("confirmation code must be 1..64 characters");
        }
        req.options.confirmation_code_encoding.code_bytes(cc)?;
    }
    req.options.validate()?;
    // Refuse a used matching ID before a serial is spent (the UNIQUE column still decides
    // under a race).
    if let Some(m) = &matching_id {
        if store.profile_by_matching_id(m)?.is_some() {
            bail!("matching ID {m:?} is already in use");
        }
    }
    let mut package = req.template.load(shared)?;
    let serial = store.next_serial(PLAN_COUNTER)?;
    let values = plan.allocate(serial, rng)?;
    package.personalise(&values)?;
    let der = package.to_der();
    let ppk = req.options.pre_protected.then(|| new_ppk(rng));
    let p = NewProfile {
        sid: new_sid("HP", rng),
        account_sid: req.account_sid.clone(),
        // Held orders are reserved (numbers, package) but not released: `reserving` until
        // `smdp profile release`, which is what ES9+ reports as 8.2/1.2.
        status: Some(if req.unreleased {
            ProfileStatus::Reserving
        } else {
            ProfileStatus::Available
        }),
        unreleased: req.unreleased,
        options: req.options.clone(),
        ppk,
        eid: req.eid.clone(),
        matching_id,
        confirmation_code: req.confirmation_code.clone(),
        iccid: values.iccid.clone(),
        imsi: values.imsi.clone(),
        template: req.template.to_string(),
        package: Some(der),
        service_provider_name: req.service_provider_name.clone(),
        profile_name: req.profile_name.clone(),
        expires_at: req.expires_at,
        max_attempts: req.max_attempts,
        callback_url: None,
        callback_method: None,
        sim_sid: None,
    };
    Ok(store.insert_profile(&p, now)?)
}

/// The default data folder.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn reserving_gives_unique_numbers_and_valid_codes() {
        let store = SqliteStore::in_memory().unwrap();
        let mut rng = rsp_auth::rng::rng(Some(3));
        let plan = NumberPlan::default();
        let req = OrderRequest {
            generate_matching_id: true,
            ..Default::default()
        };
        let a = reserve(&store, &plan, None, &req, &mut rng, 0).unwrap();
        let b = reserve(&store, &plan, None, &req, &mut rng, 0).unwrap();
        assert_ne!(a.iccid, b.iccid);
        assert_ne!(a.matching_id, b.matching_id);
        let mid = a.matching_id.clone().unwrap();
        assert_eq!(mid.len(), 23);
        let ac = activation_code("smdp.test", &a).unwrap();
        assert_eq!(ActivationCode::parse(&ac.to_string()).unwrap(), ac);
        // The package carries the allocated numbers.
        let pkg = rsp_saip::ProfilePackage::parse(&store.package(a.id).unwrap().unwrap()).unwrap();
        assert_eq!(pkg.values().ef_iccid, a.iccid);
        assert!(a.sid.starts_with("HP") && a.sid.len() == 34);

        for bad in [
            OrderRequest::default(),
            OrderRequest {
                eid: Some("89049032123451234512345678901234".into()),
                ..Default::default()
            },
            OrderRequest {
                matching_id: Some("a$b".into()),
                ..Default::default()
            },
        ] {
            assert!(reserve(&store, &plan, None, &bad, &mut rng, 0).is_err());
        }
        assert_eq!(
            store.profiles().unwrap().len(),
            2,
            "refused orders store nothing"
        );
    }
}
