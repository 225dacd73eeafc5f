//! ECKA (ECDH) for the BPP session keys: the shared secret is the x-coordinate (32 bytes).

use aws_lc_rs::agreement::{self, UnparsedPublicKey, ECDH_P256};
use rand_core::CryptoRng;

use crate::curve::Curve;
use crate::key::{Backend, PublicKey};
use crate::Error;

/// A one-time ECDH key pair (otSK/otPK): the SM-DP+'s per download, or the eUICC's.
pub struct EphemeralKey {
    curve: Curve,
    scalar: [u8; 32],
    public: [u8; 65],
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
        let k = crate::key::SigningKey::from_scalar(curve, &scalar)?;
        Ok(Self {
            curve,
            scalar,
            public: *k.public_key().sec1_uncompressed(),
        })
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

    /// ShS = x-coordinate of `scalar · peer`. The peer point must be on this key's curve.
    pub fn shared_secret(&self, peer: &[u8], backend: Backend) -> Result<[u8; 32], Error> {
        // Validates the point (on curve, not identity) for every backend.
        let peer_key = PublicKey::from_sec1(self.curve, peer)?;
        match (self.curve, backend) {
            (Curve::NistP256, Backend::AwsLc) => {
                let sk = agreement::PrivateKey::from_private_key(&ECDH_P256, &self.scalar)
                    .map_err(|e| Error::Key(format!("aws-lc ECDH key: {e}")))?;
                let peer = UnparsedPublicKey::new(&ECDH_P256, peer_key.sec1_uncompressed());
                agreement::agree(&sk, peer, Error::Key("aws-lc ECDH failed".into()), |z| {
                    z.try_into()
                        .map_err(|_| Error::Key("ECDH secret is not 32 bytes".into()))
                })
            }
            (Curve::NistP256, Backend::RustCrypto) => {
                let sk = p256::SecretKey::from_slice(&self.scalar)
                    .map_err(|_| Error::Key("P-256 scalar".into()))?;
                let pk = p256::PublicKey::from_sec1_bytes(peer_key.sec1_uncompressed())
                    .map_err(|_| Error::Key("P-256 peer point".into()))?;
                let z = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(z.raw_secret_bytes()
                    .as_slice()
                    .try_into()
                    .unwrap_or([0; 32]))
            }
            (Curve::BrainpoolP256r1, _) => {
                let sk = bp256::r1::SecretKey::from_slice(&self.scalar)
                    .map_err(|_| Error::Key("brainpoolP256r1 scalar".into()))?;
                let pk =
                    <bp256::elliptic_curve::PublicKey<bp256::BrainpoolP256r1>>::from_sec1_bytes(
                        peer_key.sec1_uncompressed(),
                    )
                    .map_err(|_| Error::Key("brainpoolP256r1 peer point".into()))?;
                let z = bp256::elliptic_curve::ecdh::diffie_hellman(
                    sk.to_nonzero_scalar(),
                    pk.as_affine(),
                );
                Ok(z.raw_secret_bytes()
                    .as_slice()
                    .try_into()
                    .unwrap_or([0; 32]))
            }
        }
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
