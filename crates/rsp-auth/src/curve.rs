//! The two SGP.22 curves.

use core::fmt;

use const_oid::ObjectIdentifier;

/// `id-ecPublicKey` namedCurve of NIST P-256 (prime256v1).
pub const OID_NIST_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `id-ecPublicKey` namedCurve of brainpoolP256r1 (RFC 5639).
pub const OID_BRAINPOOL_P256R1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7");

/// An SGP.22 curve: one CI per curve, eUICCs list which they can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Curve {
    NistP256,
    BrainpoolP256r1,
}

impl Curve {
    /// Both curves, NIST first.
    pub const ALL: [Curve; 2] = [Curve::NistP256, Curve::BrainpoolP256r1];

    /// The namedCurve OID in SubjectPublicKeyInfo.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::NistP256 => OID_NIST_P256,
            Curve::BrainpoolP256r1 => OID_BRAINPOOL_P256R1,
        }
    }

    /// From a namedCurve OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.oid() == *oid)
    }

    /// The suffix of SGP.26 file names: `NIST` or `BRP`.
    pub fn file_tag(self) -> &'static str {
        match self {
            Curve::NistP256 => "NIST",
            Curve::BrainpoolP256r1 => "BRP",
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::NistP256 => "NIST P-256",
            Curve::BrainpoolP256r1 => "brainpoolP256r1",
        })
    }
}
