//! The ES2+ order model (SGP.22 §5.3) without I/O: the states an inventory profile goes
//! through as the operator orders, confirms, releases or cancels it, and what each function
//! may do to a profile in each state, with the code SGP.22 has for every refusal.
//!
//! The functions here decide; the store applies a decision as one compare-and-set on the
//! state it was made for, as it does for ES9+. So two operators racing for one profile cannot
//! both win, and a resend changes nothing.
//!
//! One model, seen two ways: [`State::rest_status`] is how the Super SIM `ESimProfile`
//! resource shows an ES2+ order, and [`State::of_rest`] is how ES2+ sees a REST-created one.
//! Inside, a REST create is a DownloadOrder plus a ConfirmOrder with `releaseFlag` true.

use rsp_asn1::ids::Eid;

mod functions;
mod progress;

pub use functions::{dispatch, Es2};

use crate::status::{fail, Code, Failure};
use crate::store::ProfileStatus;

/// An inventory profile's state (SGP.22 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In the inventory: not ordered.
    Available,
    /// Ordered by DownloadOrder without an EID.
    Allocated,
    /// Ordered for one EID.
    Linked,
    /// ConfirmOrder with `releaseFlag` false: ES9+ answers 8.2/1.2 until ReleaseProfile.
    Confirmed,
    /// Downloadable.
    Released,
    /// A BPP was issued to one eUICC.
    Downloaded,
    Installed,
    /// The download failed for good (attempts, a refused install).
    Error,
    /// Cancelled with `Unavailable`: never handed out again.
    Unavailable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Allocated => "Allocated",
            Self::Linked => "Linked",
            Self::Confirmed => "Confirmed",
            Self::Released => "Released",
            Self::Downloaded => "Downloaded",
            Self::Installed => "Installed",
            Self::Error => "Error",
            Self::Unavailable => "Unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub const ALL: [State; 9] = [
        Self::Available,
        Self::Allocated,
        Self::Linked,
        Self::Confirmed,
        Self::Released,
        Self::Downloaded,
        Self::Installed,
        Self::Error,
        Self::Unavailable,
    ];

    /// The Super SIM status of an ES2+ order: `reserving` until it is released (it is not
    /// downloadable yet), then `available`, `downloaded`, `installed`; `failed` for an error or
    /// a cancelled order. `None` for a profile nobody has ordered: it is not an ESimProfile.
    pub fn rest_status(self) -> Option<ProfileStatus> {
        Some(match self {
            Self::Available => return None,
            Self::Allocated | Self::Linked | Self::Confirmed => ProfileStatus::Reserving,
            Self::Released => ProfileStatus::Available,
            Self::Downloaded => ProfileStatus::Downloaded,
            Self::Installed => ProfileStatus::Installed,
            Self::Error | Self::Unavailable => ProfileStatus::Failed,
        })
    }

    /// How ES2+ sees a REST-created order: a held one (created unreleased) is confirmed, one
    /// being reserved for release is ordered (with its EID or without), `available` is
    /// released, then as it goes.
    pub fn of_rest(status: ProfileStatus, released: bool, eid: bool) -> Self {
        match status {
            ProfileStatus::New | ProfileStatus::Reserving if !released => Self::Confirmed,
            ProfileStatus::New | ProfileStatus::Reserving if eid => Self::Linked,
            ProfileStatus::New | ProfileStatus::Reserving => Self::Allocated,
            ProfileStatus::Available if released => Self::Released,
            ProfileStatus::Available => Self::Confirmed,
            ProfileStatus::Downloaded => Self::Downloaded,
            ProfileStatus::Installed => Self::Installed,
            ProfileStatus::Failed => Self::Error,
        }
    }

    /// A stored row's state from its mark, or else its status (`raw` is either):
    /// [`crate::store::Profile::es2_state`] for rows that are only counted.
    pub fn of_row(raw: &str, released: bool, eid: bool) -> Option<Self> {
        Self::parse(raw).or_else(|| Some(Self::of_rest(ProfileStatus::parse(raw)?, released, eid)))
    }

    /// Ordered and not yet downloaded: what CancelOrder may still take back.
    fn cancellable(self) -> bool {
        matches!(
            self,
            Self::Allocated | Self::Linked | Self::Confirmed | Self::Released
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile as ES2+ functions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es2Profile {
    /// Digits, without F padding ([`rsp_asn1::es2::iccid`]).
    pub iccid: String,
    pub profile_type: String,
    pub state: State,
    /// The function requester that ordered it.
    pub requester: Option<String>,
    pub eid: Option<Eid>,
    pub matching_id: Option<String>,
    pub confirmation_code: Option<String>,
}

/// The operator that ordered a profile is the only one that may touch the order.
fn owned_by(p: &Es2Profile, requester: &str) -> Result<(), Failure> {
    match &p.requester {
        Some(r) if r != requester => fail(
            Code::IccidNotAllowed,
            format!("ICCID {} is ordered by another function requester", p.iccid),
        ),
        _ => Ok(()),
    }
}

/// DownloadOrder's parameters.
#[derive(Debug, Clone, Default)]
pub struct DownloadOrder {
    pub requester: String,
    pub eid: Option<Eid>,
    pub iccid: Option<String>,
    pub profile_type: Option<String>,
}

/// What DownloadOrder does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ordered {
    /// Available → Allocated (no EID) or Linked.
    Allocate { eid: Option<Eid> },
    /// The same order again (SGP.22 resend rule): answered with success, nothing changes.
    Resend,
}

/// DownloadOrder without an ICCID or a profile type (SGP.22 §5.3.1: one is required).
pub fn download_order_target(req: &DownloadOrder) -> Result<(), Failure> {
    if req.iccid.is_none() && req.profile_type.is_none() {
        return fail(
            Code::ConditionalElementMissing,
            "DownloadOrder needs an iccid or a profileType",
        );
    }
    Ok(())
}

/// DownloadOrder by profile type found no Available profile: unknown type, or all ordered.
pub fn no_profile_of_type(profile_type: &str, type_known: bool) -> Failure {
    if type_known {
        Failure::new(
            Code::ProfileTypeExhausted,
            format!("every profile of type {profile_type:?} is ordered"),
        )
    } else {
        Failure::new(
            Code::ProfileTypeUnknown,
            format!("no profile of type {profile_type:?}"),
        )
    }
}

/// DownloadOrder on the profile it names (by ICCID) or picked (by type).
pub fn download_order(p: &Es2Profile, req: &DownloadOrder) -> Result<Ordered, Failure> {
    if let Some(t) = &req.profile_type {
        if *t != p.profile_type {
            return fail(
                Code::ProfileTypeMismatch,
                format!(
                    "ICCID {} is of profile type {:?}, not {t:?}",
                    p.iccid, p.profile_type
                ),
            );
        }
    }
    match p.state {
        State::Available => Ok(Ordered::Allocate { eid: req.eid }),
        State::Allocated | State::Linked
            if p.requester.as_deref() == Some(req.requester.as_str()) && p.eid == req.eid =>
        {
            Ok(Ordered::Resend)
        }
        s => fail(
            Code::IccidInUse,
            format!("ICCID {} is {s} already", p.iccid),
        ),
    }
}

/// ConfirmOrder's matching ID, where absent and empty differ (SGP.22 §5.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchingIdRequest {
    /// Not sent: the SM-DP+ makes one.
    Absent,
    /// `""`: the SM-DP+ makes one too, but an EID must be known.
    Empty,
    Given(String),
}

impl MatchingIdRequest {
    pub fn from_field(f: Option<&str>) -> Self {
        match f {
            None => Self::Absent,
            Some(s) if s.trim().is_empty() => Self::Empty,
            Some(s) => Self::Given(s.to_string()),
        }
    }
}

/// ConfirmOrder's parameters.
#[derive(Debug, Clone)]
pub struct ConfirmOrder {
    pub requester: String,
    pub eid: Option<Eid>,
    pub matching_id: MatchingIdRequest,
    pub confirmation_code: Option<String>,
    pub smds_address: Option<String>,
    pub release: bool,
}

/// What ConfirmOrder does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Allocated or Linked → Confirmed or Released, with this EID and matching ID. The store
    /// refuses a matching ID another order holds (8.2.6/3.3, [`matching_id_in_use`]).
    Confirm {
        eid: Option<Eid>,
        /// `None`: make one.
        matching_id: Option<String>,
        release: bool,
    },
    /// The same confirmation again: success, nothing changes.
    Resend,
}

/// The store found the matching ID in another order.
pub fn matching_id_in_use(m: &str) -> Failure {
    Failure::new(
        Code::MatchingIdInUse,
        format!("matching ID {m:?} is another order's"),
    )
}

pub fn confirm_order(p: &Es2Profile, req: &ConfirmOrder) -> Result<Confirmed, Failure> {
    owned_by(p, &req.requester)?;
    if let (Some(ordered), Some(given)) = (&p.eid, &req.eid) {
        if ordered != given {
            return fail(
                Code::EidMismatch,
                format!(
                    "ICCID {} is ordered for EID {ordered}, not {given}",
                    p.iccid
                ),
            );
        }
    }
    let eid = p.eid.or(req.eid);
    match p.state {
        State::Allocated | State::Linked => {}
        State::Confirmed | State::Released => {
            let same_id = match &req.matching_id {
                MatchingIdRequest::Given(m) => p.matching_id.as_ref() == Some(m),
                _ => true,
            };
            if same_id && p.confirmation_code == req.confirmation_code && p.eid == eid {
                return Ok(Confirmed::Resend);
            }
            return fail(
                Code::IccidInUse,
                format!("ICCID {} is {} already, differently", p.iccid, p.state),
            );
        }
        State::Available => {
            return fail(
                Code::IccidNotAllowed,
                format!("ICCID {} is not ordered (DownloadOrder first)", p.iccid),
            )
        }
        s => {
            return fail(
                Code::IccidNotAllowed,
                format!("ICCID {} is {s}: too late to confirm", p.iccid),
            )
        }
    }
    if req.smds_address.is_some() {
        // No ES12 client: an event the LPA would discover cannot be registered.
        return fail(
            Code::SmdsUnreachable,
            "this SM-DP+ registers no SM-DS events (ES12)",
        );
    }
    let matching_id = match &req.matching_id {
        MatchingIdRequest::Empty if eid.is_none() => {
            return fail(
                Code::EidMissing,
                "an empty matchingId means a download by EID, and the order has no EID",
            )
        }
        MatchingIdRequest::Absent | MatchingIdRequest::Empty => None,
        MatchingIdRequest::Given(m) => {
            if let Err(e) = crate::orders::check_matching_id(m) {
                return fail(Code::InvalidInput, e.to_string());
            }
            Some(m.clone())
        }
    };
    Ok(Confirmed::Confirm {
        eid,
        matching_id,
        release: req.release,
    })
}

/// CancelOrder's parameters.
#[derive(Debug, Clone)]
pub struct CancelOrder {
    pub requester: String,
    pub eid: Option<Eid>,
    pub matching_id: Option<String>,
    /// `true`: back to the inventory; `false`: Unavailable.
    pub back_to_inventory: bool,
}

/// CancelOrder: the state the profile ends in.
pub fn cancel_order(p: &Es2Profile, req: &CancelOrder) -> Result<State, Failure> {
    if p.state == State::Available {
        return fail(
            Code::IccidUnknown,
            format!("no order for ICCID {}", p.iccid),
        );
    }
    owned_by(p, &req.requester)?;
    if let Some(e) = &req.eid {
        if p.eid.as_ref() != Some(e) {
            return fail(
                Code::EidMismatch,
                format!("the order for ICCID {} is not for EID {e}", p.iccid),
            );
        }
    }
    if let Some(m) = &req.matching_id {
        if p.matching_id.as_ref() != Some(m) {
            return fail(
                Code::MatchingIdMismatch,
                format!("the order for ICCID {} has another matching ID", p.iccid),
            );
        }
    }
    if !p.state.cancellable() {
        return fail(
            Code::IccidNotAllowed,
            format!(
                "ICCID {} is {}: the order cannot be cancelled",
                p.iccid, p.state
            ),
        );
    }
    Ok(if req.back_to_inventory {
        State::Available
    } else {
        State::Unavailable
    })
}

/// ReleaseProfile: `true` if it releases, `false` for a resend on a released profile.
pub fn release_profile(p: &Es2Profile, requester: &str) -> Result<bool, Failure> {
    owned_by(p, requester)?;
    match p.state {
        State::Confirmed => Ok(true),
        State::Released => Ok(false),
        State::Available => fail(
            Code::IccidUnknown,
            format!("no order for ICCID {}", p.iccid),
        ),
        s => fail(
            Code::IccidNotReleasable,
            format!(
                "ICCID {} is {s}: only a confirmed order is released",
                p.iccid
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eid(n: u8) -> Eid {
        Eid::with_check_digits(&format!("8904903200000000000000000000{n:02}")).unwrap()
    }

    fn profile(state: State) -> Es2Profile {
        Es2Profile {
            iccid: "8900000000000000001".into(),
            profile_type: "Test".into(),
            state,
            requester: (state != State::Available).then(|| "op-a".into()),
            eid: None,
            matching_id: None,
            confirmation_code: None,
        }
    }

    fn code<T: std::fmt::Debug>(r: Result<T, Failure>) -> (&'static str, &'static str) {
        r.unwrap_err().code.codes()
    }

    fn order(eid: Option<Eid>) -> DownloadOrder {
        DownloadOrder {
            requester: "op-a".into(),
            eid,
            iccid: Some("8900000000000000001".into()),
            profile_type: None,
        }
    }

    #[test]
    fn download_order_allocates_resends_and_refuses() {
        let p = profile(State::Available);
        assert_eq!(
            download_order(&p, &order(Some(eid(1)))),
            Ok(Ordered::Allocate { eid: Some(eid(1)) })
        );
        // Identical resend succeeds; a conflicting one (other EID, other operator) does not.
        let linked = Es2Profile {
            state: State::Linked,
            eid: Some(eid(1)),
            ..profile(State::Linked)
        };
        assert_eq!(
            download_order(&linked, &order(Some(eid(1)))),
            Ok(Ordered::Resend)
        );
        assert_eq!(
            code(download_order(&linked, &order(Some(eid(2))))),
            ("8.2.1", "3.3")
        );
        assert_eq!(
            code(download_order(&linked, &order(None))),
            ("8.2.1", "3.3")
        );
        let other = DownloadOrder {
            requester: "op-b".into(),
            ..order(Some(eid(1)))
        };
        assert_eq!(code(download_order(&linked, &other)), ("8.2.1", "3.3"));
        for s in [State::Released, State::Installed, State::Unavailable] {
            assert_eq!(
                code(download_order(&profile(s), &order(None))),
                ("8.2.1", "3.3")
            );
        }
        let typed = DownloadOrder {
            profile_type: Some("Other".into()),
            ..order(None)
        };
        assert_eq!(code(download_order(&p, &typed)), ("8.2.5", "3.8"));
        assert_eq!(
            no_profile_of_type("X", false).code.codes(),
            ("8.2.5", "3.9")
        );
        assert_eq!(no_profile_of_type("X", true).code.codes(), ("8.2.5", "3.7"));
        let neither = DownloadOrder {
            requester: "op-a".into(),
            ..Default::default()
        };
        assert_eq!(code(download_order_target(&neither)), ("1.6", "2.3"));
        assert!(download_order_target(&order(None)).is_ok());
    }

    fn confirm(eid: Option<Eid>, m: MatchingIdRequest, release: bool) -> ConfirmOrder {
        ConfirmOrder {
            requester: "op-a".into(),
            eid,
            matching_id: m,
            confirmation_code: None,
            smds_address: None,
            release,
        }
    }

    #[test]
    fn confirm_order_fixes_eid_and_matching_id() {
        use MatchingIdRequest::*;
        let allocated = profile(State::Allocated);
        assert_eq!(
            confirm_order(&allocated, &confirm(None, Absent, true)),
            Ok(Confirmed::Confirm {
                eid: None,
                matching_id: None,
                release: true
            })
        );
        // Empty matching ID: by EID, so an EID is needed.
        assert_eq!(
            code(confirm_order(&allocated, &confirm(None, Empty, true))),
            ("8.1.1", "2.2")
        );
        assert_eq!(
            confirm_order(&allocated, &confirm(Some(eid(3)), Empty, false)),
            Ok(Confirmed::Confirm {
                eid: Some(eid(3)),
                matching_id: None,
                release: false
            })
        );
        let linked = Es2Profile {
            eid: Some(eid(1)),
            ..profile(State::Linked)
        };
        assert_eq!(
            code(confirm_order(&linked, &confirm(Some(eid(2)), Absent, true))),
            ("8.1.1", "3.10")
        );
        assert_eq!(
            confirm_order(&linked, &confirm(None, Given("MID-1".into()), true)),
            Ok(Confirmed::Confirm {
                eid: Some(eid(1)),
                matching_id: Some("MID-1".into()),
                release: true
            })
        );
        assert_eq!(
            code(confirm_order(
                &linked,
                &confirm(None, Given("AC$1".into()), true)
            )),
            ("1.6", "2.1")
        );
        let mut smds = confirm(None, Absent, true);
        smds.smds_address = Some("smds.example.com".into());
        assert_eq!(code(confirm_order(&linked, &smds)), ("8.9", "5.1"));
        assert_eq!(matching_id_in_use("MID-1").code.codes(), ("8.2.6", "3.3"));
        // Another operator's order, one not ordered, one downloaded.
        let mut theirs = confirm(None, Absent, true);
        theirs.requester = "op-b".into();
        assert_eq!(code(confirm_order(&linked, &theirs)), ("8.2.1", "1.2"));
        assert_eq!(
            code(confirm_order(
                &profile(State::Available),
                &confirm(None, Absent, true)
            )),
            ("8.2.1", "1.2")
        );
        assert_eq!(
            code(confirm_order(
                &profile(State::Downloaded),
                &confirm(None, Absent, true)
            )),
            ("8.2.1", "1.2")
        );
        // Confirmed already: the same confirmation is a resend, another one a conflict.
        let done = Es2Profile {
            matching_id: Some("MID-1".into()),
            ..linked.clone()
        };
        let done = Es2Profile {
            state: State::Released,
            ..done
        };
        assert_eq!(
            confirm_order(&done, &confirm(None, Given("MID-1".into()), true)),
            Ok(Confirmed::Resend)
        );
        assert_eq!(
            confirm_order(&done, &confirm(None, Absent, true)),
            Ok(Confirmed::Resend)
        );
        assert_eq!(
            code(confirm_order(
                &done,
                &confirm(None, Given("MID-2".into()), true)
            )),
            ("8.2.1", "3.3")
        );
    }

    fn cancel(eid: Option<Eid>, m: Option<&str>, back: bool) -> CancelOrder {
        CancelOrder {
            requester: "op-a".into(),
            eid,
            matching_id: m.map(str::to_string),
            back_to_inventory: back,
        }
    }

    #[test]
    fn cancel_order_and_release_profile() {
        let p = Es2Profile {
            eid: Some(eid(1)),
            matching_id: Some("MID-1".into()),
            ..profile(State::Confirmed)
        };
        assert_eq!(
            cancel_order(&p, &cancel(None, None, true)),
            Ok(State::Available)
        );
        assert_eq!(
            cancel_order(&p, &cancel(Some(eid(1)), Some("MID-1"), false)),
            Ok(State::Unavailable)
        );
        assert_eq!(
            code(cancel_order(&p, &cancel(None, Some("MID-2"), true))),
            ("8.2.6", "3.10")
        );
        assert_eq!(
            code(cancel_order(&p, &cancel(Some(eid(2)), None, true))),
            ("8.1.1", "3.10")
        );
        assert_eq!(
            code(cancel_order(
                &profile(State::Available),
                &cancel(None, None, true)
            )),
            ("8.2.1", "3.9")
        );
        assert_eq!(
            code(cancel_order(
                &profile(State::Installed),
                &cancel(None, None, true)
            )),
            ("8.2.1", "1.2")
        );

        assert_eq!(
            release_profile(&profile(State::Confirmed), "op-a"),
            Ok(true)
        );
        assert_eq!(
            release_profile(&profile(State::Released), "op-a"),
            Ok(false)
        );
        assert_eq!(
            code(release_profile(&profile(State::Allocated), "op-a")),
            ("8.2.1", "3.5")
        );
        assert_eq!(
            code(release_profile(&profile(State::Available), "op-a")),
            ("8.2.1", "3.9")
        );
        assert_eq!(
            code(release_profile(&profile(State::Confirmed), "op-b")),
            ("8.2.1", "1.2")
        );
    }

    /// The two views agree: a REST order read as ES2+ and shown again as REST keeps its status.
    #[test]
    fn one_model_two_views() {
        use ProfileStatus::*;
        for (status, released, eid) in [
            (New, true, false),
            (Reserving, true, true),
            (Reserving, false, true),
            (Available, true, false),
            (Downloaded, true, true),
            (Installed, true, true),
            (Failed, false, false),
        ] {
            let s = State::of_rest(status, released, eid);
            let back = match status {
                New => Reserving,
                other => other,
            };
            assert_eq!(s.rest_status(), Some(back), "{status:?} → {s}");
        }
        assert_eq!(State::of_rest(Available, false, false), State::Confirmed);
        assert_eq!(State::Available.rest_status(), None);
        assert_eq!(State::Unavailable.rest_status(), Some(Failed));
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}
