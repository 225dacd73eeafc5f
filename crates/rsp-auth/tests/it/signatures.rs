//! Signatures and ECDH: both curves, both backends, one answer; and every malformed signature
//! refused.

use proptest::prelude::*;
use rand_core::SeedableRng;
use rsp_asn1::download::{ControlRefTemplate, InitialiseSecureChannelRequest, RemoteOpId};
use rsp_asn1::raw::Signed;
use rsp_asn1::{Octet1, OctetTo16, TransactionId};
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::sig::{input, raw_signature, signature_tlv};
use rsp_auth::{Backend, Curve, SigningKey};

const BACKENDS: [Backend; 2] = [Backend::AwsLc, Backend::RustCrypto];

fn rng(seed: u64) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::seed_from_u64(seed)
}

#[test]
fn ecka_vector_v2() {
    // sgp22-vectors.txt V2 (third-party SM-DP+ trace): otSK.DP · otPK.EUICC.
    let sk: [u8; 32] =
        hex::decode("fb68a38ccedb69e15cbe03c256228998ac398587e5dc7117f948145c839d61a4")
            .unwrap()
            .try_into()
            .unwrap();
    let smdp = EphemeralKey::from_scalar(Curve::NistP256, sk).unwrap();
    assert_eq!(
        hex::encode(smdp.public_point()),
        "04a27e2bdbd94dcf67d4c9ae5cb149d9d0f093be7a16dc41ec9db0318e4db72d09234a7d7631979a5d150eec40afe17ce41673df9d2f2e4246d60051c74eba7964"
    );
    let euicc = hex::decode("0400f7b8d71403f21d84b00cd9e561178d737d3f4d065e62fee279271298dd4f074794ab791b9939d4461296efe388aa26731064263af988b7d2c4d77da44801b5").unwrap();
    for b in BACKENDS {
        assert_eq!(
            hex::encode(smdp.shared_secret(&euicc, b).unwrap()),
            "c9a993dd4879a8f7161f2085410edd4f9652f1df37be097ba96ba2ca6be528fe",
            "{b:?}"
        );
    }
}

#[test]
fn ecdh_refuses_points_off_the_curve_or_of_the_other_curve() {
    let k = EphemeralKey::generate(Curve::NistP256, &mut rng(1));
    let other = EphemeralKey::generate(Curve::BrainpoolP256r1, &mut rng(2));
    let mut off = *k.public_point();
    off[64] ^= 1;
    for b in BACKENDS {
        assert!(k.shared_secret(&off, b).is_err());
        assert!(k.shared_secret(other.public_point(), b).is_err());
        assert!(k.shared_secret(&[4; 10], b).is_err());
        assert!(k.shared_secret(&[], b).is_err());
    }
}

#[test]
fn malformed_signatures_are_refused() {
    for curve in Curve::ALL {
        let key = SigningKey::generate(curve, &mut rng(7));
        let other = SigningKey::generate(curve, &mut rng(8));
        let msg = b"euiccSigned1";
        for b in BACKENDS {
            let sig = key.sign_raw(msg, b).unwrap();
            let pk = key.public_key();
            pk.verify_raw(msg, &sig, b).unwrap();
            for bit in [0usize, 255, 300, 511] {
                let mut s = sig;
                s[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    pk.verify_raw(msg, &s, b).is_err(),
                    "{curve} {b:?} bit {bit}"
                );
            }
            assert!(pk.verify_raw(b"euiccSigned2", &sig, b).is_err());
            assert!(other.public_key().verify_raw(msg, &sig, b).is_err());
            assert!(pk.verify_raw(msg, &sig[..63], b).is_err());
            assert!(pk.verify_raw(msg, &[0; 64], b).is_err());
            let der = key.sign_der(msg, b).unwrap();
            assert!(
                pk.verify_raw(msg, &der, b).is_err(),
                "DER where raw is wanted"
            );
            pk.verify_der(msg, &der, b).unwrap();
            assert!(raw_signature(&der).unwrap_err().to_string().contains("DER"));
        }
    }
    // Same message and scalar on the other curve: a different key, refused.
    let nist = SigningKey::from_scalar(Curve::NistP256, &[7; 32]).unwrap();
    let brp = SigningKey::from_scalar(Curve::BrainpoolP256r1, &[7; 32]).unwrap();
    let sig = nist.sign_raw(b"m", Backend::RustCrypto).unwrap();
    assert!(brp
        .public_key()
        .verify_raw(b"m", &sig, Backend::RustCrypto)
        .is_err());
}

#[test]
fn rustcrypto_signatures_are_deterministic() {
    let key = SigningKey::generate(Curve::NistP256, &mut rng(3));
    let a = key.sign_raw(b"x", Backend::RustCrypto).unwrap();
    assert_eq!(a, key.sign_raw(b"x", Backend::RustCrypto).unwrap());
    let b = SigningKey::generate(Curve::BrainpoolP256r1, &mut rng(3));
    assert_eq!(
        b.sign_raw(b"x", Backend::RustCrypto).unwrap(),
        b.sign_raw(b"x", Backend::AwsLc).unwrap(),
        "brainpool always uses RustCrypto"
    );
}

#[test]
fn pem_round_trip() {
    for curve in Curve::ALL {
        let key = SigningKey::generate(curve, &mut rng(4));
        let pem = key.to_sec1_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let back = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.curve(), curve);
    }
    assert!(SigningKey::from_pem("no pem here").is_err());
    assert!(SigningKey::from_pem(
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
    )
    .is_err());
}

#[test]
fn signature_inputs() {
    assert_eq!(signature_tlv(&[9; 64])[..3], [0x5F, 0x37, 0x40]);
    let isc = InitialiseSecureChannelRequest {
        remote_op_id: RemoteOpId::installBoundProfilePackage,
        transaction_id: TransactionId::new(vec![0xAB; 16]).unwrap(),
        control_ref_template: ControlRefTemplate {
            key_type: Octet1::new(vec![0x88]).unwrap(),
            key_len: Octet1::new(vec![0x10]).unwrap(),
            host_id: OctetTo16::new(vec![0x80; 8]).unwrap(),
            extensions: None,
        },
        smdp_otpk: vec![0x04; 65].into(),
        smdp_sign: vec![0x00; 64].into(),
        extensions: None,
    };
    let signed = Signed::new(isc).unwrap();
    let euicc_otpk = [0x04; 65];
    let got = input::smdp_sign(&signed, &euicc_otpk).unwrap();
    // digest §4.1: 82 01 01 ‖ 80 len txid ‖ A6 {80 01 88 81 01 10 84 len hostId} ‖ 5F49 41 otPK.DP ‖ 5F49 41 otPK.EUICC
    let mut want = hex::decode("820101 8010".replace(' ', "")).unwrap();
    want.extend([0xAB; 16]);
    want.extend(hex::decode("A610800188810110840880808080808080805F4941").unwrap());
    want.extend([0x04; 65]);
    want.extend([0x5F, 0x49, 0x41]);
    want.extend(euicc_otpk);
    assert_eq!(hex::encode_upper(&got), hex::encode_upper(&want));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A signature by either backend verifies with the other; ECDH agrees across backends.
    #[test]
    fn backends_agree(seed in any::<u64>(), msg in prop::collection::vec(any::<u8>(), 0..300)) {
        let key = SigningKey::generate(Curve::NistP256, &mut rng(seed));
        // The public point aws-lc derived is the one RustCrypto derives.
        {
            use p256::elliptic_curve::sec1::ToSec1Point as _;
            let rc = p256::SecretKey::from_slice(&key.scalar()).unwrap().public_key();
            let point = rc.to_sec1_point(false);
            prop_assert_eq!(point.as_bytes(), key.public_key().sec1_uncompressed());
        }
        for signer in BACKENDS {
            let sig = key.sign_raw(&msg, signer).unwrap();
            for verifier in BACKENDS {
                prop_assert!(key.public_key().verify_raw(&msg, &sig, verifier).is_ok());
            }
        }
        let a = EphemeralKey::generate(Curve::NistP256, &mut rng(seed ^ 1));
        let b = EphemeralKey::generate(Curve::NistP256, &mut rng(seed ^ 2));
        let z = a.shared_secret(b.public_point(), Backend::AwsLc).unwrap();
        prop_assert_eq!(z, a.shared_secret(b.public_point(), Backend::RustCrypto).unwrap());
        prop_assert_eq!(z, b.shared_secret(a.public_point(), Backend::AwsLc).unwrap());
        let c = EphemeralKey::generate(Curve::BrainpoolP256r1, &mut rng(seed ^ 3));
        let d = EphemeralKey::generate(Curve::BrainpoolP256r1, &mut rng(seed ^ 4));
        prop_assert_eq!(
            c.shared_secret(d.public_point(), Backend::RustCrypto).unwrap(),
            d.shared_secret(c.public_point(), Backend::RustCrypto).unwrap()
        );
    }
}

#[test]
fn public_keys_off_the_curve_are_refused() {
    for curve in Curve::ALL {
        let k = SigningKey::generate(curve, &mut rng(11));
        let mut p = *k.public_key().sec1_uncompressed();
        p[64] ^= 1;
        assert!(
            rsp_auth::PublicKey::from_sec1(curve, &p).is_err(),
            "{curve}"
        );
        assert!(rsp_auth::PublicKey::from_sec1(curve, &p[..64]).is_err());
        assert!(rsp_auth::PublicKey::from_sec1(curve, &[]).is_err());
        // Compressed form is accepted and expands to the same key.
        let x = &k.public_key().sec1_uncompressed()[1..33];
        let y_odd = k.public_key().sec1_uncompressed()[64] & 1;
        let compressed = [&[0x02 | y_odd][..], x].concat();
        let pk = rsp_auth::PublicKey::from_sec1(curve, &compressed).unwrap();
        assert_eq!(&pk, k.public_key());
        let sig = k.sign_raw(b"m", Backend::RustCrypto).unwrap();
        for b in BACKENDS {
            pk.verify_raw(b"m", &sig, b).unwrap();
        }
    }
}
