//! SGP.32 (IoT) readiness end to end: an SGP.32 virtual eUICC in an IoT device (a TAC and
//! nothing else in ctxParams1) downloads over both bindings, with the SGP.32 metadata flags
//! of its order; an eIM as the ES9+ client (its eimId as function requester, v2.1.0, an IP
//! address as smdpAddress, a 200 for handleNotification); a relay that re-encodes what the
//! eUICC signed is named in the failure.

use crate::common::*;
use crate::lpa::card;
use lpa::download::Order;
use lpa::es9::{Binding, Client, Trust};
use lpa::record::{Event, Recording};
use rsp_asn1::auth::{AuthenticateServerResponse, CtxParams1, EuiccSigned1, IpaMode};
use rsp_asn1::es9::{self, path, Der, RequestHeader};
use rsp_asn1::raw::Signed;
use rsp_auth::Curve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sgp32_card_in_an_iot_device_downloads_over_both_bindings_with_its_flags() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("iot");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    for (b, curve) in [
        (Binding::Json, Curve::NistP256),
        (Binding::Asn1, Curve::BrainpoolP256r1),
    ] {
        let mut c = card(&server, &our_pki_dir(), curve);
        c.transport.card.euicc.make_sgp32();
        c.device_info = veuicc::lpa::iot_device_info();
        let (status, v) = rest
            .create(&[
                ("Eid", &c.eid().unwrap().to_string()),
                ("EcallIndication", "true"),
                ("FallbackAllowed", "false"),
            ])
            .await;
        assert_eq!(status, 201, "{v}");
        let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
        let recording = Recording::default();
        let es9 = Client::new(Trust::Roots(vec![server.tls_root.clone()]))
            .unwrap()
            .binding(b)
            .record(recording.clone());
        c.record(recording.clone());
        let order = Order {
            address: server.smdp.address.clone(),
            ..Order::default()
        };
        let installed = lpa::download::download(&mut c, &es9, &order, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{b:?}: {e}"));
        assert_eq!(installed.iccid.as_deref(), v["iccid"].as_str());
        lpa::notifications::process(&mut c, &es9, true)
            .await
            .unwrap();
        // What the server received: the SGP.32 EUICCInfo2 and the IoT device, as signed.
        let sent = recording
            .events()
            .into_iter()
            .find_map(|e| match e {
                Event::Es10(x) if x.function == "AuthenticateServer" => Some(x.response),
                _ => None,
            })
            .expect("AuthenticateServer recorded");
        let AuthenticateServerResponse::AuthenticateResponseOk(ok) =
            rsp_asn1::decode::<AuthenticateServerResponse>(&sent).unwrap()
        else {
            panic!("the card refused")
        };
        let signed1 = ok.euicc_signed1.value();
        let info2 = &signed1.euicc_info2;
        assert_eq!(info2.ipa_mode, Some(IpaMode::ipad));
        assert_eq!(
            info2.iot_specific_info.as_ref().unwrap().iot_version[0].to_string(),
            "1.2.0"
        );
        assert_eq!(info2.euicc_ci_pkid_list_for_verification.len(), 1);
        let CtxParams1::CtxParamsForCommonAuthentication(ctx) = &signed1.ctx_params1;
        assert_eq!(ctx.device_info.imei, None);
        assert_eq!(
            ctx.device_info.device_capabilities,
            Default::default(),
            "no capabilities at all"
        );
        // The flags reach the card in the StoreMetadataRequest, and it shows them.
        let p = c
            .transport
            .card
            .euicc
            .installed_profiles()
            .iter()
            .find(|p| Some(p.header.iccid_digits()) == installed.iccid)
            .unwrap();
        assert_eq!(p.metadata.ecall_indication, Some(true));
        assert_eq!(p.metadata.fallback_allowed, Some(false));
        let v = rest
            .get(&format!("/v1/ESimProfiles/{}", v["sid"].as_str().unwrap()))
            .await
            .1;
        assert_eq!(v["status"], "installed");
    }
    // A flag that is not a boolean is refused, and no order is made.
    let (status, v) = rest
        .create(&[
            ("GenerateMatchingId", "true"),
            ("EcallIndication", "yes please"),
        ])
        .await;
    assert_eq!(status, 400, "{v}");
    server.stop().await;
}

fn eim_header() -> Option<RequestHeader> {
    Some(RequestHeader {
        function_requester_identifier: Some("eim.example.com".into()),
        function_call_identifier: Some("call-1".into()),
    })
}

/// POSTs as an eIM does: JSON, `X-Admin-Protocol: gsma/rsp/v2.1.0`.
async fn eim_post(
    client: &crate::common::Client,
    path: &str,
    body: &impl serde::Serialize,
) -> HttpResponse {
    client
        .request(
            "POST",
            path,
            &[
                ("content-type", "application/json"),
                ("x-admin-protocol", "gsma/rsp/v2.1.0"),
            ],
            serde_json::to_vec(body).unwrap(),
        )
        .await
}

fn parsed<T: serde::de::DeserializeOwned>(r: &HttpResponse) -> Result<T, es9::ResponseHeader> {
    assert_eq!(
        r.status,
        hyper::StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    es9::parse_response(&r.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eim_downloads_for_its_device_and_a_re_encoding_relay_is_named() {
    // An SM-DP+ known by its IP address, answering handleNotification with 200.
    let server = TestServer::start(Options {
        address: "127.0.0.1".into(),
        policy: smdp_core::es9::Policy {
            notification_status: 200,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    assert!(server.smdp.address.starts_with("127.0.0.1:"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    lpa.euicc.make_sgp32();
    lpa.address = server.smdp.address.clone();
    let client = server.client();
    let eid = lpa.euicc.eid();
    server.reserve(smdp_core::orders::OrderRequest {
        eid: Some(eid),
        ..by_matching_id("EIM-1")
    });

    let iot = |matching_id: &str| {
        veuicc::lpa::ctx_params1(Some(matching_id), veuicc::lpa::iot_device_info())
    };
    let mut init = lpa.initiate_request();
    init.header = eim_header();
    let init: es9::InitiateAuthenticationResponse =
        parsed(&eim_post(&client, path::INITIATE_AUTHENTICATION, &init).await).unwrap();
    let asr = veuicc::lpa::authenticate_server_request(&init, iot("EIM-1")).unwrap();
    let resp = lpa.euicc.authenticate_server(&asr, lpa.now);
    let mut ac = veuicc::lpa::authenticate_client_request(&init.transaction_id, &resp).unwrap();
    ac.header = eim_header();
    let auth: es9::AuthenticateClientResponse =
        parsed(&eim_post(&client, path::AUTHENTICATE_CLIENT, &ac).await).unwrap();
    let mut bpp_req = lpa.get_bpp_request(&auth, None);
    bpp_req.header = eim_header();
    let bpp: es9::GetBoundProfilePackageResponse =
        parsed(&eim_post(&client, path::GET_BOUND_PROFILE_PACKAGE, &bpp_req).await).unwrap();
    let package: rsp_asn1::download::BoundProfilePackage =
        bpp.bound_profile_package.decode().unwrap();
    let pir = lpa.euicc.load_bound_profile_package(&package).unwrap();
    let pending = rsp_asn1::notification::PendingNotification::ProfileInstallationResult(pir);
    let mut hn = veuicc::lpa::handle_notification_request(&pending).unwrap();
    hn.header = eim_header();
    let r = eim_post(&client, path::HANDLE_NOTIFICATION, &hn).await;
    assert_eq!(
        (r.status.as_u16(), r.body.len()),
        (200, 0),
        "the configured 200, empty"
    );
    let profile = server
        .store
        .profile_by_matching_id("EIM-1")
        .unwrap()
        .unwrap();
    assert_eq!(profile.status, smdp_core::store::ProfileStatus::Installed);

    // A relay that decodes euiccSigned1 with a schema without SGP.32's fields and encodes it
    // again: the signature cannot verify, and the failure names the structure and the digest
    // of the bytes that arrived.
    server.reserve(smdp_core::orders::OrderRequest {
        eid: Some(eid),
        ..by_matching_id("EIM-2")
    });
    let mut init = lpa.initiate_request();
    init.header = eim_header();
    let init: es9::InitiateAuthenticationResponse =
        parsed(&eim_post(&client, path::INITIATE_AUTHENTICATION, &init).await).unwrap();
    let asr = veuicc::lpa::authenticate_server_request(&init, iot("EIM-2")).unwrap();
    let AuthenticateServerResponse::AuthenticateResponseOk(mut ok) =
        lpa.euicc.authenticate_server(&asr, lpa.now)
    else {
        panic!("the card refused")
    };
    let mut relayed: EuiccSigned1 = ok.euicc_signed1.value().clone();
    relayed.euicc_info2.ipa_mode = None;
    relayed.euicc_info2.iot_specific_info = None;
    ok.euicc_signed1 = Signed::new(relayed).unwrap();
    let digest = hex::encode_upper(<sha2::Sha256 as sha2::Digest>::digest(
        ok.euicc_signed1.raw(),
    ));
    let ac = es9::AuthenticateClientRequest {
        header: eim_header(),
        transaction_id: init.transaction_id.clone(),
        authenticate_server_response: Der::encode(
            &AuthenticateServerResponse::AuthenticateResponseOk(ok),
        )
        .unwrap(),
    };
    let h = parsed::<es9::AuthenticateClientResponse>(
        &eim_post(&client, path::AUTHENTICATE_CLIENT, &ac).await,
    )
    .unwrap_err();
    assert_eq!(codes(&h), ("8.1".to_string(), "6.1".to_string()));
    let message = h
        .function_execution_status
        .status_code_data
        .and_then(|d| d.message)
        .unwrap();
    assert!(
        message.contains("euiccSignature1 over euiccSigned1 as received"),
        "{message}"
    );
    assert!(message.contains(&digest), "{message} lacks {digest}");
    server.stop().await;
}
