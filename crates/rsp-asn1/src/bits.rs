//! Named-bit BIT STRINGs (`NotificationEvent`, `RspCapability`, `UICCCapability`, `PprIds`).
//!
//! DER (X.690 11.2.2) drops trailing zero bits of a BIT STRING with named bits, so
//! `notificationInstall` alone is `03 02 07 80`, not `03 02 04 80`. A generic BIT STRING codec
//! cannot know that, so values are built here with their minimal length.

use core::fmt;

use rasn::types::{BitString, Constraints, Identifier, Tag};
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

/// A BIT STRING with named bits, kept in DER-minimal form when built from bit numbers.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct NamedBits(BitString);

impl NamedBits {
    /// The bits numbered in `set` are 1; the length is one past the highest set bit.
    pub fn from_bits(set: &[usize]) -> Self {
        let len = set.iter().map(|b| b + 1).max().unwrap_or(0);
        let mut bits = BitString::repeat(false, len);
        for &b in set {
            bits.set(b, true);
        }
        Self(bits)
    }

    /// Whether bit `n` is set (bits beyond the encoded length are 0).
    pub fn is_set(&self, n: usize) -> bool {
        self.0.get(n).is_some_and(|b| *b)
    }

    /// Numbers of the set bits, ascending.
    pub fn set_bits(&self) -> Vec<usize> {
        // Plain iteration: bitvec 1.1's specialised `iter_ones`/`last_one` overflow on some
        // decoded layouts (found by the mutation proptest).
        self.0
            .iter()
            .by_vals()
            .enumerate()
            .filter_map(|(i, b)| b.then_some(i))
            .collect()
    }

    /// Number of bits as encoded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no bits are encoded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets bit `n`, growing the string if needed.
    pub fn set(&mut self, n: usize) {
        if n >= self.0.len() {
            self.0.resize(n + 1, false);
        }
        self.0.set(n, true);
    }

    /// Raw bit string as decoded.
    pub fn as_bit_string(&self) -> &BitString {
        &self.0
    }
}

impl fmt::Debug for NamedBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bits{:?}", self.set_bits())
    }
}

impl AsnType for NamedBits {
    const TAG: Tag = Tag::BIT_STRING;
}

impl Decode for NamedBits {
    fn decode_with_tag_and_constraints<D: Decoder>(
        decoder: &mut D,
        tag: Tag,
        constraints: &Constraints,
    ) -> Result<Self, D::Error> {
        BitString::decode_with_tag_and_constraints(decoder, tag, constraints).map(Self)
    }
}

impl Encode for NamedBits {
    fn encode_with_tag_and_constraints<'b, E: Encoder<'b>>(
        &self,
        encoder: &mut E,
        tag: Tag,
        constraints: &Constraints,
        identifier: Identifier,
    ) -> Result<(), E::Error> {
        // Trim trailing zeros so a decoded non-minimal value re-encodes as DER.
        let last = self
            .0
            .iter()
            .by_vals()
            .rposition(|b| b)
            .map_or(0, |i| i + 1);
        encoder.encode_bit_string(tag, constraints, &self.0[..last], identifier)?;
        Ok(())
    }
}

/// Bit numbers of `NotificationEvent`.
pub mod notification_event {
    pub const INSTALL: usize = 0;
    pub const ENABLE: usize = 1;
    pub const DISABLE: usize = 2;
    pub const DELETE: usize = 3;
    /// The events by bit number, as logs and listings name them.
    pub const NAMES: [&str; 4] = ["install", "enable", "disable", "delete"];

    /// The names of the events set in `bits`, joined with `+` (`"unknown"` for none).
    pub fn names(bits: &super::NamedBits) -> String {
        let set: Vec<&str> = (0..NAMES.len())
            .filter(|&i| bits.is_set(i))
            .map(|i| NAMES[i])
            .collect();
        if set.is_empty() {
            "unknown".into()
        } else {
            set.join("+")
        }
    }
}

/// Bit numbers of `RspCapability`.
pub mod rsp_capability {
    pub const ADDITIONAL_PROFILE: usize = 0;
    pub const CRL_SUPPORT: usize = 1;
    pub const RPM_SUPPORT: usize = 2;
    pub const TEST_PROFILE_SUPPORT: usize = 3;
    pub const DEVICE_INFO_EXTENSIBILITY_SUPPORT: usize = 4;
    pub const SERVICE_SPECIFIC_DATA_SUPPORT: usize = 5;
}

/// Bit numbers of `PprIds`.
pub mod ppr_ids {
    pub const PPR_UPDATE_CONTROL: usize = 0;
    /// PPR1: disabling of this profile is not allowed.
    pub const PPR1: usize = 1;
    /// PPR2: deletion of this profile is not allowed.
    pub const PPR2: usize = 2;
}

/// Bit numbers of `UICCCapability` (the ones a simulator sets).
pub mod uicc_capability {
    pub const CONTACTLESS_SUPPORT: usize = 0;
    pub const USIM_SUPPORT: usize = 1;
    pub const ISIM_SUPPORT: usize = 2;
    pub const CSIM_SUPPORT: usize = 3;
    pub const AKA_MILENAGE: usize = 4;
    pub const AKA_CAVE: usize = 5;
    pub const AKA_TUAK128: usize = 6;
    pub const AKA_TUAK256: usize = 7;
    pub const GBA_AUTHEN_USIM: usize = 10;
    pub const GBA_AUTHEN_ISIM: usize = 11;
    pub const MBMS_AUTHEN_USIM: usize = 12;
    pub const EAP_CLIENT: usize = 13;
    pub const JAVACARD: usize = 14;
    pub const MULTOS: usize = 15;
    pub const MULTIPLE_USIM_SUPPORT: usize = 16;
    pub const MULTIPLE_ISIM_SUPPORT: usize = 17;
    pub const MULTIPLE_CSIM_SUPPORT: usize = 18;
    pub const BER_TLV_FILE_SUPPORT: usize = 19;
    pub const DF_LINK_SUPPORT: usize = 20;
    pub const CAT_TP: usize = 21;
    pub const GET_IDENTITY: usize = 22;
    pub const PROFILE_A_X25519: usize = 23;
    pub const PROFILE_B_P256: usize = 24;
    pub const SUCI_CALCULATOR_API: usize = 25;
}
