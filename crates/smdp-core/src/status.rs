//! The one ES9+ and ES2+ error table: every failure a function can report, with its SGP.22
//! (subjectCode, reasonCode) from the digest §1.5 and §2 (SGP.22 5.6 function tables; ES2+:
//! §5.3 and `spec/es2plus-sgp32.md`). Every
//! code is chosen here and nowhere else: handlers return a [`Failure`] naming a [`Code`];
//! domain errors of the protocol crates map to a code by one `From` each (the model is
//! rustls' `impl From<&CertificateError> for AlertDescription`). The HTTP layer answers a
//! failure as HTTP 200 with a header-only `Failed` body.

use rsp_auth::chain::{ChainError, Rule, Which};

/// A row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 8.8.1/3.8: smdpAddress (or serverAddress signed by the eUICC) is not ours.
    InvalidSmdpAddress,
    /// 8.8.2/3.1: none of the eUICC's CI PKIDs for signing is one of ours.
    CiPkidNotSupported,
    /// 8.8.3/3.1: the eUICC's specification version is not one we speak.
    SvnNotSupported,
    /// 8.8.4/3.7: no CERT.DPauth under a CI the eUICC can verify.
    NoDpAuthForEuicc,
    /// 8.10.1/3.9: no live session with this transaction ID (or not at this step).
    UnknownTransaction,
    /// 8.11.1/3.9: the EUM certificate is not from the CI chosen for the session.
    CiUnknown,
    /// 8.1.2/6.1: the EUM certificate is invalid (linkage, signature, policy, usage, …).
    EumCertificateInvalid,
    /// 8.1.2/6.3: the EUM certificate has expired.
    EumCertificateExpired,
    /// 8.1.3/6.1: the eUICC certificate is invalid.
    EuiccCertificateInvalid,
    /// 8.1.3/6.3: the eUICC certificate has expired.
    EuiccCertificateExpired,
    /// 8.1/6.1: an eUICC signature (or the echoed server challenge) does not verify.
    EuiccSignatureInvalid,
    /// 8.1.1/3.8: EID refused (order for another EID, or no order for this EID).
    EidRefused,
    /// 8.2.6/3.8: unknown or used-up matching ID.
    MatchingIdRefused,
    /// 8.2.6/6.4: too many failed matching-ID lookups from this client or EID. SGP.22 has no
    /// row for it: the Matching ID subject with reason 6.4 "maximum number of retries
    /// exceeded" (SGP.22 5.1.6.4), as 8.2.7/6.4 is for confirmation codes.
    MatchingIdRetriesExceeded,
    /// 8.2.5/4.3: the eUICC lacks a capability the profile mandates.
    NoEligibleProfile,
    /// 8.1/4.8: the package does not fit the eUICC's free memory.
    InsufficientMemory,
    /// 8.2/1.2: the profile is not released yet.
    ProfileNotReleased,
    /// 8.2/3.7: a BPP was already bound and this request would need a new binding.
    BppRebindingRefused,
    /// 8.2.7/2.2.
    ConfirmationCodeMissing,
    /// 8.2.7/3.8.
    ConfirmationCodeRefused,
    /// 8.2.7/6.4.
    ConfirmationCodeRetriesExceeded,
    /// 8.8.5/4.10: the download order has expired.
    OrderExpired,
    /// 8.8.5/6.4: the download order has used all its attempts.
    MaxDownloadAttempts,
    /// 8.8/3.10: the SM-DP+ OID signed by the eUICC is not ours.
    SmdpOidInvalid,
    /// 1.6/2.1: a field is malformed (JSON, base64, DER, sizes). Generic code: the digest's
    /// "1.6 Function" subject with reason "invalid"; SGP.22 leaves the exact code open.
    InvalidInput,
    /// 1.6/2.2: a mandatory field is missing.
    MandatoryElementMissing,
    /// 1.2/4.4: too many live sessions ("function provider busy").
    Busy,
    /// 1.2/4.2: the server failed (store I/O); the request changed nothing.
    ExecutionError,
    // ES2+ (SGP.22 §5.3; digest §2, spec/es2plus-sgp32.md).
    /// 8.2.1/3.9: no profile with this ICCID, or no order for it.
    IccidUnknown,
    /// 8.2.1/3.3: the profile is ordered already (and this is not an identical resend).
    IccidInUse,
    /// 8.2.1/1.2: not allowed in the profile's state, or ordered by another operator.
    IccidNotAllowed,
    /// 8.2.1/3.5: the profile cannot be released (not confirmed).
    IccidNotReleasable,
    /// 8.2.5/3.9: no profile of this type in the inventory.
    ProfileTypeUnknown,
    /// 8.2.5/3.7: every profile of this type is ordered.
    ProfileTypeExhausted,
    /// 8.2.5/3.8: the ICCID is of another profile type than the one given.
    ProfileTypeMismatch,
    /// 8.1.1/2.2: an empty matching ID asks for a download by EID, and there is no EID.
    EidMissing,
    /// 8.1.1/3.10: another EID than the order's.
    EidMismatch,
    /// 8.2.6/3.3: the matching ID is another order's.
    MatchingIdInUse,
    /// 8.2.6/3.10: another matching ID than the order's.
    MatchingIdMismatch,
    /// 1.6/2.3: a conditional element is missing (DownloadOrder without ICCID and type).
    ConditionalElementMissing,
    /// 8.9/5.1: the SM-DS named cannot be reached (this SM-DP+ has no ES12 client).
    SmdsUnreachable,
    /// 1.1/1.2: the header names another function requester than the client certificate
    /// (SGP.22 subject 1.1 "Function Requester", reason 1.2 "Not Allowed (Authorisation)").
    RequesterNotAllowed,
}

impl Code {
    /// Every row of the table.
    pub const ALL: [Code; 42] = {
        use Code::*;
        [
            InvalidSmdpAddress,
            CiPkidNotSupported,
            SvnNotSupported,
            NoDpAuthForEuicc,
            UnknownTransaction,
            CiUnknown,
            EumCertificateInvalid,
            EumCertificateExpired,
            EuiccCertificateInvalid,
            EuiccCertificateExpired,
            EuiccSignatureInvalid,
            EidRefused,
            MatchingIdRefused,
            MatchingIdRetriesExceeded,
            NoEligibleProfile,
            InsufficientMemory,
            ProfileNotReleased,
            BppRebindingRefused,
            ConfirmationCodeMissing,
            ConfirmationCodeRefused,
            ConfirmationCodeRetriesExceeded,
            OrderExpired,
            MaxDownloadAttempts,
            SmdpOidInvalid,
            InvalidInput,
            MandatoryElementMissing,
            Busy,
            ExecutionError,
            IccidUnknown,
            IccidInUse,
            IccidNotAllowed,
            IccidNotReleasable,
            ProfileTypeUnknown,
            ProfileTypeExhausted,
            ProfileTypeMismatch,
            EidMissing,
            EidMismatch,
            MatchingIdInUse,
            MatchingIdMismatch,
            ConditionalElementMissing,
            SmdsUnreachable,
            RequesterNotAllowed,
        ]
    };

    /// The row with these codes (`"8.2.6"`, `"3.8"`), if the table has one.
    pub fn from_codes(subject: &str, reason: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.codes() == (subject, reason))
    }

    /// (subjectCode, reasonCode) as the JSON carries them.
    pub fn codes(self) -> (&'static str, &'static str) {
        use Code::*;
        match self {
            InvalidSmdpAddress => ("8.8.1", "3.8"),
            CiPkidNotSupported => ("8.8.2", "3.1"),
            SvnNotSupported => ("8.8.3", "3.1"),
            NoDpAuthForEuicc => ("8.8.4", "3.7"),
            UnknownTransaction => ("8.10.1", "3.9"),
            CiUnknown => ("8.11.1", "3.9"),
            EumCertificateInvalid => ("8.1.2", "6.1"),
            EumCertificateExpired => ("8.1.2", "6.3"),
            EuiccCertificateInvalid => ("8.1.3", "6.1"),
            EuiccCertificateExpired => ("8.1.3", "6.3"),
            EuiccSignatureInvalid => ("8.1", "6.1"),
            EidRefused => ("8.1.1", "3.8"),
            MatchingIdRefused => ("8.2.6", "3.8"),
            MatchingIdRetriesExceeded => ("8.2.6", "6.4"),
            NoEligibleProfile => ("8.2.5", "4.3"),
            InsufficientMemory => ("8.1", "4.8"),
            ProfileNotReleased => ("8.2", "1.2"),
            BppRebindingRefused => ("8.2", "3.7"),
            ConfirmationCodeMissing => ("8.2.7", "2.2"),
            ConfirmationCodeRefused => ("8.2.7", "3.8"),
            ConfirmationCodeRetriesExceeded => ("8.2.7", "6.4"),
            OrderExpired => ("8.8.5", "4.10"),
            MaxDownloadAttempts => ("8.8.5", "6.4"),
            SmdpOidInvalid => ("8.8", "3.10"),
            InvalidInput => ("1.6", "2.1"),
            MandatoryElementMissing => ("1.6", "2.2"),
            Busy => ("1.2", "4.4"),
            ExecutionError => ("1.2", "4.2"),
            IccidUnknown => ("8.2.1", "3.9"),
            IccidInUse => ("8.2.1", "3.3"),
            IccidNotAllowed => ("8.2.1", "1.2"),
            IccidNotReleasable => ("8.2.1", "3.5"),
            ProfileTypeUnknown => ("8.2.5", "3.9"),
            ProfileTypeExhausted => ("8.2.5", "3.7"),
            ProfileTypeMismatch => ("8.2.5", "3.8"),
            EidMissing => ("8.1.1", "2.2"),
            EidMismatch => ("8.1.1", "3.10"),
            MatchingIdInUse => ("8.2.6", "3.3"),
            MatchingIdMismatch => ("8.2.6", "3.10"),
            ConditionalElementMissing => ("1.6", "2.3"),
            SmdsUnreachable => ("8.9", "5.1"),
            RequesterNotAllowed => ("1.1", "1.2"),
        }
    }

    /// The error value the ES9+ ASN.1 binding answers `function` with for this row: the
    /// function's own error INTEGER (RSPDefinitions v2.5, `…Error`), `undefinedError(127)` for
    /// a row the function's list has no value for (malformed input, busy, the profile
    /// not released, an order expired at authenticateClient, …). The JSON binding's
    /// subject/reason codes are richer; this is their projection, from this one table.
    pub fn asn1_error(self, function: rsp_asn1::binding::Function) -> i64 {
        use rsp_asn1::binding::{
            AuthenticateClientError as A, CancelSessionError as C, Function as F,
            GetBoundProfilePackageError as G, InitiateAuthenticationError as I,
        };
        use Code::*;
        match (function, self) {
            (F::InitiateAuthentication, InvalidSmdpAddress) => I::invalidDpAddress.0,
            (F::InitiateAuthentication, SvnNotSupported) => I::euiccVersionNotSupportedByDp.0,
            (F::InitiateAuthentication, CiPkidNotSupported | NoDpAuthForEuicc) => {
                I::ciPKNotSupported.0
            }
            (F::AuthenticateClient, EumCertificateInvalid) => A::eumCertificateInvalid.0,
            (F::AuthenticateClient, EumCertificateExpired) => A::eumCertificateExpired.0,
            (F::AuthenticateClient, EuiccCertificateInvalid) => A::euiccCertificateInvalid.0,
            (F::AuthenticateClient, EuiccCertificateExpired) => A::euiccCertificateExpired.0,
            (F::AuthenticateClient, EuiccSignatureInvalid) => A::euiccSignatureInvalid.0,
            (F::AuthenticateClient, MatchingIdRefused | MatchingIdRetriesExceeded) => {
                A::matchingIdRefused.0
            }
            (F::AuthenticateClient, EidRefused) => A::eidMismatch.0,
            (F::AuthenticateClient, NoEligibleProfile) => A::noEligibleProfile.0,
            (F::AuthenticateClient, CiUnknown) => A::ciPKUnknown.0,
            (F::AuthenticateClient, UnknownTransaction) => A::invalidTransactionId.0,
            (F::AuthenticateClient, InsufficientMemory) => A::insufficientMemory.0,
            (F::GetBoundProfilePackage, EuiccSignatureInvalid) => G::euiccSignatureInvalid.0,
            (F::GetBoundProfilePackage, ConfirmationCodeMissing) => G::confirmationCodeMissing.0,
            (F::GetBoundProfilePackage, ConfirmationCodeRefused) => G::confirmationCodeRefused.0,
            (F::GetBoundProfilePackage, ConfirmationCodeRetriesExceeded) => {
                G::confirmationCodeRetriesExceeded.0
            }
            (F::GetBoundProfilePackage, BppRebindingRefused) => G::bppRebindingRefused.0,
            (F::GetBoundProfilePackage, OrderExpired) => G::downloadOrderExpired.0,
            (F::GetBoundProfilePackage, UnknownTransaction) => G::invalidTransactionId.0,
            (F::CancelSession, UnknownTransaction) => C::invalidTransactionId.0,
            (F::CancelSession, EuiccSignatureInvalid) => C::euiccSignatureInvalid.0,
            _ => 127,
        }
    }
}

/// A function failure: a row of the table and what exactly went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}/{} {message}", .code.codes().0, .code.codes().1)]
pub struct Failure {
    pub code: Code,
    /// Free text for the `message` field (and the log).
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The (subjectCode, reasonCode) to answer.
    pub fn subject_reason(&self) -> (&'static str, &'static str) {
        self.code.codes()
    }
}

/// A certificate chain failure (digest §1.5 authenticateClient steps 3–4, SGP.23 expectations):
/// unknown CI 8.11.1/3.9; EUM expired 8.1.2/6.3, otherwise invalid 8.1.2/6.1; eUICC expired
/// 8.1.3/6.3, otherwise invalid 8.1.3/6.1; an SM-DP+ certificate 8.8.4/3.7.
impl From<&ChainError> for Code {
    fn from(e: &ChainError) -> Self {
        match (e.which, e.rule) {
            (Which::Eum, Rule::UnknownCi) => Code::CiUnknown,
            (Which::Eum, Rule::Expired) => Code::EumCertificateExpired,
            (Which::Eum | Which::Ci, _) => Code::EumCertificateInvalid,
            (Which::Euicc, Rule::Expired) => Code::EuiccCertificateExpired,
            (Which::Euicc, _) => Code::EuiccCertificateInvalid,
            (Which::Server(_), _) => Code::NoDpAuthForEuicc,
        }
    }
}

impl From<ChainError> for Failure {
    fn from(e: ChainError) -> Self {
        Self::new(Code::from(&e), e.to_string())
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        // SGP.22 has no "service unavailable" code; 1.2/4.2 (execution error) is the one the
        // digest gives for a function provider that could not execute (issue 17).
        match e {
            crate::store::StoreError::Unavailable(_) => Self::new(
                Code::ExecutionError,
                "the SM-DP+ store is unavailable; nothing was changed, try again",
            ),
            _ => Self::new(Code::ExecutionError, "internal store error"),
        }
    }
}

/// Shorthand for handlers.
pub fn fail<T>(code: Code, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists each row once, and `from_codes` finds each.
    #[test]
    fn every_row_is_listed_once() {
        for c in Code::ALL {
            let (s, r) = c.codes();
            assert_eq!(Code::from_codes(s, r), Some(c));
        }
        let mut pairs: Vec<_> = Code::ALL.iter().map(|c| c.codes()).collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), Code::ALL.len());
        assert_eq!(Code::from_codes("9.9", "9.9"), None);
    }

    /// The codes as the digest's §2 table prints them; `3.10` and `4.10` verbatim.
    #[test]
    fn table_matches_the_digest() {
        assert_eq!(Code::SmdpOidInvalid.codes(), ("8.8", "3.10"));
        assert_eq!(Code::OrderExpired.codes(), ("8.8.5", "4.10"));
        assert_eq!(Code::UnknownTransaction.codes(), ("8.10.1", "3.9"));
        let f = Failure::new(Code::EidRefused, "x");
        assert_eq!(f.to_string(), "8.1.1/3.8 x");
    }

    /// Every (certificate, rule) a chain check can report, and the row it answers.
    #[test]
    fn chain_errors_map_to_their_rows() {
        use rsp_auth::cert::Role;
        let rules = [
            Rule::UnknownCi,
            Rule::Linkage,
            Rule::Signature,
            Rule::NotYetValid,
            Rule::Expired,
            Rule::Policy,
            Rule::Usage,
            Rule::Curve,
            Rule::EidFormat,
            Rule::EidOutsideRange,
            Rule::UnknownCriticalExtension,
            Rule::Missing,
        ];
        for which in [
            Which::Ci,
            Which::Eum,
            Which::Euicc,
            Which::Server(Role::DpAuth),
        ] {
            for rule in rules {
                let e = ChainError {
                    which,
                    rule,
                    subject: "CN=x".into(),
                    detail: String::new(),
                };
                let want = match (which, rule) {
                    (Which::Eum, Rule::UnknownCi) => ("8.11.1", "3.9"),
                    (Which::Eum, Rule::Expired) => ("8.1.2", "6.3"),
                    (Which::Eum | Which::Ci, _) => ("8.1.2", "6.1"),
                    (Which::Euicc, Rule::Expired) => ("8.1.3", "6.3"),
                    (Which::Euicc, _) => ("8.1.3", "6.1"),
                    (Which::Server(_), _) => ("8.8.4", "3.7"),
                };
                assert_eq!(
                    Failure::from(e).subject_reason(),
                    want,
                    "{which:?} {rule:?}"
                );
            }
        }
    }
}
