//! Credentials at rest: what a store keeps of a secret.
//!
//! API key secrets, bearer tokens, OAuth client secrets and access tokens are kept as a
//! SHA-256 digest only, so a copy of the database lets nobody in. An account's auth token is
//! kept as a digest too, plus the HMAC-SHA1 key schedule that signs its callbacks
//! (`X-Twilio-Signature`): the SHA-1 states after the padded key block (RFC 2104), which
//! sign but are not the token, so they do not authenticate. Presented secrets are compared
//! as digests, in constant time.
//!
//! The digest is unsalted, as bearer tokens are found by it; the secrets this server issues
//! carry 128 random bits, which makes that enough. A configured low-entropy token
//! (`--account AC…:test`) is only as strong as it is.

use sha1::digest::common::hazmat::SerializableState;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How a digest starts: a store written before digests holds secrets in clear, and its
/// migration tells them apart by this.
pub const DIGEST_PREFIX: &str = "sha256:";

/// The digest a store keeps of `secret`.
pub fn digest(secret: &str) -> String {
    let mut h = Sha256::new();
    // Domain-separated, so that the digest is of nothing but a credential of ours.
    h.update(b"smdp-sim credential\0");
    h.update(secret.as_bytes());
    format!("{DIGEST_PREFIX}{}", hex::encode(h.finalize()))
}

/// Whether `presented` is the secret `stored` (a digest) was made from: constant time in
/// the secret and the digest.
pub fn matches(stored: &str, presented: &str) -> bool {
    bool::from(digest(presented).as_bytes().ct_eq(stored.as_bytes()))
}

const BLOCK: usize = 64;

/// HMAC-SHA1 under a key, kept as the SHA-1 states after `K ⊕ ipad` and `K ⊕ opad`.
#[derive(Clone)]
pub struct HmacSha1Key {
    inner: Sha1,
    outer: Sha1,
}

impl std::fmt::Debug for HmacSha1Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSha1Key(…)")
    }
}

impl HmacSha1Key {
    /// Bytes of [`Self::to_bytes`].
    pub const LEN: usize = 184;

    pub fn new(key: &[u8]) -> Self {
        // RFC 2104: a key longer than the block is hashed first; then zero-padded.
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            k[..20].copy_from_slice(&Sha1::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| {
            let mut h = Sha1::new();
            h.update(k.map(|b| b ^ byte));
            h
        };
        Self {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// The two states, in the sha1 crate's serialization (chaining value, block count and
    /// its empty buffer: 92 bytes each).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.inner.serialize().to_vec();
        v.extend_from_slice(&self.outer.serialize());
        v
    }

    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN {
            return None;
        }
        let (i, o) = b.split_at(Self::LEN / 2);
        let state = |s: &[u8]| Sha1::deserialize(s.try_into().ok()?).ok();
        Some(Self {
            inner: state(i)?,
            outer: state(o)?,
        })
    }

    /// HMAC-SHA1 of the concatenation of `parts`.
    pub fn mac<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 20] {
        let mut inner = self.inner.clone();
        for p in parts {
            inner.update(p);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};

    #[test]
    fn the_kept_states_sign_as_hmac_sha1_does() {
        // RFC 2202 test case 2.
        let k = HmacSha1Key::new(b"Jefe");
        assert_eq!(
            hex::encode(k.mac([b"what do ya want ".as_slice(), b"for nothing?"])),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // Against the hmac crate: keys shorter than, as long as and longer than a block,
        // through a round trip of the kept bytes.
        for len in [0, 1, 20, 32, 63, 64, 65, 80, 200] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let bytes = HmacSha1Key::new(&key).to_bytes();
            assert_eq!(bytes.len(), HmacSha1Key::LEN);
            let kept = HmacSha1Key::from_bytes(&bytes).unwrap();
            for msg in [&b""[..], b"abc", &[0x5a; 200]] {
                let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).unwrap();
                m.update(msg);
                assert_eq!(
                    kept.mac([msg]),
                    m.finalize().into_bytes().as_slice(),
                    "{len}"
                );
            }
        }
        assert!(HmacSha1Key::from_bytes(&[0; 10]).is_none());
        assert_eq!(HmacSha1Key::new(b"k").to_bytes().len(), HmacSha1Key::LEN);
    }

    #[test]
    fn digests_match_only_their_secret() {
        let d = digest("s3cret");
        assert!(d.starts_with(DIGEST_PREFIX) && d.len() == DIGEST_PREFIX.len() + 64);
        assert!(!d.contains("s3cret"));
        assert!(matches(&d, "s3cret"));
        assert!(!matches(&d, "s3cre"));
        assert!(!matches(&d, ""));
        assert!(
            !matches("s3cret", "s3cret"),
            "a secret in clear is not a digest"
        );
    }
}
