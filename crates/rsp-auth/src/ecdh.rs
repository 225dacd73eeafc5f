//! ECKA (ECDH) for the BPP session keys: the shared secret is the x-coordinate (32 bytes).

use aws_lc_rs::agreement::{self, UnparsedPublicKey, ECDH_P256};
use rand_core::CryptoRng;

use crate::curve::Curve;
use crate::key::Backend;
use crate::Error;

/// A one-time ECDH key pair (otSK/otPK): the SM-DP+'s per download, or the eUICC's.
pub struct EphemeralKey {
    curve: Curve,
    scalar: [u8; 32],
    public: [u8; 65],
    /// P-256 only: the key parsed once by aws-lc for the fast path.
    aws: Option<agreement::PrivateKey>,
}

impl EphemeralKey {
    /// A fresh key pair from `rng` (a seeded rng makes sessions replayable).
    pub fn generate<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        loop {
            let mut scalar = [0u8; 32];
            rng.fill_bytes(&mut scalar);
            if let Ok(k) = Self::from_scalar(curve, scalar) {
                return k;
            }
        }
    }

    /// From a known private scalar (test vectors, persisted retries).
    pub fn from_scalar(curve: Curve, scalar: [u8; 32]) -> Result<Self, Error> {
        let bad = || Error::Key(format!("{curve} private key: not a valid scalar"));
        match curve {
            Curve::NistP256 => {
                // aws-lc computes the public point ~5× faster than building an ECDSA key.
                let sk = agreement::PrivateKey::from_private_key(&ECDH_P256, &scalar)
                    .map_err(|_| bad())?;
                let pk = sk.compute_public_key().map_err(|_| bad())?;
                let public: [u8; 65] = pk.as_ref().try_into().map_err(|_| bad())?;
                Ok(Self {
                    curve,
                    scalar,
                    public,
                    aws: Some(sk),
                })
            }
            Curve::BrainpoolP256r1 => {
                use p256::elliptic_curve::sec1::ToSec1Point as _;
                let sk = bp256::r1::SecretKey::from_slice(&scalar).map_err(|_| bad())?;
                let public: [u8; 65] = sk
                    .public_key()
                    .to_sec1_point(false)
                    .as_bytes()
                    .try_into()
                    .map_err(|_| bad())?;
                Ok(Self {
                    curve,
                    scalar,
                    public,
                    aws: None,
                })
            }
        }
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// otPK as an uncompressed point `04‖X‖Y` (the `5F49` value).
    pub fn public_point(&self) -> &[u8; 65] {
        &self.public
    }

    /// The private scalar (to persist a session for a retry with the same otPK).
    pub fn scalar(&self) -> &[u8; 32] {
        &self.scalar
    }

    /// ShS = x-coordinate of `scalar · peer`. The peer must be an uncompressed point on this
    /// key's curve (both backends validate it).
    pub fn shared_secret(&self, peer: &[u8], backend: Backend) -> Result<[u8; 32], Error> {
        if peer.len() != 65 || peer[0] != 0x04 {
            return Err(Error::Key(format!(
                "{} peer key: {} bytes, expected an uncompressed point (65 bytes, 04…)",
                self.curve,
                peer.len()
            )));
        }
        let off_curve = || Error::Key(format!("{} peer key: not a point on the curve", self.curve));
        let z: Vec<u8> = match (self.curve, backend, &self.aws) {
            (Curve::NistP256, Backend::AwsLc, Some(sk)) => agreement::agree(
                sk,
                UnparsedPublicKey::new(&ECDH_P256, peer),
                off_curve(),
                |z| Ok(z.to_vec()),
            )?,
            (Curve::NistP256, _, _) => {
                let sk = p256::SecretKey::from_slice(&self.scalar)
                    .map_err(|_| Error::Key("P-256 scalar".into()))?;
                let pk = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| off_curve())?;
                p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            (Curve::BrainpoolP256r1, _, _) => {
                let sk = bp256::r1::SecretKey::from_slice(&self.scalar)
                    .map_err(|_| Error::Key("brainpoolP256r1 scalar".into()))?;
                let pk =
                    <bp256::elliptic_curve::PublicKey<bp256::BrainpoolP256r1>>::from_sec1_bytes(
                        peer,
                    )
                    .map_err(|_| off_curve())?;
                bp256::elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
        };
        z.try_into()
            .map_err(|_| Error::Key("ECDH secret is not 32 bytes".into()))
    }
}

impl core::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EphemeralKey({}, {})",
            self.curve,
            hex::encode_upper(self.public)
        )
    }
}
