//! Names and pretty-prints any SGP.22 message from its bytes: for logs, traces and the
//! `smdp decode` command.

use crate::auth::*;
use crate::download::*;
use crate::es10::*;
use crate::notification::*;
use crate::raw::Certificate;
use crate::tlv::Tlv;
use crate::Error;

type Describe = fn(&[u8]) -> Result<String, Error>;

fn show<T: rasn::Decode + rasn::Encode + core::fmt::Debug>(der: &[u8]) -> Result<String, Error> {
    crate::decode::<T>(der).map(|v| format!("{v:#?}"))
}

macro_rules! table {
    ($( $tag:expr => $ty:ty ),* $(,)?) => {
        &[ $( ($tag, stringify!($ty), show::<$ty> as Describe) ),* ]
    };
}

/// (leading tag bytes, type name, decoder). Where one tag has several types (request and
/// response share `BF38`, `BF21`, `BF41`, …; many signed parts are a plain `30`) all are tried
/// in order and the first that decodes wins.
const TYPES: &[(&[u8], &str, Describe)] = table![
    &[0xBF, 0x20] => EUICCInfo1,
    &[0xBF, 0x22] => EUICCInfo2,
    &[0xBF, 0x38] => AuthenticateServerResponse,
    &[0xBF, 0x38] => AuthenticateServerRequest,
    &[0xBF, 0x21] => PrepareDownloadResponse,
    &[0xBF, 0x21] => PrepareDownloadRequest,
    &[0xBF, 0x36] => BoundProfilePackage,
    &[0xBF, 0x23] => InitialiseSecureChannelRequest,
    &[0xBF, 0x24] => ConfigureISDPRequest,
    &[0xBF, 0x25] => StoreMetadataRequest,
    &[0xBF, 0x26] => ReplaceSessionKeysRequest,
    &[0xBF, 0x2A] => UpdateMetadataRequest,
    &[0xBF, 0x37] => ProfileInstallationResult,
    &[0xBF, 0x27] => ProfileInstallationResultData,
    &[0xBF, 0x2F] => NotificationMetadata,
    &[0xBF, 0x28] => ListNotificationResponse,
    &[0xBF, 0x28] => ListNotificationRequest,
    &[0xBF, 0x2B] => RetrieveNotificationsListResponse,
    &[0xBF, 0x2B] => RetrieveNotificationsListRequest,
    &[0xBF, 0x30] => NotificationSentResponse,
    &[0xBF, 0x30] => NotificationSentRequest,
    &[0xBF, 0x41] => CancelSessionResponse,
    &[0xBF, 0x41] => CancelSessionRequest,
    &[0xBF, 0x2D] => ProfileInfoListResponse,
    &[0xBF, 0x2D] => ProfileInfoListRequest,
    &[0xBF, 0x3E] => GetEuiccDataResponse,
    &[0xBF, 0x3E] => GetEuiccDataRequest,
    &[0xBF, 0x2E] => GetEuiccChallengeResponse,
    &[0xBF, 0x2E] => GetEuiccChallengeRequest,
    &[0xBF, 0x3C] => EuiccConfiguredAddressesResponse,
    &[0xBF, 0x3C] => EuiccConfiguredAddressesRequest,
    &[0xBF, 0x31] => EnableProfileResponse,
    &[0xBF, 0x31] => EnableProfileRequest,
    &[0xBF, 0x32] => DisableProfileResponse,
    &[0xBF, 0x32] => DisableProfileRequest,
    &[0xBF, 0x33] => DeleteProfileResponse,
    &[0xBF, 0x33] => DeleteProfileRequest,
    &[0xBF, 0x29] => SetNicknameResponse,
    &[0xBF, 0x29] => SetNicknameRequest,
    &[0xBF, 0x34] => EuiccMemoryResetResponse,
    &[0xBF, 0x34] => EuiccMemoryResetRequest,
    &[0xBF, 0x3F] => SetDefaultDpAddressResponse,
    &[0xBF, 0x3F] => SetDefaultDpAddressRequest,
    &[0xBF, 0x43] => GetRatResponse,
    &[0xBF, 0x43] => GetRatRequest,
    &[0x30] => ServerSigned1,
    &[0x30] => EuiccSigned1,
    &[0x30] => SmdpSigned2,
    &[0x30] => EUICCSigned2,
    &[0x30] => EuiccCancelSessionSigned,
    &[0x30] => OtherSignedNotification,
    &[0x30] => Certificate,
];

/// The names of every type [`describe`] knows.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|(_, n, _)| *n)
}

/// Decodes `der` as `type_name` (as listed by [`type_names`]), or, with `None`, as the first
/// type whose tag matches and that decodes. Returns the type name and a pretty-printed value.
pub fn describe(der: &[u8], type_name: Option<&str>) -> Result<(&'static str, String), Error> {
    let tlv = Tlv::read_exact(der).map_err(|e| Error::Decode {
        ty: "message",
        msg: e.to_string(),
    })?;
    let mut last_err = None;
    for (tag, name, f) in TYPES {
        let wanted = match type_name {
            Some(t) => t.eq_ignore_ascii_case(name),
            None => *tag == tlv.tag,
        };
        if !wanted {
            continue;
        }
        match f(der) {
            Ok(s) => return Ok((name, s)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| match type_name {
        Some(t) => Error::invalid("type", format!("unknown type {t:?}")),
        None => Error::invalid(
            "message",
            format!("no SGP.22 type with tag {}", hex::encode_upper(tlv.tag)),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_type_from_the_tag() {
        let (name, text) = describe(&[0xBF, 0x24, 0x00], None).unwrap();
        assert_eq!(name, "ConfigureISDPRequest");
        assert!(text.contains("dp_proprietary_data: None"));
        // BF41 81 01 05: the response's error alternative, not the request.
        let (name, _) = describe(&[0xBF, 0x41, 0x03, 0x81, 0x01, 0x05], None).unwrap();
        assert_eq!(name, "CancelSessionResponse");
        let (name, _) = describe(
            &[0xBF, 0x41, 0x06, 0x80, 0x01, 0x01, 0x81, 0x01, 0x00],
            None,
        )
        .unwrap();
        assert_eq!(name, "CancelSessionRequest");
    }

    #[test]
    fn explains_failures() {
        assert!(describe(&[0xBF, 0x7F, 0x00], None)
            .unwrap_err()
            .to_string()
            .contains("no SGP.22 type with tag BF7F"));
        assert!(describe(&[0xBF, 0x24, 0x00], Some("Nope")).is_err());
        assert!(describe(&[0xBF, 0x24], None).is_err());
        assert_eq!(
            describe(&[0xBF, 0x24, 0x00], Some("configureisdprequest"))
                .unwrap()
                .0,
            "ConfigureISDPRequest"
        );
    }
}
