//! An SGP.22 LPA (Local Profile Assistant) as a library: the card side is ES10 over ISO 7816
//! APDUs ([`card`]: STORE DATA framing as lpac does it, to any [`card::Transport`]), the
//! network side ES9+ over HTTPS ([`es9`]: rustls, the server certificate verified against the
//! CIs), and the LPA's procedures on top ([`download`], [`notifications`]). [`load`] runs
//! many downloads at once against a server on loopback and measures them, on orders
//! [`reserve`]d through the REST API. [`record`] keeps a session's ES9+ exchanges and ES10
//! commands, as vectors.
//!
//! The `lpa` command drives the virtual eUICC (a `veuicc` state file in process, or a
//! `veuicc tcp` server) with them.

pub mod card;
pub mod download;
pub mod es9;
pub mod floor;
pub mod load;
pub mod notifications;
pub mod record;
pub mod reserve;

/// Why an LPA operation stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The card answered a status word other than success.
    #[error("{function}: the card answered SW {sw:04X}")]
    Sw { function: &'static str, sw: u16 },
    /// The card refused (an ES10 error alternative, e.g. AuthenticateServer's error code).
    #[error("{function}: the eUICC refused: {detail}")]
    Refused {
        function: &'static str,
        detail: String,
    },
    /// The SM-DP+ answered `Failed` (or `Expired`).
    #[error("{function}: {subject}/{reason}{}{}", .meaning.map(|m| format!(" ({m})")).unwrap_or_default(), .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Es9 {
        function: &'static str,
        subject: String,
        reason: String,
        meaning: Option<&'static str>,
        message: Option<String>,
    },
    /// The SM-DP+ answered an error alternative of the ES9+ ASN.1 binding.
    #[error("{function}: error {}({code})", .name.unwrap_or("unnamed"))]
    Es9Asn1 {
        function: &'static str,
        code: i64,
        name: Option<&'static str>,
    },
    /// HTTPS, TLS, an unexpected HTTP status, or a body that is not ES9+ JSON.
    #[error("{function}: {detail}")]
    Transport {
        function: &'static str,
        detail: String,
    },
    /// Bad input from the user or the peer (activation code, DER, base64).
    #[error("{0}")]
    Input(String),
    /// The BPP's StoreMetadataRequest is not the profileMetadata the SM-DP+ announced.
    #[error("getBoundProfilePackage: {0}")]
    MetadataMismatch(String),
}

impl Error {
    pub(crate) fn transport(function: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Transport {
            function,
            detail: detail.to_string(),
        }
    }
}

impl From<rsp_asn1::Error> for Error {
    fn from(e: rsp_asn1::Error) -> Self {
        Self::Input(e.to_string())
    }
}

impl From<veuicc::Error> for Error {
    fn from(e: veuicc::Error) -> Self {
        Self::Input(e.to_string())
    }
}
