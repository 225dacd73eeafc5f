//! The four ES2+ functions the operator calls (SGP.22 §5.3.1–5.3.4) on the store, JSON in and
//! out: [`dispatch`] is what the ES2+ listener calls once mutual TLS has named the function
//! requester. Each function reads the profile, lets the model above decide, and applies the
//! decision as one compare-and-set on the state it was made for; a caller that lost a race
//! reads again (a bounded number of times) and is answered from what it finds.

use std::sync::Arc;

use rsp_asn1::es2::{
    iccid, path, CancelOrderRequest, ConfirmOrderRequest, ConfirmOrderResponse,
    DownloadOrderRequest, DownloadOrderResponse, Es2RequestHeader, FinalProfileStatus,
    HeaderOnlyResponse, ReleaseProfileRequest,
};
use rsp_asn1::es9::ResponseHeader;
use serde::Serialize;

use super::{
    cancel_order, confirm_order, download_order, download_order_target, matching_id_in_use,
    no_profile_of_type, release_profile, CancelOrder, ConfirmOrder, Confirmed, DownloadOrder,
    Es2Profile, MatchingIdRequest, Ordered, State,
};
use crate::es9::{failed_body, parse, Smdp};
use crate::status::{fail, Code, Failure};
use crate::store::{Eid, Es2Change, OperatorStore, Profile, StoreError};

/// Reads a profile again after losing a compare-and-set at most this many times: another
/// request changed it in between, and the next read answers from the new state.
const RACE_RETRIES: usize = 3;

/// The SM-DP+ as ES2+ serves it.
pub struct Es2 {
    /// For its address (ConfirmOrder's smdpAddress), clock and RNG (matching IDs).
    pub smdp: Arc<Smdp>,
    pub store: Arc<dyn OperatorStore>,
    /// What DownloadOrder charges for a profile (once per profile).
    pub charge_cents: i64,
}

/// One ES2+ call from `requester` (the identity in its client certificate): the JSON body of
/// the HTTP 200 answer, the function's response or a header-only `Failed`; `None` when `path`
/// is not an ES2+ function the SM-DP+ serves.
pub fn dispatch(es2: &Es2, requester: &str, path: &str, body: &[u8]) -> Option<Vec<u8>> {
    fn call<Req: serde::de::DeserializeOwned, Resp: Serialize>(
        es2: &Es2,
        requester: &str,
        body: &[u8],
        function: &str,
        f: fn(&Es2, &str, &Req) -> Result<Resp, Failure>,
    ) -> Vec<u8> {
        let result = parse::<Req>(body).and_then(|req| f(es2, requester, &req));
        match result {
            Ok(v) => serde_json::to_vec(&v).unwrap_or_else(|e| {
                failed_body(&Failure::new(Code::ExecutionError, e.to_string()))
            }),
            Err(f) => {
                let (subject, reason) = f.subject_reason();
                tracing::info!(function, requester, code = %format!("{subject}/{reason}"), message = %f.message, "ES2+ failed");
                failed_body(&f)
            }
        }
    }
    Some(match path {
        path::DOWNLOAD_ORDER => call(es2, requester, body, "downloadOrder", Es2::download_order),
        path::CONFIRM_ORDER => call(es2, requester, body, "confirmOrder", Es2::confirm_order),
        path::CANCEL_ORDER => call(es2, requester, body, "cancelOrder", Es2::cancel_order),
        path::RELEASE_PROFILE => call(es2, requester, body, "releaseProfile", Es2::release_profile),
        _ => return None,
    })
}

/// The header must be whole, and name the requester its certificate names: the certificate
/// is what authenticates (SGP.22 §2.6.3 mutual TLS), the header only says who calls.
fn check_header(h: &Es2RequestHeader, requester: &str) -> Result<(), Failure> {
    let Some(named) = &h.function_requester_identifier else {
        return fail(
            Code::MandatoryElementMissing,
            "header.functionRequesterIdentifier is missing",
        );
    };
    if h.function_call_identifier.is_none() {
        return fail(
            Code::MandatoryElementMissing,
            "header.functionCallIdentifier is missing",
        );
    }
    if named != requester {
        return fail(
            Code::RequesterNotAllowed,
            format!(
                "header.functionRequesterIdentifier {named:?} is not {requester:?}, the \
                 identity of the client certificate"
            ),
        );
    }
    Ok(())
}

fn eid_field(f: &Option<String>) -> Result<Option<Eid>, Failure> {
    let Some(s) = f else { return Ok(None) };
    let eid: Eid = s
        .trim()
        .parse()
        .map_err(|e| Failure::new(Code::InvalidInput, format!("eid {s:?}: {e}")))?;
    if !eid.check_digits_ok() {
        return fail(Code::InvalidInput, format!("eid {s:?}: wrong check digits"));
    }
    Ok(Some(eid))
}

fn iccid_field(f: &Option<String>) -> Result<Option<String>, Failure> {
    f.as_deref()
        .map(iccid)
        .transpose()
        .map_err(|e| Failure::new(Code::InvalidInput, e.to_string()))
}

fn required<T: Clone>(f: &Option<T>, name: &str) -> Result<T, Failure> {
    f.clone()
        .ok_or_else(|| Failure::new(Code::MandatoryElementMissing, format!("{name} is missing")))
}

fn no_such_iccid(iccid: &str) -> Failure {
    Failure::new(Code::IccidUnknown, format!("no profile with ICCID {iccid}"))
}

fn view(p: &Profile) -> Result<Es2Profile, Failure> {
    p.es2_view()
        .ok_or_else(|| Failure::new(Code::ExecutionError, "a profile without an ICCID"))
}

fn header_only() -> HeaderOnlyResponse {
    HeaderOnlyResponse {
        header: ResponseHeader::success(),
    }
}

fn raced(iccid: &str) -> Failure {
    Failure::new(
        Code::IccidInUse,
        format!("ICCID {iccid} kept changing under concurrent requests; try again"),
    )
}

impl Es2 {
    fn now(&self) -> i64 {
        self.smdp.clock.unix()
    }

    /// The profile an operator's ICCID names: the ICCID as given, else (18 or 19 digits)
    /// the one that is it plus its Luhn check digit. Operators' systems send ICCIDs with and
    /// without the check digit (`spec/es2plus-sgp32.md`, client quirks); an SM-DP+ whose
    /// number plan issues 20-digit ICCIDs is still found by the 19 before the check digit.
    fn by_iccid(&self, iccid: &str) -> Result<Profile, Failure> {
        if let Some(p) = self.store.profile_by_iccid(iccid)? {
            return Ok(p);
        }
        if let Ok(full) = rsp_asn1::ids::Iccid::with_luhn(iccid).and_then(|i| i.digits()) {
            if let Some(p) = self.store.profile_by_iccid(&full)? {
                return Ok(p);
            }
        }
        Err(no_such_iccid(iccid))
    }

    /// SGP.22 §5.3.1.
    pub fn download_order(
        &self,
        requester: &str,
        req: &DownloadOrderRequest,
    ) -> Result<DownloadOrderResponse, Failure> {
        check_header(&req.header, requester)?;
        let order = DownloadOrder {
            requester: requester.to_string(),
            eid: eid_field(&req.eid)?,
            iccid: iccid_field(&req.iccid)?,
            profile_type: req.profile_type.clone(),
        };
        download_order_target(&order)?;
        let answer = |iccid: String| DownloadOrderResponse {
            header: ResponseHeader::success(),
            iccid: Some(iccid),
        };
        for _ in 0..RACE_RETRIES {
            let p = match (&order.iccid, &order.profile_type) {
                (Some(i), _) => self.by_iccid(i)?,
                (None, Some(t)) => match self.store.inventory_pick(t)? {
                    Some(p) => p,
                    None => {
                        let known = self
                            .store
                            .inventory_counts(None)?
                            .iter()
                            .any(|c| c.profile_type == *t);
                        return Err(no_profile_of_type(t, known));
                    }
                },
                (None, None) => unreachable!("download_order_target refused it"),
            };
            let v = view(&p)?;
            match download_order(&v, &order)? {
                Ordered::Resend => return Ok(answer(v.iccid)),
                Ordered::Allocate { eid } => {
                    let change = Es2Change::Order {
                        requester: requester.to_string(),
                        eid,
                        charge_cents: self.charge_cents,
                    };
                    if self
                        .store
                        .es2_apply(p.id, State::Available, &change, self.now())?
                    {
                        tracing::info!(requester, iccid = %v.iccid, eid = ?eid, "ES2+ ordered");
                        return Ok(answer(v.iccid));
                    }
                }
            }
        }
        Err(raced(order.iccid.as_deref().unwrap_or("of this type")))
    }

    /// SGP.22 §5.3.2.
    pub fn confirm_order(
        &self,
        requester: &str,
        req: &ConfirmOrderRequest,
    ) -> Result<ConfirmOrderResponse, Failure> {
        check_header(&req.header, requester)?;
        let iccid = required(&iccid_field(&req.iccid)?, "iccid")?;
        let release = required(&req.release_flag, "releaseFlag")?;
        if let Some(cc) = &req.confirmation_code {
            if cc.len() > 64 {
                return fail(
                    Code::InvalidInput,
                    "confirmationCode is longer than 64 characters",
                );
            }
        }
        let confirm = ConfirmOrder {
            requester: requester.to_string(),
            eid: eid_field(&req.eid)?,
            matching_id: MatchingIdRequest::from_field(req.matching_id.as_deref()),
            confirmation_code: req.confirmation_code.clone(),
            smds_address: req.smds_address.clone(),
            release,
        };
        let answer = |eid: Option<Eid>, matching_id: Option<String>| ConfirmOrderResponse {
            header: ResponseHeader::success(),
            eid: eid.map(|e| e.to_string()),
            matching_id,
            smdp_address: Some(self.smdp.address.clone()),
        };
        for _ in 0..RACE_RETRIES {
            let p = self.by_iccid(&iccid)?;
            let v = view(&p)?;
            match confirm_order(&v, &confirm)? {
                Confirmed::Resend => return Ok(answer(v.eid, v.matching_id)),
                Confirmed::Confirm {
                    eid,
                    matching_id,
                    release,
                } => {
                    if let Some(m) = &matching_id {
                        if let Some(other) = self.store.profile_by_matching_id(m)? {
                            if other.id != p.id {
                                return Err(matching_id_in_use(m));
                            }
                        }
                    }
                    let m = matching_id
                        .unwrap_or_else(|| crate::orders::new_matching_id(&mut *self.smdp.rng()));
                    let change = Es2Change::Confirm {
                        eid,
                        matching_id: m.clone(),
                        confirmation_code: confirm.confirmation_code.clone(),
                        release,
                    };
                    match self.store.es2_apply(p.id, v.state, &change, self.now()) {
                        Ok(true) => {
                            tracing::info!(requester, %iccid, matching_id = %m, release, "ES2+ confirmed");
                            return Ok(answer(eid, Some(m)));
                        }
                        Ok(false) => {}
                        Err(StoreError::Duplicate { .. }) => return Err(matching_id_in_use(&m)),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(raced(&iccid))
    }

    /// SGP.22 §5.3.3.
    pub fn cancel_order(
        &self,
        requester: &str,
        req: &CancelOrderRequest,
    ) -> Result<HeaderOnlyResponse, Failure> {
        check_header(&req.header, requester)?;
        let iccid = required(&iccid_field(&req.iccid)?, "iccid")?;
        let status = required(
            &req.final_profile_status_indicator,
            "finalProfileStatusIndicator",
        )?;
        let cancel = CancelOrder {
            requester: requester.to_string(),
            eid: eid_field(&req.eid)?,
            matching_id: req.matching_id.clone(),
            back_to_inventory: status == FinalProfileStatus::Available,
        };
        for _ in 0..RACE_RETRIES {
            let p = self.by_iccid(&iccid)?;
            let v = view(&p)?;
            let to = cancel_order(&v, &cancel)?;
            let change = Es2Change::Cancel {
                back_to_inventory: to == State::Available,
            };
            if self.store.es2_apply(p.id, v.state, &change, self.now())? {
                tracing::info!(requester, %iccid, to = %to, "ES2+ cancelled");
                return Ok(header_only());
            }
        }
        Err(raced(&iccid))
    }

    /// SGP.22 §5.3.4.
    pub fn release_profile(
        &self,
        requester: &str,
        req: &ReleaseProfileRequest,
    ) -> Result<HeaderOnlyResponse, Failure> {
        check_header(&req.header, requester)?;
        let iccid = required(&iccid_field(&req.iccid)?, "iccid")?;
        for _ in 0..RACE_RETRIES {
            let p = self.by_iccid(&iccid)?;
            let v = view(&p)?;
            if !release_profile(&v, requester)? {
                return Ok(header_only());
            }
            if self
                .store
                .es2_apply(p.id, State::Confirmed, &Es2Change::Release, self.now())?
            {
                tracing::info!(requester, %iccid, "ES2+ released");
                return Ok(header_only());
            }
        }
        Err(raced(&iccid))
    }
}
