//! ES10a/b/c as the ISD-R receives them: one DER request TLV in, one response TLV out, for
//! every function lpac sends (`../shared/interop/lpac.md` §3.2). A request that does not
//! decode is answered with a status word (6A80), not a response TLV: SGP.22 defines no
//! response for it (5.7: "the eUICC SHALL return an error status word").
//!
//! LoadBoundProfilePackage arrives as several ES10b commands (SGP.22 2.5.5: the BF36 header
//! with BF23, then A0, the A1 header and each 88, A2, the A3 header and each 86); the card
//! collects them until the BF36 length is consumed, answering each with no data, then unwraps
//! and installs the whole package and answers the signed ProfileInstallationResult (BF37).
//! Nothing is installed unless every segment verified.

use std::time::SystemTime;

use rand_core::CryptoRng;
use rsp_asn1::auth::AuthenticateServerRequest;
use rsp_asn1::download::{BoundProfilePackage, PrepareDownloadRequest};
use rsp_asn1::es10::{
    DeleteProfileRequest, DisableProfileRequest, EnableProfileRequest,
    EuiccConfiguredAddressesResponse, EuiccMemoryResetRequest, EuiccMemoryResetResponse,
    GetEuiccChallengeResponse, GetEuiccDataRequest, GetEuiccDataResponse, GetRatResponse,
    ProfileInfoListRequest, ProfileInfoListResponse, ProfileInfoSearchCriteria, ResetResult,
    SetDefaultDpAddressRequest, SetDefaultDpAddressResponse, SetDefaultDpAddressResult,
    SetNicknameRequest, SetNicknameResponse, SetNicknameResult,
};
use rsp_asn1::notification::{
    CancelSessionRequest, DeleteNotificationStatus, ListNotificationRequest,
    ListNotificationResponse, NotificationSentRequest, NotificationSentResponse,
    RetrieveNotificationsListRequest, RetrieveNotificationsListResponse, RetrieveSearchCriteria,
};

use rsp_asn1::Octet16;

use crate::euicc::Euicc;

/// ISO 7816-4 status words the ISD-R answers with.
pub mod sw {
    pub const OK: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const LOGICAL_CHANNEL_NOT_SUPPORTED: u16 = 0x6881;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const INCORRECT_DATA: u16 = 0x6A80;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const NOT_ENOUGH_MEMORY: u16 = 0x6A84;
    pub const WRONG_P1_P2: u16 = 0x6A86;
    pub const REFERENCED_DATA_NOT_FOUND: u16 = 0x6A88;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

/// The BF36 segments received so far.
#[derive(Debug, Default)]
pub(crate) struct BppAssembly {
    /// The BF36 TLV as reassembled: header, then each segment's bytes.
    bytes: Vec<u8>,
    /// Total length of the BF36 TLV (header + contents).
    total: usize,
}

/// Tag bytes, length-field bytes and contents length of the TLV at the front of `b`, without
/// needing the contents (a BPP segment carries only the A1/A3 headers).
fn header(b: &[u8]) -> Option<(usize, usize, usize)> {
    let mut t = 1;
    if *b.first()? & 0x1F == 0x1F {
        while *b.get(t)? & 0x80 != 0 {
            t += 1;
        }
        t += 1;
    }
    let first = *b.get(t)?;
    if first < 0x80 {
        return Some((t, 1, usize::from(first)));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*b.get(t + 1 + i)?);
    }
    Some((t, 1 + n, len))
}

/// Largest BPP the card accepts (its memory is smaller still: see [`crate::Limits`]).
const MAX_BPP: usize = 4 * 1024 * 1024;

impl Euicc {
    /// Serves one ES10 request TLV: the response TLV (empty for an intermediate BPP segment),
    /// or the status word of a request the card cannot take.
    pub fn es10<R: CryptoRng + ?Sized>(
        &mut self,
        request: &[u8],
        rng: &mut R,
        now: SystemTime,
    ) -> Result<Vec<u8>, u16> {
        let Some((t, l, len)) = header(request) else {
            return Err(sw::INCORRECT_DATA);
        };
        // A BPP in progress takes every segment until its length is consumed; anything else
        // abandons it (lpac sends CancelSession after a failure).
        if self.bpp.is_some() && !request.starts_with(&[0xBF, 0x36]) {
            if matches!(request[0], 0xA0..=0xA3 | 0x86 | 0x88) {
                return self.bpp_segment(request);
            }
            self.bpp = None;
        }
        let tag = &request[..t];
        let whole = t + l + len == request.len();
        if !whole && tag != [0xBF, 0x36] {
            return Err(sw::WRONG_LENGTH);
        }
        macro_rules! decode {
            ($ty:ty) => {
                rsp_asn1::decode::<$ty>(request).map_err(|e| {
                    self.refuse(stringify!($ty), &e);
                    sw::INCORRECT_DATA
                })?
            };
        }
        let enc =
            |v: &dyn Fn() -> Result<Vec<u8>, rsp_asn1::Error>| v().map_err(|_| sw::INCORRECT_DATA);
        match tag {
            [0xBF, 0x3E] => {
                let r = decode!(GetEuiccDataRequest);
                if r.tag_list.0.as_ref() != [0x5A] {
                    return Err(sw::REFERENCED_DATA_NOT_FOUND);
                }
                let eid = self.eid.as_bytes().to_vec();
                enc(&|| {
                    rsp_asn1::encode(&GetEuiccDataResponse {
                        eid_value: Octet16::new(eid.clone())?,
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x2E] => {
                empty(request)?;
                let c = self.get_euicc_challenge(rng);
                enc(&|| {
                    rsp_asn1::encode(&GetEuiccChallengeResponse {
                        euicc_challenge: Octet16::new(c.to_vec())?,
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x20] => {
                empty(request)?;
                enc(&|| rsp_asn1::encode(&self.euicc_info1()))
            }
            [0xBF, 0x22] => {
                empty(request)?;
                enc(&|| rsp_asn1::encode(&self.euicc_info2()))
            }
            [0xBF, 0x3C] => {
                empty(request)?;
                enc(&|| {
                    rsp_asn1::encode(&EuiccConfiguredAddressesResponse {
                        default_dp_address: self.default_dp_address.clone(),
                        root_ds_address: self.root_ds_address.clone(),
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x3F] => {
                let r = decode!(SetDefaultDpAddressRequest);
                // An empty address clears it (SGP.22 5.7.4).
                self.default_dp_address =
                    (!r.default_dp_address.is_empty()).then_some(r.default_dp_address);
                enc(&|| {
                    rsp_asn1::encode(&SetDefaultDpAddressResponse {
                        set_default_dp_address_result: SetDefaultDpAddressResult::ok,
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x43] => {
                empty(request)?;
                // No Rules Authorisation Table: no operator may set PPRs (SGP.22 2.9.2.2).
                enc(&|| {
                    rsp_asn1::encode(&GetRatResponse {
                        rat: Vec::new(),
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x38] => {
                let r = decode!(AuthenticateServerRequest);
                let resp = self.authenticate_server(&r, now);
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x21] => {
                let r = decode!(PrepareDownloadRequest);
                let resp = self.prepare_download(&r, None, rng, now);
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x36] => {
                let total = t + l + len;
                if total > MAX_BPP {
                    return Err(sw::NOT_ENOUGH_MEMORY);
                }
                self.bpp = Some(BppAssembly {
                    bytes: Vec::with_capacity(total.min(1 << 20)),
                    total,
                });
                self.bpp_segment(request)
            }
            [0xBF, 0x41] => {
                let r = decode!(CancelSessionRequest);
                let resp = self.cancel_session(&r.transaction_id, r.reason);
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x28] => {
                let r = decode!(ListNotificationRequest);
                let list: Vec<_> = self
                    .list_notifications()
                    .into_iter()
                    .filter(|m| match &r.profile_management_operation {
                        None => true,
                        Some(ops) => (0..4)
                            .any(|b| ops.is_set(b) && m.profile_management_operation.is_set(b)),
                    })
                    .collect();
                enc(&|| {
                    rsp_asn1::encode(&ListNotificationResponse::NotificationMetadataList(
                        list.clone(),
                    ))
                })
            }
            [0xBF, 0x2B] => {
                let r = decode!(RetrieveNotificationsListRequest);
                let list: Vec<_> = self
                    .pending_notifications()
                    .iter()
                    .filter(|n| {
                        let m = crate::euicc::notification_metadata(n);
                        match &r.search_criteria {
                            None => true,
                            Some(RetrieveSearchCriteria::SeqNumber(s)) => m.seq_number == *s,
                            Some(RetrieveSearchCriteria::ProfileManagementOperation(ops)) => (0..4)
                                .any(|b| ops.is_set(b) && m.profile_management_operation.is_set(b)),
                        }
                    })
                    .cloned()
                    .collect();
                let resp = if list.is_empty() && r.search_criteria.is_some() {
                    RetrieveNotificationsListResponse::NotificationsListResultError(
                        rsp_asn1::notification::NotificationsListResultError::noResultAvailable,
                    )
                } else {
                    RetrieveNotificationsListResponse::NotificationList(list)
                };
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x30] => {
                let r = decode!(NotificationSentRequest);
                let status: DeleteNotificationStatus = self.remove_notification(r.seq_number);
                enc(&|| {
                    rsp_asn1::encode(&NotificationSentResponse {
                        delete_notification_status: status,
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x2D] => {
                let r = decode!(ProfileInfoListRequest);
                let list: Vec<_> = self
                    .profile_info_list()
                    .into_iter()
                    .filter(|p| match &r.search_criteria {
                        None => true,
                        Some(ProfileInfoSearchCriteria::Iccid(i)) => p.iccid.as_ref() == Some(i),
                        Some(ProfileInfoSearchCriteria::IsdpAid(a)) => {
                            p.isdp_aid.as_ref() == Some(a)
                        }
                        Some(ProfileInfoSearchCriteria::ProfileClass(c)) => {
                            p.profile_class == Some(*c)
                        }
                    })
                    .collect();
                enc(&|| rsp_asn1::encode(&ProfileInfoListResponse::ProfileInfoListOk(list.clone())))
            }
            [0xBF, 0x31] => {
                let r = decode!(EnableProfileRequest);
                let resp = self.enable_profile(&r);
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x32] => {
                let r = decode!(DisableProfileRequest);
                let resp = self.disable_profile(&r);
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x33] => {
                let r = decode!(DeleteProfileRequest);
                let resp = self.delete_profile(&r);
                enc(&|| rsp_asn1::encode(&resp))
            }
            [0xBF, 0x29] => {
                let r = decode!(SetNicknameRequest);
                let result = match self.profiles.iter_mut().find(|p| p.iccid == r.iccid) {
                    Some(p) => {
                        p.nickname = Some(r.profile_nickname);
                        SetNicknameResult::ok
                    }
                    None => SetNicknameResult::iccidNotFound,
                };
                enc(&|| {
                    rsp_asn1::encode(&SetNicknameResponse {
                        set_nickname_result: result,
                        extensions: None,
                    })
                })
            }
            [0xBF, 0x34] => {
                let r = decode!(EuiccMemoryResetRequest);
                let result = self.memory_reset(&r);
                enc(&|| {
                    rsp_asn1::encode(&EuiccMemoryResetResponse {
                        reset_result: result,
                        extensions: None,
                    })
                })
            }
            _ => {
                self.refuse(
                    "ES10",
                    format_args!("unknown function tag {}", hex::encode_upper(tag)),
                );
                Err(sw::REFERENCED_DATA_NOT_FOUND)
            }
        }
    }

    /// One BF36 segment: appended; when the package is whole, unwrapped and installed.
    fn bpp_segment(&mut self, segment: &[u8]) -> Result<Vec<u8>, u16> {
        let Some(a) = self.bpp.as_mut() else {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        };
        if a.bytes.len() + segment.len() > a.total {
            self.bpp = None;
            self.refuse(
                "LoadBoundProfilePackage",
                "segments overrun the BF36 length",
            );
            return Err(sw::INCORRECT_DATA);
        }
        a.bytes.extend_from_slice(segment);
        if a.bytes.len() < a.total {
            return Ok(Vec::new());
        }
        let bytes = self.bpp.take().map(|a| a.bytes).unwrap_or_default();
        let bpp: BoundProfilePackage = match rsp_asn1::decode(&bytes) {
            Ok(b) => b,
            Err(e) => {
                self.refuse("LoadBoundProfilePackage", &e);
                return Err(sw::INCORRECT_DATA);
            }
        };
        match self.load_bound_profile_package(&bpp) {
            Ok(pir) => rsp_asn1::encode(&pir).map_err(|_| sw::INCORRECT_DATA),
            // No PrepareDownload in this session: nothing to sign a result with.
            Err(e) => {
                self.refuse("LoadBoundProfilePackage", &e);
                Err(sw::CONDITIONS_NOT_SATISFIED)
            }
        }
    }

    /// ES10c eUICCMemoryReset (SGP.22 5.7.19): operational profiles deleted (with their
    /// delete notifications), test profiles, the default SM-DP+ address, as asked.
    fn memory_reset(&mut self, r: &EuiccMemoryResetRequest) -> ResetResult {
        use rsp_asn1::download::ProfileClass;
        let mut did = false;
        for (bit, class) in [(0, ProfileClass::operational), (1, ProfileClass::test)] {
            if r.reset_options.is_set(bit) {
                let iccids: Vec<_> = self
                    .profiles
                    .iter()
                    .filter(|p| p.metadata.profile_class == class)
                    .map(|p| p.iccid.clone())
                    .collect();
                for i in iccids {
                    self.force_delete(&i);
                    did = true;
                }
            }
        }
        if r.reset_options.is_set(2) && self.default_dp_address.take().is_some() {
            did = true;
        }
        if did {
            ResetResult::ok
        } else {
            ResetResult::nothingToDelete
        }
    }
}

/// The BF20/BF22/BF2E/BF3C/BF43 requests carry no contents (an empty SEQUENCE).
fn empty(request: &[u8]) -> Result<(), u16> {
    if request.len() == 3 && request[2] == 0 {
        Ok(())
    } else {
        Err(sw::INCORRECT_DATA)
    }
}
