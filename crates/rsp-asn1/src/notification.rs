//! Results and notifications (ProfileInstallationResult, NotificationMetadata, the
//! list/retrieve/remove commands) and CancelSession.

#[allow(unused_imports)] // the rasn derives call trait methods unqualified
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

use crate::bits::NamedBits;
use crate::ids::Iccid;
use crate::named_integer;
use crate::raw::{Certificate, Extensions, Signed};
use crate::{ObjectIdentifier, OctetString, TransactionId, Utf8String};

/// `NotificationMetadata` (`BF2F`); signed on its own in other notifications.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 47))]
pub struct NotificationMetadata {
    /// eUICC-global counter.
    #[rasn(tag(context, 0))]
    pub seq_number: i64,
    /// `NotificationEvent` with exactly one bit set, see [`crate::bits::notification_event`].
    #[rasn(tag(context, 1))]
    pub profile_management_operation: NamedBits,
    /// FQDN the LPA sends this notification to.
    pub notification_address: Utf8String,
    pub iccid: Option<Iccid>,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `BppCommandId`: which BPP part an install error belongs to.
    BppCommandId {
        initialiseSecureChannel = 0,
        configureISDP = 1,
        storeMetadata = 2,
        storeMetadata2 = 3,
        replaceSessionKeys = 4,
        loadProfileElements = 5,
    }
);

named_integer!(
    /// `ErrorReason` of a failed installation.
    ErrorReason {
        incorrectInputValues = 1,
        invalidSignature = 2,
        invalidTransactionId = 3,
        unsupportedCrtValues = 4,
        unsupportedRemoteOperationType = 5,
        unsupportedProfileClass = 6,
        scp03tStructureError = 7,
        scp03tSecurityError = 8,
        installFailedDueToIccidAlreadyExistsOnEuicc = 9,
        installFailedDueToInsufficientMemoryForProfile = 10,
        installFailedDueToInterruption = 11,
        installFailedDueToPEProcessingError = 12,
        installFailedDueToDataMismatch = 13,
        testProfileInstallFailedDueToInvalidNaaKey = 14,
        pprNotAllowed = 15,
        installFailedDueToUnknownError = 127,
    }
);

/// `SuccessResult` (`4F` ISD-P AID, `04` simaResponse).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct SuccessResult {
    #[rasn(tag(application, 15))]
    pub aid: OctetString,
    /// DER `EUICCResponse` values from the profile package interpreter.
    pub sima_response: OctetString,
    pub extensions: Option<Extensions>,
}

/// `ErrorResult` (auto-tagged `80` bppCommandId, `81` errorReason, `82` simaResponse).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct ErrorResult {
    #[rasn(tag(context, 0))]
    pub bpp_command_id: BppCommandId,
    #[rasn(tag(context, 1))]
    pub error_reason: ErrorReason,
    #[rasn(tag(context, 2))]
    pub sima_response: Option<OctetString>,
    pub extensions: Option<Extensions>,
}

/// `finalResult [2] CHOICE` (`A2 { A0 success | A1 error }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 2)))]
pub enum FinalResult {
    #[rasn(tag(context, 0))]
    SuccessResult(SuccessResult),
    #[rasn(tag(context, 1))]
    ErrorResult(ErrorResult),
}

/// `ProfileInstallationResultData` (`BF27`), signed by the eUICC (euiccSignPIR).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 39))]
pub struct ProfileInstallationResultData {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    #[rasn(tag(context, 47))]
    pub notification_metadata: NotificationMetadata,
    /// OID of CERT.DPpb. Mandatory since SGP.22 v2.1, but v2.0 eUICCs omit it, so it decodes
    /// as optional (digest §3.3); we always encode it.
    pub smdp_oid: Option<ObjectIdentifier>,
    pub final_result: FinalResult,
    pub extensions: Option<Extensions>,
}

/// `ProfileInstallationResult` (`BF37`): the install notification (PIR).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 55))]
pub struct ProfileInstallationResult {
    #[rasn(tag(context, 39))]
    pub profile_installation_result_data: Signed<ProfileInstallationResultData>,
    /// Signature over the raw `BF27` TLV.
    #[rasn(tag(application, 55))]
    pub euicc_sign_pir: OctetString,
    pub extensions: Option<Extensions>,
}

/// `OtherSignedNotification` (`30`): enable/disable/delete, self-contained with its chain.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct OtherSignedNotification {
    #[rasn(tag(context, 47))]
    pub tbs_other_notification: Signed<NotificationMetadata>,
    #[rasn(tag(application, 55))]
    pub euicc_notification_signature: OctetString,
    pub euicc_certificate: Certificate,
    pub eum_certificate: Certificate,
    pub extensions: Option<Extensions>,
}

/// `PendingNotification ::= CHOICE` (`BF37 …` or `30 …`), what handleNotification carries.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice)]
#[allow(clippy::large_enum_variant)]
pub enum PendingNotification {
    #[rasn(tag(context, 55))]
    ProfileInstallationResult(ProfileInstallationResult),
    OtherSignedNotification(OtherSignedNotification),
}

/// `ListNotificationRequest` (`BF28 { 81 operation? }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 40))]
pub struct ListNotificationRequest {
    #[rasn(tag(context, 1))]
    pub profile_management_operation: Option<NamedBits>,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `listNotificationsResultError INTEGER {undefinedError(127)}`.
    ListNotificationsResultError { undefinedError = 127 }
);

/// `ListNotificationResponse ::= [40] CHOICE` (`BF28 { A0 list | 81 error }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 40)))]
pub enum ListNotificationResponse {
    #[rasn(tag(context, 0))]
    NotificationMetadataList(Vec<NotificationMetadata>),
    #[rasn(tag(context, 1))]
    ListNotificationsResultError(ListNotificationsResultError),
}

/// `searchCriteria` of RetrieveNotificationsList (`80` seqNumber or `81` operation).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice)]
pub enum RetrieveSearchCriteria {
    #[rasn(tag(context, 0))]
    SeqNumber(i64),
    #[rasn(tag(context, 1))]
    ProfileManagementOperation(NamedBits),
}

/// `RetrieveNotificationsListRequest` (`BF2B { A0 { 80 | 81 }? }`): the untagged CHOICE is
/// auto-tagged `[0]`, and a tagged CHOICE is explicit.
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 43))]
pub struct RetrieveNotificationsListRequest {
    #[rasn(tag(explicit(context, 0)))]
    pub search_criteria: Option<RetrieveSearchCriteria>,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `notificationsListResultError INTEGER {noResultAvailable(1), undefinedError(127)}`.
    NotificationsListResultError {
        noResultAvailable = 1,
        undefinedError = 127,
    }
);

/// `RetrieveNotificationsListResponse ::= [43] CHOICE` (`BF2B { A0 list | 81 error }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 43)))]
pub enum RetrieveNotificationsListResponse {
    #[rasn(tag(context, 0))]
    NotificationList(Vec<PendingNotification>),
    #[rasn(tag(context, 1))]
    NotificationsListResultError(NotificationsListResultError),
}

/// `NotificationSentRequest` (`BF30 { 80 seqNumber }`): remove a notification from the list.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 48))]
pub struct NotificationSentRequest {
    #[rasn(tag(context, 0))]
    pub seq_number: i64,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `deleteNotificationStatus INTEGER {ok(0), nothingToDelete(1), undefinedError(127)}`.
    DeleteNotificationStatus {
        ok = 0,
        nothingToDelete = 1,
        undefinedError = 127,
    }
);

/// `NotificationSentResponse` (`BF30 { 80 status }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 48))]
pub struct NotificationSentResponse {
    #[rasn(tag(context, 0))]
    pub delete_notification_status: DeleteNotificationStatus,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `CancelSessionReason`.
    CancelSessionReason {
        endUserRejection = 0,
        postponed = 1,
        timeout = 2,
        pprNotAllowed = 3,
        metadataMismatch = 4,
        loadBppExecutionError = 5,
        undefinedReason = 127,
    }
);

/// `CancelSessionRequest` (`BF41 { 80 txid, 81 reason }`), ES10b from the LPA to the eUICC.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 65))]
pub struct CancelSessionRequest {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    #[rasn(tag(context, 1))]
    pub reason: CancelSessionReason,
    pub extensions: Option<Extensions>,
}

/// `EuiccCancelSessionSigned` (`30 { 80 txid, 81 smdpOid, 82 reason }`), signed by the eUICC.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct EuiccCancelSessionSigned {
    #[rasn(tag(context, 0))]
    pub transaction_id: TransactionId,
    /// The SM-DP+ OID from CERT.DPauth.
    #[rasn(tag(context, 1))]
    pub smdp_oid: ObjectIdentifier,
    #[rasn(tag(context, 2))]
    pub reason: CancelSessionReason,
    pub extensions: Option<Extensions>,
}

/// `CancelSessionResponseOk` (`30` signed part, `5F37` signature).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct CancelSessionResponseOk {
    pub euicc_cancel_session_signed: Signed<EuiccCancelSessionSigned>,
    #[rasn(tag(application, 55))]
    pub euicc_cancel_session_signature: OctetString,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `cancelSessionResponseError INTEGER {invalidTransactionId(5), undefinedError(127)}`.
    CancelSessionResponseError {
        invalidTransactionId = 5,
        undefinedError = 127,
    }
);

/// `CancelSessionResponse ::= [65] CHOICE` (`BF41 { A0 ok | 81 error }`), what ES9+
/// cancelSession carries.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 65)))]
pub enum CancelSessionResponse {
    #[rasn(tag(context, 0))]
    CancelSessionResponseOk(CancelSessionResponseOk),
    #[rasn(tag(context, 1))]
    CancelSessionResponseError(CancelSessionResponseError),
}
