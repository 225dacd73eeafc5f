//! MILENAGE operator variant: OPc from K and OP (3GPP TS 35.206 §4.1).
//!
//! Cards carry OPc, never OP, so an operator who configures its OP needs the same derivation
//! the HSS/UDM does, or the profile's OPc and the network's disagree and every AKA fails.
//! Only this derivation is here; f1–f5 run in the network, not in an SM-DP+.

use aes::cipher::{BlockCipherEncrypt as _, KeyInit as _};

/// Why an OP or AMF value from a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MilenageError {
    /// Not the number of hex digits the field has.
    #[error("{field}: expected {expected} hex digits, found {found}")]
    Length {
        field: &'static str,
        expected: usize,
        found: usize,
    },
    /// The right length, but a character that is not a hex digit.
    #[error("{field}: {ch:?} at position {position} is not a hex digit")]
    NotHex {
        field: &'static str,
        ch: char,
        /// 0-based, in characters.
        position: usize,
    },
}

/// `OPc = AES-128_K(OP) ⊕ OP` (TS 35.206 §4.1).
pub fn opc(k: &[u8; 16], op: &[u8; 16]) -> [u8; 16] {
    let mut block = *op;
    aes::Aes128::new(k.into()).encrypt_block((&mut block).into());
    for (b, o) in block.iter_mut().zip(op) {
        *b ^= o;
    }
    block
}

/// The operator's MILENAGE settings for the profiles it orders.
#[derive(Clone, PartialEq, Eq)]
pub struct MilenageConfig {
    /// When set, each profile's OPc is derived from its K; when not, OPc is taken as given.
    pub op: Option<[u8; 16]>,
    /// Authentication Management Field the network will use (TS 33.102 Annex H).
    pub amf: [u8; 2],
}

impl Default for MilenageConfig {
    /// No OP, AMF `8000`: the separation bit set, as TS 33.401 requires for E-UTRAN
    /// and as most cores (Open5GS among them) default to.
    fn default() -> Self {
        Self {
            op: None,
            amf: [0x80, 0x00],
        }
    }
}

impl std::fmt::Debug for MilenageConfig {
    /// OP is an operator-wide secret: logs say whether it is set, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilenageConfig")
            .field("op", &self.op.map(|_| "<redacted>"))
            .field("amf", &hex::encode_upper(self.amf))
            .finish()
    }
}

impl MilenageConfig {
    /// The OPc for a card with key `k`, or `None` when no OP is configured.
    pub fn opc_for(&self, k: &[u8; 16]) -> Option<[u8; 16]> {
        self.op.as_ref().map(|op| opc(k, op))
    }
}

/// Parses an OP: exactly 32 hex digits, either case.
pub fn parse_hex16(s: &str) -> Result<[u8; 16], MilenageError> {
    parse_fixed("OP", s)
}

/// Parses an AMF: exactly 4 hex digits, either case.
pub fn parse_amf(s: &str) -> Result<[u8; 2], MilenageError> {
    parse_fixed("AMF", s)
}

fn parse_fixed<const N: usize>(field: &'static str, s: &str) -> Result<[u8; N], MilenageError> {
    let found = s.chars().count();
    if found != 2 * N {
        return Err(MilenageError::Length {
            field,
            expected: 2 * N,
            found,
        });
    }
    if let Some((position, ch)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(MilenageError::NotHex {
            field,
            ch,
            position,
        });
    }
    let mut out = [0u8; N];
    // All 2N characters are ASCII hex digits, so this cannot fail.
    hex::decode_to_slice(s, &mut out).expect("checked: 2N ASCII hex digits");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h16(s: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    /// (test set, K, OP, OPc) from 3GPP TS 35.207 §4.3 / TS 35.208 §4.3.
    const TEST_SETS: &[(u8, &str, &str, &str)] = &[
        (
            1,
            "465b5ce8b199b49faa5f0a2ee238a6bc",
            "cdc202d5123e20f62b6d676ac72cb318",
            "cd63cb71954a9f4e48a5994e37a02baf",
        ),
        (
            2,
            "0396eb317b6d1c36f19c1c84cd6ffd16",
            "ff53bade17df5d4e793073ce9d7579fa",
            "53c15671c60a4b731c55b4a441c0bde2",
        ),
        (
            3,
            "fec86ba6eb707ed08905757b1bb44b8f",
            "dbc59adcb6f9a0ef735477b7fadf8374",
            "1006020f0a478bf6b699f15c062e42b3",
        ),
        (
            4,
            "9e5944aea94b81165c82fbf9f32db751",
            "223014c5806694c007ca1eeef57f004f",
            "a64a507ae1a2a98bb88eb4210135dc87",
        ),
        (
            5,
            "4ab1deb05ca6ceb051fc98e77d026a84",
            "2d16c5cd1fdf6b22383584e3bef2a8d8",
            "dcf07cbd51855290b92a07a9891e523e",
        ),
        (
            6,
            "6c38a116ac280c454f59332ee35c8c4f",
            "1ba00a1a7c6700ac8c3ff3e96ad08725",
            "3803ef5363b947c6aaa225e58fae3934",
        ),
        (
            7,
            "2d609d4db0ac5bf0d2c0de267014de0d",
            "460a48385427aa39264aac8efc9e73e8",
            "c35a0ab0bcbfc9252caff15f24efbde0",
        ),
        (
            8,
            "a530a7fe428fad1082c45eddfce13884",
            "511c6c4e83e38c89b1c5d8dde62426fa",
            "27953e49bc8af6dcc6e730eb80286be3",
        ),
    ];

    #[test]
    fn opc_matches_3gpp_test_sets() {
        for &(set, k, op, want) in TEST_SETS {
            assert_eq!(opc(&h16(k), &h16(op)), h16(want), "test set {set}");
        }
    }

    #[test]
    fn config_derives_opc_only_when_op_is_set() {
        let (_, k, op, want) = TEST_SETS[0];
        let none = MilenageConfig::default();
        assert_eq!(none.op, None);
        assert_eq!(none.amf, [0x80, 0x00]);
        assert_eq!(none.opc_for(&h16(k)), None);

        let some = MilenageConfig {
            op: Some(h16(op)),
            ..MilenageConfig::default()
        };
        assert_eq!(some.opc_for(&h16(k)), Some(h16(want)));
    }

    #[test]
    fn debug_never_shows_op() {
        let (_, _, op, _) = TEST_SETS[0];
        let cfg = MilenageConfig {
            op: Some(h16(op)),
            amf: [0xb9, 0xb9],
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.to_lowercase().contains(op), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("B9B9"),
            "{shown}"
        );
    }

    #[test]
    fn parses_hex_in_either_case() {
        let want = h16("cdc202d5123e20f62b6d676ac72cb318");
        assert_eq!(parse_hex16("cdc202d5123e20f62b6d676ac72cb318"), Ok(want));
        assert_eq!(parse_hex16("CDC202D5123E20F62B6D676AC72CB318"), Ok(want));
        assert_eq!(parse_hex16("CdC202d5123E20f62B6d676Ac72Cb318"), Ok(want));
        assert_eq!(parse_amf("8000"), Ok([0x80, 0x00]));
        assert_eq!(parse_amf("b9B9"), Ok([0xb9, 0xb9]));
    }

    #[test]
    fn refuses_wrong_lengths_naming_field_and_length() {
        let short = "cdc202d5123e20f62b6d676ac72cb31";
        let err = parse_hex16(short).unwrap_err();
        assert_eq!(
            err,
            MilenageError::Length {
                field: "OP",
                expected: 32,
                found: 31
            }
        );
        assert_eq!(err.to_string(), "OP: expected 32 hex digits, found 31");
        assert_eq!(
            parse_hex16(&format!("{short}88")).unwrap_err().to_string(),
            "OP: expected 32 hex digits, found 33"
        );
        assert_eq!(
            parse_hex16("").unwrap_err().to_string(),
            "OP: expected 32 hex digits, found 0"
        );
        assert_eq!(
            parse_amf("800").unwrap_err().to_string(),
            "AMF: expected 4 hex digits, found 3"
        );
        assert_eq!(
            parse_amf("0x8000").unwrap_err().to_string(),
            "AMF: expected 4 hex digits, found 6"
        );
        // Counted in characters, not bytes: "é" is one character (two UTF-8 bytes).
        assert_eq!(
            parse_amf("80é").unwrap_err(),
            MilenageError::Length {
                field: "AMF",
                expected: 4,
                found: 3
            }
        );
    }

    #[test]
    fn refuses_non_hex_characters_naming_where() {
        let err = parse_hex16("cdc202d5123e20f62b6d676ac72cb31g").unwrap_err();
        assert_eq!(
            err,
            MilenageError::NotHex {
                field: "OP",
                ch: 'g',
                position: 31
            }
        );
        assert_eq!(err.to_string(), "OP: 'g' at position 31 is not a hex digit");
        assert_eq!(
            parse_amf(" 800").unwrap_err().to_string(),
            "AMF: ' ' at position 0 is not a hex digit"
        );
        assert_eq!(
            parse_amf("80é0").unwrap_err(),
            MilenageError::NotHex {
                field: "AMF",
                ch: 'é',
                position: 2
            }
        );
    }
}
