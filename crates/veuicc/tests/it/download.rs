//! The eUICC side of a whole download against a minimal in-test SM-DP+: happy paths on both
//! curves with our PKI and the SGP.26 one, and each check the eUICC makes on server input.

use crate::common::*;
use rsp_asn1::auth::{
    AuthenticateErrorCode, AuthenticateServerRequest, AuthenticateServerResponse,
};
use rsp_asn1::download::{DownloadErrorCode, PrepareDownloadResponse};
use rsp_asn1::es10::ProfileState;
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::{
    BppCommandId, CancelSessionReason, CancelSessionResponse, CancelSessionResponseError,
    DeleteNotificationStatus, ErrorReason, FinalResult, PendingNotification,
    ProfileInstallationResult,
};
use rsp_asn1::tlv::Tlv;
use rsp_asn1::ObjectIdentifier;
use rsp_auth::pki::{GenerateOptions, Pki};
use rsp_auth::sig::{input, raw_signature};
use rsp_auth::{Backend, Curve};
use veuicc::sima::{pe_status, EuiccResponse};
use veuicc::{lpa, Error, Euicc};

fn smdp_oid() -> ObjectIdentifier {
    ObjectIdentifier::new(vec![2, 999, 10]).unwrap()
}

fn euicc(pki: &Pki, curve: Curve) -> Euicc {
    Euicc::from_pki(pki, curve, Backend::AwsLc, now()).unwrap()
}

/// Checks the PIR the way the SM-DP+ does: over the wire, euiccSignPIR over the raw BF27.
fn verify_pir(euicc: &Euicc, pir: &ProfileInstallationResult) -> ProfileInstallationResult {
    let wire = rsp_asn1::encode(pir).unwrap();
    let received: ProfileInstallationResult = rsp_asn1::decode(&wire).unwrap();
    let raw = received.profile_installation_result_data.raw();
    assert_eq!(raw[..2], [0xBF, 0x27]);
    let sig = raw_signature(&received.euicc_sign_pir).unwrap();
    for b in [Backend::AwsLc, Backend::RustCrypto] {
        euicc
            .public_key()
            .verify_raw(
                input::euicc_sign_pir(&received.profile_installation_result_data),
                &sig,
                b,
            )
            .expect("euiccSignPIR verifies");
    }
    received
}

/// A whole download; returns the PIR as the SM-DP+ receives it.
fn download(
    euicc: &mut Euicc,
    dp: &Dp<'_>,
    txid: &rsp_asn1::TransactionId,
    profile: &[u8],
    iccid: &Iccid,
) -> ProfileInstallationResult {
    let p = authenticate_and_prepare(euicc, dp, txid, None, None, 11);
    let bpp = bpp(
        &dp.pki.dp_pb,
        txid,
        *euicc.eid().as_bytes(),
        &p.ok.euicc_signed2.euicc_otpk,
        &metadata(iccid),
        profile,
        12,
    );
    let pir = euicc.load_bound_profile_package(&bpp).unwrap();
    verify_pir(euicc, &pir)
}

fn happy_path(pki: &Pki, curve: Curve, profile: &[u8], iccid: &Iccid) {
    let dp = Dp::new(pki, curve);
    let mut e = euicc(pki, curve);
    assert_eq!(e.curve(), curve);
    let info1 = e.euicc_info1();
    assert!(info1
        .euicc_ci_pkid_list_for_signing
        .iter()
        .any(|k| k.as_bytes() == dp.ci_ski()));
    assert_eq!(
        info1.euicc_ci_pkid_list_for_verification.len(),
        pki.curves.len()
    );

    let txid = txid(0x42);
    let pir = download(&mut e, &dp, &txid, profile, iccid);
    let data = pir.profile_installation_result_data.value();
    assert_eq!(data.transaction_id, txid);
    assert_eq!(data.smdp_oid, Some(smdp_oid()));
    let md = &data.notification_metadata;
    assert_eq!(md.seq_number, 1);
    assert_eq!(md.notification_address, ADDRESS);
    assert_eq!(md.iccid.as_ref(), Some(iccid));
    assert_eq!(md.profile_management_operation.set_bits(), [0]);
    // notificationInstall alone in DER: 81 02 07 80.
    let raw = pir.profile_installation_result_data.raw();
    assert!(raw.windows(4).any(|w| w == [0x81, 0x02, 0x07, 0x80]));
    let FinalResult::SuccessResult(ok) = &data.final_result else {
        panic!(
            "install failed: {:?} ({:?})",
            data.final_result,
            e.last_error()
        );
    };
    assert_eq!(
        hex::encode_upper(&ok.aid),
        "A0000005591010FFFFFFFF8900001000"
    );
    assert_eq!(
        EuiccResponse::from_der(&ok.sima_response).unwrap(),
        EuiccResponse::success()
    );

    let installed = e.installed_profiles();
    assert_eq!(installed.len(), 1);
    assert_eq!(&installed[0].iccid, iccid);
    assert_eq!(installed[0].state, ProfileState::disabled);
    assert_eq!(installed[0].package, profile);
    assert_eq!(installed[0].smdp_oid, smdp_oid());
    let infos = e.profile_info_list();
    assert_eq!(infos[0].iccid.as_ref(), Some(iccid));
    assert_eq!(infos[0].profile_name.as_deref(), Some("veuicc test"));

    // extCardResource counts the profile and its memory.
    let info2 = e.euicc_info2();
    let ecr = Tlv::read(&info2.ext_card_resource, 0).unwrap().0;
    assert_eq!((ecr.tag, ecr.value), (&[0x81u8][..], &[1u8][..]));
    assert_eq!(
        e.free_memory(),
        veuicc::Limits::default().memory - profile.len()
    );

    // The PIR is pending until the LPA has delivered it.
    assert_eq!(e.pending_notifications().len(), 1);
    assert_eq!(e.list_notifications()[0].seq_number, 1);
    assert!(matches!(
        e.retrieve_notification(1),
        Some(PendingNotification::ProfileInstallationResult(_))
    ));
    let req = lpa::handle_notification_request(&e.pending_notifications()[0]).unwrap();
    assert_eq!(req.pending_notification.as_bytes()[..2], [0xBF, 0x37]);
    assert_eq!(e.remove_notification(1), DeleteNotificationStatus::ok);
    assert_eq!(
        e.remove_notification(1),
        DeleteNotificationStatus::nothingToDelete
    );
    assert!(e.pending_notifications().is_empty());

    // The session is over: nothing to cancel.
    assert_eq!(
        e.cancel_session(&txid, CancelSessionReason::endUserRejection),
        CancelSessionResponse::CancelSessionResponseError(
            CancelSessionResponseError::invalidTransactionId
        )
    );

    // A second profile goes to the next ISD-P with the next seqNumber.
    let usim = rsp_saip::MinimalUsim {
        iccid: "89001010000000000026".into(),
        ..Default::default()
    };
    let second = usim.build().unwrap().to_der();
    let iccid2 = Iccid::from_digits(&usim.iccid).unwrap();
    assert!(iccid2.luhn_ok());
    let pir = download(&mut e, &dp, &crate::common::txid(0x43), &second, &iccid2);
    let data = pir.profile_installation_result_data.value();
    assert_eq!(data.notification_metadata.seq_number, 2);
    let FinalResult::SuccessResult(ok) = &data.final_result else {
        panic!("second install failed: {:?}", e.last_error());
    };
    assert_eq!(
        hex::encode_upper(&ok.aid),
        "A0000005591010FFFFFFFF8900001100"
    );
    assert_eq!(e.installed_profiles().len(), 2);
}

#[test]
fn happy_path_our_pki_both_curves() {
    let pki = our_pki();
    let (profile, iccid) = minimal_profile();
    for curve in Curve::ALL {
        happy_path(&pki, curve, &profile, &iccid);
    }
}

#[test]
fn happy_path_sgp26_both_curves_with_a_ts48_profile() {
    let Some(pki) = sgp26_pki() else { return };
    let Some(ts48) = rsp_shared::file_for_test("profiles/ts48/ts48-v7-SAIP2.3_NoBERTLV.der") else {
        return;
    };
    let iccid = Iccid::from_digits("89000123456789012341").unwrap();
    for curve in Curve::ALL {
        let e = euicc(&pki, curve);
        assert_eq!(e.eid().to_string(), "89049032123451234512345678901235");
        happy_path(&pki, curve, &ts48, &iccid);
    }
}

#[test]
fn rustcrypto_backend_is_deterministic_on_the_signed_bytes() {
    let pki = our_pki();
    let dp = Dp::new(&pki, Curve::NistP256);
    let run = || {
        let mut e = Euicc::from_pki(&pki, Curve::NistP256, Backend::RustCrypto, now()).unwrap();
        let p = authenticate_and_prepare(&mut e, &dp, &txid(1), None, None, 5);
        (
            p.auth.euicc_signed1.raw().to_vec(),
            p.auth.euicc_signature1.to_vec(),
            p.ok.euicc_signed2.raw().to_vec(),
        )
    };
    assert_eq!(run(), run());
}

fn auth_error(resp: &AuthenticateServerResponse) -> AuthenticateErrorCode {
    match resp {
        AuthenticateServerResponse::AuthenticateResponseError(e) => e.authenticate_error_code,
        AuthenticateServerResponse::AuthenticateResponseOk(_) => panic!("accepted"),
    }
}

#[test]
fn authenticate_server_refusals() {
    let pki = our_pki();
    let other = Pki::generate(&GenerateOptions::default(), &mut rng(7)).unwrap();
    for curve in Curve::ALL {
        let dp = Dp::new(&pki, curve);
        let foreign = Dp::new(&other, curve);
        let mut e = euicc(&pki, curve);
        let t = txid(9);
        let mut r = rng(1);
        let mut attempt = |e: &mut Euicc, build: &dyn Fn([u8; 16]) -> AuthenticateServerRequest| {
            let c = e.get_euicc_challenge(&mut r);
            let resp = e.authenticate_server(&build(c), now());
            if let AuthenticateServerResponse::AuthenticateResponseError(err) = &resp {
                assert_eq!(err.transaction_id, t, "error carries serverSigned1's txid");
            }
            (
                auth_error(&resp),
                e.last_error().unwrap_or_default().to_string(),
            )
        };
        let good = |c| {
            authenticate_server_request(
                &dp.pki.dp_auth,
                dp.ci_ski(),
                server_signed1(&t, c, [1; 16]),
                ctx(None),
            )
        };

        // serverSignature1 with one bit flipped.
        let (code, why) = attempt(&mut e, &|c| {
            let mut req = good(c);
            let mut sig = req.server_signature1.to_vec();
            sig[10] ^= 1;
            req.server_signature1 = sig.into();
            req
        });
        assert_eq!(code, AuthenticateErrorCode::invalidSignature, "{why}");

        // serverSignature1 over another serverSigned1 (a different server challenge).
        let (code, _) = attempt(&mut e, &|c| {
            let mut req = good(c);
            req.server_signed1 = server_signed1(&t, c, [2; 16]);
            req
        });
        assert_eq!(code, AuthenticateErrorCode::invalidSignature);

        // A DER signature where raw r‖s belongs.
        let (code, _) = attempt(&mut e, &|c| {
            let mut req = good(c);
            req.server_signature1 = dp
                .pki
                .dp_auth
                .key
                .sign_der(
                    input::server_signature1(&req.server_signed1),
                    Backend::RustCrypto,
                )
                .unwrap()
                .into();
            req
        });
        assert_eq!(code, AuthenticateErrorCode::invalidSignature);

        // euiccChallenge not the one issued (validly signed by the server).
        let (code, _) = attempt(&mut e, &|c| {
            let mut wrong = c;
            wrong[0] ^= 0xFF;
            authenticate_server_request(
                &dp.pki.dp_auth,
                dp.ci_ski(),
                server_signed1(&t, wrong, [1; 16]),
                ctx(None),
            )
        });
        assert_eq!(code, AuthenticateErrorCode::euiccChallengeMismatch);

        // CERT.DPauth (and signature) of an SM-DP+ under a CI this eUICC does not know.
        let (code, why) = attempt(&mut e, &|c| {
            authenticate_server_request(
                &foreign.pki.dp_auth,
                dp.ci_ski(),
                server_signed1(&t, c, [1; 16]),
                ctx(None),
            )
        });
        assert_eq!(code, AuthenticateErrorCode::ciPKUnknown, "{why}");

        // CERT.DPpb presented as CERT.DPauth: wrong role policy.
        let (code, _) = attempt(&mut e, &|c| {
            authenticate_server_request(
                &dp.pki.dp_pb,
                dp.ci_ski(),
                server_signed1(&t, c, [1; 16]),
                ctx(None),
            )
        });
        assert_eq!(code, AuthenticateErrorCode::invalidCertificate);

        // Not a certificate at all (one SEQUENCE, nothing X.509 in it).
        let (code, _) = attempt(&mut e, &|c| {
            let mut req = good(c);
            req.server_certificate =
                rsp_asn1::raw::Certificate::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap();
            req
        });
        assert_eq!(code, AuthenticateErrorCode::invalidCertificate);

        // euiccCiPKIdToBeUsed not the CI of the eUICC's chain.
        let (code, _) = attempt(&mut e, &|c| {
            authenticate_server_request(
                &dp.pki.dp_auth,
                foreign.ci_ski(),
                server_signed1(&t, c, [1; 16]),
                ctx(None),
            )
        });
        assert_eq!(code, AuthenticateErrorCode::ciPKUnknown);

        // No challenge outstanding: the last one was used up by the refusal above.
        let c = e.get_euicc_challenge(&mut rng(2));
        let req = good(c);
        assert!(matches!(
            e.authenticate_server(&req, now()),
            AuthenticateServerResponse::AuthenticateResponseOk(_)
        ));
        assert_eq!(
            auth_error(&e.authenticate_server(&req, now())),
            AuthenticateErrorCode::noSessionContext
        );

        // CERT.DPauth expired (after 2054-12-25).
        let late = now() + std::time::Duration::from_secs(40 * 365 * 86_400);
        let c = e.get_euicc_challenge(&mut rng(3));
        assert_eq!(
            auth_error(&e.authenticate_server(&good(c), late)),
            AuthenticateErrorCode::invalidCertificate
        );
    }
}

#[test]
fn prepare_download_refusals() {
    let pki = our_pki();
    let other = Pki::generate(&GenerateOptions::default(), &mut rng(8)).unwrap();
    let curve = Curve::BrainpoolP256r1;
    let dp = Dp::new(&pki, curve);
    let foreign = Dp::new(&other, curve);
    let mut e = euicc(&pki, curve);
    let t = txid(3);
    let mut r = rng(4);

    let code = |resp: PrepareDownloadResponse| match resp {
        PrepareDownloadResponse::DownloadResponseError(err) => err.download_error_code,
        PrepareDownloadResponse::DownloadResponseOk(_) => panic!("accepted"),
    };

    // Before any AuthenticateServer.
    let req = prepare_download_request(&dp.pki.dp_pb, &t, false, None, &[0; 64]);
    assert_eq!(
        code(e.prepare_download(&req, None, &mut r, now())),
        DownloadErrorCode::noSessionContext
    );

    let c = e.get_euicc_challenge(&mut r);
    let resp = e.authenticate_server(
        &authenticate_server_request(
            &dp.pki.dp_auth,
            dp.ci_ski(),
            server_signed1(&t, c, [5; 16]),
            ctx(None),
        ),
        now(),
    );
    let (auth, verified) = check_authenticate_ok(&dp, &resp, &t, [5; 16]);
    let sig1 = auth.euicc_signature1.to_vec();
    let good = || prepare_download_request(&dp.pki.dp_pb, &t, false, None, &sig1);

    // smdpSignature2 with a flipped bit.
    let mut req = good();
    let mut s = req.smdp_signature2.to_vec();
    s[63] ^= 0x80;
    req.smdp_signature2 = s.into();
    let resp = e.prepare_download(&req, None, &mut r, now());
    if let PrepareDownloadResponse::DownloadResponseError(err) = &resp {
        assert_eq!(err.transaction_id, t);
    }
    assert_eq!(code(resp), DownloadErrorCode::invalidSignature);

    // smdpSignature2 over another euiccSignature1.
    let req = prepare_download_request(&dp.pki.dp_pb, &t, false, None, &[7; 64]);
    assert_eq!(
        code(e.prepare_download(&req, None, &mut r, now())),
        DownloadErrorCode::invalidSignature
    );

    // smdpSigned2 of another transaction, validly signed.
    let req = prepare_download_request(&dp.pki.dp_pb, &txid(4), false, None, &sig1);
    assert_eq!(
        code(e.prepare_download(&req, None, &mut r, now())),
        DownloadErrorCode::invalidTransactionId
    );

    // CERT.DPpb under an unknown CI; CERT.DPauth where CERT.DPpb belongs.
    let req = prepare_download_request(&foreign.pki.dp_pb, &t, false, None, &sig1);
    assert_eq!(
        code(e.prepare_download(&req, None, &mut r, now())),
        DownloadErrorCode::invalidCertificate
    );
    let req = prepare_download_request(&dp.pki.dp_auth, &t, false, None, &sig1);
    assert_eq!(
        code(e.prepare_download(&req, None, &mut r, now())),
        DownloadErrorCode::invalidCertificate
    );

    // CERT.DPpb with another SM-DP+ OID than CERT.DPauth.
    let odd = Pki::generate(
        &GenerateOptions {
            smdp_oid: vec![2, 999, 77],
            ..GenerateOptions::default()
        },
        &mut rng(9),
    )
    .unwrap();
    let mut mixed = euicc(&odd, curve);
    let odd_dp = Dp::new(&odd, curve);
    let c = mixed.get_euicc_challenge(&mut r);
    let resp = mixed.authenticate_server(
        &authenticate_server_request(
            &odd_dp.pki.dp_auth,
            odd_dp.ci_ski(),
            server_signed1(&t, c, [6; 16]),
            ctx(None),
        ),
        now(),
    );
    let (a, _) = check_authenticate_ok(&odd_dp, &resp, &t, [6; 16]);
    // Re-issue DPpb under the same CI with OID 2.999.10: same CI, different OID.
    let ci = rsp_auth::generate::Issued {
        cert: odd_dp.pki.ci.clone(),
        key: rsp_auth::SigningKey::from_scalar(
            curve,
            &odd_dp.pki.ci_key.as_ref().unwrap().scalar(),
        )
        .unwrap(),
    };
    let pb_key = rsp_auth::SigningKey::generate(curve, &mut r);
    let pb_cert = rsp_auth::generate::issue(
        &rsp_auth::generate::Profile {
            role: rsp_auth::cert::Role::DpPb,
            subject: vec![("CN", "other OID pb".into())],
            not_before: odd_dp.pki.dp_pb.cert.not_before,
            not_after: odd_dp.pki.dp_pb.cert.not_after,
            registered_id: Some(vec![2, 999, 10]),
            dns_names: Vec::new(),
            eid_prefix: None,
        },
        &pb_key,
        Some(&ci),
        &mut r,
    )
    .unwrap();
    let pb = rsp_auth::generate::Issued {
        cert: pb_cert,
        key: pb_key,
    };
    let req = prepare_download_request(&pb, &t, false, None, &a.euicc_signature1);
    assert_eq!(
        code(mixed.prepare_download(&req, None, &mut r, now())),
        DownloadErrorCode::invalidCertificate,
        "{:?}",
        mixed.last_error()
    );

    // After all that, the valid request still goes through in the same session.
    let req = good();
    let ok = check_prepare_ok(
        &e.prepare_download(&req, None, &mut r, now()),
        &verified.public_key,
        &req,
    );
    assert!(ok.euicc_signed2.hash_cc.is_none());
    assert_eq!(ok.euicc_signed2.euicc_otpk.len(), 65);
}

#[test]
fn confirmation_code_hash() {
    let pki = our_pki();
    let dp = Dp::new(&pki, Curve::NistP256);
    let mut e = euicc(&pki, Curve::NistP256);
    let t = txid(0x5A);
    let want = expected_hash_cc("12345678", &t);
    assert_eq!(lpa::hash_cc("12345678", &t), want);
    assert_ne!(lpa::hash_cc("12345679", &t), want);

    // The eUICC computes it from the code the user typed.
    let p = authenticate_and_prepare(&mut e, &dp, &t, Some("12345678"), None, 21);
    assert_eq!(p.ok.euicc_signed2.hash_cc.as_ref(), Some(&want));

    // Or passes on the LPA's hashCc unchanged; none when the LPA sent none.
    let p = authenticate_and_prepare(&mut e, &dp, &t, None, None, 22);
    assert!(p.ok.euicc_signed2.hash_cc.is_none());
    let mut r = rng(23);
    let c = e.get_euicc_challenge(&mut r);
    let resp = e.authenticate_server(
        &authenticate_server_request(
            &dp.pki.dp_auth,
            dp.ci_ski(),
            server_signed1(&t, c, [8; 16]),
            ctx(None),
        ),
        now(),
    );
    let (auth, verified) = check_authenticate_ok(&dp, &resp, &t, [8; 16]);
    let mut req = prepare_download_request(&dp.pki.dp_pb, &t, true, None, &auth.euicc_signature1);
    req.hash_cc = Some(want.clone());
    let ok = check_prepare_ok(
        &e.prepare_download(&req, None, &mut r, now()),
        &verified.public_key,
        &req,
    );
    assert_eq!(ok.euicc_signed2.hash_cc, Some(want.clone()));
    let req = prepare_download_request(&dp.pki.dp_pb, &t, true, None, &auth.euicc_signature1);
    let ok = check_prepare_ok(
        &e.prepare_download(&req, None, &mut r, now()),
        &verified.public_key,
        &req,
    );
    assert!(ok.euicc_signed2.hash_cc.is_none());

    // Not required: no hashCc even if a code is at hand.
    let p = authenticate_and_prepare(&mut e, &dp, &t, None, None, 24);
    assert!(p.ok.euicc_signed2.hash_cc.is_none());
}

#[test]
fn tampered_bpp_segment_gives_a_signed_error_result() {
    let pki = our_pki();
    let (profile, iccid) = minimal_profile();
    for curve in Curve::ALL {
        let dp = Dp::new(&pki, curve);
        let mut e = euicc(&pki, curve);
        let t = txid(0x77);
        let p = authenticate_and_prepare(&mut e, &dp, &t, None, None, 31);
        let mut b = bpp(
            &dp.pki.dp_pb,
            &t,
            *e.eid().as_bytes(),
            &p.ok.euicc_signed2.euicc_otpk,
            &metadata(&iccid),
            &profile,
            32,
        );
        let last = b.sequence_of86.len() - 1;
        let mut seg = b.sequence_of86[last].0.to_vec();
        seg[5] ^= 0x01;
        b.sequence_of86[last].0 = seg.into();
        let pir = e.load_bound_profile_package(&b).unwrap();
        let pir = verify_pir(&e, &pir);
        let data = pir.profile_installation_result_data.value();
        let FinalResult::ErrorResult(err) = &data.final_result else {
            panic!("tampered BPP installed");
        };
        assert_eq!(err.bpp_command_id, BppCommandId::loadProfileElements);
        assert_eq!(err.error_reason, ErrorReason::scp03tSecurityError);
        // The metadata segments were fine: the ICCID is known.
        assert_eq!(data.notification_metadata.iccid.as_ref(), Some(&iccid));
        assert_eq!(data.smdp_oid, Some(smdp_oid()));
        assert!(e.installed_profiles().is_empty());
        assert_eq!(e.pending_notifications().len(), 1);

        // The LPA cancels the failed session (lpac does); the signature verifies.
        let resp = e.cancel_session(&t, CancelSessionReason::loadBppExecutionError);
        let CancelSessionResponse::CancelSessionResponseOk(ok) = resp else {
            panic!("cancel refused: {resp:?}");
        };
        let signed = ok.euicc_cancel_session_signed.value();
        assert_eq!(signed.reason, CancelSessionReason::loadBppExecutionError);
        let sig = raw_signature(&ok.euicc_cancel_session_signature).unwrap();
        e.public_key()
            .verify_raw(
                input::euicc_cancel_session(&ok.euicc_cancel_session_signed),
                &sig,
                Backend::AwsLc,
            )
            .unwrap();

        // A tampered smdpSign (BF23) is refused before any segment.
        let p = authenticate_and_prepare(&mut e, &dp, &t, None, None, 33);
        let good = bpp(
            &dp.pki.dp_pb,
            &t,
            *e.eid().as_bytes(),
            &p.ok.euicc_signed2.euicc_otpk,
            &metadata(&iccid),
            &profile,
            34,
        );
        let mut isc = good.initialise_secure_channel_request.value().clone();
        let mut sign = isc.smdp_sign.to_vec();
        sign[0] ^= 1;
        isc.smdp_sign = sign.into();
        let mut bad = good.clone();
        bad.initialise_secure_channel_request = rsp_asn1::raw::Signed::new(isc).unwrap();
        let pir = e.load_bound_profile_package(&bad).unwrap();
        let pir = verify_pir(&e, &pir);
        let data = pir.profile_installation_result_data.value();
        let FinalResult::ErrorResult(err) = &data.final_result else {
            panic!("bad smdpSign accepted");
        };
        assert_eq!(
            (err.bpp_command_id, err.error_reason),
            (
                BppCommandId::initialiseSecureChannel,
                ErrorReason::invalidSignature
            )
        );
        assert!(data.notification_metadata.iccid.is_none());
        assert_eq!(data.notification_metadata.seq_number, 2);
        // The session is over for loading: the good BPP is refused without a new session.
        assert_eq!(
            e.load_bound_profile_package(&good).unwrap_err(),
            Error::NoSession("LoadBoundProfilePackage needs a PrepareDownload in this session")
        );
    }
}

#[test]
fn profile_package_checks() {
    let pki = our_pki();
    let curve = Curve::NistP256;
    let dp = Dp::new(&pki, curve);
    let mut e = euicc(&pki, curve);
    let (profile, iccid) = minimal_profile();

    let attempt = |e: &mut Euicc, package: &[u8], md_iccid: &Iccid, seed: u64| {
        let t = txid(seed as u8);
        let p = authenticate_and_prepare(e, &dp, &t, None, None, seed);
        let b = bpp(
            &dp.pki.dp_pb,
            &t,
            *e.eid().as_bytes(),
            &p.ok.euicc_signed2.euicc_otpk,
            &metadata(md_iccid),
            package,
            seed + 1000,
        );
        let pir = e.load_bound_profile_package(&b).unwrap();
        let pir = verify_pir(e, &pir);
        pir.profile_installation_result_data
            .value()
            .final_result
            .clone()
    };
    let error = |r: FinalResult| match r {
        FinalResult::ErrorResult(err) => err,
        FinalResult::SuccessResult(_) => panic!("installed"),
    };

    // Not a profile package: PE processing error, with the interpreter's answer.
    let err = error(attempt(&mut e, b"\x01\x02 not DER", &iccid, 40));
    assert_eq!(err.bpp_command_id, BppCommandId::loadProfileElements);
    assert_eq!(
        err.error_reason,
        ErrorReason::installFailedDueToPEProcessingError
    );
    let sima = EuiccResponse::from_der(err.sima_response.as_ref().unwrap()).unwrap();
    assert!(sima.profile_installation_aborted);
    assert_eq!(sima.pe_status[0].status, pe_status::INVALID_REQUEST_FORMAT);

    // Well-formed elements that break a SAIP rule (the end element removed).
    let mut pkg = rsp_saip::ProfilePackage::parse(&profile).unwrap();
    pkg.elements.pop();
    let err = error(attempt(&mut e, &pkg.to_der(), &iccid, 41));
    assert_eq!(
        err.error_reason,
        ErrorReason::installFailedDueToPEProcessingError
    );
    let sima = EuiccResponse::from_der(err.sima_response.as_ref().unwrap()).unwrap();
    assert_eq!(sima.pe_status[0].status, pe_status::BAD_VALUES);

    // Metadata ICCID not the package's.
    let other = Iccid::from_digits("89001010000000000026").unwrap();
    let err = error(attempt(&mut e, &profile, &other, 42));
    assert_eq!(
        err.error_reason,
        ErrorReason::installFailedDueToDataMismatch
    );

    // Installs once; the same ICCID again is refused.
    assert!(matches!(
        attempt(&mut e, &profile, &iccid, 43),
        FinalResult::SuccessResult(_)
    ));
    let err = error(attempt(&mut e, &profile, &iccid, 44));
    assert_eq!(
        (err.bpp_command_id, err.error_reason),
        (
            BppCommandId::storeMetadata,
            ErrorReason::installFailedDueToIccidAlreadyExistsOnEuicc
        )
    );

    // Out of memory, then out of ISD-P slots.
    let usim = rsp_saip::MinimalUsim {
        iccid: "89001010000000000034".into(),
        ..Default::default()
    };
    let third = usim.build().unwrap().to_der();
    let iccid3 = Iccid::from_digits(&usim.iccid).unwrap();
    e.set_limits(veuicc::Limits {
        max_profiles: 16,
        memory: profile.len() + 10,
    });
    let err = error(attempt(&mut e, &third, &iccid3, 45));
    assert_eq!(
        err.error_reason,
        ErrorReason::installFailedDueToInsufficientMemoryForProfile
    );
    e.set_limits(veuicc::Limits {
        max_profiles: 1,
        ..veuicc::Limits::default()
    });
    let err = error(attempt(&mut e, &third, &iccid3, 46));
    assert_eq!(
        (err.bpp_command_id, err.error_reason),
        (
            BppCommandId::configureISDP,
            ErrorReason::installFailedDueToInsufficientMemoryForProfile
        )
    );
    // Every attempt left a signed PIR, numbered in order.
    let seqs: Vec<i64> = e
        .list_notifications()
        .iter()
        .map(|m| m.seq_number)
        .collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

#[test]
fn cancel_session() {
    let pki = our_pki();
    for curve in Curve::ALL {
        let dp = Dp::new(&pki, curve);
        let mut e = euicc(&pki, curve);
        let t = txid(0x21);

        // No session yet; then an unknown transaction ID.
        let refused = CancelSessionResponse::CancelSessionResponseError(
            CancelSessionResponseError::invalidTransactionId,
        );
        assert_eq!(e.cancel_session(&t, CancelSessionReason::timeout), refused);
        let p = authenticate_and_prepare(&mut e, &dp, &t, None, None, 50);
        assert_eq!(
            e.cancel_session(&txid(0x22), CancelSessionReason::timeout),
            refused
        );

        let resp = e.cancel_session(&t, CancelSessionReason::endUserRejection);
        // As the SM-DP+ receives it.
        let wire = rsp_asn1::encode(&resp).unwrap();
        let CancelSessionResponse::CancelSessionResponseOk(ok) = rsp_asn1::decode(&wire).unwrap()
        else {
            panic!("cancel refused");
        };
        assert_eq!(ok.euicc_cancel_session_signed.raw()[0], 0x30);
        let signed = ok.euicc_cancel_session_signed.value();
        assert_eq!(signed.transaction_id, t);
        assert_eq!(signed.smdp_oid, smdp_oid());
        assert_eq!(signed.reason, CancelSessionReason::endUserRejection);
        let sig = raw_signature(&ok.euicc_cancel_session_signature).unwrap();
        p.verified
            .public_key
            .verify_raw(
                input::euicc_cancel_session(&ok.euicc_cancel_session_signed),
                &sig,
                Backend::RustCrypto,
            )
            .expect("euiccCancelSessionSignature verifies");

        // The session is gone: no second cancel, no BPP.
        assert_eq!(e.cancel_session(&t, CancelSessionReason::timeout), refused);
        let (profile, iccid) = minimal_profile();
        let b = bpp(
            &dp.pki.dp_pb,
            &t,
            *e.eid().as_bytes(),
            &p.ok.euicc_signed2.euicc_otpk,
            &metadata(&iccid),
            &profile,
            51,
        );
        assert!(matches!(
            e.load_bound_profile_package(&b),
            Err(Error::NoSession(_))
        ));
        let req = lpa::cancel_session_request(&t, &resp).unwrap();
        assert_eq!(req.cancel_session_response.as_bytes()[..2], [0xBF, 0x41]);
    }
}

#[test]
fn retry_reuses_the_kept_one_time_key() {
    let pki = our_pki();
    let curve = Curve::NistP256;
    let dp = Dp::new(&pki, curve);
    let mut e = euicc(&pki, curve);
    let (profile, iccid) = minimal_profile();

    // First attempt: prepared, then interrupted (cancelled) before the BPP arrived.
    let first = authenticate_and_prepare(&mut e, &dp, &txid(0x31), None, None, 60);
    let otpk = first.ok.euicc_signed2.euicc_otpk.to_vec();
    assert!(matches!(
        e.cancel_session(&txid(0x31), CancelSessionReason::timeout),
        CancelSessionResponse::CancelSessionResponseOk(_)
    ));

    // The SM-DP+ names the earlier otPK: the eUICC binds with the same key again.
    let t = txid(0x32);
    let second = authenticate_and_prepare(&mut e, &dp, &t, None, Some(otpk.clone()), 61);
    assert_eq!(second.ok.euicc_signed2.euicc_otpk.to_vec(), otpk);
    let b = bpp(
        &dp.pki.dp_pb,
        &t,
        *e.eid().as_bytes(),
        &otpk,
        &metadata(&iccid),
        &profile,
        62,
    );
    let pir = e.load_bound_profile_package(&b).unwrap();
    let pir = verify_pir(&e, &pir);
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::SuccessResult(_)
    ));

    // Used for an installed profile, the key is forgotten: naming it again gets a fresh one.
    let third = authenticate_and_prepare(&mut e, &dp, &txid(0x33), None, Some(otpk.clone()), 63);
    assert_ne!(third.ok.euicc_signed2.euicc_otpk.to_vec(), otpk);
    // An otPK the eUICC never made: a fresh key too.
    let fourth = authenticate_and_prepare(&mut e, &dp, &txid(0x34), None, Some(vec![0x04; 65]), 64);
    assert_ne!(fourth.ok.euicc_signed2.euicc_otpk.to_vec(), vec![0x04; 65]);
}

#[test]
fn load_without_prepare_is_an_error() {
    let pki = our_pki();
    let mut e = euicc(&pki, Curve::NistP256);
    let dp = Dp::new(&pki, Curve::NistP256);
    let (profile, iccid) = minimal_profile();
    let other = rsp_auth::ecdh::EphemeralKey::generate(Curve::NistP256, &mut rng(70));
    let b = bpp(
        &dp.pki.dp_pb,
        &txid(1),
        *e.eid().as_bytes(),
        other.public_point(),
        &metadata(&iccid),
        &profile,
        71,
    );
    assert!(matches!(
        e.load_bound_profile_package(&b),
        Err(Error::NoSession(_))
    ));
    assert!(e.pending_notifications().is_empty());
}

#[test]
fn construction_checks() {
    // The SM-DP+ integration tests move an eUICC into async tasks.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Euicc>();

    let pki = our_pki();
    let c = pki.by_curve(Curve::NistP256).unwrap();
    let brp = pki.by_curve(Curve::BrainpoolP256r1).unwrap();
    let parts = |key_from: &rsp_auth::pki::CurvePki, eum: &rsp_auth::cert::Cert| {
        let k = &key_from.euicc.as_ref().unwrap().key;
        veuicc::EuiccParts {
            euicc_cert: c.euicc.as_ref().unwrap().cert.clone(),
            eum_cert: eum.clone(),
            sk_euicc: rsp_auth::SigningKey::from_scalar(k.curve(), &k.scalar()).unwrap(),
            trust_store: pki.trust_store(now()).unwrap(),
        }
    };
    let e = Euicc::from_parts(parts(c, c.eum.as_ref().unwrap()), Backend::AwsLc).unwrap();
    assert_eq!(
        e.eid(),
        rsp_auth::pki::default_eid("89001012", Curve::NistP256).unwrap()
    );
    assert!(matches!(
        Euicc::from_parts(parts(brp, c.eum.as_ref().unwrap()), Backend::AwsLc),
        Err(Error::Identity(_))
    ));
    assert!(matches!(
        Euicc::from_parts(parts(c, brp.eum.as_ref().unwrap()), Backend::AwsLc),
        Err(Error::Identity(_))
    ));
    // A PKI without eUICC material.
    let mut bare = Pki::generate(
        &GenerateOptions {
            curves: vec![Curve::NistP256],
            ..GenerateOptions::default()
        },
        &mut rng(80),
    )
    .unwrap();
    bare.curves[0].euicc = None;
    assert!(matches!(
        Euicc::from_pki(&bare, Curve::NistP256, Backend::AwsLc, now()),
        Err(Error::Identity(_))
    ));
    assert!(matches!(
        Euicc::from_pki(&bare, Curve::BrainpoolP256r1, Backend::AwsLc, now()),
        Err(Error::Identity(_))
    ));
}

/// The LPA glue over real ES9+ JSON bodies: every binary field base64 of the DER as carried,
/// the signed parts passed through byte for byte, a confirmation code hashed by the LPA.
#[test]
fn lpa_glue_over_es9_json() {
    use rsp_asn1::es9::{self, Der, ResponseHeader, Signature};
    use rsp_asn1::SubjectKeyIdentifier;

    fn json<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T) -> T {
        serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
    }

    let pki = our_pki();
    let curve = Curve::BrainpoolP256r1;
    let dp = Dp::new(&pki, curve);
    let mut e = euicc(&pki, curve);
    let mut r = rng(90);
    let t = txid(0x90);
    let (profile, iccid) = minimal_profile();

    // initiateAuthentication.
    let init = json(&lpa::initiate_authentication(&mut e, ADDRESS, &mut r).unwrap());
    assert_eq!(init.smdp_address, ADDRESS);
    let info1 = init.euicc_info1.decode().unwrap();
    assert_eq!(info1, e.euicc_info1());
    let challenge: [u8; 16] = init.euicc_challenge.0.clone().try_into().unwrap();
    let signed1 = server_signed1(&t, challenge, [9; 16]);
    let sig1 = dp
        .pki
        .dp_auth
        .key
        .sign_raw(input::server_signature1(&signed1), Backend::RustCrypto)
        .unwrap();
    let init_resp = json(&es9::InitiateAuthenticationResponse {
        header: ResponseHeader::success(),
        transaction_id: t.clone(),
        server_signed1: Der::from_bytes(signed1.raw().to_vec()),
        server_signature1: Der::encode(&Signature(sig1.to_vec().into())).unwrap(),
        euicc_ci_pkid_to_be_used: Der::encode(
            &SubjectKeyIdentifier::new(dp.ci_ski().to_vec()).unwrap(),
        )
        .unwrap(),
        server_certificate: Der::from_bytes(dp.pki.dp_auth.cert.der().to_vec()),
    });

    // authenticateClient.
    let req = lpa::authenticate_server_request(
        &init_resp,
        lpa::ctx_params1(Some("AC-TOKEN"), lpa::default_device_info()),
    )
    .unwrap();
    assert_eq!(req.server_signed1.raw(), signed1.raw());
    let resp = e.authenticate_server(&req, now());
    let client = json(&lpa::authenticate_client_request(&t, &resp).unwrap());
    let received = client.authenticate_server_response.decode().unwrap();
    let (auth, verified) = check_authenticate_ok(&dp, &received, &t, [9; 16]);
    let rsp_asn1::auth::CtxParams1::CtxParamsForCommonAuthentication(c) =
        &auth.euicc_signed1.ctx_params1;
    assert_eq!(c.matching_id.as_deref(), Some("AC-TOKEN"));

    let md = metadata(&iccid);
    let server_req =
        prepare_download_request(&dp.pki.dp_pb, &t, true, None, &auth.euicc_signature1);
    let client_resp = json(&es9::AuthenticateClientResponse {
        header: ResponseHeader::success(),
        transaction_id: t.clone(),
        profile_metadata: Der::from_bytes(md.clone()),
        smdp_signed2: Der::from_bytes(server_req.smdp_signed2.raw().to_vec()),
        smdp_signature2: Der::encode(&Signature(server_req.smdp_signature2.clone())).unwrap(),
        smdp_certificate: Der::from_bytes(dp.pki.dp_pb.cert.der().to_vec()),
    });

    // getBoundProfilePackage, with the user's confirmation code hashed by the LPA.
    let hash = lpa::hash_cc("8899", &t);
    let req = lpa::prepare_download_request(&client_resp, Some(hash.clone())).unwrap();
    let resp = e.prepare_download(&req, None, &mut r, now());
    let get_bpp = json(&lpa::get_bound_profile_package_request(&t, &resp).unwrap());
    let received = get_bpp.prepare_download_response.decode().unwrap();
    let ok = check_prepare_ok(&received, &verified.public_key, &server_req);
    assert_eq!(ok.euicc_signed2.hash_cc, Some(expected_hash_cc("8899", &t)));
    let b = bpp(
        &dp.pki.dp_pb,
        &t,
        *e.eid().as_bytes(),
        &ok.euicc_signed2.euicc_otpk,
        &md,
        &profile,
        91,
    );
    let bpp_resp = json(&es9::GetBoundProfilePackageResponse {
        header: ResponseHeader::success(),
        transaction_id: t.clone(),
        bound_profile_package: Der::encode(&b).unwrap(),
    });

    // handleNotification.
    let pir = e
        .load_bound_profile_package(&bpp_resp.bound_profile_package.decode().unwrap())
        .unwrap();
    let note = json(&lpa::handle_notification_request(&e.pending_notifications()[0]).unwrap());
    let PendingNotification::ProfileInstallationResult(received) =
        note.pending_notification.decode().unwrap()
    else {
        panic!("not a PIR");
    };
    assert_eq!(received, pir);
    verify_pir(&e, &received);
    assert!(matches!(
        received
            .profile_installation_result_data
            .value()
            .final_result,
        FinalResult::SuccessResult(_)
    ));
}
