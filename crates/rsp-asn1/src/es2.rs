//! ES2+ JSON bodies (operator ↔ SM-DP+, SGP.22 §5.3 and §6.5.2): the four functions the
//! operator calls on the SM-DP+, and HandleDownloadProgressInfo, which the SM-DP+ calls on the
//! operator. The common header and `functionExecutionStatus` are those of ES9+ ([`crate::es9`]).
//!
//! Operators' systems differ in small ways, and every way below occurs in practice
//! (`spec/es2plus-sgp32.md`):
//! - they send empty strings for absent optional fields, so every optional string reads `""`
//!   as absent (except ConfirmOrder's matchingId, where SGP.22 gives `""` its own meaning);
//! - they send ICCIDs of 18, 19 or 20 digits, and 19 digits padded with `F` as in EF.ICCID.
//!
//! The fields stay strings here. [`iccid`] and [`crate::ids::Eid`] check them where the SM-DP+
//! can answer each malformed field with its own status code, instead of refusing the body as a
//! whole.

use serde::{Deserialize, Deserializer, Serialize};

use crate::es9::{FunctionExecutionStatus, ResponseHeader};

/// Paths on the SM-DP+, and the operator's path for the progress notifications.
pub mod path {
    pub const DOWNLOAD_ORDER: &str = "/gsma/rsp2/es2plus/downloadOrder";
    pub const CONFIRM_ORDER: &str = "/gsma/rsp2/es2plus/confirmOrder";
    pub const CANCEL_ORDER: &str = "/gsma/rsp2/es2plus/cancelOrder";
    pub const RELEASE_PROFILE: &str = "/gsma/rsp2/es2plus/releaseProfile";
    /// Served by the operator (SM-DP+ → operator), answered with HTTP 204.
    pub const HANDLE_DOWNLOAD_PROGRESS_INFO: &str = "/gsma/rsp2/es2plus/handleDownloadProgressInfo";
    /// The four functions the SM-DP+ serves.
    pub const SERVED: [&str; 4] = [DOWNLOAD_ORDER, CONFIRM_ORDER, CANCEL_ORDER, RELEASE_PROFILE];
}

/// `""` (and `null`) read as absent: operators send empty strings for absent fields.
fn blank_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()))
}

/// An ES2+ body: `camelCase` JSON; the fields before `;` as declared, those after it
/// optional strings where `""` reads as absent and absent ones are not written.
macro_rules! body {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $($(#[$fm:meta])* $f:ident: $t:ty,)*
            ;
            $($(#[$om:meta])* $o:ident,)*
        }
    ) => {
        $(#[$m])*
        #[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            $(
                $(#[$om])*
                #[serde(default, deserialize_with = "blank_as_none")]
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $o: Option<String>,
            )*
        }
    };
}

body! {
    /// The request header (SGP.22 §6.5.1.1). Both fields are mandatory in SGP.22. They read as
    /// optional here so that the SM-DP+ can answer a missing one with 1.6/2.2 (and a body that
    /// is not JSON with 1.6/2.1).
    #[derive(Default)]
    pub struct Es2RequestHeader {
        ;
        function_requester_identifier,
        function_call_identifier,
    }
}

body! {
    /// DownloadOrder (SGP.22 §5.3.1): reserve the profile with this ICCID, or one of this
    /// profile type, optionally for one EID.
    #[derive(Default)]
    pub struct DownloadOrderRequest {
        #[serde(default)]
        header: Es2RequestHeader,
        ;
        eid,
        iccid,
        profile_type,
    }
}

body! {
    pub struct DownloadOrderResponse {
        header: ResponseHeader,
        ;
        /// The ICCID reserved (absent on failure).
        iccid,
    }
}

body! {
    /// ConfirmOrder (SGP.22 §5.3.2): fix the EID and/or the matching ID, the confirmation
    /// code, and whether the profile is released at once.
    #[derive(Default)]
    pub struct ConfirmOrderRequest {
        #[serde(default)]
        header: Es2RequestHeader,
        /// The one field where empty is not absent (SGP.22 §5.3.2): absent, the SM-DP+ makes a
        /// matching ID; `""` asks for one too, but only with an EID, since the profile is then
        /// found by EID alone (without an EID, 8.1.1/2.2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matching_id: Option<String>,
        /// Mandatory in SGP.22; `None` when missing, for the SM-DP+ to answer 1.6/2.2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_flag: Option<bool>,
        ;
        iccid,
        eid,
        confirmation_code,
        smds_address,
    }
}

body! {
    pub struct ConfirmOrderResponse {
        header: ResponseHeader,
        ;
        eid,
        matching_id,
        smdp_address,
    }
}

/// What becomes of a cancelled order's profile (SGP.22 §5.3.3).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalProfileStatus {
    /// Back in the inventory, to be ordered again.
    Available,
    /// Never handed out again.
    Unavailable,
}

body! {
    /// CancelOrder (SGP.22 §5.3.3).
    #[derive(Default)]
    pub struct CancelOrderRequest {
        #[serde(default)]
        header: Es2RequestHeader,
        /// Mandatory in SGP.22; `None` when missing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        final_profile_status_indicator: Option<FinalProfileStatus>,
        ;
        iccid,
        eid,
        matching_id,
    }
}

body! {
    /// ReleaseProfile (SGP.22 §5.3.4).
    #[derive(Default)]
    pub struct ReleaseProfileRequest {
        #[serde(default)]
        header: Es2RequestHeader,
        ;
        iccid,
    }
}

/// The answer of CancelOrder and ReleaseProfile, and of every failure: the header alone.
pub use crate::es9::HeaderOnlyResponse;

/// Where a download is, in HandleDownloadProgressInfo (SGP.22 §5.3.5). Vendors add codes of
/// 100 and above; those read as [`NotificationPoint::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationPoint {
    /// 1: the eligibility and retry-limit check at authenticateClient.
    EligibilityCheck,
    /// 2: a wrong confirmation code.
    ConfirmationFailure,
    /// 3: the BPP was handed to the LPA.
    BppDownload,
    /// 4: the eUICC's ProfileInstallationResult.
    BppInstallation,
    /// 5: the profile was deleted from the eUICC.
    Deletion,
    Other(i64),
}

impl NotificationPoint {
    pub fn id(self) -> i64 {
        match self {
            Self::EligibilityCheck => 1,
            Self::ConfirmationFailure => 2,
            Self::BppDownload => 3,
            Self::BppInstallation => 4,
            Self::Deletion => 5,
            Self::Other(n) => n,
        }
    }

    pub fn from_id(id: i64) -> Self {
        match id {
            1 => Self::EligibilityCheck,
            2 => Self::ConfirmationFailure,
            3 => Self::BppDownload,
            4 => Self::BppInstallation,
            5 => Self::Deletion,
            n => Self::Other(n),
        }
    }
}

body! {
    /// HandleDownloadProgressInfo (SM-DP+ → operator, SGP.22 §5.3.5).
    pub struct HandleDownloadProgressInfoRequest {
        header: Es2RequestHeader,
        iccid: String,
        profile_type: String,
        /// `YYYY-MM-DDThh:mm:ssZ`.
        timestamp: String,
        /// [`NotificationPoint::id`].
        notification_point_id: i64,
        notification_point_status: FunctionExecutionStatus,
        ;
        eid,
        /// Base64 of the eUICC's PendingNotification at BPP installation (the PIR, `BF37`).
        result_data,
    }
}

/// Why a field is not an ICCID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ICCID {given:?}: {why}")]
pub struct IccidError {
    pub given: String,
    pub why: &'static str,
}

/// An ICCID field as operators send it, in the form the SM-DP+ keeps: its 18, 19 or 20
/// decimal digits, any `F` padding to 20 nibbles removed (EF.ICCID pads a 19-digit ICCID with
/// one `F`; an 18-digit one has two). The check digit is taken as it is.
pub fn iccid(given: &str) -> Result<String, IccidError> {
    let err = |why| IccidError {
        given: given.to_string(),
        why,
    };
    let t = given.trim();
    let digits = t.trim_end_matches(['F', 'f']);
    if t.len() > 20 {
        return Err(err("more than 20 characters"));
    }
    if t.len() != digits.len() && t.len() != 20 {
        return Err(err("F padding only fills the ICCID to 20 nibbles"));
    }
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(err("not decimal digits"));
    }
    if !(18..=20).contains(&digits.len()) {
        return Err(err("not 18, 19 or 20 digits"));
    }
    Ok(digits.to_string())
}

/// Whether `X-Admin-Protocol` names an ES2+ version this SM-DP+ serves: any `gsma/rsp/v2.*`
/// (one operator client sends exactly `gsma/rsp/v2.0.0`, others the version they implement).
pub fn admin_protocol_ok(value: &str) -> bool {
    value
        .trim()
        .strip_prefix("gsma/rsp/v2.")
        .is_some_and(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iccids_of_every_length_operators_send() {
        assert_eq!(iccid("894450000000000000").unwrap(), "894450000000000000");
        assert_eq!(iccid("8944500000000000001").unwrap(), "8944500000000000001");
        assert_eq!(
            iccid("89445000000000000012").unwrap(),
            "89445000000000000012"
        );
        assert_eq!(
            iccid("8944500000000000001F").unwrap(),
            "8944500000000000001"
        );
        assert_eq!(
            iccid("8944500000000000001f").unwrap(),
            "8944500000000000001"
        );
        assert_eq!(iccid("894450000000000000FF").unwrap(), "894450000000000000");
        assert_eq!(
            iccid(" 8944500000000000001 ").unwrap(),
            "8944500000000000001"
        );
        for (bad, why) in [
            ("", "not 18, 19 or 20 digits"),
            ("89445", "not 18, 19 or 20 digits"),
            ("8944500000000000001FF", "more than 20 characters"),
            (
                "894450000000000001F",
                "F padding only fills the ICCID to 20 nibbles",
            ),
            ("89445000000000000A12", "not decimal digits"),
            ("8944500000000F000012", "not decimal digits"),
        ] {
            assert_eq!(iccid(bad).unwrap_err().why, why, "{bad:?}");
        }
    }

    #[test]
    fn empty_strings_read_as_absent() {
        let r: ConfirmOrderRequest = serde_json::from_str(
            r#"{"header":{"functionRequesterIdentifier":"op","functionCallIdentifier":"1"},
                "iccid":"8944500000000000001F","eid":"","matchingId":"","confirmationCode":null,
                "smdsAddress":"","releaseFlag":true}"#,
        )
        .unwrap();
        assert_eq!(r.iccid.as_deref(), Some("8944500000000000001F"));
        assert_eq!(
            r.matching_id.as_deref(),
            Some(""),
            "an empty matchingId is kept"
        );
        assert_eq!(
            (r.eid, r.confirmation_code, r.smds_address),
            (None, None, None)
        );
        assert_eq!(r.release_flag, Some(true));
        assert_eq!(
            r.header.function_requester_identifier.as_deref(),
            Some("op")
        );
        // A missing releaseFlag, or header, is for the SM-DP+ to answer, not a parse failure.
        let r: ConfirmOrderRequest = serde_json::from_str(r#"{"iccid":"x"}"#).unwrap();
        assert_eq!(r.release_flag, None);
        assert_eq!(r.header, Es2RequestHeader::default());
        // A wrongly typed field is a parse failure.
        assert!(serde_json::from_str::<ConfirmOrderRequest>(r#"{"releaseFlag":"yes"}"#).is_err());
    }

    #[test]
    fn bodies_as_the_operator_suites_send_and_read_them() {
        let r: DownloadOrderRequest = serde_json::from_str(
            r#"{"header":{"functionRequesterIdentifier":"test.operator.com","functionCallIdentifier":"TX-1"},
                "eid":"89049032123451234512345678901235","profileType":"Test"}"#,
        )
        .unwrap();
        assert_eq!(r.iccid, None);
        assert_eq!(r.profile_type.as_deref(), Some("Test"));
        let c: CancelOrderRequest = serde_json::from_str(
            r#"{"header":{"functionRequesterIdentifier":"a","functionCallIdentifier":"b"},
                "iccid":"8900000000000000001F","finalProfileStatusIndicator":"Unavailable"}"#,
        )
        .unwrap();
        assert_eq!(
            c.final_profile_status_indicator,
            Some(FinalProfileStatus::Unavailable)
        );
        assert!(serde_json::from_str::<CancelOrderRequest>(
            r#"{"finalProfileStatusIndicator":"Gone"}"#
        )
        .is_err());

        // Responses carry only what is present; camelCase names.
        let ok = DownloadOrderResponse {
            header: ResponseHeader::success(),
            iccid: Some("8900000000000000001".into()),
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"iccid":"8900000000000000001"}"#
        );
        let c = ConfirmOrderResponse {
            header: ResponseHeader::success(),
            eid: None,
            matching_id: Some("ABC-123".into()),
            smdp_address: Some("smdp.example.com".into()),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"matchingId":"ABC-123","smdpAddress":"smdp.example.com"}"#
        );
    }

    #[test]
    fn progress_info_round_trips() {
        let n = HandleDownloadProgressInfoRequest {
            header: Es2RequestHeader {
                function_requester_identifier: Some("smdp.example.com".into()),
                function_call_identifier: Some("HDPI-7".into()),
            },
            eid: Some("89049032123451234512345678901235".into()),
            iccid: "8900000000000000001".into(),
            profile_type: "Test".into(),
            timestamp: "2026-08-01T00:00:00Z".into(),
            notification_point_id: NotificationPoint::BppInstallation.id(),
            notification_point_status: ResponseHeader::success().function_execution_status,
            result_data: Some("vzd...".into()),
        };
        let j = serde_json::to_value(&n).unwrap();
        assert_eq!(j["notificationPointId"], 4);
        assert_eq!(j["notificationPointStatus"]["status"], "Executed-Success");
        assert_eq!(j["resultData"], "vzd...");
        assert_eq!(
            serde_json::from_value::<HandleDownloadProgressInfoRequest>(j).unwrap(),
            n
        );
        for id in [1, 2, 3, 4, 5, 100] {
            assert_eq!(NotificationPoint::from_id(id).id(), id);
        }
    }

    #[test]
    fn admin_protocols() {
        for ok in [
            "gsma/rsp/v2.0.0",
            "gsma/rsp/v2.2.0",
            "gsma/rsp/v2.5.0",
            " gsma/rsp/v2.1 ",
        ] {
            assert!(admin_protocol_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "gsma/rsp/v3.0.0",
            "gsma/rsp/v2.",
            "gsma/rsp/v1.0",
            "GSMA",
        ] {
            assert!(!admin_protocol_ok(bad), "{bad}");
        }
    }
}
