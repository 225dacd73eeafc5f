//! The operator REST API (Super SIM v1 shapes) over plain HTTP and over TLS: create, reserve,
//! fetch, list with paging, auth and account isolation, Sims, the ledger, and a full flow
//! from REST through an ES9+ download back to `installed`.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rsp_auth::Curve;
use serde_json::Value;

fn is_sid(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|c| c.is_ascii_hexdigit())
    })
}

fn is_date(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[4] == b'-'
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_by_eid_reserves_a_sim_and_charges() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("a");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let eid = Lpa::new(&server, &our_pki_dir(), Curve::NistP256).eid();
    let (s, v) = rest.create(&[("Eid", &eid)]).await;
    assert_eq!(s, 201, "{v}");
    assert!(is_sid(&v["sid"], "HP"), "{v}");
    assert_eq!(v["account_sid"], acct.account_sid.as_str());
    assert!(matches!(v["status"].as_str(), Some("new" | "reserving")));
    assert_eq!(v["eid"], eid.as_str());
    for k in [
        "iccid",
        "sim_sid",
        "smdp_plus_address",
        "matching_id",
        "activation_code",
        "error_code",
    ] {
        assert!(v[k].is_null(), "{k} before reservation: {v}");
    }
    assert!(is_date(&v["date_created"]) && is_date(&v["date_updated"]));
    let sid = v["sid"].as_str().unwrap().to_string();
    assert_eq!(
        v["url"],
        format!("http://{}/v1/ESimProfiles/{sid}", server.rest_addr).as_str()
    );
    let v = reserved(&rest, &sid).await;
    assert_eq!(v["status"], "available", "{v}");
    assert!(is_sid(&v["sim_sid"], "HS"));
    assert_eq!(
        v["smdp_plus_address"],
        format!("https://{}", server.smdp.address).as_str()
    );
    assert!(
        v["activation_code"].is_null(),
        "default SM-DP+: no matching ID"
    );
    let iccid = v["iccid"].as_str().unwrap().to_string();
    assert!(rsp_asn1::ids::Iccid::from_digits(&iccid).unwrap().luhn_ok());
    // The Sim resource, by sid and in the SimSid filter.
    let sim_sid = v["sim_sid"].as_str().unwrap();
    let (s, sim) = rest.get(&format!("/v1/Sims/{sim_sid}")).await;
    assert_eq!(s, 200);
    assert_eq!(sim["iccid"], iccid.as_str());
    assert_eq!(sim["status"], "new");
    let (_, l) = rest
        .get(&format!("/v1/ESimProfiles?SimSid={sim_sid}"))
        .await;
    assert_eq!(l["esim_profiles"].as_array().unwrap().len(), 1);
    // $3.00 charged.
    let (_, ledger) = rest.get("/v1/Charges").await;
    assert_eq!(ledger["total"], "3.00");
    assert_eq!(ledger["charges"][0]["esim_profile_sid"], sid.as_str());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_rest_to_es9_to_installed() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("flow");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (s, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    assert_eq!(s, 201, "{v}");
    let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
    assert_eq!(v["status"], "available");
    let mid = v["matching_id"].as_str().unwrap().to_string();
    assert_eq!(
        v["activation_code"],
        format!("1${}${mid}", server.smdp.address).as_str()
    );
    let ac = rsp_asn1::ids::ActivationCode::parse(v["activation_code"].as_str().unwrap()).unwrap();
    // A phone downloads it with the activation code.
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::BrainpoolP256r1);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa
        .authenticate(&init, Some(&ac.matching_id))
        .await
        .unwrap();
    let bpp = lpa.get_bpp(&auth, None).await.unwrap();
    let sid = v["sid"].as_str().unwrap();
    let (_, d) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(d["status"], "downloaded");
    assert_eq!(
        d["eid"],
        lpa.eid().as_str(),
        "bound to the eUICC that downloaded it"
    );
    lpa.install(&bpp).await;
    let (_, d) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(d["status"], "installed");
    assert_eq!(
        d["iccid"].as_str().unwrap(),
        lpa.euicc.installed_profiles()[0].iccid.to_string(),
        "the ICCID the eUICC installed"
    );
    // The ES9+ listener serves ES9+ only, unless asked to serve REST too.
    let r = server
        .client()
        .request("GET", "/v1/ESimProfiles", &[], vec![])
        .await;
    assert_eq!(r.status, 404);
    server.stop().await;
    let server = TestServer::start(Options {
        rest_on_es9: true,
        ..Options::default()
    })
    .await;
    let acct = server.account("flow");
    let c = server.client();
    let r = c
        .request(
            "GET",
            "/v1/ESimProfiles",
            &[(
                "authorization",
                &basic_auth(&acct.account_sid, &acct.auth_token),
            )],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let l: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(l["meta"]["url"].as_str().unwrap().starts_with("https://"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_twilio_400s_and_store_nothing() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("v");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    for form in [
        vec![],
        vec![("GenerateMatchingId", "false")],
        vec![("GenerateMatchingId", "maybe")],
        vec![("Eid", "89049032123451234512345678901234")], // bad check digits
        vec![("Eid", "123")],
        vec![("GenerateMatchingId", "true"), ("Typo", "1")],
        vec![("GenerateMatchingId", "true"), ("CallbackUrl", "ftp://x")],
        vec![
            ("GenerateMatchingId", "true"),
            ("CallbackUrl", "http://127.0.0.1:9/cb"),
            ("CallbackMethod", "PUT"),
        ],
        // A repeated field is refused, not "last one wins".
        vec![
            ("GenerateMatchingId", "true"),
            ("GenerateMatchingId", "true"),
        ],
        // The SGP.22 order extensions, each with a value it does not take.
        vec![("MatchingId", "A$B")],
        vec![("MatchingId", "A B"), ("GenerateMatchingId", "true")],
        vec![("GenerateMatchingId", "true"), ("Released", "no")],
        vec![("GenerateMatchingId", "true"), ("AllowRebinding", "1")],
        vec![("GenerateMatchingId", "true"), ("ProfileClass", "gold")],
        vec![
            ("GenerateMatchingId", "true"),
            ("ProfilePolicyRules", "ppr9"),
        ],
        vec![("GenerateMatchingId", "true"), ("ProfileOwner", "12")],
        vec![
            ("GenerateMatchingId", "true"),
            ("ConfirmationCodeEncoding", "b64"),
        ],
        vec![
            ("GenerateMatchingId", "true"),
            ("ConfirmationCode", "12z4"),
            ("ConfirmationCodeEncoding", "hex"),
        ],
        vec![
            ("GenerateMatchingId", "true"),
            ("ServiceProviderName", &"x".repeat(33)),
        ],
        // A template is generated or TS.48, never a path on the server; at most 1 MiB.
        vec![("GenerateMatchingId", "true"), ("Template", "/etc/passwd")],
        vec![("GenerateMatchingId", "true"), ("Template", "minimal:2m")],
        vec![("GenerateMatchingId", "true"), ("Template", "ts48:nope")],
    ] {
        let (s, v) = rest.create(&form).await;
        assert_eq!(s, 400, "{form:?}: {v}");
        assert_eq!(v["code"], 20001);
        assert_eq!(v["status"], 400);
        assert_eq!(v["more_info"], "https://www.twilio.com/docs/errors/20001");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let (_, l) = rest.get("/v1/ESimProfiles").await;
    assert_eq!(l["esim_profiles"].as_array().unwrap().len(), 0);
    // A sized template (the load generator's): the package is that size.
    let (s, v) = rest
        .create(&[("GenerateMatchingId", "true"), ("Template", "minimal:8k")])
        .await;
    assert_eq!(s, 201, "{v}");
    let sid = v["sid"].as_str().unwrap().to_string();
    reserved(&rest, &sid).await;
    let p = server.smdp.store.profile_with_sid(&sid).unwrap().unwrap();
    assert_eq!(p.template, "minimal:8192");
    let package = server.smdp.store.package(p.id).unwrap().unwrap();
    assert!(
        (8192..8192 + 1024).contains(&package.len()),
        "{}",
        package.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_schemes_and_account_isolation() {
    let server = TestServer::start(Options::default()).await;
    let a = server.account("a");
    let b = server.account("b");
    let ra = Rest::basic(server.rest(), &a.account_sid, &a.auth_token);
    let (_, v) = ra.create(&[("GenerateMatchingId", "true")]).await;
    let sid = v["sid"].as_str().unwrap().to_string();
    // API key and bearer token of account A see it.
    let key = Rest::basic(server.rest(), &a.api_key_sid, &a.api_key_secret);
    assert_eq!(key.get(&format!("/v1/ESimProfiles/{sid}")).await.0, 200);
    let bearer = Rest {
        at: server.rest(),
        auth: Some(format!("Bearer {}", a.bearer_token)),
    };
    assert_eq!(bearer.get(&format!("/v1/ESimProfiles/{sid}")).await.0, 200);
    // Account B: 404 for A's profile, an empty list.
    let rb = Rest::basic(server.rest(), &b.account_sid, &b.auth_token);
    let (s, v) = rb.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!((s, v["code"].as_u64()), (404, Some(20404)));
    let (_, l) = rb.get("/v1/ESimProfiles").await;
    assert!(l["esim_profiles"].as_array().unwrap().is_empty());
    // Missing and wrong credentials: 401 20003.
    for bad in [
        Rest {
            at: server.rest(),
            auth: None,
        },
        Rest::basic(server.rest(), &a.account_sid, "wrong"),
        Rest::basic(server.rest(), &a.api_key_sid, &a.auth_token),
        Rest::basic(server.rest(), "nobody", "x"),
        Rest {
            at: server.rest(),
            auth: Some("Bearer nope".into()),
        },
        Rest {
            at: server.rest(),
            auth: Some("Digest x".into()),
        },
    ] {
        let (s, v) = bad.get("/v1/ESimProfiles").await;
        assert_eq!((s, v["code"].as_u64()), (401, Some(20003)), "{v}");
    }
    // Unknown and malformed sids, unknown paths, wrong methods.
    for path in [
        "/v1/ESimProfiles/HP00000000000000000000000000000000",
        "/v1/ESimProfiles/not-a-sid",
        "/v1/Nothing",
        "/v1/Sims/HS00000000000000000000000000000000",
    ] {
        let (s, v) = ra.get(path).await;
        assert_eq!((s, v["code"].as_u64()), (404, Some(20404)), "{path}");
        assert_eq!(
            v["message"],
            format!("The requested resource {path} was not found").as_str()
        );
    }
    let (s, _) = ra
        .send("DELETE", &format!("/v1/ESimProfiles/{sid}"), &[])
        .await;
    assert_eq!(s, 405);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_follows_absolute_urls_both_ways() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("pages");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let mut created = Vec::new();
    for _ in 0..7 {
        let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
        created.push(v["sid"].as_str().unwrap().to_string());
    }
    // Let the reservation worker settle, so that page 1 read twice is the same page
    // (a status change between the two reads is not what this test is about).
    for sid in &created {
        reserved(&rest, sid).await;
    }
    let (s, mut page) = rest.get("/v1/ESimProfiles?PageSize=3").await;
    assert_eq!(s, 200);
    assert_eq!(page["meta"]["key"], "esim_profiles");
    assert_eq!(page["meta"]["page_size"], 3);
    assert_eq!(
        page["meta"]["first_page_url"],
        format!(
            "http://{}/v1/ESimProfiles?PageSize=3&Page=0",
            server.rest_addr
        )
        .as_str()
    );
    assert!(page["meta"]["previous_page_url"].is_null());
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        for p in page["esim_profiles"].as_array().unwrap() {
            seen.push(p["sid"].as_str().unwrap().to_string());
        }
        pages.push(page.clone());
        // Inserts while paging do not shift the pages (cursor paging).
        if pages.len() == 1 {
            rest.create(&[("GenerateMatchingId", "true")]).await;
        }
        match page["meta"]["next_page_url"].as_str() {
            Some(next) => page = rest.follow(next).await.1,
            None => break,
        }
    }
    assert_eq!(
        &seen[..7],
        &created[..],
        "stable id order, nothing twice or lost"
    );
    assert_eq!(seen.len(), 8, "the profile added while paging comes last");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 8);
    assert_eq!(pages[1]["meta"]["page"], 1);
    // previous_page_url of page 2 gives page 1 again.
    let prev = pages[1]["meta"]["previous_page_url"].as_str().unwrap();
    let (_, back) = rest.follow(prev).await;
    assert_eq!(back["esim_profiles"], pages[0]["esim_profiles"]);
    assert_eq!(back["meta"]["page"], 0);
    // Filters stay in the URLs; bad paging parameters are 400s.
    let (_, f) = rest
        .get("/v1/ESimProfiles?Status=available&PageSize=2")
        .await;
    assert!(f["meta"]["url"]
        .as_str()
        .unwrap()
        .contains("Status=available&PageSize=2&Page=0"));
    for token in [
        "garbage",
        "PTA-1",
        "PTA%2B1",
        "PT%C2%A8",
        "%C2%A8%5D",
        "PTB",
    ] {
        let (s, v) = rest
            .get(&format!("/v1/ESimProfiles?PageToken={token}"))
            .await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(21481)), "{token}");
    }
    for q in [
        "PageSize=0",
        "PageSize=1001",
        "Page=-1",
        "Page=%2B1",
        "PageSize=%2B5",
        "PageSize=5&PageSize=5",
        "Status=new&Status=available",
        "Status=nonsense",
        "Unknown=1",
        "=null",
    ] {
        let (s, _) = rest.get(&format!("/v1/ESimProfiles?{q}")).await;
        assert_eq!(s, 400, "{q}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sims_update_fetch_by_unique_name_and_status_rules() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("sims");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
    let sim_sid = v["sim_sid"].as_str().unwrap();
    // A status change is asynchronous: 202 and `scheduled`, then the status asked for.
    let (s, sim) = rest
        .send(
            "POST",
            &format!("/v1/Sims/{sim_sid}"),
            &[("UniqueName", "tracker-1"), ("Status", "ready")],
        )
        .await;
    assert_eq!(s, 202, "{sim}");
    assert_eq!(sim["unique_name"], "tracker-1");
    assert_eq!(sim["status"], "scheduled");
    assert_eq!(settled_sim(&rest, sim_sid).await["status"], "ready");
    let (s, by_name) = rest.get("/v1/Sims/tracker-1").await;
    assert_eq!(s, 200);
    assert_eq!(by_name["sid"], sim_sid);
    // Asking for the status it has changes nothing, synchronously.
    let (s, v) = rest
        .send("POST", "/v1/Sims/tracker-1", &[("Status", "ready")])
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ready")));
    // ready only from new; active and inactive any time.
    let (s, v) = rest
        .send("POST", "/v1/Sims/tracker-1", &[("Status", "active")])
        .await;
    assert_eq!((s, v["status"].as_str()), (202, Some("scheduled")));
    assert_eq!(settled_sim(&rest, sim_sid).await["status"], "active");
    let (s, v) = rest
        .send("POST", "/v1/Sims/tracker-1", &[("Status", "ready")])
        .await;
    assert_eq!((s, v["code"].as_u64()), (400, Some(83010)));
    let (s, _) = rest
        .send("POST", "/v1/Sims/tracker-1", &[("Status", "new")])
        .await;
    assert_eq!(s, 400);
    let (_, l) = rest.get("/v1/Sims?Status=active").await;
    assert_eq!(l["sims"].as_array().unwrap().len(), 1);
    assert_eq!(l["meta"]["key"], "sims");
    // Bad values, another account's sid, subaccounts: 400s that change nothing.
    for form in [
        &[("Status", "scheduled")][..],
        &[("CallbackUrl", "ftp://x/cb"), ("Status", "inactive")],
        &[("CallbackMethod", "PUT"), ("Status", "inactive")],
        &[("Fleet", "no-such-fleet")],
        &[("AccountSid", "AC00000000000000000000000000000000")],
        &[("UniqueName", "")],
        &[("UniqueName", "HS00000000000000000000000000000000")],
    ] {
        let (s, v) = rest.send("POST", "/v1/Sims/tracker-1", form).await;
        assert_eq!((s, v["status"].as_u64()), (400, Some(400)), "{form:?}: {v}");
    }
    let (_, v) = rest.get("/v1/Sims/tracker-1").await;
    assert_eq!(v["status"], "active");
    assert!(v["fleet_sid"].is_null());
    // Registering a physical SIM: validated, then refused as the service refuses an
    // unknown SIM (the simulator has none).
    let iccid = |p: &str| format!("{p}{}", rsp_asn1::ids::luhn_check_digit(p));
    let good = iccid("8988307000012345678");
    let last = good.as_bytes()[19] - b'0';
    let bad = format!("{}{}", &good[..19], (last + 1) % 10);
    for (form, code) in [
        (
            vec![("Iccid", good.as_str()), ("RegistrationCode", "H3LL0W0RLD")],
            83002,
        ),
        (
            vec![("Iccid", bad.as_str()), ("RegistrationCode", "H3LL0W0RLD")],
            20001,
        ),
        (
            vec![("Iccid", good.as_str()), ("RegistrationCode", "short")],
            20001,
        ),
        (vec![("Iccid", good.as_str())], 20001),
    ] {
        let (s, v) = rest.send("POST", "/v1/Sims", &form).await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(code)), "{form:?}: {v}");
    }
    let (_, l) = rest.get("/v1/Sims").await;
    assert_eq!(l["sims"].as_array().unwrap().len(), 1, "nothing registered");
    let (_, f) = rest.get("/v1/Fleets").await;
    assert_eq!(f["meta"]["key"], "fleets");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reservation_is_failed_with_a_reason_and_charges_nothing() {
    let server = TestServer::start(Options {
        template: "/nonexistent/template.der".into(),
        ..Default::default()
    })
    .await;
    let acct = server.account("fail");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error_code"], "20500");
    assert!(
        v["error_message"].as_str().unwrap().contains("nonexistent"),
        "{v}"
    );
    assert!(v["sim_sid"].is_null() && v["iccid"].is_null());
    let (_, ledger) = rest.get("/v1/Charges").await;
    assert_eq!(ledger["total"], "0.00");
    let (_, sims) = rest.get("/v1/Sims").await;
    assert!(sims["sims"].as_array().unwrap().is_empty());
    server.stop().await;
}

/// GET with the raw body (for images).
/// Over the real plain-HTTP REST listener (the one REST test that keeps a socket).
async fn get_bytes(rest: &Rest, path: &str) -> (u16, String, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(rest.at.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", rest.at.addr.to_string())
        .header("authorization", rest.auth.clone().unwrap())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ct, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_decode_to_the_activation_code() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("qr");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    let sid = v["sid"].as_str().unwrap().to_string();
    let v = reserved(&rest, &sid).await;
    let (s, ct, png) = get_bytes(&rest, &format!("/v1/ESimProfiles/{sid}/QrCode.png")).await;
    assert_eq!((s, ct.as_str()), (200, "image/png"));
    // Decoded by an independent QR reader (rqrr) from the PNG pixels.
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, text) = grids[0].decode().unwrap();
    assert_eq!(
        text,
        format!("LPA:{}", v["activation_code"].as_str().unwrap())
    );
    let (s, ct, svg) = get_bytes(&rest, &format!("/v1/ESimProfiles/{sid}/QrCode.svg")).await;
    assert_eq!((s, ct.as_str()), (200, "image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    // A default-SM-DP+ profile (Eid only) has no activation code, so no QR code.
    let eid = Lpa::new(&server, &our_pki_dir(), Curve::NistP256).eid();
    let (_, v) = rest.create(&[("Eid", &eid)]).await;
    let sid = v["sid"].as_str().unwrap().to_string();
    reserved(&rest, &sid).await;
    let (s, _, _) = get_bytes(&rest, &format!("/v1/ESimProfiles/{sid}/QrCode.png")).await;
    assert_eq!(s, 404);
    server.stop().await;
}

/// Orders from two accounts arrive at once while a third client walks the list: every order
/// becomes exactly one profile with its own ICCID, Sim and matching ID, charged once to its
/// own account, and no walk sees a profile twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_are_each_reserved_and_charged_once() {
    const PER_ACCOUNT: usize = 16;
    let server = TestServer::start(Options::default()).await;
    let accounts = [server.account("one"), server.account("two")];
    let mut tasks = Vec::new();
    for acct in &accounts {
        for _ in 0..PER_ACCOUNT {
            let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
            tasks.push(tokio::spawn(async move {
                let (s, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
                assert_eq!(s, 201, "{v}");
                v["sid"].as_str().unwrap().to_string()
            }));
        }
    }
    // Meanwhile: whole paging walks of account one's list (cursor paging, 3 a page).
    let walker = Rest::basic(
        server.rest(),
        &accounts[0].account_sid,
        &accounts[0].auth_token,
    );
    for _ in 0..4 {
        let mut seen = HashSet::new();
        let (_, mut page) = walker.get("/v1/ESimProfiles?PageSize=3").await;
        loop {
            for p in page["esim_profiles"].as_array().unwrap() {
                assert!(seen.insert(p["sid"].as_str().unwrap().to_string()));
            }
            match page["meta"]["next_page_url"].as_str() {
                Some(next) => page = walker.follow(next).await.1,
                None => break,
            }
        }
        assert!(seen.len() <= PER_ACCOUNT);
    }
    let mut sids = Vec::new();
    for t in tasks {
        sids.push(t.await.unwrap());
    }
    assert_eq!(sids.iter().collect::<HashSet<_>>().len(), 2 * PER_ACCOUNT);

    let (mut iccids, mut sims, mut mids) = (HashSet::new(), HashSet::new(), HashSet::new());
    for (i, acct) in accounts.iter().enumerate() {
        let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
        let mine = &sids[i * PER_ACCOUNT..(i + 1) * PER_ACCOUNT];
        for sid in mine {
            let v = reserved(&rest, sid).await;
            assert_eq!(v["status"], "available", "{v}");
            assert!(iccids.insert(v["iccid"].as_str().unwrap().to_string()));
            assert!(sims.insert(v["sim_sid"].as_str().unwrap().to_string()));
            assert!(mids.insert(v["matching_id"].as_str().unwrap().to_string()));
        }
        let (_, l) = rest.get("/v1/ESimProfiles?PageSize=1000").await;
        let listed: HashSet<String> = l["esim_profiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, mine.iter().cloned().collect(), "exactly its own");
        let (_, ledger) = rest.get("/v1/Charges").await;
        let charged: Vec<&str> = ledger["charges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["esim_profile_sid"].as_str().unwrap())
            .collect();
        assert_eq!(charged.len(), PER_ACCOUNT, "one charge per profile");
        assert_eq!(
            charged.iter().collect::<HashSet<_>>().len(),
            PER_ACCOUNT,
            "{ledger}"
        );
        assert_eq!(ledger["total"], format!("{}.00", 3 * PER_ACCOUNT).as_str());
    }
    server.stop().await;
}

/// SGP.22 order extensions over REST: a held order (`Released=false`) stays `reserving` and
/// ES9+ answers 8.2/1.2 until `POST …/Release`; a matching ID outside the activation-code
/// alphabet is accepted with a `Warning`; a matching ID already in use is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_orders_release_and_given_matching_ids() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("held");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (s, h, v) = rest
        .send_full(
            "POST",
            "/v1/ESimProfiles",
            &[
                ("MatchingId", "AC_WITH_CC"),
                ("Released", "false"),
                ("ProfilePolicyRules", "ppr1"),
                ("ServiceProviderName", "Test Operator"),
            ],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let warning = h
        .get("warning")
        .expect("a Warning header")
        .to_str()
        .unwrap();
    assert!(
        warning.starts_with("299 smdp-sim ") && warning.contains("AC_WITH_CC"),
        "{warning}"
    );
    let sid = v["sid"].as_str().unwrap().to_string();
    // The worker reserves it, but it stays held.
    let p = loop {
        let p = server.smdp.store.profile_with_sid(&sid).unwrap().unwrap();
        if p.iccid.is_some() {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(p.status, smdp_core::store::ProfileStatus::Reserving);
    assert!(!p.released);
    let (_, v) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(v["status"], "reserving");
    assert!(v["activation_code"].is_null());
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    assert_failed(
        lpa.authenticate(&init, Some("AC_WITH_CC")).await,
        "8.2",
        "1.2",
    );

    let (s, v) = rest.create(&[("MatchingId", "AC_WITH_CC")]).await;
    assert_eq!((s, v["code"].as_u64()), (400, Some(20001)), "{v}");
    let (s, v) = rest
        .send("GET", &format!("/v1/ESimProfiles/{sid}/Release"), &[])
        .await;
    assert_eq!(s, 405, "{v}");
    let (s, v) = rest
        .send("POST", &format!("/v1/ESimProfiles/{sid}/Release"), &[])
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "available");
    assert_eq!(
        v["activation_code"],
        format!("1${}$AC_WITH_CC", server.smdp.address).as_str()
    );
    let (s, _) = rest
        .send("POST", &format!("/v1/ESimProfiles/{sid}/Release"), &[])
        .await;
    assert_eq!(s, 400, "released once");
    let other = server.account("other");
    let stranger = Rest::basic(server.rest(), &other.account_sid, &other.auth_token);
    let (s, _) = stranger
        .send("POST", &format!("/v1/ESimProfiles/{sid}/Release"), &[])
        .await;
    assert_eq!(s, 404);

    lpa.download(Some("AC_WITH_CC"), None).await.unwrap();
    let info = lpa.euicc.profile_info_list().pop().unwrap();
    assert_eq!(info.service_provider_name.as_deref(), Some("Test Operator"));
    assert!(info
        .profile_policy_rules
        .unwrap()
        .is_set(rsp_asn1::bits::ppr_ids::PPR1));
    let (_, v) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(v["status"], "installed");
    server.stop().await;
}

async fn post_form(rest: &Rest, path: &str, f: &[(&str, String)]) -> (u16, Value) {
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    rest.send("POST", path, &pairs).await
}

/// KORE-style OAuth2 client credentials (RFC 6749 §4.4, the KORE spec's tokenUrl): a token
/// for the account's client, good as a Bearer until it expires or is revoked; client
/// authentication by body or Basic, never both; the KORE error shapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_credentials_tokens_expire_and_revoke() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("oauth");
    let anon = Rest {
        at: server.rest(),
        auth: None,
    };
    let token_path = "/api-services/v1/auth/token";
    let grant = |id: &str, secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", id.to_string()),
            ("client_secret", secret.to_string()),
        ]
    };
    let form = |v: &[(&'static str, String)]| -> Vec<(&'static str, String)> { v.to_vec() };
    let (s, t) = post_form(
        &anon,
        token_path,
        &grant(&acct.client_id, &acct.client_secret),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "supersim");
    let token = t["access_token"].as_str().unwrap().to_string();
    let bearer = Rest {
        at: server.rest(),
        auth: Some(format!("Bearer {token}")),
    };
    let (s, v) = bearer.get("/v1/ESimProfiles").await;
    assert_eq!(s, 200, "{v}");
    // The account SID and auth token are a client too; HTTP Basic client authentication.
    let (s, _) = post_form(
        &anon,
        token_path,
        &grant(&acct.account_sid, &acct.auth_token),
    )
    .await;
    assert_eq!(s, 200);
    let basic = Rest::basic(server.rest(), &acct.client_id, &acct.client_secret);
    let (s, _) = post_form(
        &basic,
        token_path,
        &form(&[("grant_type", "client_credentials".into())]),
    )
    .await;
    assert_eq!(s, 200);

    // Refusals, each in the KORE shape.
    for (rest, f) in [
        (&anon, grant(&acct.client_id, "wrong")),
        (&anon, grant("nobody", "x")),
        (&anon, form(&[("grant_type", "client_credentials".into())])),
        (&basic, grant(&acct.client_id, &acct.client_secret)),
    ] {
        let (s, v) = post_form(rest, token_path, &f).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (401, Some("invalid_client")),
            "{v}"
        );
        assert!(v["error_description"].is_string());
    }
    for f in [
        form(&[
            ("grant_type", "password".into()),
            ("client_id", acct.client_id.clone()),
            ("client_secret", acct.client_secret.clone()),
        ]),
        form(&[
            ("client_id", acct.client_id.clone()),
            ("client_secret", acct.client_secret.clone()),
        ]),
        [
            grant(&acct.client_id, &acct.client_secret),
            form(&[("audience", "x".into())]),
        ]
        .concat(),
    ] {
        let (s, v) = post_form(&anon, token_path, &f).await;
        assert_eq!(s, 400, "{v}");
        assert!(v["code"].is_u64() && v["message"].is_string(), "{v}");
    }
    let (s, _) = anon.get(token_path).await;
    assert_eq!(s, 405);

    // Expiry: an hour later the token is refused with the Twilio error body.
    server.clock.advance(Duration::from_secs(3600));
    let (s, v) = bearer.get("/v1/ESimProfiles").await;
    assert_eq!((s, v["code"].as_u64()), (401, Some(20003)), "{v}");
    // Revocation (RFC 7009): the client revokes a fresh token; 200 even for unknown ones.
    let (_, t) = post_form(
        &anon,
        token_path,
        &grant(&acct.client_id, &acct.client_secret),
    )
    .await;
    let fresh = t["access_token"].as_str().unwrap().to_string();
    let fresh_bearer = Rest {
        at: server.rest(),
        auth: Some(format!("Bearer {fresh}")),
    };
    assert_eq!(fresh_bearer.get("/v1/ESimProfiles").await.0, 200);
    let revoke = "/api-services/v1/auth/revoke";
    let revoke_form = |tok: &str| {
        form(&[
            ("token", tok.to_string()),
            ("client_id", acct.client_id.clone()),
            ("client_secret", acct.client_secret.clone()),
        ])
    };
    assert_eq!(post_form(&anon, revoke, &revoke_form(&fresh)).await.0, 200);
    assert_eq!(
        post_form(&anon, revoke, &revoke_form("no-such-token"))
            .await
            .0,
        200
    );
    assert_eq!(fresh_bearer.get("/v1/ESimProfiles").await.0, 401);
    // Static bearer tokens and Basic keep working.
    let (s, _) = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token)
        .get("/v1/ESimProfiles")
        .await;
    assert_eq!(s, 200);
    server.stop().await;
}

/// Pre-installed profiles ("When eSIMs are manufactured with profiles pre-installed, the
/// ESimProfile resource will be added in this state"): a batch import is all or nothing with
/// every bad row reported, safe to re-run, and its profiles are never downloadable over ES9+.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preinstalled_profiles_import_once_and_never_download() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("factory");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    let iccid = |n: u32| {
        let p = format!("890010100000001{n:04}");
        format!("{p}{}", rsp_asn1::ids::luhn_check_digit(&p))
    };
    let key = "000102030405060708090A0B0C0D0E0F";
    let csv = format!(
        "eid,iccid,imsi,ki,opc,spn,sim_unique_name\n\
         {},{},001010000000101,{key},{key},Lab,lab-sim-1\n\
         89049032123451234512345678901235,{},001010000000102,{key},{key},,\n",
        lpa.eid(),
        iccid(1),
        iccid(2)
    );
    let import = |body: Vec<u8>| rest.request("POST", "/v1/ESimProfiles/Import", "text/csv", body);
    let (s, _, v) = import(csv.clone().into_bytes()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["imported"].as_u64(), v["unchanged"].as_u64()),
        (Some(2), Some(0))
    );
    let sid = v["esim_profile_sids"][0].as_str().unwrap().to_string();
    let (_, p) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(p["status"], "installed");
    assert_eq!(p["eid"], lpa.eid().as_str());
    assert_eq!(p["iccid"], iccid(1).as_str());
    assert!(
        p["activation_code"].is_null() && p["matching_id"].is_null(),
        "{p}"
    );
    let (_, sim) = rest.get("/v1/Sims/lab-sim-1").await;
    assert_eq!(sim["sid"], p["sim_sid"]);
    let (_, charges) = rest.get("/v1/Charges").await;
    assert_eq!(
        charges["charges"].as_array().map(Vec::len),
        Some(2),
        "{charges}"
    );
    // Re-run: nothing changes, nothing is charged.
    let (s, _, v) = import(csv.into_bytes()).await;
    assert_eq!(
        (s, v["imported"].as_u64(), v["unchanged"].as_u64()),
        (200, Some(0), Some(2))
    );
    let (_, charges) = rest.get("/v1/Charges").await;
    assert_eq!(charges["charges"].as_array().map(Vec::len), Some(2));
    // A bad file: every bad row named, nothing imported (also not the good third row).
    let json = format!(
        r#"[{{"eid":"{}","iccid":"{}","imsi":"001010000000103","ki":"{key}","opc":"{key}"}},
            {{"eid":"89049032123451234512345678901234","iccid":"{}","imsi":"001010000000104","ki":"{key}","opc":"{key}"}},
            {{"eid":"{}","iccid":"{}","imsi":"1","ki":"{key}","opc":"{key}"}}]"#,
        lpa.eid(),
        iccid(3),
        iccid(4),
        lpa.eid(),
        iccid(5),
    );
    let (s, _, v) = import(json.into_bytes()).await;
    assert_eq!((s, v["code"].as_u64()), (400, Some(20001)), "{v}");
    let rows: Vec<u64> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3], "{v}");
    let (_, l) = rest.get("/v1/ESimProfiles?Status=installed").await;
    assert_eq!(l["esim_profiles"].as_array().unwrap().len(), 2);
    for bad in [&b"not,a,batch\n"[..], b"[", b""] {
        let (s, _, v) = import(bad.to_vec()).await;
        assert_eq!(s, 400, "{v}");
    }
    // Never downloadable: the default SM-DP+ has no order for this eUICC.
    let init = lpa.initiate().await.unwrap();
    assert_failed(lpa.authenticate(&init, None).await, "8.1.1", "3.8");
    server.stop().await;
}

/// Network Access Profiles and Fleets: create, fetch by sid and unique name, update, list
/// with the NAP filter and paging; Sims assigned to a fleet and listed by it; unknown NAPs,
/// bad values and duplicate names refused with Twilio 400s that change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleets_group_sims_under_a_network_access_profile() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("fleets");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (s, nap) = rest
        .send(
            "POST",
            "/v1/NetworkAccessProfiles",
            &[("UniqueName", "lab-nap")],
        )
        .await;
    assert_eq!(s, 201, "{nap}");
    let nap_sid = nap["sid"].as_str().unwrap().to_string();
    assert!(nap_sid.starts_with("HA") && nap_sid.len() == 34);
    let (s, by_name) = rest.get("/v1/NetworkAccessProfiles/lab-nap").await;
    assert_eq!((s, &by_name["sid"]), (200, &nap["sid"]));
    let (_, other_nap) = rest.send("POST", "/v1/NetworkAccessProfiles", &[]).await;

    // NetworkAccessProfile is required and must exist in this account.
    for form in [
        &[("UniqueName", "f")][..],
        &[("NetworkAccessProfile", "nope")],
        &[("NetworkAccessProfile", "HA00000000000000000000000000000000")],
        &[("NetworkAccessProfile", "lab-nap"), ("DataLimit", "0")],
        &[
            ("NetworkAccessProfile", "lab-nap"),
            ("DataLimit", "2000001"),
        ],
        &[("NetworkAccessProfile", "lab-nap"), ("DataLimit", "1e3")],
        &[("NetworkAccessProfile", "lab-nap"), ("DataEnabled", "yes")],
        &[
            ("NetworkAccessProfile", "lab-nap"),
            ("IpCommandsUrl", "not a url"),
        ],
        &[
            ("NetworkAccessProfile", "lab-nap"),
            ("SmsCommandsMethod", "PUT"),
        ],
        &[
            ("NetworkAccessProfile", "lab-nap"),
            ("DataMetering", "payg"),
        ],
        &[
            ("NetworkAccessProfile", "lab-nap"),
            ("UniqueName", "HF00000000000000000000000000000000"),
        ],
    ] {
        let (s, v) = rest.send("POST", "/v1/Fleets", form).await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(20001)), "{form:?}: {v}");
    }
    let (_, none) = rest.get("/v1/Fleets").await;
    assert!(none["fleets"].as_array().unwrap().is_empty(), "{none}");

    let (s, fleet) = rest
        .send(
            "POST",
            "/v1/Fleets",
            &[
                ("NetworkAccessProfile", "lab-nap"),
                ("UniqueName", "trackers"),
                ("DataLimit", "500"),
                ("IpCommandsUrl", "https://example.com/ip"),
                ("IpCommandsMethod", "get"),
            ],
        )
        .await;
    assert_eq!(s, 201, "{fleet}");
    let fleet_sid = fleet["sid"].as_str().unwrap().to_string();
    assert!(fleet_sid.starts_with("HF") && fleet_sid.len() == 34);
    assert_eq!(fleet["network_access_profile_sid"], nap_sid.as_str());
    assert_eq!(fleet["data_limit"], 500);
    assert_eq!(fleet["data_enabled"], true);
    assert_eq!(fleet["data_metering"], "payg");
    assert_eq!(fleet["ip_commands_method"], "GET");
    assert_eq!(fleet["sms_commands_method"], "POST");
    assert_eq!(fleet["sms_commands_enabled"], true);
    assert_eq!(fleet["account_sid"], acct.account_sid.as_str());
    assert_eq!(
        fleet["url"],
        format!("http://{}/v1/Fleets/{fleet_sid}", server.rest_addr)
    );
    let (s, again) = rest
        .send(
            "POST",
            "/v1/Fleets",
            &[
                ("NetworkAccessProfile", &nap_sid),
                ("UniqueName", "trackers"),
            ],
        )
        .await;
    assert_eq!(s, 400, "a unique name is unique: {again}");
    let (s, other) = rest
        .send(
            "POST",
            "/v1/Fleets",
            &[("NetworkAccessProfile", other_nap["sid"].as_str().unwrap())],
        )
        .await;
    assert_eq!(s, 201, "{other}");
    assert!(other["unique_name"].is_null());
    assert_eq!(other["data_limit"], 1000, "the documented default");

    // Fetch by sid and by unique name; update.
    let (s, by_name) = rest.get("/v1/Fleets/trackers").await;
    assert_eq!((s, &by_name["sid"]), (200, &fleet["sid"]));
    let (s, up) = rest
        .send(
            "POST",
            "/v1/Fleets/trackers",
            &[("DataLimit", "2000000"), ("UniqueName", "trackers-2")],
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["data_limit"], 2_000_000);
    assert_eq!(up["unique_name"], "trackers-2");
    assert_eq!(up["ip_commands_url"], "https://example.com/ip", "unchanged");
    let (s, _) = rest.get("/v1/Fleets/trackers").await;
    assert_eq!(s, 404);
    let (s, v) = rest
        .send(
            "POST",
            &format!("/v1/Fleets/{fleet_sid}"),
            &[("DataEnabled", "false")],
        )
        .await;
    assert_eq!(s, 400, "DataEnabled is not an update parameter: {v}");
    let (s, _) = rest
        .send("DELETE", &format!("/v1/Fleets/{fleet_sid}"), &[])
        .await;
    assert_eq!(s, 405);

    // List: all, by NAP sid or name, paged.
    let (_, all) = rest.get("/v1/Fleets?PageSize=1").await;
    assert_eq!(all["fleets"].as_array().unwrap().len(), 1);
    assert_eq!(all["fleets"][0]["sid"], fleet_sid.as_str());
    let (_, next) = rest
        .follow(all["meta"]["next_page_url"].as_str().unwrap())
        .await;
    assert_eq!(next["fleets"][0]["sid"], other["sid"]);
    assert!(next["meta"]["next_page_url"].is_null());
    for key in [nap_sid.as_str(), "lab-nap"] {
        let (_, l) = rest
            .get(&format!("/v1/Fleets?NetworkAccessProfile={key}"))
            .await;
        let sids: Vec<&str> = l["fleets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, [fleet_sid.as_str()], "{l}");
    }

    // Sims join a fleet (by unique name) and are listed by it.
    let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
    let sim_sid = v["sim_sid"].as_str().unwrap();
    let (s, sim) = rest
        .send(
            "POST",
            &format!("/v1/Sims/{sim_sid}"),
            &[("Fleet", "trackers-2")],
        )
        .await;
    assert_eq!(s, 200, "{sim}");
    assert_eq!(sim["fleet_sid"], fleet_sid.as_str());
    let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    reserved(&rest, v["sid"].as_str().unwrap()).await;
    for key in [fleet_sid.as_str(), "trackers-2"] {
        let (_, l) = rest.get(&format!("/v1/Sims?Fleet={key}")).await;
        let sids: Vec<&str> = l["sims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, [sim_sid], "{l}");
    }
    let (s, _) = rest.get("/v1/Sims?Fleet=unknown").await;
    assert_eq!(s, 404);

    // Another account sees none of it.
    let stranger = server.account("stranger");
    let rest2 = Rest::basic(server.rest(), &stranger.account_sid, &stranger.auth_token);
    let (s, _) = rest2.get(&format!("/v1/Fleets/{fleet_sid}")).await;
    assert_eq!(s, 404);
    let (s, v) = rest2
        .send("POST", "/v1/Fleets", &[("NetworkAccessProfile", &nap_sid)])
        .await;
    assert_eq!(s, 400, "{v}");
    let (_, l) = rest2.get("/v1/Fleets").await;
    assert!(l["fleets"].as_array().unwrap().is_empty());
    server.stop().await;
}

/// Subscriber export: the keys on each reserved card (read back from its package), OPc
/// derived from the account's OP, and secrets nowhere else in the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_export_carries_the_cards_keys_and_only_it_does() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("export");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    // TS 35.208 test set 1's OP.
    let op: [u8; 16] = hex::decode("cdc202d5123e20f62b6d676ac72cb318")
        .unwrap()
        .try_into()
        .unwrap();
    server
        .store
        .set_milenage(
            &acct.account_sid,
            &smdp_core::store::Milenage {
                op: Some(op),
                amf: [0x80, 0x00],
            },
        )
        .unwrap();
    let mut sids = Vec::new();
    for _ in 0..2 {
        let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
        sids.push(reserved(&rest, v["sid"].as_str().unwrap()).await);
    }
    let (s, h, rows) = rest
        .send_full("GET", "/v1/ESimProfiles/Export?Format=json", &[])
        .await;
    assert_eq!(s, 200, "{rows}");
    assert_eq!(h["content-type"], "application/json");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, p) in rows.iter().zip(&sids) {
        assert_eq!(row["esim_profile_sid"], p["sid"]);
        assert_eq!(row["iccid"], p["iccid"]);
        assert_eq!(row["status"], "available");
        // The card's keys, as personalised into its package.
        let profile = server
            .store
            .profile_by_sid(&acct.account_sid, p["sid"].as_str().unwrap())
            .unwrap()
            .unwrap();
        let der = server.store.package(profile.id).unwrap().unwrap();
        let (ki, opc) = rsp_saip::package::ProfilePackage::parse(&der)
            .unwrap()
            .aka_keys()[0];
        assert_eq!(row["ki"], hex::encode_upper(ki));
        assert_eq!(row["opc"], hex::encode_upper(opc));
        assert_eq!(
            opc,
            rsp_saip::milenage::opc(&ki, &op),
            "OPc derived from OP"
        );
        assert_eq!(row["op"], hex::encode_upper(op));
        assert_eq!(row["imsi"].as_str(), profile.imsi.as_deref());
        // Nothing else in the API shows the secrets.
        let ki_hex = hex::encode_upper(ki);
        for path in [
            format!(
                "/v1/ESimProfiles/{}",
                row["esim_profile_sid"].as_str().unwrap()
            ),
            "/v1/ESimProfiles".into(),
            "/v1/Sims".into(),
        ] {
            let (_, v) = rest.get(&path).await;
            let text = v.to_string().to_uppercase();
            assert!(!text.contains(&ki_hex), "{path} leaks Ki");
        }
    }
    let (s, _, lines) = rest
        .request(
            "GET",
            "/v1/ESimProfiles/Export?Format=open5gs&Status=available",
            "application/x-www-form-urlencoded",
            vec![],
        )
        .await;
    assert_eq!(s, 200);
    assert!(lines.is_null(), "JSON lines, not one JSON value");
    for (q, code) in [
        ("", 400),
        ("?Format=xml", 400),
        ("?Format=csv&Status=failed", 400),
        ("?Format=csv&Status=bogus", 400),
        ("?Format=csv&Extra=1", 400),
        ("?Format=csv&Format=json", 400),
    ] {
        let (s, v) = rest.get(&format!("/v1/ESimProfiles/Export{q}")).await;
        assert_eq!(
            (s, v["status"].as_u64()),
            (code, Some(u64::from(code))),
            "{q}: {v}"
        );
    }
    let anonymous = Rest {
        at: server.rest(),
        auth: None,
    };
    let (s, _) = anonymous.get("/v1/ESimProfiles/Export?Format=csv").await;
    assert_eq!(s, 401);
    // Another account's export is its own (empty).
    let other = server.account("other");
    let rest2 = Rest::basic(server.rest(), &other.account_sid, &other.auth_token);
    let (s, _, v) = rest2
        .request(
            "GET",
            "/v1/ESimProfiles/Export?Format=json",
            "text/plain",
            vec![],
        )
        .await;
    assert_eq!((s, v), (200, serde_json::json!([])));
    server.stop().await;
}
