//! Scripted faults: an order can carry a plan of failures the SM-DP+ commits on purpose, so an
//! LPA or eUICC developer sees how their code handles each one. A fault names the ES9+
//! function it hits, the attempt (the n-th call of that function for this order; every call
//! when absent), and what happens:
//!
//! - `status=S/R`: the function answers `Failed` with that row of the error table;
//! - `delay=MS`, `drop-before` (no answer, nothing done), `drop-after` (done, no answer),
//!   `http=CODE` (done, answered with that HTTP status), `truncate` (done, half the body);
//! - on getBoundProfilePackage, a broken BPP: `flip-mac=K` (a bit of the K-th 86 segment's
//!   MAC), `truncate-segment=K`, `oversize-segment=K` (past SGP.22's 1020 bytes),
//!   `reorder` (the first two 86 segments swapped; a package of one segment goes out
//!   intact, with a warning), `wrong-bf23-signature`, `metadata-mismatch` (the
//!   StoreMetadataRequest in the 88 segments is not the profileMetadata announced: another
//!   profileName; an LPA that compares them cancels with metadataMismatch, SGP.22 5.6.5),
//!   `wrong-metadata-iccid` (its ICCID is not the profile's);
//! - on authenticateClient, `wrong-smdp-signature2` (the card answers invalidSignature), and
//!   `wrong-metadata-iccid`: the session's metadata itself carries another ICCID, announced
//!   and in the BPP alike, so only the eUICC can see it against the ProfileHeader (SGP.22
//!   2.5.6: installFailedDueToDataMismatch on loadProfileElements);
//! - on handleNotification: `refuse-pir` (HTTP 500: the LPA keeps it and retries), or
//!   `ignore-pir` (204, nothing recorded).
//!
//! Text form, as the CLI and the REST API take it: `function:action[@attempt]`, e.g.
//! `authenticateClient:status=8.2.6/3.8@1`, `getBoundProfilePackage:flip-mac=2`. Faults are
//! deterministic, fire for their order only, and are logged with the session they fired in.
//! A session in which a fault fired does not fail its order afterwards: the LPA's cancel
//! or the card's error result is the scripted fault's echo, so the order stays downloadable.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::status::Code;

/// The ES9+ functions a fault can hit (initiateAuthentication knows no order yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Function {
    AuthenticateClient,
    GetBoundProfilePackage,
    HandleNotification,
    CancelSession,
}

impl Function {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthenticateClient => "authenticateClient",
            Self::GetBoundProfilePackage => "getBoundProfilePackage",
            Self::HandleNotification => "handleNotification",
            Self::CancelSession => "cancelSession",
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    Status { subject: String, reason: String },
    Delay { ms: u64 },
    DropBefore,
    DropAfter,
    Http { status: u16 },
    Truncate,
    FlipMac { segment: usize },
    TruncateSegment { segment: usize },
    OversizeSegment { segment: usize },
    Reorder,
    WrongBf23Signature,
    MetadataMismatch,
    WrongMetadataIccid,
    WrongSmdpSignature2,
    RefusePir,
    IgnorePir,
}

/// One scripted fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub function: Function,
    /// 1-based; `None`: every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    pub action: Action,
}

/// What the HTTP layer does to an answer (the transport faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Delay {
        ms: u64,
    },
    /// Close the connection without an answer.
    Drop,
    Http {
        status: u16,
    },
    Truncate,
}

impl Action {
    /// The transport part of the action, if it is one.
    pub fn transport(&self) -> Option<Transport> {
        Some(match self {
            Self::Delay { ms } => Transport::Delay { ms: *ms },
            Self::DropBefore | Self::DropAfter => Transport::Drop,
            Self::Http { status } => Transport::Http { status: *status },
            Self::Truncate => Transport::Truncate,
            Self::RefusePir => Transport::Http { status: 500 },
            _ => return None,
        })
    }

    /// A fault on the BPP itself.
    pub fn is_bpp(&self) -> bool {
        matches!(
            self,
            Self::FlipMac { .. }
                | Self::TruncateSegment { .. }
                | Self::OversizeSegment { .. }
                | Self::Reorder
                | Self::WrongBf23Signature
                | Self::MetadataMismatch
                | Self::WrongMetadataIccid
        )
    }

    /// A BPP fault that needs the package rebuilt around other metadata (the 88 segments
    /// are MACed in the chain, so they cannot be patched afterwards).
    pub fn is_metadata(&self) -> bool {
        matches!(self, Self::MetadataMismatch | Self::WrongMetadataIccid)
    }
}

/// Why a fault's text does not parse or does not fit its function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {text:?}: {why}")]
pub struct FaultError {
    pub text: String,
    pub why: String,
}

impl FromStr for Fault {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, FaultError> {
        let err = |why: &str| FaultError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let (function, rest) = text
            .split_once(':')
            .ok_or_else(|| err("expected function:action[@attempt]"))?;
        let function = match function {
            "authenticateClient" => Function::AuthenticateClient,
            "getBoundProfilePackage" => Function::GetBoundProfilePackage,
            "handleNotification" => Function::HandleNotification,
            "cancelSession" => Function::CancelSession,
            _ => {
                return Err(err(
                    "function must be authenticateClient, getBoundProfilePackage, \
                     handleNotification or cancelSession",
                ))
            }
        };
        let (action, attempt) = match rest.rsplit_once('@') {
            Some((a, n)) => (
                a,
                Some(
                    n.parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| err("attempt must be a number from 1"))?,
                ),
            ),
            None => (rest, None),
        };
        let (name, value) = match action.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (action, None),
        };
        let number = |v: Option<&str>| -> Result<u64, FaultError> {
            v.and_then(|v| v.parse().ok())
                .ok_or_else(|| err(&format!("{name} needs =NUMBER")))
        };
        let segment = |v| -> Result<usize, FaultError> {
            usize::try_from(number(v)?)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| err("segments are numbered from 1"))
        };
        let action = match (name, value) {
            ("status", Some(v)) => {
                let (s, r) = v
                    .split_once('/')
                    .ok_or_else(|| err("status=SUBJECT/REASON, e.g. status=8.2.6/3.8"))?;
                if Code::from_codes(s, r).is_none() {
                    return Err(err(&format!("{s}/{r} is not a row of the error table")));
                }
                Action::Status {
                    subject: s.into(),
                    reason: r.into(),
                }
            }
            ("delay", v) => Action::Delay {
                ms: number(v).and_then(|ms| {
                    (ms <= 120_000)
                        .then_some(ms)
                        .ok_or_else(|| err("delay is at most 120000 ms"))
                })?,
            },
            ("http", v) => Action::Http {
                status: u16::try_from(number(v)?)
                    .ok()
                    .filter(|s| (400..=599).contains(s))
                    .ok_or_else(|| err("http takes a status from 400 to 599"))?,
            },
            ("drop-before", None) => Action::DropBefore,
            ("drop-after", None) => Action::DropAfter,
            ("truncate", None) => Action::Truncate,
            ("flip-mac", v) => Action::FlipMac {
                segment: segment(v)?,
            },
            ("truncate-segment", v) => Action::TruncateSegment {
                segment: segment(v)?,
            },
            ("oversize-segment", v) => Action::OversizeSegment {
                segment: segment(v)?,
            },
            ("reorder", None) => Action::Reorder,
            ("wrong-bf23-signature", None) => Action::WrongBf23Signature,
            ("metadata-mismatch", None) => Action::MetadataMismatch,
            ("wrong-metadata-iccid", None) => Action::WrongMetadataIccid,
            ("wrong-smdp-signature2", None) => Action::WrongSmdpSignature2,
            ("refuse-pir", None) => Action::RefusePir,
            ("ignore-pir", None) => Action::IgnorePir,
            _ => return Err(err("unknown action")),
        };
        let fault = Fault {
            function,
            attempt,
            action,
        };
        fault.check().map_err(|why| err(&why))?;
        Ok(fault)
    }
}

impl Fault {
    /// Whether the action fits the function.
    fn check(&self) -> Result<(), String> {
        use Function::*;
        match (&self.action, self.function) {
            (Action::WrongMetadataIccid, AuthenticateClient) => Ok(()),
            (a, f) if a.is_bpp() && f != GetBoundProfilePackage => {
                Err("BPP faults are for getBoundProfilePackage".into())
            }
            (Action::RefusePir | Action::IgnorePir, f) if f != HandleNotification => {
                Err("PIR faults are for handleNotification".into())
            }
            (Action::WrongSmdpSignature2, f) if f != AuthenticateClient => {
                Err("wrong-smdp-signature2 is for authenticateClient".into())
            }
            // handleNotification always answers 204 without a body (SGP.22 6.5.2.4).
            (Action::Status { .. } | Action::Truncate, HandleNotification) => {
                Err("handleNotification has no JSON answer to fail or truncate".into())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.function.as_str())?;
        match &self.action {
            Action::Status { subject, reason } => write!(f, "status={subject}/{reason}")?,
            Action::Delay { ms } => write!(f, "delay={ms}")?,
            Action::DropBefore => f.write_str("drop-before")?,
            Action::DropAfter => f.write_str("drop-after")?,
            Action::Http { status } => write!(f, "http={status}")?,
            Action::Truncate => f.write_str("truncate")?,
            Action::FlipMac { segment } => write!(f, "flip-mac={segment}")?,
            Action::TruncateSegment { segment } => write!(f, "truncate-segment={segment}")?,
            Action::OversizeSegment { segment } => write!(f, "oversize-segment={segment}")?,
            Action::Reorder => f.write_str("reorder")?,
            Action::WrongBf23Signature => f.write_str("wrong-bf23-signature")?,
            Action::MetadataMismatch => f.write_str("metadata-mismatch")?,
            Action::WrongMetadataIccid => f.write_str("wrong-metadata-iccid")?,
            Action::WrongSmdpSignature2 => f.write_str("wrong-smdp-signature2")?,
            Action::RefusePir => f.write_str("refuse-pir")?,
            Action::IgnorePir => f.write_str("ignore-pir")?,
        }
        if let Some(n) = self.attempt {
            write!(f, "@{n}")?;
        }
        Ok(())
    }
}

/// A server-wide fault from a scenario file (`smdp serve --scenario FILE`): for every order
/// with this matching ID, downloaded by this EID, and/or in the server run's n-th ES9+
/// session (numbered from 1 at initiateAuthentication, by the server process that started
/// it); with none of the three, for every order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFault {
    #[serde(deserialize_with = "fault_text")]
    pub fault: Fault,
    #[serde(default)]
    pub matching_id: Option<String>,
    #[serde(default)]
    pub eid: Option<String>,
    #[serde(default, deserialize_with = "session_number")]
    pub session: Option<i64>,
}

fn session_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match i64::deserialize(d)? {
        n if n >= 1 => Ok(Some(n)),
        n => Err(serde::de::Error::custom(format!(
            "session {n}: sessions are numbered from 1"
        ))),
    }
}

fn fault_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Fault, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// A scenario file: `[[fault]]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default, rename = "fault")]
    pub faults: Vec<ScenarioFault>,
}

impl ScenarioFault {
    /// Whether it applies to an order with `matching_id` downloaded by `eid` in session
    /// number `session`.
    pub fn applies_to(
        &self,
        matching_id: Option<&str>,
        eid: Option<&rsp_asn1::ids::Eid>,
        session: Option<i64>,
    ) -> bool {
        let mid_ok = self
            .matching_id
            .as_deref()
            .is_none_or(|m| Some(m) == matching_id);
        let eid_ok = self
            .eid
            .as_deref()
            .is_none_or(|e| eid.is_some_and(|x| x.to_string() == e));
        let session_ok = self.session.is_none_or(|n| Some(n) == session);
        mid_ok && eid_ok && session_ok
    }
}

/// Parses a comma-separated list of faults (the REST `Faults` field, repeated CLI flags).
pub fn parse_list(s: &str) -> Result<Vec<Fault>, FaultError> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::parse)
        .collect()
}

/// The first fault of `plan` for `function` at call number `attempt`.
pub fn select(plan: &[Fault], function: Function, attempt: u32) -> Option<&Fault> {
    plan.iter()
        .find(|f| f.function == function && f.attempt.is_none_or(|n| n == attempt))
}

thread_local! {
    /// The transport fault of the call running on this thread: a handler sets it, the
    /// dispatcher takes it into the answer (one call runs on one thread from start to end).
    static TRANSPORT: RefCell<Option<Transport>> = const { RefCell::new(None) };
}

pub(crate) fn set_transport(t: Transport) {
    TRANSPORT.with(|c| *c.borrow_mut() = Some(t));
}

pub(crate) fn take_transport() -> Option<Transport> {
    TRANSPORT.with(|c| c.borrow_mut().take())
}

/// The StoreMetadataRequest a metadata fault puts in the BPP (or, for
/// `wrong-metadata-iccid` on authenticateClient, in the whole session) instead of `meta`:
/// another profileName, or an ICCID one off in its last digit before the check digit (with
/// the Luhn digit recomputed, so that only the comparison with the profile can tell).
pub fn alter_metadata(
    meta: &rsp_asn1::download::StoreMetadataRequest,
    action: &Action,
) -> Option<rsp_asn1::download::StoreMetadataRequest> {
    let mut m = meta.clone();
    match action {
        Action::MetadataMismatch => {
            let name: String = m.profile_name.chars().take(54).collect();
            m.profile_name = format!("{name} (altered)");
        }
        Action::WrongMetadataIccid => {
            let digits = m.iccid.digits().ok()?;
            let mut payload: Vec<u8> = digits.as_bytes()[..digits.len() - 1].to_vec();
            let last = payload.last_mut()?;
            *last = b'0' + (*last - b'0' + 1) % 10;
            m.iccid = rsp_asn1::ids::Iccid::with_luhn(std::str::from_utf8(&payload).ok()?).ok()?;
        }
        _ => return None,
    }
    Some(m)
}

/// Breaks a BPP as `action` says; `None` when the action is not a BPP fault or the package
/// has no such segment (then the BPP goes out intact and the fault is logged as not applied).
pub fn break_bpp(bpp: &[u8], action: &Action) -> Option<Vec<u8>> {
    use rsp_asn1::download::{BoundProfilePackage, Segment86};
    let mut b: BoundProfilePackage = rsp_asn1::decode(bpp).ok()?;
    let seg = |b: &mut BoundProfilePackage, k: usize| -> Option<Vec<u8>> {
        b.sequence_of86.get(k.checked_sub(1)?).map(|s| s.0.to_vec())
    };
    match action {
        Action::FlipMac { segment } => {
            let mut s = seg(&mut b, *segment)?;
            let n = s.len();
            *s.get_mut(n.checked_sub(1)?)? ^= 0x01;
            b.sequence_of86[segment - 1] = Segment86(s.into());
        }
        Action::TruncateSegment { segment } => {
            let mut s = seg(&mut b, *segment)?;
            s.truncate(s.len() / 2);
            b.sequence_of86[segment - 1] = Segment86(s.into());
        }
        Action::OversizeSegment { segment } => {
            let mut s = seg(&mut b, *segment)?;
            s.resize(1100, 0xA5);
            b.sequence_of86[segment - 1] = Segment86(s.into());
        }
        Action::Reorder => {
            if b.sequence_of86.len() < 2 {
                return None;
            }
            b.sequence_of86.swap(0, 1);
        }
        Action::WrongBf23Signature => {
            let raw = b.initialise_secure_channel_request.raw();
            let mut der = bpp.to_vec();
            let at = der.windows(raw.len()).position(|w| w == raw)? + raw.len() - 1;
            der[at] ^= 0x01;
            return Some(der);
        }
        _ => return None,
    }
    rsp_asn1::encode(&b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_refuses_what_does_not_fit() {
        for t in [
            "authenticateClient:status=8.2.6/3.8@1",
            "getBoundProfilePackage:flip-mac=2",
            "getBoundProfilePackage:delay=1500@3",
            "getBoundProfilePackage:reorder",
            "getBoundProfilePackage:wrong-bf23-signature",
            "getBoundProfilePackage:metadata-mismatch",
            "getBoundProfilePackage:wrong-metadata-iccid",
            "authenticateClient:wrong-metadata-iccid",
            "handleNotification:ignore-pir",
            "handleNotification:refuse-pir@1",
            "cancelSession:http=503",
            "authenticateClient:wrong-smdp-signature2@1",
            "authenticateClient:drop-before",
            "authenticateClient:truncate",
        ] {
            let f: Fault = t.parse().unwrap();
            assert_eq!(f.to_string(), t);
        }
        for bad in [
            "",
            "initiateAuthentication:delay=1",
            "authenticateClient:status=9.9/9.9",
            "authenticateClient:status=8.2.6",
            "authenticateClient:flip-mac=1",
            "getBoundProfilePackage:flip-mac=0",
            "getBoundProfilePackage:delay",
            "getBoundProfilePackage:delay=999999",
            "getBoundProfilePackage:http=200",
            "handleNotification:status=8.2.6/3.8",
            "authenticateClient:ignore-pir",
            "authenticateClient:delay=1@0",
            "authenticateClient:frobnicate",
            "getBoundProfilePackage:wrong-smdp-signature2",
            "handleNotification:metadata-mismatch",
            "authenticateClient:metadata-mismatch",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        let plan =
            parse_list("authenticateClient:delay=5@2, getBoundProfilePackage:reorder").unwrap();
        assert_eq!(plan.len(), 2);
        assert!(select(&plan, Function::AuthenticateClient, 1).is_none());
        assert!(select(&plan, Function::AuthenticateClient, 2).is_some());
        assert!(select(&plan, Function::GetBoundProfilePackage, 7).is_some());
    }

    #[test]
    fn metadata_faults_change_one_field() {
        use rsp_asn1::download::StoreMetadataRequest;
        use rsp_asn1::ids::Iccid;
        let meta = StoreMetadataRequest {
            iccid: Iccid::with_luhn("898820000000000009").unwrap(),
            service_provider_name: "SP".into(),
            profile_name: "x".repeat(64),
            icon_type: None,
            icon: None,
            profile_class: rsp_asn1::download::ProfileClass::default_operational(),
            notification_configuration_info: None,
            profile_owner: None,
            profile_policy_rules: None,
            ecall_indication: None,
            fallback_allowed: None,
            extensions: None,
        };
        let m = alter_metadata(&meta, &Action::MetadataMismatch).unwrap();
        assert_eq!(m.iccid, meta.iccid);
        assert_ne!(m.profile_name, meta.profile_name);
        assert!(m.profile_name.chars().count() <= 64);
        let w = alter_metadata(&meta, &Action::WrongMetadataIccid).unwrap();
        // 9 → 0 in the last payload digit, the Luhn digit recomputed.
        assert_eq!(w.iccid, Iccid::with_luhn("898820000000000000").unwrap());
        assert_eq!(w.profile_name, meta.profile_name);
        assert!(alter_metadata(&meta, &Action::Reorder).is_none());
    }
}
