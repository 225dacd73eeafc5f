//! The card at the APDU level, driven with lpac's exact framing (`../shared/interop/lpac.md`
//! §3): STORE DATA blocks of 120 and 255 bytes (P1 11/91, P2 from 0 per command), 61xx and
//! GET RESPONSE chains, the BPP split into BF36+BF23 / A0 / A1 header / 88… / A2 / A3 header /
//! 86… commands; and the status words for everything a card refuses.

use crate::common::*;
use rsp_asn1::download::BoundProfilePackage;
use rsp_asn1::es10::ProfileState;
use rsp_asn1::notification::{
    FinalResult, ListNotificationResponse, PendingNotification, ProfileInstallationResult,
    RetrieveNotificationsListResponse,
};
use rsp_asn1::tlv::Tlv;
use rsp_auth::{Backend, Curve};
use veuicc::apdu::{Card, ISD_R_AID};
use veuicc::Euicc;

type TestCard = Card<rsp_auth::rng::Rng>;

fn card(curve: Curve) -> TestCard {
    let mut c = Card::new(
        Euicc::from_pki(&our_pki(), curve, Backend::AwsLc, now()).unwrap(),
        rng(3),
    );
    c.set_time(Some(now()));
    c
}

fn sw(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

/// lpac's `es10x_command`: STORE DATA blocks of `mss` on `channel`, GET RESPONSE while 61xx,
/// the data of every answer concatenated; an error SW ends it.
fn es10x(card: &mut TestCard, channel: u8, der: &[u8], mss: usize) -> Result<Vec<u8>, u16> {
    let cla = 0x80 | channel;
    let blocks: Vec<&[u8]> = der.chunks(mss).collect();
    let mut out = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let p1 = if i + 1 == blocks.len() { 0x91 } else { 0x11 };
        let mut apdu = vec![cla, 0xE2, p1, i as u8, b.len() as u8];
        apdu.extend_from_slice(b);
        let mut r = card.transmit(&apdu);
        loop {
            let s = sw(&r);
            out.extend_from_slice(&r[..r.len() - 2]);
            match s >> 8 {
                0x61 => r = card.transmit(&[cla, 0xC0, 0x00, 0x00, s as u8]),
                x if x & 0xF0 == 0x90 => break,
                _ => return Err(s),
            }
        }
    }
    Ok(out)
}

/// lpac's BPP segmentation (`es10b_load_bound_profile_package_r`): the ES10 commands, each
/// sent as its own STORE DATA chain; the last answer (the BF37) is returned.
fn load_bpp(card: &mut TestCard, channel: u8, bpp: &[u8], mss: usize) -> Result<Vec<u8>, u16> {
    let (outer, _) = Tlv::read(bpp, 0).unwrap();
    let header_len = outer.raw.len() - outer.value.len();
    let mut commands: Vec<Vec<u8>> = Vec::new();
    let mut rest = outer.value;
    let mut first = bpp[..header_len].to_vec();
    while !rest.is_empty() {
        let (t, r) = Tlv::read(rest, 0).unwrap();
        rest = r;
        let h = t.raw.len() - t.value.len();
        match t.tag {
            [0xBF, 0x23] => {
                first.extend_from_slice(t.raw);
                commands.push(std::mem::take(&mut first));
            }
            [0xA0] | [0xA2] => commands.push(t.raw.to_vec()),
            [0xA1] | [0xA3] => {
                commands.push(t.raw[..h].to_vec());
                let mut inner = t.value;
                while !inner.is_empty() {
                    let (c, r) = Tlv::read(inner, 0).unwrap();
                    commands.push(c.raw.to_vec());
                    inner = r;
                }
            }
            other => panic!("unexpected BPP part {other:?}"),
        }
    }
    let mut last = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        last = es10x(card, channel, c, mss)?;
        if i + 1 < commands.len() {
            assert!(last.is_empty(), "intermediate segments answer 9000 alone");
        }
    }
    Ok(last)
}

/// A whole download in APDUs against the in-test SM-DP+; the PIR the card answered.
fn download(card: &mut TestCard, ch: u8, mss: usize, seed: u64) -> ProfileInstallationResult {
    let pki = our_pki();
    let dp = Dp::new(&pki, card.euicc.curve());
    let txid = txid(seed as u8);
    let challenge = es10x(card, ch, &[0xBF, 0x2E, 0x00], mss).unwrap();
    assert_eq!(challenge[..5], [0xBF, 0x2E, 0x12, 0x80, 0x10]);
    let challenge: [u8; 16] = challenge[5..].try_into().unwrap();
    let info1 = es10x(card, ch, &[0xBF, 0x20, 0x00], mss).unwrap();
    assert_eq!(info1, rsp_asn1::encode(&card.euicc.euicc_info1()).unwrap());
    let server_challenge = [seed as u8; 16];
    let req = authenticate_server_request(
        &dp.pki.dp_auth,
        dp.ci_ski(),
        server_signed1(&txid, challenge, server_challenge),
        ctx(Some("MATCHING-ID-1")),
    );
    let resp = es10x(card, ch, &rsp_asn1::encode(&req).unwrap(), mss).unwrap();
    let (auth, verified) = check_authenticate_ok(
        &dp,
        &rsp_asn1::decode(&resp).unwrap(),
        &txid,
        server_challenge,
    );
    let req = prepare_download_request(&dp.pki.dp_pb, &txid, false, None, &auth.euicc_signature1);
    let resp = es10x(card, ch, &rsp_asn1::encode(&req).unwrap(), mss).unwrap();
    let ok = check_prepare_ok(
        &rsp_asn1::decode(&resp).unwrap(),
        &verified.public_key,
        &req,
    );
    let (profile, iccid) = minimal_profile();
    let bpp = bpp(
        &dp.pki.dp_pb,
        &txid,
        *card.euicc.eid().as_bytes(),
        &ok.euicc_signed2.euicc_otpk,
        &metadata(&iccid),
        &profile,
        seed,
    );
    let der = rsp_asn1::encode::<BoundProfilePackage>(&bpp).unwrap();
    let pir = load_bpp(card, ch, &der, mss).unwrap();
    assert_eq!(pir[..2], [0xBF, 0x37]);
    rsp_asn1::decode(&pir).unwrap()
}

#[test]
fn lpac_framing_downloads_manages_and_notifies_at_mss_120_and_255() {
    for (mss, curve) in [(120, Curve::NistP256), (255, Curve::BrainpoolP256r1)] {
        let mut c = card(curve);
        // lpac's stdio driver: logic_channel_open is "open + SELECT ISD-R".
        let ch = c.open_logical_channel(&ISD_R_AID).unwrap();
        assert_eq!(ch, 1);
        // GetEID exactly as lpac sends it, then the GET RESPONSE it sends for 61 15.
        let r = c.transmit(&hex::decode("81E2910006BF3E035C015A").unwrap());
        assert_eq!(r, [0x61, 0x15]);
        let r = c.transmit(&hex::decode("81C0000015").unwrap());
        let mut want = hex::decode("BF3E125A10").unwrap();
        want.extend_from_slice(c.euicc.eid().as_bytes());
        want.extend([0x90, 0x00]);
        assert_eq!(r, want);
        // A short Le fetches part, 61xx says what is left.
        let r = c.transmit(&hex::decode("81E2910006BF3E035C015A").unwrap());
        assert_eq!(r, [0x61, 0x15]);
        let r = c.transmit(&hex::decode("81C0000004").unwrap());
        assert_eq!(r[4..], [0x61, 0x11]);
        let info2 = es10x(&mut c, ch, &[0xBF, 0x22, 0x00], mss).unwrap();
        assert_eq!(info2, rsp_asn1::encode(&c.euicc.euicc_info2()).unwrap());
        assert_eq!(
            es10x(&mut c, ch, &[0xBF, 0x43, 0x00], mss).unwrap(),
            [0xBF, 0x43, 0x02, 0xA0, 0x00]
        );

        let pir = download(&mut c, ch, mss, 21);
        let data = pir.profile_installation_result_data.value();
        assert!(
            matches!(data.final_result, FinalResult::SuccessResult(_)),
            "{pir:?}"
        );
        let p = &c.euicc.installed_profiles()[0];
        assert_eq!(p.state, ProfileState::disabled);
        let iccid = p.iccid.clone();

        // Notifications as `lpac notification process -a -r` walks them.
        let list = es10x(&mut c, ch, &[0xBF, 0x28, 0x00], mss).unwrap();
        let ListNotificationResponse::NotificationMetadataList(meta) =
            rsp_asn1::decode(&list).unwrap()
        else {
            panic!("{list:02X?}")
        };
        assert_eq!(meta.len(), 1);
        let seq = meta[0].seq_number;
        let get = hex::decode(format!("BF2B05A0038001{seq:02X}")).unwrap();
        let got = es10x(&mut c, ch, &get, mss).unwrap();
        let RetrieveNotificationsListResponse::NotificationList(n) =
            rsp_asn1::decode(&got).unwrap()
        else {
            panic!()
        };
        assert!(matches!(&n[0], PendingNotification::ProfileInstallationResult(x) if *x == pir));
        let rm = hex::decode(format!("BF30038001{seq:02X}")).unwrap();
        assert_eq!(
            es10x(&mut c, ch, &rm, mss).unwrap(),
            [0xBF, 0x30, 0x03, 0x80, 0x01, 0x00]
        );
        assert_eq!(
            es10x(&mut c, ch, &rm, mss).unwrap(),
            [0xBF, 0x30, 0x03, 0x80, 0x01, 0x01]
        );

        // ProfileInfoList, SetNickname, Enable, Disable, Delete.
        let info = es10x(&mut c, ch, &[0xBF, 0x2D, 0x00], mss).unwrap();
        let rsp_asn1::es10::ProfileInfoListResponse::ProfileInfoListOk(list) =
            rsp_asn1::decode(&info).unwrap()
        else {
            panic!()
        };
        assert_eq!(list[0].iccid.as_ref(), Some(&iccid));
        let nick = rsp_asn1::encode(&rsp_asn1::es10::SetNicknameRequest {
            iccid: iccid.clone(),
            profile_nickname: "work".into(),
            extensions: None,
        })
        .unwrap();
        assert_eq!(
            es10x(&mut c, ch, &nick, mss).unwrap(),
            [0xBF, 0x29, 0x03, 0x80, 0x01, 0x00]
        );
        assert_eq!(
            c.euicc.profile_info_list()[0].profile_nickname.as_deref(),
            Some("work")
        );
        let id = |tag: u8| {
            let mut v = vec![0xBF, tag, 0x11, 0xA0, 0x0C, 0x5A, 0x0A];
            v.extend_from_slice(iccid.as_bytes());
            v.extend([0x81, 0x01, 0xFF]);
            v
        };
        assert_eq!(
            es10x(&mut c, ch, &id(0x31), mss).unwrap(),
            [0xBF, 0x31, 0x03, 0x80, 0x01, 0x00]
        );
        assert_eq!(c.euicc.installed_profiles()[0].state, ProfileState::enabled);
        assert_eq!(
            es10x(&mut c, ch, &id(0x32), mss).unwrap(),
            [0xBF, 0x32, 0x03, 0x80, 0x01, 0x00]
        );
        let mut del = vec![0xBF, 0x33, 0x0C, 0x5A, 0x0A];
        del.extend_from_slice(iccid.as_bytes());
        assert_eq!(
            es10x(&mut c, ch, &del, mss).unwrap(),
            [0xBF, 0x33, 0x03, 0x80, 0x01, 0x00]
        );
        assert!(c.euicc.installed_profiles().is_empty());
        assert_eq!(
            c.euicc.list_notifications().len(),
            3,
            "enable, disable, delete"
        );

        // Configured addresses: none until set; an empty one clears it.
        let addr = es10x(&mut c, ch, &[0xBF, 0x3C, 0x00], mss).unwrap();
        assert_eq!(
            addr,
            hex::decode("BF3C11810F6C70612E64732E67736D612E636F6D").unwrap()
        );
        let set = hex::decode("BF3F0D800B6578616D706C652E636F6D").unwrap();
        assert_eq!(
            es10x(&mut c, ch, &set, mss).unwrap(),
            [0xBF, 0x3F, 0x03, 0x80, 0x01, 0x00]
        );
        assert_eq!(c.euicc.default_dp_address(), Some("example.com"));
        assert_eq!(
            es10x(&mut c, ch, &[0xBF, 0x3F, 0x02, 0x80, 0x00], mss).unwrap()[5],
            0
        );
        assert_eq!(c.euicc.default_dp_address(), None);
        c.close_logical_channel(ch).unwrap();
        assert_eq!(
            sw(&c.transmit(&[0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00])),
            0x6881
        );
    }
}

/// Edits a BPP (the decoded value and its DER, whichever the case needs).
type BppMutation = dyn Fn(&mut BoundProfilePackage, &mut Vec<u8>);

/// A hostile SM-DP+'s BPP, through the APDU interface: each mutation ends in a signed
/// errorResult with the SGP.22 reason (the card keeps no half-installed profile).
#[test]
fn hostile_bpps_end_in_signed_errors_and_no_profile() {
    use rsp_asn1::download::Segment86;
    use rsp_asn1::notification::ErrorReason;
    let pki = our_pki();
    let dp = Dp::new(&pki, Curve::NistP256);
    let cases: [(&str, &BppMutation, ErrorReason); 3] = [
        (
            "a bit of the last 86 segment's MAC",
            &|_, der| {
                let n = der.len();
                der[n - 3] ^= 0x01;
            },
            ErrorReason::scp03tSecurityError,
        ),
        (
            "an 86 segment over 1020 bytes",
            &|b, der| {
                b.sequence_of86.push(Segment86(vec![0x5A; 1100].into()));
                *der = rsp_asn1::encode(&*b).unwrap();
            },
            ErrorReason::scp03tStructureError,
        ),
        (
            "the BF23 smdpSign",
            &|b, der| {
                let raw = b.initialise_secure_channel_request.raw().to_vec();
                let at = der.windows(raw.len()).position(|w| w == raw).unwrap() + raw.len() - 3;
                der[at] ^= 0x01;
            },
            ErrorReason::invalidSignature,
        ),
    ];
    for (i, (what, mutate, reason)) in cases.into_iter().enumerate() {
        let mut c = card(Curve::NistP256);
        let ch = c.open_logical_channel(&ISD_R_AID).unwrap();
        let t = txid(40 + i as u8);
        let challenge = es10x(&mut c, ch, &[0xBF, 0x2E, 0x00], 120).unwrap();
        let challenge: [u8; 16] = challenge[5..].try_into().unwrap();
        let req = authenticate_server_request(
            &dp.pki.dp_auth,
            dp.ci_ski(),
            server_signed1(&t, challenge, [9; 16]),
            ctx(None),
        );
        let resp = es10x(&mut c, ch, &rsp_asn1::encode(&req).unwrap(), 120).unwrap();
        let (auth, verified) =
            check_authenticate_ok(&dp, &rsp_asn1::decode(&resp).unwrap(), &t, [9; 16]);
        let req = prepare_download_request(&dp.pki.dp_pb, &t, false, None, &auth.euicc_signature1);
        let resp = es10x(&mut c, ch, &rsp_asn1::encode(&req).unwrap(), 120).unwrap();
        let ok = check_prepare_ok(
            &rsp_asn1::decode(&resp).unwrap(),
            &verified.public_key,
            &req,
        );
        let (profile, iccid) = minimal_profile();
        let mut b = bpp(
            &dp.pki.dp_pb,
            &t,
            *c.euicc.eid().as_bytes(),
            &ok.euicc_signed2.euicc_otpk,
            &metadata(&iccid),
            &profile,
            9,
        );
        let mut der = rsp_asn1::encode::<BoundProfilePackage>(&b).unwrap();
        mutate(&mut b, &mut der);
        let pir: ProfileInstallationResult =
            rsp_asn1::decode(&load_bpp(&mut c, ch, &der, 120).unwrap()).unwrap();
        let data = pir.profile_installation_result_data.value();
        match &data.final_result {
            FinalResult::ErrorResult(e) => assert_eq!(e.error_reason, reason, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(c.euicc.installed_profiles().is_empty(), "{what}");
        // The result is signed like any PIR: the SM-DP+ can trust it.
        let sig = rsp_auth::sig::raw_signature(&pir.euicc_sign_pir).unwrap();
        c.euicc
            .public_key()
            .verify_raw(
                rsp_auth::sig::input::euicc_sign_pir(&pir.profile_installation_result_data),
                &sig,
                Backend::RustCrypto,
            )
            .unwrap();
    }
}

#[test]
fn refused_apdus_get_their_status_word_and_change_nothing() {
    let mut c = card(Curve::NistP256);
    let t = |c: &mut TestCard, h: &str| sw(&c.transmit(&hex::decode(h).unwrap()));
    // Before SELECT, on the basic channel: conditions not satisfied.
    assert_eq!(t(&mut c, "80E2910003BF2E00"), 0x6985);
    assert_eq!(
        t(&mut c, "00A4040010A0000005591010FFFFFFFF8900000200"),
        0x6A82
    );
    assert_eq!(
        t(&mut c, "00A4040010A0000005591010FFFFFFFF8900000100"),
        0x9000
    );
    assert_eq!(t(&mut c, "80E2910003BF2E00"), 0x6115);
    assert_eq!(t(&mut c, "80C0000015"), 0x9000);
    // MANAGE CHANNEL open / close.
    assert_eq!(
        c.transmit(&hex::decode("0070000001").unwrap()),
        [0x01, 0x90, 0x00]
    );
    assert_eq!(
        t(&mut c, "01A4040010A0000005591010FFFFFFFF8900000100"),
        0x9000
    );
    assert_eq!(t(&mut c, "81E2910003BF2E00"), 0x6115);
    assert_eq!(t(&mut c, "0070800100"), 0x9000);
    assert_eq!(t(&mut c, "81E2910003BF2E00"), 0x6881);
    assert_eq!(t(&mut c, "0070800000"), 0x6A86, "the basic channel stays");
    for (apdu, want) in [
        ("80E2", 0x6700),             // too short
        ("40E2910003BF2E00", 0x6E00), // class with secure messaging
        ("8CE2910003BF2E00", 0x6E00),
        ("00E2910003BF2E00", 0x6E00), // STORE DATA is proprietary class
        ("80CA00005A", 0x6D00),       // GET DATA: not here
        ("80E2510003BF2E00", 0x6A86), // P1 not 11/91
        ("80E2910103BF2E00", 0x6A86), // P2 1 without a block 0
        ("80E2910004BF2E00", 0x6700), // Lc longer than the data
        ("80E2910002BF2E00", 0x6A80), // Lc 2 and Le: a truncated TLV
        ("80E2910002BF2E0000", 0x6700), // Lc shorter than the data
        ("80E29100", 0x6700),         // no data at all
        ("80E2910003BF5F00", 0x6A88), // unknown ES10 function
        ("80E29100023000", 0x6A88),
        ("80E2910003BF2E01", 0x6700),   // TLV length beyond the command
        ("80E2910004BF2E0100", 0x6A80), // BF2E with contents
        ("80E2910006BF3E035C0150", 0x6A88), // GetEuiccData for another tag
        ("80E2910005BF38020500", 0x6A80), // AuthenticateServer that does not decode
        ("80C0000010", 0x6985),         // GET RESPONSE with nothing pending
        ("80C0010000", 0x6A86),
        ("00A4000010A0000005591010FFFFFFFF8900000100", 0x6A86),
    ] {
        assert_eq!(t(&mut c, apdu), want, "{apdu}");
    }
    // Blocks out of order abandon the command.
    assert_eq!(t(&mut c, "80E2110002BF2E"), 0x9000);
    assert_eq!(t(&mut c, "80E2910201"), 0x6700);
    assert_eq!(t(&mut c, "80E291020100"), 0x6A86);
    assert_eq!(t(&mut c, "80E291010100"), 0x6A86, "the command was dropped");
    // No session: PrepareDownload is answered with its error alternative, not a crash;
    // a BPP without one is refused with 6985 once whole.
    assert!(c.euicc.installed_profiles().is_empty());
    // Any bytes: an R-APDU with a status word, never a panic.
    let mut r = rng(77);
    for _ in 0..3000 {
        let n = (rand_core::Rng::next_u32(&mut r) % 40) as usize;
        let mut apdu = vec![0u8; n];
        rand_core::Rng::fill_bytes(&mut r, &mut apdu);
        if n >= 2 && apdu[0] & 1 == 0 {
            apdu[0] = 0x80;
            apdu[1] = 0xE2;
        }
        let resp = c.transmit(&apdu);
        assert!(resp.len() >= 2);
    }
    assert!(c.euicc.installed_profiles().is_empty());
}

/// eUICCMemoryReset (BF34): operational profiles deleted whatever their state, each with its
/// delete notification; the default SM-DP+ address cleared; nothing left is nothingToDelete.
#[test]
fn memory_reset_deletes_operational_profiles_and_the_default_address() {
    let mut c = card(Curve::NistP256);
    for (n, enabled) in [(1u32, true), (2, false)] {
        let payload = format!("890010100000000{n:04}");
        let iccid = format!("{payload}{}", rsp_asn1::ids::luhn_check_digit(&payload));
        let package = rsp_saip::MinimalUsim {
            iccid,
            ..Default::default()
        }
        .build()
        .unwrap()
        .to_der();
        c.euicc
            .preinstall(veuicc::Preinstalled {
                package,
                service_provider_name: "Op".into(),
                profile_name: "p".into(),
                notification_address: Some("smdp.example".into()),
                enabled,
            })
            .unwrap();
    }
    c.euicc.set_default_dp_address(Some("smdp.example".into()));
    let ch = c.open_logical_channel(&ISD_R_AID).unwrap();
    // resetOptions: deleteOperationalProfiles(0) and resetDefaultSmdpAddress(2).
    let reset = hex::decode("BF3404820205A0").unwrap();
    assert_eq!(
        es10x(&mut c, ch, &reset, 120).unwrap(),
        [0xBF, 0x34, 0x03, 0x80, 0x01, 0x00]
    );
    assert!(c.euicc.installed_profiles().is_empty());
    assert_eq!(c.euicc.default_dp_address(), None);
    assert_eq!(
        c.euicc.list_notifications().len(),
        2,
        "two delete notifications"
    );
    assert_eq!(
        es10x(&mut c, ch, &reset, 120).unwrap(),
        [0xBF, 0x34, 0x03, 0x80, 0x01, 0x01],
        "nothingToDelete"
    );
}
