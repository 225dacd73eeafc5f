//! BPP build → unwrap round trips at the segment boundaries and real profile sizes, with and
//! without a pre-protected profile; tampering is caught at the segment it touches; the AES-NI
//! and portable engines give identical bytes.

use proptest::prelude::*;
use rsp_asn1::download::{
    BoundProfilePackage, ConfigureISDPRequest, DpProprietaryData, ProfileClass,
    StoreMetadataRequest,
};
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::{BppCommandId, ErrorReason};
use rsp_asn1::TransactionId;
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::{Backend, Curve, SigningKey};
use rsp_bpp::bpp::{
    build, unwrap, BppRequest, PpkKeys, PreProtectedProfile, ProfileSource, UnwrapContext,
};
use rsp_bpp::{Bsp, Engine};

struct Session {
    smdp: EphemeralKey,
    euicc: EphemeralKey,
    dp_pb: SigningKey,
    eid: [u8; 16],
    txid: TransactionId,
    metadata: Vec<u8>,
    isdp: ConfigureISDPRequest,
}

fn session(curve: Curve, seed: u64) -> Session {
    let mut rng = rsp_auth::rng::rng(Some(seed));
    let metadata = rsp_asn1::encode(&StoreMetadataRequest {
        iccid: Iccid::from_digits("89000123456789012341").unwrap(),
        service_provider_name: "smdp-sim".into(),
        profile_name: "Test".into(),
        icon_type: None,
        icon: None,
        profile_class: ProfileClass::operational,
        notification_configuration_info: None,
        profile_owner: None,
        profile_policy_rules: None,
        ecall_indication: None,
        fallback_allowed: None,
        extensions: None,
    })
    .unwrap();
    Session {
        smdp: EphemeralKey::generate(curve, &mut rng),
        euicc: EphemeralKey::generate(curve, &mut rng),
        dp_pb: SigningKey::generate(curve, &mut rng),
        eid: hex::decode("89049032123451234512345678901235")
            .unwrap()
            .try_into()
            .unwrap(),
        txid: TransactionId::new(vec![0x42; 16]).unwrap(),
        metadata,
        isdp: ConfigureISDPRequest {
            dp_proprietary_data: Some(DpProprietaryData {
                dp_oid: rsp_asn1::ObjectIdentifier::new(vec![2, 999, 10]).unwrap(),
                extensions: None,
            }),
            extensions: None,
        },
    }
}

fn ppk() -> PpkKeys {
    PpkKeys {
        enc: [1; 16],
        mac: [2; 16],
        initial_mcv: [3; 16],
    }
}

fn request<'a>(
    s: &'a Session,
    profile: ProfileSource<'a>,
    engine: Engine,
    backend: Backend,
    smdp_sign: Option<[u8; 64]>,
) -> BppRequest<'a> {
    BppRequest {
        transaction_id: s.txid.clone(),
        host_id: b"smdp-sim",
        eid: s.eid,
        smdp_ot_key: &s.smdp,
        euicc_otpk: s.euicc.public_point(),
        dp_pb_key: &s.dp_pb,
        backend,
        engine,
        configure_isdp: &s.isdp,
        store_metadata_der: &s.metadata,
        profile,
        smdp_sign,
    }
}

fn make(s: &Session, profile: ProfileSource<'_>, engine: Engine) -> BoundProfilePackage {
    build(&request(s, profile, engine, Backend::RustCrypto, None)).unwrap()
}

fn open(
    s: &Session,
    bpp: &BoundProfilePackage,
) -> Result<rsp_bpp::bpp::Unwrapped, rsp_bpp::bpp::UnwrapError> {
    unwrap(
        bpp,
        &UnwrapContext {
            euicc_ot_key: &s.euicc,
            eid: s.eid,
            dp_pb_key: s.dp_pb.public_key(),
            transaction_id: &s.txid,
            backend: Backend::AwsLc,
            engine: Engine::Auto,
        },
    )
}

fn profile(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn round_trips_at_every_size() {
    let mut sizes = vec![
        0usize,
        1,
        15,
        16,
        1006,
        1007,
        1008,
        2014,
        2015,
        64 * 1024,
        1024 * 1024,
    ];
    let ts48 = rsp_shared::file_for_test("profiles/ts48/ts48-v7-SAIP2.3_BERTLV_SUCI.der");
    if let Some(p) = &ts48 {
        sizes.push(p.len());
    }
    for curve in Curve::ALL {
        let s = session(curve, 1);
        for &n in &sizes {
            let p = match &ts48 {
                Some(t) if t.len() == n => t.clone(),
                _ => profile(n),
            };
            for pre in [false, true] {
                let ppp = PreProtectedProfile::new(&p, ppk(), Engine::Auto);
                let src = if pre {
                    ProfileSource::PreProtected(&ppp)
                } else {
                    ProfileSource::Plain(&p)
                };
                let bpp = make(&s, src, Engine::Auto);
                let der = rsp_asn1::encode(&bpp).unwrap();
                let parsed: BoundProfilePackage = rsp_asn1::decode(&der).unwrap();
                let u = open(&s, &parsed).unwrap_or_else(|e| panic!("{curve} {n} pre={pre}: {e}"));
                assert_eq!(u.profile, p, "{curve} {n} pre={pre}");
                assert_eq!(u.store_metadata_der, s.metadata);
                assert_eq!(u.configure_isdp, s.isdp);
                assert_eq!(u.replace_session_keys.is_some(), pre);
                let expected_segments = n.div_ceil(1007).max(1);
                assert_eq!(bpp.sequence_of86.len(), expected_segments, "{n}");
                for seg in &bpp.sequence_of86 {
                    // 86 82 03F8 ‖ 1008 ‖ MAC at most: 1020 bytes.
                    assert!(seg.0.len() <= 1016, "{n}: segment body {}", seg.0.len());
                }
            }
        }
    }
}

#[test]
fn engines_give_identical_bytes() {
    let s = session(Curve::NistP256, 2);
    let p = profile(50 * 1024 + 3);
    // Seeded otPK + RustCrypto signatures: the whole BPP is deterministic.
    let a = rsp_asn1::encode(&make(&s, ProfileSource::Plain(&p), Engine::Auto)).unwrap();
    let b = rsp_asn1::encode(&make(&s, ProfileSource::Plain(&p), Engine::Portable)).unwrap();
    let c = rsp_asn1::encode(&make(&s, ProfileSource::Plain(&p), Engine::Fused)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
}

/// A resend rebuilt from the kept smdpSign is the first BPP byte for byte, whatever the
/// signing backend (aws-lc's ECDSA is randomized: a second signature would differ).
#[test]
fn a_kept_smdp_sign_rebuilds_the_same_bytes() {
    let s = session(Curve::NistP256, 4);
    let p = profile(20_000);
    let req = |smdp_sign| {
        request(
            &s,
            ProfileSource::Plain(&p),
            Engine::Auto,
            Backend::AwsLc,
            smdp_sign,
        )
    };
    let first = build(&req(None)).unwrap();
    let sign: [u8; 64] = first
        .initialise_secure_channel_request
        .value()
        .smdp_sign
        .as_ref()
        .try_into()
        .unwrap();
    let again = build(&req(Some(sign))).unwrap();
    assert_eq!(
        rsp_asn1::encode(&first).unwrap(),
        rsp_asn1::encode(&again).unwrap()
    );
    open(&s, &again).expect("the rebuilt BPP installs");
    let fresh = build(&req(None)).unwrap();
    assert_ne!(
        fresh.initialise_secure_channel_request.value().smdp_sign,
        first.initialise_secure_channel_request.value().smdp_sign,
        "aws-lc signs with a fresh nonce"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn engines_agree_on_any_segment(data in prop::collection::vec(any::<u8>(), 0..1100), keys in any::<[u8; 48]>()) {
        let k = |i: usize| -> [u8; 16] { keys[i * 16..i * 16 + 16].try_into().unwrap() };
        let mut a = Bsp::new(&k(0), &k(1), &k(2), Engine::Auto);
        let mut b = Bsp::new(&k(0), &k(1), &k(2), Engine::Portable);
        let mut c = Bsp::new(&k(0), &k(1), &k(2), Engine::Fused);
        let (mut oa, mut ob, mut oc) = (Vec::new(), Vec::new(), Vec::new());
        a.encrypt_and_mac(0x86, &data, &mut oa);
        b.encrypt_and_mac(0x86, &data, &mut ob);
        c.encrypt_and_mac(0x86, &data, &mut oc);
        a.mac_only(0x88, &data, &mut oa);
        b.mac_only(0x88, &data, &mut ob);
        c.mac_only(0x88, &data, &mut oc);
        // Oversized input (not an SGP.22 segment, but the API takes it): no panic, same bytes.
        let big = data.repeat(70);
        a.encrypt_and_mac(0x86, &big, &mut oa);
        b.encrypt_and_mac(0x86, &big, &mut ob);
        c.encrypt_and_mac(0x86, &big, &mut oc);
        // The whole-profile path too.
        let (pa, pc) = (a.protect(0x86, &big), c.protect(0x86, &big));
        prop_assert_eq!(pa.iter().collect::<Vec<_>>(), pc.iter().collect::<Vec<_>>());
        prop_assert_eq!(&oa, &ob);
        prop_assert_eq!(oa, oc);
    }
}

#[test]
fn tampering_is_caught_at_the_segment_it_touches() {
    let s = session(Curve::NistP256, 3);
    let p = profile(2500); // three 86 segments
    let ppp = PreProtectedProfile::new(&p, ppk(), Engine::Auto);
    let good = make(&s, ProfileSource::PreProtected(&ppp), Engine::Auto);
    type Part = fn(&mut BoundProfilePackage) -> Vec<&mut rsp_asn1::OctetString>;
    let parts: [(BppCommandId, Part); 4] = [
        (BppCommandId::configureISDP, |b| {
            b.first_sequence_of87.iter_mut().map(|s| &mut s.0).collect()
        }),
        (BppCommandId::storeMetadata, |b| {
            b.sequence_of88.iter_mut().map(|s| &mut s.0).collect()
        }),
        (BppCommandId::replaceSessionKeys, |b| {
            b.second_sequence_of87
                .as_mut()
                .unwrap()
                .iter_mut()
                .map(|s| &mut s.0)
                .collect()
        }),
        (BppCommandId::loadProfileElements, |b| {
            b.sequence_of86.iter_mut().map(|s| &mut s.0).collect()
        }),
    ];
    let mut checked = 0;
    for (cmd, part) in parts {
        let count = part(&mut good.clone()).len();
        for seg in 0..count {
            let len = part(&mut good.clone())[seg].len();
            for pos in 0..len {
                let mut bad = good.clone();
                let mut v = part(&mut bad)[seg].to_vec();
                v[pos] ^= 0x01;
                *part(&mut bad)[seg] = v.into();
                let e = open(&s, &bad).expect_err("tampered BPP accepted");
                assert_eq!(
                    (e.bpp_command_id, e.segment),
                    (cmd, seg),
                    "{cmd:?} segment {seg} byte {pos}: {e}"
                );
                assert_eq!(e.error_reason, ErrorReason::scp03tSecurityError);
                checked += 1;
            }
        }
    }
    assert!(checked > 2500, "{checked}");

    // Dropping or reordering segments breaks the chain at the first affected one.
    let mut dropped = good.clone();
    dropped.sequence_of86.remove(1);
    let e = open(&s, &dropped).unwrap_err();
    assert_eq!(
        (e.bpp_command_id, e.segment),
        (BppCommandId::loadProfileElements, 1)
    );
    let mut swapped = good.clone();
    swapped.sequence_of86.swap(0, 2);
    assert_eq!(open(&s, &swapped).unwrap_err().segment, 0);
}

#[test]
fn secure_channel_checks() {
    let s = session(Curve::BrainpoolP256r1, 4);
    let good = make(&s, ProfileSource::Plain(&profile(100)), Engine::Auto);
    open(&s, &good).unwrap();

    // smdpSign by another key.
    let other = session(Curve::BrainpoolP256r1, 5);
    let e = unwrap(
        &good,
        &UnwrapContext {
            euicc_ot_key: &s.euicc,
            eid: s.eid,
            dp_pb_key: other.dp_pb.public_key(),
            transaction_id: &s.txid,
            backend: Backend::AwsLc,
            engine: Engine::Auto,
        },
    )
    .unwrap_err();
    assert_eq!(
        (e.bpp_command_id, e.error_reason),
        (
            BppCommandId::initialiseSecureChannel,
            ErrorReason::invalidSignature
        )
    );

    // Another session's transaction ID.
    let wrong_txid = TransactionId::new(vec![1; 16]).unwrap();
    let e = unwrap(
        &good,
        &UnwrapContext {
            euicc_ot_key: &s.euicc,
            eid: s.eid,
            dp_pb_key: s.dp_pb.public_key(),
            transaction_id: &wrong_txid,
            backend: Backend::AwsLc,
            engine: Engine::Auto,
        },
    )
    .unwrap_err();
    assert_eq!(e.error_reason, ErrorReason::invalidTransactionId);

    // Another eUICC (other EID → other session keys): the first MAC fails.
    let mut other_eid = s.eid;
    other_eid[15] ^= 1;
    let e = unwrap(
        &good,
        &UnwrapContext {
            euicc_ot_key: &s.euicc,
            eid: other_eid,
            dp_pb_key: s.dp_pb.public_key(),
            transaction_id: &s.txid,
            backend: Backend::AwsLc,
            engine: Engine::Auto,
        },
    )
    .unwrap_err();
    assert_eq!(
        (e.bpp_command_id, e.segment, e.error_reason),
        (
            BppCommandId::configureISDP,
            0,
            ErrorReason::scp03tSecurityError
        )
    );
}

/// `check` (smdp verify-bpp) on our own BPPs, with and without PPK: every step passes, the
/// segments open to what was protected, and a change anywhere is named at its part.
#[test]
fn the_checker_passes_our_bpps_and_names_each_tampering() {
    use rsp_bpp::check::{check, Inputs, Outcome, Secret};
    let s = session(Curve::NistP256, 21);
    let pp = PreProtectedProfile::new(&profile(3000), ppk(), Engine::Auto);
    let inputs = |secret| Inputs {
        secret,
        curve: Curve::NistP256,
        eid: s.eid,
        euicc_otpk: None,
        dp_pb: Some(s.dp_pb.public_key().clone()),
        transaction_id: Some(s.txid.clone()),
        backend: Backend::RustCrypto,
    };
    for source in [
        ProfileSource::Plain(&profile(3000)),
        ProfileSource::PreProtected(&pp),
    ] {
        let der = rsp_asn1::encode(&make(&s, source, Engine::Auto)).unwrap();
        let r = check(&der, &inputs(Secret::EuiccOtsk(*s.euicc.scalar())));
        assert!(r.failure().is_none(), "{:?}", r.steps);
        assert!(r
            .steps
            .iter()
            .all(|st| !matches!(st.outcome, Outcome::Skipped(_)) || st.part == "keys"));
        assert_eq!(r.profile.as_deref(), Some(profile(3000).as_slice()));
        assert_eq!(
            r.ppk.is_some(),
            matches!(source, ProfileSource::PreProtected(_))
        );
        // The SM-DP+'s half of the ECDH gives the same keys.
        let r2 = check(
            &der,
            &Inputs {
                euicc_otpk: Some(s.euicc.public_point().to_vec()),
                ..inputs(Secret::DpOtsk(*s.smdp.scalar()))
            },
        );
        assert!(r2.failure().is_none(), "{:?}", r2.steps);
        assert_eq!(r2.session_keys, r.session_keys);

        // One byte changed in each part: the first failure is there, in SGP.22 terms.
        let bpp: BoundProfilePackage = rsp_asn1::decode(&der).unwrap();
        let at = |needle: &[u8]| der.windows(needle.len()).position(|w| w == needle).unwrap();
        let cases: Vec<(usize, &str, BppCommandId, ErrorReason)> = vec![
            (
                at(&bpp.initialise_secure_channel_request.value().smdp_sign[..8]),
                "BF23 5F37",
                BppCommandId::initialiseSecureChannel,
                ErrorReason::invalidSignature,
            ),
            (
                at(&bpp.first_sequence_of87[0].0[..8]),
                "A0 87[0]",
                BppCommandId::configureISDP,
                ErrorReason::scp03tSecurityError,
            ),
            (
                at(&bpp.sequence_of88[0].0[..8]),
                "A1 88[0]",
                BppCommandId::storeMetadata,
                ErrorReason::scp03tSecurityError,
            ),
            (
                at(&bpp.sequence_of86[2].0[..8]),
                "A3 86[2]",
                BppCommandId::loadProfileElements,
                ErrorReason::scp03tSecurityError,
            ),
        ];
        for (offset, part, cmd, reason) in cases {
            let mut bad = der.clone();
            bad[offset] ^= 0x01;
            let r = check(&bad, &inputs(Secret::EuiccOtsk(*s.euicc.scalar())));
            let (step, f) = r.failure().expect("the change is found");
            assert_eq!(
                (step.part.as_str(), f.bpp_command_id, f.error_reason),
                (part, cmd, reason),
                "{}",
                f.detail
            );
        }
        // Another session's transaction ID, another EID.
        let r = check(
            &der,
            &Inputs {
                transaction_id: Some(TransactionId::new(vec![7; 16]).unwrap()),
                ..inputs(Secret::EuiccOtsk(*s.euicc.scalar()))
            },
        );
        assert_eq!(
            r.failure().unwrap().1.error_reason,
            ErrorReason::invalidTransactionId
        );
        let r = check(
            &der,
            &Inputs {
                eid: [0x89; 16],
                ..inputs(Secret::EuiccOtsk(*s.euicc.scalar()))
            },
        );
        assert_eq!(
            r.failure().unwrap().0.part,
            "A0 87[0]",
            "keys for another EID"
        );
    }
    // Not DER at all, and DER with a trailing byte.
    let der =
        rsp_asn1::encode(&make(&s, ProfileSource::Plain(&profile(10)), Engine::Auto)).unwrap();
    for bad in [
        vec![0xBF, 0x36, 0x05, 0x00],
        [der.as_slice(), &[0]].concat(),
    ] {
        let r = check(&bad, &inputs(Secret::EuiccOtsk(*s.euicc.scalar())));
        assert_eq!(r.failure().unwrap().0.part, "BF36");
    }
}
