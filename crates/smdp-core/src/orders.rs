//! Reserving a profile: allocate numbers, personalise a template, store the order as
//! downloadable. Used by `smdp profile add` now and by the operator REST API.

use std::path::PathBuf;

use rand_core::CryptoRng;
use rsp_asn1::ids::{ActivationCode, Eid};
use rsp_saip::NumberPlan;

use crate::order_options::{OptionError, OrderOptions};
use crate::store::{NewProfile, Profile, ProfileStatus, Store, StoreError};
use crate::template::{TemplateError, TemplateSource};

/// Counter name of the number plan in the store (`smdp profile add` and the REST
/// reservation worker share it, so each serial is handed out once).
pub const PLAN_COUNTER: &str = "number-plan";

/// Why an order is refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("number plan: {0}")]
    Plan(#[from] rsp_saip::PlanError),
    #[error("personalisation: {0}")]
    Personalise(#[from] rsp_saip::Error),
}

type Result<T> = std::result::Result<T, OrderError>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(OrderError::Invalid(format!($($t)*))) };
}

/// Matching IDs: 4 groups of 5 from the characters lpac accepts (`[A-Z0-9-]`), like the
/// GSMA examples (`04386-AGYFT-A74Y8-3F815`).
const MATCHING_ID_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// What an order asks for.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// The order's sid (`HP…`); drawn at random when `None`.
    pub sid: Option<String>,
    pub account_sid: String,
    /// 32 digits with valid check digits.
    pub eid: Option<Eid>,
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
            sid: None,
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
    let matching_id = match (&req.matching_id, req.generate_matching_id) {
        (Some(m), _) => {
            check_matching_id(m)?;
            Some(m.clone())
        }
        (None, true) => Some(new_matching_id(rng)),
        (None, false) => None,
    };
    if let Some(eid) = &req.eid {
        if !eid.check_digits_ok() {
            bail!("EID {eid}: wrong check digits");
        }
    }
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
    let (values, der) = personalised(store, plan, shared, &req.template, rng)?;
    let ppk = req.options.pre_protected.then(|| new_ppk(rng));
    let p = NewProfile {
        sid: req.sid.clone().unwrap_or_else(|| new_sid("HP", rng)),
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
        eid: req.eid,
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
        profile_type: None,
        es2_mark: None,
    };
    Ok(store.insert_profile(&p, now)?)
}

/// The template, numbered with the plan's next serial and personalised.
fn personalised(
    store: &dyn Store,
    plan: &NumberPlan,
    shared: Option<&std::path::Path>,
    template: &TemplateSource,
    rng: &mut impl CryptoRng,
) -> Result<(rsp_saip::Personalisation, Vec<u8>)> {
    let serial = store.next_serial(PLAN_COUNTER)?;
    let values = plan.allocate(serial, rng)?;
    let der = personalise(template, shared, &values)?;
    Ok((values, der))
}

/// The template personalised with `values` (SAIP DER).
pub fn personalise(
    template: &TemplateSource,
    shared: Option<&std::path::Path>,
    values: &rsp_saip::Personalisation,
) -> Result<Vec<u8>> {
    let mut package = template.load(shared)?;
    package.personalise(values)?;
    Ok(package.to_der())
}

/// What `smdp inventory add` stocks: profiles of one ES2+ profile type.
#[derive(Debug, Clone)]
pub struct StockRequest {
    /// The account whose ESimProfiles the orders become (the REST view of ES2+ orders).
    pub account_sid: String,
    pub profile_type: String,
    pub template: TemplateSource,
    pub max_attempts: i64,
    pub service_provider_name: String,
    pub profile_name: String,
}

/// Longest profile type accepted (SGP.22 leaves it to the operator and the SM-DP+).
pub const MAX_PROFILE_TYPE_BYTES: usize = 64;

/// Checks a profile type: printable, 1 to 64 bytes.
pub fn check_profile_type(t: &str) -> Result<()> {
    if t.trim().is_empty() || t.len() > MAX_PROFILE_TYPE_BYTES {
        bail!("profile type must be 1..{MAX_PROFILE_TYPE_BYTES} bytes, not blank");
    }
    if let Some(c) = t.chars().find(|c| c.is_control()) {
        bail!("profile type {t:?} contains {c:?}");
    }
    Ok(())
}

/// Stocks one inventory profile (SGP.22 §5.3 `Available`): numbers from the plan, the
/// personalised package and a Sim sid, but no order yet. ES2+ DownloadOrder orders it; it
/// is no ESimProfile until then.
pub fn stock(
    store: &dyn Store,
    plan: &NumberPlan,
    shared: Option<&std::path::Path>,
    req: &StockRequest,
    rng: &mut impl CryptoRng,
    now: i64,
) -> Result<Profile> {
    check_profile_type(&req.profile_type)?;
    let (values, der) = personalised(store, plan, shared, &req.template, rng)?;
    stock_package(store, req, &values, der, rng, now)
}

/// Stocks one inventory profile from a package already personalised with `values`
/// (`smdp inventory import`: a batch's own numbers and keys).
pub fn stock_package(
    store: &dyn Store,
    req: &StockRequest,
    values: &rsp_saip::Personalisation,
    der: Vec<u8>,
    rng: &mut impl CryptoRng,
    now: i64,
) -> Result<Profile> {
    let p = NewProfile {
        sid: new_sid("HP", rng),
        account_sid: req.account_sid.clone(),
        status: Some(ProfileStatus::Reserving),
        unreleased: true,
        iccid: values.iccid.clone(),
        imsi: values.imsi.clone(),
        template: req.template.to_string(),
        package: Some(der),
        service_provider_name: req.service_provider_name.clone(),
        profile_name: req.profile_name.clone(),
        max_attempts: req.max_attempts,
        sim_sid: Some(new_sid("HS", rng)),
        profile_type: Some(req.profile_type.clone()),
        es2_mark: Some(crate::es2::State::Available),
        ..NewProfile::default()
    };
    Ok(store.insert_profile(&p, now)?)
}

/// The default data folder.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// `https://<address>`: the SM-DP+ as a URL (the REST `smdp_plus_address`, callbacks).
pub fn smdp_url(address: &str) -> String {
    format!("https://{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: generated matching IDs carry at least 100 bits, unbiased. 20 symbols of a
    /// 32-symbol alphabet are 100 bits; 256 is a multiple of 32, so `byte % 32` is uniform.
    #[test]
    fn matching_ids_carry_100_unbiased_random_bits() {
        let n = MATCHING_ID_ALPHABET.len();
        let distinct: std::collections::BTreeSet<_> = MATCHING_ID_ALPHABET.iter().collect();
        assert_eq!((distinct.len(), n, 256 % n), (32, 32, 0));
        let mut rng = rsp_auth::rng::rng(Some(7));
        let mut counts = [0u64; 32];
        let mut seen = std::collections::HashSet::new();
        const IDS: usize = 20_000;
        for _ in 0..IDS {
            let id = new_matching_id(&mut rng);
            check_matching_id(&id).unwrap();
            let symbols: Vec<u8> = id.bytes().filter(|b| *b != b'-').collect();
            assert_eq!(symbols.len() as f64 * (n as f64).log2(), 100.0, "{id}");
            for s in symbols {
                counts[MATCHING_ID_ALPHABET.iter().position(|a| *a == s).unwrap()] += 1;
            }
            assert!(seen.insert(id), "a repeated matching ID");
        }
        // Chi-square over the 400,000 symbols, 31 degrees of freedom: 61.1 is p = 0.001.
        let expected = (IDS * 20 / n) as f64;
        let chi2: f64 = counts
            .iter()
            .map(|c| (*c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 61.1, "symbol counts {counts:?}: chi2 {chi2}");
    }
}
