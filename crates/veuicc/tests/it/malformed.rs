//! Server input with one byte changed, at every position: the eUICC answers with an error
//! alternative (or an error PIR) and never panics; it accepts a changed request only when the
//! change is outside everything the server signed.

use crate::common::*;
use rsp_asn1::auth::{AuthenticateServerRequest, AuthenticateServerResponse};
use rsp_asn1::download::{BoundProfilePackage, PrepareDownloadRequest, PrepareDownloadResponse};
use rsp_asn1::notification::FinalResult;
use rsp_auth::{Backend, Curve};
use veuicc::Euicc;

/// Every single-byte change of `der` (xor `mask`) that still decodes as `T`.
fn mutants<T: rsp_asn1::rasn::Decode + rsp_asn1::rasn::Encode>(
    der: &[u8],
    mask: u8,
) -> Vec<(usize, T)> {
    (0..der.len())
        .filter_map(|i| {
            let mut m = der.to_vec();
            m[i] ^= mask;
            rsp_asn1::decode::<T>(&m).ok().map(|v| (i, v))
        })
        .collect()
}

#[test]
fn authenticate_server_request_mutants() {
    let pki = our_pki();
    let dp = Dp::new(&pki, Curve::NistP256);
    let mut e = Euicc::from_pki(&pki, Curve::NistP256, Backend::AwsLc, now()).unwrap();
    let t = txid(1);
    // One challenge value for all: each request is answered after a fresh GetEUICCChallenge
    // drawn from a fixed-seed rng, so the expected echo is known.
    let challenge = e.get_euicc_challenge(&mut rng(99));
    let good = authenticate_server_request(
        &dp.pki.dp_auth,
        dp.ci_ski(),
        server_signed1(&t, challenge, [3; 16]),
        ctx(Some("ABC")),
    );
    let der = rsp_asn1::encode(&good).unwrap();
    let mut decoded = 0;
    for mask in [0x01, 0x80, 0xFF] {
        for (i, m) in mutants::<AuthenticateServerRequest>(&der, mask) {
            decoded += 1;
            assert_eq!(e.get_euicc_challenge(&mut rng(99)), challenge);
            let resp = e.authenticate_server(&m, now());
            if let AuthenticateServerResponse::AuthenticateResponseOk(_) = resp {
                assert_eq!(
                    m.server_signed1.raw(),
                    good.server_signed1.raw(),
                    "byte {i}"
                );
                assert_eq!(m.server_signature1, good.server_signature1, "byte {i}");
                assert_eq!(m.server_certificate, good.server_certificate, "byte {i}");
                assert_eq!(m.euicc_ci_pkid_to_be_used, good.euicc_ci_pkid_to_be_used);
            }
        }
    }
    assert!(decoded > 50, "only {decoded} mutants decoded");
}

#[test]
fn prepare_download_request_mutants() {
    let pki = our_pki();
    let dp = Dp::new(&pki, Curve::BrainpoolP256r1);
    let mut e = Euicc::from_pki(&pki, Curve::BrainpoolP256r1, Backend::AwsLc, now()).unwrap();
    let t = txid(2);
    let p = authenticate_and_prepare(&mut e, &dp, &t, None, None, 2);
    let der = rsp_asn1::encode(&p.req).unwrap();
    let mut r = rng(3);
    let mut decoded = 0;
    // Every eighth position keeps the brainpool (pure Rust) run short.
    for (i, m) in mutants::<PrepareDownloadRequest>(&der, 0x01)
        .into_iter()
        .filter(|(i, _)| i % 8 == 0)
    {
        decoded += 1;
        let resp = e.prepare_download(&m, None, &mut r, now());
        if let PrepareDownloadResponse::DownloadResponseOk(_) = resp {
            assert_eq!(m.smdp_signed2.raw(), p.req.smdp_signed2.raw(), "byte {i}");
            assert_eq!(m.smdp_signature2, p.req.smdp_signature2, "byte {i}");
            assert_eq!(m.smdp_certificate, p.req.smdp_certificate, "byte {i}");
        }
    }
    assert!(decoded > 10, "only {decoded} mutants decoded");
}

#[test]
fn bound_profile_package_mutants() {
    let pki = our_pki();
    let dp = Dp::new(&pki, Curve::NistP256);
    let mut e = Euicc::from_pki(&pki, Curve::NistP256, Backend::AwsLc, now()).unwrap();
    let (profile, iccid) = minimal_profile();
    let t = txid(3);
    let first = authenticate_and_prepare(&mut e, &dp, &t, None, None, 3);
    let otpk = first.ok.euicc_signed2.euicc_otpk.to_vec();
    let good = bpp(
        &dp.pki.dp_pb,
        &t,
        *e.eid().as_bytes(),
        &otpk,
        &metadata(&iccid),
        &profile,
        4,
    );
    let der = rsp_asn1::encode(&good).unwrap();
    let mut tried = 0;
    // Positions spread over BF23, every segment list and the profile segments.
    let step = (der.len() / 150).max(1);
    for (i, m) in mutants::<BoundProfilePackage>(&der, 0x04)
        .into_iter()
        .filter(|(i, _)| i % step == 0)
    {
        tried += 1;
        // A new session that binds with the same otPK (bppEuiccOtpk), so `good` stays valid.
        let p = authenticate_and_prepare(&mut e, &dp, &t, None, Some(otpk.clone()), 5);
        assert_eq!(p.ok.euicc_signed2.euicc_otpk.to_vec(), otpk);
        let pir = e.load_bound_profile_package(&m).unwrap();
        assert!(
            matches!(
                pir.profile_installation_result_data.value().final_result,
                FinalResult::ErrorResult(_)
            ),
            "byte {i} changed and the BPP still installed"
        );
    }
    assert!(tried > 50, "only {tried} mutants decoded");
    // The unchanged BPP still installs with the kept key.
    authenticate_and_prepare(&mut e, &dp, &t, None, Some(otpk.clone()), 6);
    let pir = e.load_bound_profile_package(&good).unwrap();
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::SuccessResult(_)
    ));
}
