//! The one ES9+ error table: every failure a function can report, with its SGP.22
//! (subjectCode, reasonCode) from the digest §1.5 and §2. Handlers return a [`Failure`]; the
//! HTTP layer answers it as HTTP 200 with a header-only `Failed` body.

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
    /// 8.1/6.1: an eUICC signature (or the echoed server challenge) does not verify.
    EuiccSignatureInvalid,
    /// 8.1.1/3.8: EID refused (order for another EID, or no order for this EID).
    EidRefused,
    /// 8.2.6/3.8: unknown or used-up matching ID.
    MatchingIdRefused,
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
}

impl Code {
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
            EuiccSignatureInvalid => ("8.1", "6.1"),
            EidRefused => ("8.1.1", "3.8"),
            MatchingIdRefused => ("8.2.6", "3.8"),
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
    /// Explicit codes that override `code.codes()`, for the certificate-chain rows whose code
    /// rsp-auth decides.
    pub codes: Option<(&'static str, &'static str)>,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            codes: None,
        }
    }

    /// The (subjectCode, reasonCode) to answer.
    pub fn subject_reason(&self) -> (&'static str, &'static str) {
        self.codes.unwrap_or_else(|| self.code.codes())
    }
}

impl From<rsp_auth::chain::ChainError> for Failure {
    fn from(e: rsp_auth::chain::ChainError) -> Self {
        let codes = e.status_code();
        let code = match codes {
            ("8.11.1", _) => Code::CiUnknown,
            ("8.8.4", _) => Code::NoDpAuthForEuicc,
            _ => Code::EuiccSignatureInvalid,
        };
        Self {
            code,
            message: e.to_string(),
            codes: Some(codes),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::new(Code::ExecutionError, "internal store error")
    }
}

/// Shorthand for handlers.
pub fn fail<T>(code: Code, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes as the digest's §2 table prints them; `3.10` and `4.10` verbatim.
    #[test]
    fn table_matches_the_digest() {
        assert_eq!(Code::SmdpOidInvalid.codes(), ("8.8", "3.10"));
        assert_eq!(Code::OrderExpired.codes(), ("8.8.5", "4.10"));
        assert_eq!(Code::UnknownTransaction.codes(), ("8.10.1", "3.9"));
        let f = Failure::new(Code::EidRefused, "x");
        assert_eq!(f.to_string(), "8.1.1/3.8 x");
    }
}
