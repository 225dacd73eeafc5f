//! A minimal SM-DP+ side built straight from rsp-auth and rsp-bpp: it signs serverSigned1 and
//! smdpSigned2, checks what the eUICC signs, and binds a BPP. Each step is a plain function
//! so a test can change one input (a key, a challenge, a byte) and keep the rest valid.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rsp_asn1::auth::{
    AuthenticateResponseOk, AuthenticateServerRequest, AuthenticateServerResponse, CtxParams1,
    ServerSigned1,
};
use rsp_asn1::bits::NamedBits;
use rsp_asn1::download::{
    BoundProfilePackage, ConfigureISDPRequest, DpProprietaryData,
    NotificationConfigurationInformation, PrepareDownloadRequest, PrepareDownloadResponse,
    PrepareDownloadResponseOk, ProfileClass, SmdpSigned2, StoreMetadataRequest,
};
use rsp_asn1::ids::Iccid;
use rsp_asn1::raw::{Certificate, Signed};
use rsp_asn1::{Octet16, Octet32, SubjectKeyIdentifier, TransactionId};
use rsp_auth::chain::VerifiedEuicc;
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::generate::Issued;
use rsp_auth::pki::{CurvePki, Pki};
use rsp_auth::sig::{input, raw_signature};
use rsp_auth::{Backend, Curve, PublicKey};
use rsp_bpp::bpp::{build, BppRequest, ProfileSource};
use rsp_bpp::Engine;
use veuicc::{lpa, Euicc};

pub const ADDRESS: &str = "testsmdpplus1.example.com";
pub const HOST_ID: &[u8] = b"veuicc-test";

/// 2026-01-01: inside the validity of both our PKI and the SGP.26 one.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn our_pki_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs")
}

pub fn our_pki() -> Pki {
    Pki::load(&our_pki_dir()).expect("certs/ loads")
}

/// The SGP.26 PKI from the shared folder, or `None` (test skipped with a notice).
pub fn sgp26_pki() -> Option<Pki> {
    let dir = rsp_shared::dir_for_test("pki/sgp26")?;
    Some(Pki::load(&dir.join("pki/sgp26")).expect("SGP.26 PKI loads"))
}

pub fn rng(seed: u64) -> rsp_auth::rng::Rng {
    rsp_auth::rng::rng(Some(seed))
}

pub fn txid(b: u8) -> TransactionId {
    TransactionId::new(vec![b; 16]).unwrap()
}

/// The SM-DP+ of one curve of a PKI.
pub struct Dp<'a> {
    pub pki: &'a CurvePki,
    pub backend: Backend,
}

impl<'a> Dp<'a> {
    pub fn new(pki: &'a Pki, curve: Curve) -> Self {
        Self {
            pki: pki.by_curve(curve).expect("curve in PKI"),
            backend: Backend::AwsLc,
        }
    }

    pub fn ci_ski(&self) -> &[u8] {
        self.pki.ci_ski()
    }
}

/// serverSigned1 as the SM-DP+ encodes it once.
pub fn server_signed1(
    txid: &TransactionId,
    euicc_challenge: [u8; 16],
    server_challenge: [u8; 16],
) -> Signed<ServerSigned1> {
    Signed::new(ServerSigned1 {
        transaction_id: txid.clone(),
        euicc_challenge: Octet16::new(euicc_challenge.to_vec()).unwrap(),
        server_address: ADDRESS.into(),
        server_challenge: Octet16::new(server_challenge.to_vec()).unwrap(),
        extensions: None,
    })
    .unwrap()
}

/// AuthenticateServerRequest signed by `dp_auth`, naming `ci_pkid` for the eUICC.
pub fn authenticate_server_request(
    dp_auth: &Issued,
    ci_pkid: &[u8],
    signed1: Signed<ServerSigned1>,
    ctx: CtxParams1,
) -> AuthenticateServerRequest {
    let sig = dp_auth
        .key
        .sign_raw(input::server_signature1(&signed1), Backend::RustCrypto)
        .unwrap();
    AuthenticateServerRequest {
        server_signed1: signed1,
        server_signature1: sig.to_vec().into(),
        euicc_ci_pkid_to_be_used: SubjectKeyIdentifier::new(ci_pkid.to_vec()).unwrap(),
        server_certificate: Certificate::from_der(dp_auth.cert.der()).unwrap(),
        ctx_params1: ctx,
        extensions: None,
    }
}

pub fn ctx(matching_id: Option<&str>) -> CtxParams1 {
    lpa::ctx_params1(matching_id, lpa::default_device_info())
}

/// The SM-DP+'s authenticateClient checks: chain CI → EUM → eUICC, euiccSignature1 over the
/// received euiccSigned1, the echoed fields.
pub fn check_authenticate_ok(
    dp: &Dp<'_>,
    resp: &AuthenticateServerResponse,
    txid: &TransactionId,
    server_challenge: [u8; 16],
) -> (AuthenticateResponseOk, VerifiedEuicc) {
    // Over the wire and back, as the server receives it.
    let wire = rsp_asn1::encode(resp).unwrap();
    let resp: AuthenticateServerResponse = rsp_asn1::decode(&wire).unwrap();
    let AuthenticateServerResponse::AuthenticateResponseOk(ok) = resp else {
        panic!("AuthenticateServer refused: {resp:?}");
    };
    let store = rsp_auth::chain::TrustStore::new(vec![dp.pki.ci.clone()], now()).unwrap();
    let euicc_cert = rsp_auth::cert::Cert::from_der(ok.euicc_certificate.as_der()).unwrap();
    let eum_cert = rsp_auth::cert::Cert::from_der(ok.eum_certificate.as_der()).unwrap();
    let verified = store
        .verify_euicc(&eum_cert, &euicc_cert, now(), Some(dp.ci_ski()), dp.backend)
        .unwrap();
    let sig = raw_signature(&ok.euicc_signature1).unwrap();
    verified
        .public_key
        .verify_raw(input::euicc_signature1(&ok.euicc_signed1), &sig, dp.backend)
        .expect("euiccSignature1 verifies");
    let signed1 = ok.euicc_signed1.value();
    assert_eq!(&signed1.transaction_id, txid);
    assert_eq!(signed1.server_address, ADDRESS);
    assert_eq!(signed1.server_challenge.as_bytes(), server_challenge);
    (*ok, verified)
}

/// smdpSigned2 and its signature by `dp_pb` over smdpSigned2 ‖ `5F37 40 ‖ euiccSignature1`.
pub fn prepare_download_request(
    dp_pb: &Issued,
    txid: &TransactionId,
    cc_required: bool,
    bpp_euicc_otpk: Option<Vec<u8>>,
    euicc_signature1: &[u8],
) -> PrepareDownloadRequest {
    let signed2 = Signed::new(SmdpSigned2 {
        transaction_id: txid.clone(),
        cc_required_flag: cc_required,
        bpp_euicc_otpk: bpp_euicc_otpk.map(Into::into),
        extensions: None,
    })
    .unwrap();
    let sig1 = raw_signature(euicc_signature1).unwrap();
    let sig2 = dp_pb
        .key
        .sign_raw(
            &input::smdp_signature2(&signed2, &sig1),
            Backend::RustCrypto,
        )
        .unwrap();
    PrepareDownloadRequest {
        smdp_signed2: signed2,
        smdp_signature2: sig2.to_vec().into(),
        hash_cc: None,
        smdp_certificate: Certificate::from_der(dp_pb.cert.der()).unwrap(),
        extensions: None,
    }
}

/// The SM-DP+'s getBoundProfilePackage check: euiccSignature2 over euiccSigned2 ‖
/// `5F37 40 ‖ smdpSignature2`.
pub fn check_prepare_ok(
    resp: &PrepareDownloadResponse,
    euicc_key: &PublicKey,
    req: &PrepareDownloadRequest,
) -> PrepareDownloadResponseOk {
    let wire = rsp_asn1::encode(resp).unwrap();
    let resp: PrepareDownloadResponse = rsp_asn1::decode(&wire).unwrap();
    let PrepareDownloadResponse::DownloadResponseOk(ok) = resp else {
        panic!("PrepareDownload refused: {resp:?}");
    };
    let smdp_sig2 = raw_signature(&req.smdp_signature2).unwrap();
    let sig = raw_signature(&ok.euicc_signature2).unwrap();
    euicc_key
        .verify_raw(
            &input::euicc_signature2(&ok.euicc_signed2, &smdp_sig2),
            &sig,
            Backend::RustCrypto,
        )
        .expect("euiccSignature2 verifies");
    assert_eq!(
        &ok.euicc_signed2.transaction_id,
        &req.smdp_signed2.transaction_id
    );
    *ok
}

/// StoreMetadataRequest (DER) for `iccid`, notifications for enable/disable/delete to us.
pub fn metadata(iccid: &Iccid) -> Vec<u8> {
    rsp_asn1::encode(&StoreMetadataRequest {
        iccid: iccid.clone(),
        service_provider_name: "smdp-sim".into(),
        profile_name: "veuicc test".into(),
        icon_type: None,
        icon: None,
        profile_class: ProfileClass::operational,
        notification_configuration_info: Some(vec![NotificationConfigurationInformation {
            profile_management_operation: NamedBits::from_bits(&[1, 2, 3]),
            notification_address: ADDRESS.into(),
            extensions: None,
        }]),
        profile_owner: None,
        profile_policy_rules: None,
        ecall_indication: None,
        fallback_allowed: None,
        extensions: None,
    })
    .unwrap()
}

/// The BPP for otPK.EUICC `euicc_otpk`, signed by `dp_pb`.
pub fn bpp(
    dp_pb: &Issued,
    txid: &TransactionId,
    eid: [u8; 16],
    euicc_otpk: &[u8],
    metadata_der: &[u8],
    profile: &[u8],
    seed: u64,
) -> BoundProfilePackage {
    let ot = EphemeralKey::generate(dp_pb.key.curve(), &mut rng(seed));
    build(&BppRequest {
        transaction_id: txid.clone(),
        host_id: HOST_ID,
        eid,
        smdp_ot_key: &ot,
        euicc_otpk,
        dp_pb_key: &dp_pb.key,
        backend: Backend::RustCrypto,
        engine: Engine::Auto,
        configure_isdp: &ConfigureISDPRequest {
            dp_proprietary_data: Some(DpProprietaryData {
                dp_oid: rsp_asn1::ObjectIdentifier::new(vec![2, 999, 10]).unwrap(),
                extensions: None,
            }),
            extensions: None,
        },
        store_metadata_der: metadata_der,
        profile: ProfileSource::Plain(profile),
        smdp_sign: None,
    })
    .unwrap()
}

/// The project's generated USIM profile and its ICCID.
pub fn minimal_profile() -> (Vec<u8>, Iccid) {
    let usim = rsp_saip::MinimalUsim::default();
    let der = usim.build().unwrap().to_der();
    (der, Iccid::from_digits(&usim.iccid).unwrap())
}

/// Everything a session produced up to PrepareDownload.
pub struct Prepared {
    pub txid: TransactionId,
    pub auth: AuthenticateResponseOk,
    pub verified: VerifiedEuicc,
    pub req: PrepareDownloadRequest,
    pub ok: PrepareDownloadResponseOk,
}

/// AuthenticateServer and PrepareDownload with valid server input.
pub fn authenticate_and_prepare(
    euicc: &mut Euicc,
    dp: &Dp<'_>,
    txid: &TransactionId,
    cc: Option<&str>,
    bpp_euicc_otpk: Option<Vec<u8>>,
    seed: u64,
) -> Prepared {
    let mut r = rng(seed);
    let challenge = euicc.get_euicc_challenge(&mut r);
    let server_challenge = [seed as u8; 16];
    let req = authenticate_server_request(
        &dp.pki.dp_auth,
        dp.ci_ski(),
        server_signed1(txid, challenge, server_challenge),
        ctx(Some("MATCHING-ID-1")),
    );
    let resp = euicc.authenticate_server(&req, now());
    let (auth, verified) = check_authenticate_ok(dp, &resp, txid, server_challenge);
    let req = prepare_download_request(
        &dp.pki.dp_pb,
        txid,
        cc.is_some(),
        bpp_euicc_otpk,
        &auth.euicc_signature1,
    );
    let resp = euicc.prepare_download(&req, cc, &mut r, now());
    let ok = check_prepare_ok(&resp, &verified.public_key, &req);
    Prepared {
        txid: txid.clone(),
        auth,
        verified,
        req,
        ok,
    }
}

/// The hashCc formula written out independently of veuicc (digest §4.3).
pub fn expected_hash_cc(code: &str, txid: &TransactionId) -> Octet32 {
    use sha2::{Digest, Sha256};
    let inner = Sha256::digest(code.as_bytes());
    let outer = Sha256::digest([inner.as_slice(), txid.as_bytes()].concat());
    Octet32::new(outer.to_vec()).unwrap()
}
