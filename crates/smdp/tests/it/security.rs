//! Security properties of issue 18 that no other file owns: matching-ID guessing limits.

use std::net::IpAddr;
use std::time::Duration;

use rsp_asn1::es9::{self, path, ResponseHeader};
use smdp_core::es9::guesses::GuessLimit;
use smdp_core::es9::{Es9Answer, Policy, Smdp};
use smdp_core::orders::OrderRequest;
use smdp_core::store::ProfileStatus;

use crate::common::*;

/// One ES9+ call in process, as if from `client`.
fn call_from<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
    smdp: &Smdp,
    function: &str,
    req: &Req,
    client: &str,
) -> Result<Resp, ResponseHeader> {
    let ip: IpAddr = client.parse().unwrap();
    let body = serde_json::to_vec(req).unwrap();
    match smdp_core::es9::dispatch_from(smdp, function, &body, Some(ip)) {
        Some(Es9Answer::Json(b)) => es9::parse_response(&b).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// initiateAuthentication and authenticateClient in process from `client`.
fn authenticate_from(
    smdp: &Smdp,
    lpa: &mut Lpa,
    matching_id: &str,
    client: &str,
) -> Result<es9::AuthenticateClientResponse, ResponseHeader> {
    let init = lpa.initiate_request();
    let init = call_from(smdp, path::INITIATE_AUTHENTICATION, &init, client)?;
    let req = lpa.authenticate_client_request(&init, Some(matching_id));
    call_from(smdp, path::AUTHENTICATE_CLIENT, &req, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_id_guessing_is_limited_per_client_and_per_eid_then_recovers() {
    let server = TestServer::start(Options {
        policy: Policy {
            matching_id_guesses: Some(GuessLimit {
                failures: 3,
                window: Duration::from_secs(60),
            }),
            ..Policy::default()
        },
        ..Default::default()
    })
    .await;
    let cards = EuiccFactory::new(&server);
    let first = server.reserve(by_matching_id("RIGHT-1"));
    let bound = server.reserve(OrderRequest {
        eid: Some(test_eid(3)),
        ..by_matching_id("BOUND-1")
    });
    let mut a = Lpa::with_euicc(&server, cards.euicc(&test_eid(1), 1));
    // Over TLS (from loopback): two unknown IDs and an order for another EID are 8.2.6/3.8
    // and 8.1.1/3.8…
    for (mid, code) in [
        ("WRONG-1", "8.2.6"),
        ("WRONG-2", "8.2.6"),
        ("BOUND-1", "8.1.1"),
    ] {
        let init = a.initiate().await.unwrap();
        assert_failed(a.authenticate(&init, Some(mid)).await, code, "3.8");
    }
    // …and then even the right one is refused, 8.2.6/6.4, so a hit cannot be told apart.
    let init = a.initiate().await.unwrap();
    assert_failed(a.authenticate(&init, Some("RIGHT-1")).await, "8.2.6", "6.4");
    // Another eUICC from the same client address: refused for the address.
    let mut b = Lpa::with_euicc(&server, cards.euicc(&test_eid(2), 2));
    let init = b.initiate().await.unwrap();
    assert_failed(b.authenticate(&init, Some("RIGHT-1")).await, "8.2.6", "6.4");
    // The first eUICC from another address: refused for its EID.
    let r = authenticate_from(&server.smdp, &mut a, "RIGHT-1", "192.0.2.7");
    assert_failed(r, "8.2.6", "6.4");
    // The second eUICC from another address has failed nothing: served. A download by EID
    // (no matching ID) is never throttled.
    authenticate_from(&server.smdp, &mut b, "RIGHT-1", "2001:db8::7").unwrap();
    let stats = server.smdp.guess_stats();
    assert_eq!((stats.failed, stats.refused, stats.tracked), (3, 3, 2));
    // The window ends: the first eUICC downloads from loopback again.
    server.clock.advance(Duration::from_secs(60));
    let order = server.reserve(by_matching_id("RIGHT-2"));
    a.download(Some("RIGHT-2"), None).await.unwrap();
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    assert_eq!(server.profile(&first).status, ProfileStatus::Available);
    assert_eq!(server.profile(&bound).status, ProfileStatus::Available);
    server.stop().await;
}

/// Every spelling of a secret a log could carry.
fn spellings(secret: &[u8]) -> Vec<String> {
    vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        es9::base64_encode(secret),
    ]
}

/// Issue 18: a trace-level log of `smdp serve` over a whole download (REST reservation with
/// Basic auth, an OAuth token, ES9+ over TLS, install notification) names no Ki, OPc, private
/// key, otSK.DP, session key, auth token or access token; nor do the REST answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_or_an_answer() {
    const ACCOUNT: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const TOKEN: &str = "secret-auth-token-4f1d2c";
    let data = scratch_dir("smdp-secrets");
    let node = ServeProcess::start(
        &data,
        "trace",
        &[
            "--account",
            &format!("{ACCOUNT}:{TOKEN}"),
            "--reservation-delay-ms",
            "0",
        ],
    );
    let (es9, rest) = node.clients();
    let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
    let form = "application/x-www-form-urlencoded";
    let basic = basic_auth(ACCOUNT, TOKEN);
    let mut answers = Vec::new();
    let r = rest
        .request(
            "POST",
            "/v1/ESimProfiles",
            &[("authorization", &basic), ("content-type", form)],
            b"GenerateMatchingId=true".to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    answers.push(r.body);
    let sid = created["sid"].as_str().unwrap().to_string();
    let r = rest
        .request(
            "POST",
            "/api-services/v1/auth/token",
            &[("content-type", form)],
            format!("grant_type=client_credentials&client_id={ACCOUNT}&client_secret={TOKEN}")
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let access = t["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {access}");
    let mut matching_id = None;
    for _ in 0..200 {
        let r = rest
            .request(
                "GET",
                &format!("/v1/ESimProfiles/{sid}"),
                &[("authorization", &bearer)],
                Vec::new(),
            )
            .await;
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        answers.push(r.body);
        if v["status"] == "available" {
            matching_id = v["matching_id"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let matching_id = matching_id.expect("available");
    let mut lpa = Lpa {
        euicc: veuicc::Euicc::from_pki(
            &pki,
            rsp_auth::Curve::NistP256,
            rsp_auth::Backend::AwsLc,
            std::time::SystemTime::now(),
        )
        .unwrap(),
        client: es9,
        rng: rsp_auth::rng::rng(Some(78)),
        now: std::time::SystemTime::now(),
        address: ADDRESS.into(),
    };
    // otSK.DP as the store holds it between the BPP and its install (for a resend); the
    // install erases it.
    let mut bound = None;
    lpa.download_observed(Some(&matching_id), None, |step| {
        if let ::lpa::download::Step::Install { .. } = step {
            let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
            use smdp_core::store::Store as _;
            bound = store.profile_with_sid(&sid).unwrap();
        }
    })
    .await
    .unwrap();
    let bound = bound.expect("the store read before the install");
    node.signal("TERM");
    let (status, log) = node.wait();
    assert!(status.success());
    let log = log.join("\n");
    // It is a log of the whole session at its most verbose.
    for want in ["\"DEBUG\"", "authenticateClient", "handleNotification"] {
        assert!(log.contains(want), "no {want} in the log");
    }
    // Values of this session do reach it (so a secret logged the same way would be found).
    for value in [sid.as_str(), &lpa.eid()] {
        assert!(log.contains(value), "{value} is not in the log");
    }

    // The secrets, from the store and the PKI the server used.
    let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
    use smdp_core::store::Store as _;
    let p = store.profile_with_sid(&sid).unwrap().unwrap();
    let package = rsp_saip::ProfilePackage::parse(&store.package(p.id).unwrap().unwrap()).unwrap();
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("auth token".into(), TOKEN.as_bytes().to_vec()),
        ("access token".into(), access.as_bytes().to_vec()),
    ];
    for (ki, opc) in package.aka_keys() {
        secrets.push(("Ki".into(), ki.to_vec()));
        secrets.push(("OPc".into(), opc.to_vec()));
    }
    assert_eq!(p.status, smdp_core::store::ProfileStatus::Installed);
    assert_eq!(p.bound_otsk, None, "otSK.DP outlived the install");
    let otsk = bound.bound_otsk.expect("otSK.DP kept for a resend");
    let ot = rsp_auth::ecdh::EphemeralKey::from_scalar(
        rsp_auth::Curve::NistP256,
        otsk.clone().try_into().unwrap(),
    )
    .unwrap();
    let shs = ot
        .shared_secret(p.bound_otpk.as_deref().unwrap(), rsp_auth::Backend::AwsLc)
        .unwrap();
    let keys = rsp_bpp::kdf::derive_session_keys(&shs, b"SMDP-SIM", p.eid.unwrap().as_bytes());
    secrets.extend([
        ("otSK.DP".into(), otsk),
        ("ShS".into(), shs.to_vec()),
        ("S-ENC".into(), keys.s_enc.to_vec()),
        ("S-MAC".into(), keys.s_mac.to_vec()),
    ]);
    for c in &pki.curves {
        let mut keys = vec![
            ("SK.DPauth", c.dp_auth.key.scalar()),
            ("SK.DPpb", c.dp_pb.key.scalar()),
        ];
        keys.extend(c.dp_tls.as_ref().map(|t| ("SK.DPtls", t.key.scalar())));
        keys.extend(c.ci_key.as_ref().map(|k| ("SK.CI", k.scalar())));
        secrets.extend(
            keys.into_iter()
                .map(|(n, k)| (format!("{n} {}", c.curve), k.to_vec())),
        );
    }
    assert!(secrets.len() >= 14, "{}", secrets.len());
    let answers: Vec<String> = answers
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    for (name, s) in &secrets {
        let mut forms = spellings(s);
        if let Ok(text) = std::str::from_utf8(s) {
            forms.push(text.to_string());
        }
        for f in forms {
            assert!(!log.contains(&f), "{name} ({f}) is in the debug log");
            assert!(
                answers.iter().all(|a| !a.contains(&f)),
                "{name} is in a REST answer"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// A TLS ClientHello record offering `version` and `suites` (NIST P-256 ECDHE, ECDSA-SHA256).
fn client_hello(version: u16, suites: &[u16]) -> Vec<u8> {
    let ext = |kind: u16, body: &[u8]| {
        let mut e = kind.to_be_bytes().to_vec();
        e.extend((body.len() as u16).to_be_bytes());
        e.extend(body);
        e
    };
    let mut exts = ext(0x000a, &[0, 2, 0x00, 0x17]); // supported_groups: secp256r1
    exts.extend(ext(0x000b, &[1, 0])); // ec_point_formats: uncompressed
    exts.extend(ext(0x000d, &[0, 2, 0x04, 0x03])); // signature_algorithms: ecdsa_secp256r1_sha256
    let name = ADDRESS.as_bytes();
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend((name.len() as u16).to_be_bytes());
    sni.extend(name);
    exts.extend(ext(0x0000, &sni));
    let mut hello = version.to_be_bytes().to_vec();
    hello.extend([0x42; 32]); // random
    hello.push(0); // no session ID
    hello.extend(((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        hello.extend(s.to_be_bytes());
    }
    hello.extend([1, 0]); // null compression
    hello.extend((exts.len() as u16).to_be_bytes());
    hello.extend(exts);
    let mut hs = vec![1]; // client_hello
    hs.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((hs.len() as u16).to_be_bytes());
    record.extend(hs);
    record
}

/// The content type of the server's first record after `hello` (0x16 handshake, 0x15 alert).
async fn first_record(addr: std::net::SocketAddr, hello: &[u8]) -> u8 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut first = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut first))
        .await
        .expect("the server answers")
        .expect("a record");
    first[0]
}

/// Issue 18: ES9+ speaks TLS 1.2 and 1.3 with AEAD suites only. Every suite the server
/// configures is AES-GCM or ChaCha20-Poly1305; on the wire, a hello for TLS 1.0 or 1.1, or
/// one offering only CBC or NULL suites, gets an alert, while the same hello with an AEAD
/// suite gets a ServerHello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_1_2_or_1_3_with_aead_suites_only() {
    let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
    let cfg = smdp_server::serve::tls_config(&pki, "localhost", std::time::SystemTime::now(), None)
        .unwrap();
    let suites = &cfg.crypto_provider().cipher_suites;
    assert!(!suites.is_empty());
    for s in suites {
        let name = format!("{:?}", s.suite());
        assert!(
            name.contains("_GCM_") || name.contains("CHACHA20_POLY1305"),
            "{name} is not an AEAD suite"
        );
        assert!(
            matches!(
                s.version().version,
                rustls::ProtocolVersion::TLSv1_2 | rustls::ProtocolVersion::TLSv1_3
            ),
            "{name}"
        );
    }
    let server = TestServer::start(Options::default()).await;
    const ECDHE_ECDSA_AES128_GCM: u16 = 0xc02b;
    const ECDHE_ECDSA_AES128_CBC_SHA: u16 = 0xc009;
    const ECDHE_ECDSA_AES256_CBC_SHA384: u16 = 0xc024;
    const RSA_AES128_CBC_SHA: u16 = 0x002f;
    const ECDHE_ECDSA_NULL_SHA: u16 = 0xc006;
    assert_eq!(
        first_record(
            server.addr,
            &client_hello(0x0303, &[ECDHE_ECDSA_AES128_GCM])
        )
        .await,
        0x16,
        "the control hello is served"
    );
    for (version, offered) in [
        (
            0x0303,
            vec![ECDHE_ECDSA_AES128_CBC_SHA, ECDHE_ECDSA_AES256_CBC_SHA384],
        ),
        (0x0303, vec![RSA_AES128_CBC_SHA, ECDHE_ECDSA_NULL_SHA]),
        (
            0x0302,
            vec![ECDHE_ECDSA_AES128_GCM, ECDHE_ECDSA_AES128_CBC_SHA],
        ),
        (
            0x0301,
            vec![ECDHE_ECDSA_AES128_GCM, ECDHE_ECDSA_AES128_CBC_SHA],
        ),
    ] {
        assert_eq!(
            first_record(server.addr, &client_hello(version, &offered)).await,
            0x15,
            "{version:04x} {offered:04x?} must be refused with an alert"
        );
    }
    server.stop().await;
}

/// Issue 18, overload: while the load monitor says the server is behind, new sessions get
/// 1.2/4.4 at once and the sessions under way finish; when it recovers, new ones are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_server_sheds_new_sessions_and_finishes_those_under_way() {
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("SHED-1"));
    let cards = EuiccFactory::new(&server);
    let mut a = Lpa::with_euicc(&server, cards.euicc(&test_eid(11), 11));
    let mut b = Lpa::with_euicc(&server, cards.euicc(&test_eid(12), 12));
    let init = a.initiate().await.unwrap();
    server.smdp.set_overloaded(true);
    assert_failed(b.initiate().await, "1.2", "4.4");
    let auth = a.authenticate(&init, Some("SHED-1")).await.unwrap();
    let bpp = a.get_bpp(&auth, None).await.unwrap();
    a.install(&bpp).await;
    assert_eq!(server.profile(&order).status, ProfileStatus::Installed);
    server.smdp.set_overloaded(false);
    b.initiate().await.unwrap();
    server.stop().await;
}

/// Reads until the server closes the connection (or `within` passes: a panic); what came.
async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(s: &mut S, within: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the server closes the connection");
    got
}

/// Issue 18, hostile clients: a body trickled past its deadline gets 408, headers trickled
/// past theirs a closed connection, and beyond the connection cap a new connection is closed
/// at once (not left in the backlog) while the ones held are served, and a place freed is
/// taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_surplus_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(Options {
        limits: smdp_server::http::Limits {
            max_connections: 2,
            body_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let client = server.client();
    // Slow body: the headers promise 100 bytes, 10 come.
    let mut s = client.tls_stream().await.unwrap();
    s.write_all(
        format!(
            "POST {} HTTP/1.1\r\nhost: {ADDRESS}\r\ncontent-type: application/json\r\n\
             content-length: 100\r\n\r\n{{\"header\":",
            path::INITIATE_AUTHENTICATION
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = String::from_utf8(read_to_close(&mut s, Duration::from_secs(5)).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    drop(s);
    // Slow headers: half a request line, then nothing.
    let mut s = client.tls_stream().await.unwrap();
    s.write_all(b"POST /gsma/rsp2/es9plus/initiateAuth")
        .await
        .unwrap();
    read_to_close(&mut s, Duration::from_secs(5)).await;
    drop(s);
    // The cap: two connections held, a third closed at once.
    let held: Vec<_> = [client.connect().await, client.connect().await].into();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let _ = third.write_all(&client_hello(0x0303, &[0xc02b])).await;
    assert!(
        read_to_close(&mut third, Duration::from_secs(2))
            .await
            .is_empty(),
        "no handshake past the cap"
    );
    // A held connection is served; freeing one makes room.
    let (mut sender, _task) = held.into_iter().next().unwrap();
    let r = sender
        .send_request(
            hyper::Request::builder()
                .method("GET")
                .uri("/")
                .header("host", ADDRESS)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    drop(sender);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = client
        .try_request("GET", "/", &[], Vec::new())
        .await
        .expect("a freed place is taken");
    assert_eq!(r.status, 404);
    server.stop().await;
}

/// Issue 18: while the store cannot be written (a data folder gone read-only; the unit
/// tests of smdp-store-sqlite show a full disk failing the same way), REST answers 503
/// (Twilio 20503) and ES9+ 1.2/4.2 "store unavailable", reads still work and nothing is
/// half-written; once writable again the same calls succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_store_is_a_clear_refusal_and_recovers() {
    let dir = scratch_dir("smdp-ro");
    let store = std::sync::Arc::new(smdp_store_sqlite::SqliteStore::open(&dir).unwrap());
    let server = TestServer::start_on(Options::default(), store.clone()).await;
    let acct = server.account("ro");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    // query_only fails writes as a read-only file does (root, which CI is, ignores modes).
    let writable = |on: bool| {
        store
            .with(|c| Ok(c.pragma_update(None, "query_only", !on)?))
            .unwrap()
    };
    writable(false);
    let (s, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    assert_eq!((s, v["code"].as_i64()), (503, Some(20503)), "{v}");
    let mut lpa = Lpa::with_euicc(&server, EuiccFactory::new(&server).euicc(&test_eid(21), 21));
    assert_failed(lpa.initiate().await, "1.2", "4.2");
    let (s, v) = rest.get("/v1/ESimProfiles").await;
    assert_eq!(s, 200, "reads still work: {v}");
    assert_eq!(
        v["esim_profiles"].as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
    writable(true);
    let (s, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    assert_eq!(s, 201, "{v}");
    lpa.initiate().await.unwrap();
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Values an attacker puts in every parameter: SQL, path tricks, NUL, overlong, non-ASCII.
const HOSTILE: [&str; 9] = [
    "' OR '1'='1",
    "1; DROP TABLE profiles; --",
    "\" OR \"\"=\"",
    "%' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "89049032\u{0}000000000000000000000000",
    "é\u{202e}💥",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
];

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Issue 18: account B reaches none of account A's resources through any path, filter, sid
/// or page token, and hostile values in every parameter and path segment are refused or find
/// nothing: never a 5xx, never a row of A's, and A's data intact after.
async fn other_accounts_and_hostile_values_reach_nothing(server: &TestServer) {
    let a = server.account("owner");
    let b = server.account("intruder");
    let ra = Rest::basic(server.rest(), &a.account_sid, &a.auth_token);
    let rb = Rest::basic(server.rest(), &b.account_sid, &b.auth_token);
    let eid = test_eid(31).to_string();
    let mut sids = Vec::new();
    for form in [
        vec![("Eid", eid.as_str())],
        vec![("GenerateMatchingId", "true")],
    ] {
        let (s, v) = ra.create(&form).await;
        assert_eq!(s, 201, "{v}");
        sids.push(v["sid"].as_str().unwrap().to_string());
    }
    let p = reserved(&ra, &sids[0]).await;
    let sim = p["sim_sid"].as_str().unwrap().to_string();
    let iccid = p["iccid"].as_str().unwrap().to_string();
    let (_, page) = ra.get("/v1/ESimProfiles?PageSize=1").await;
    let next = page["meta"]["next_page_url"].as_str().unwrap().to_string();
    let next = &next[next.find("/v1/").unwrap()..];
    let sid = &sids[0];
    // Every way in to A's things, as B: not found, or a list without them.
    for path in [
        format!("/v1/ESimProfiles/{sid}"),
        format!("/v1/ESimProfiles/{sid}/Notifications"),
        format!("/v1/ESimProfiles/{sid}/Callbacks"),
        format!("/v1/ESimProfiles/{sid}/QrCode.png"),
        format!("/v1/Sims/{sim}"),
        format!("/v1/ESimProfiles?Eid={eid}"),
        format!("/v1/ESimProfiles?SimSid={sim}"),
        format!("/v1/Sims?Iccid={iccid}"),
        "/v1/ESimProfiles".to_string(),
        "/v1/Sims".to_string(),
        next.to_string(),
    ] {
        let (s, v) = rb.get(&path).await;
        assert!(matches!(s, 200 | 400 | 404), "{path}: {s} {v}");
        if s == 200 {
            // Only a list may answer, and with nothing of A's in it.
            let key = v["meta"]["key"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}: {v}"));
            let items = v[key].as_array().unwrap();
            assert!(
                items
                    .iter()
                    .all(|i| i["account_sid"] == b.account_sid.as_str()),
                "{path} shows A's resources to B: {v}"
            );
        }
    }
    for (path, form) in [
        (format!("/v1/Sims/{sim}"), vec![("Status", "active")]),
        (format!("/v1/ESimProfiles/{sid}/Release"), vec![]),
    ] {
        let (s, v) = rb.send("POST", &path, &form).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    // Hostile values everywhere, as A.
    for h in HOSTILE {
        let e = enc(h);
        for path in [
            format!("/v1/ESimProfiles/{e}"),
            format!("/v1/Sims/{e}"),
            format!("/v1/Fleets/{e}"),
            format!("/v1/NetworkAccessProfiles/{e}"),
            format!("/v1/ESimProfiles/{e}/Notifications"),
            format!("/v1/ESimProfiles?Eid={e}"),
            format!("/v1/ESimProfiles?SimSid={e}"),
            format!("/v1/ESimProfiles?Status={e}"),
            format!("/v1/ESimProfiles?PageSize={e}"),
            format!("/v1/ESimProfiles?PageToken={e}"),
            format!("/v1/Sims?Iccid={e}"),
            format!("/v1/Sims?Fleet={e}"),
            format!("/v1/Sims?Status={e}"),
        ] {
            let (s, v) = ra.get(&path).await;
            assert!(matches!(s, 200 | 400 | 404), "{path}: {s} {v}");
            if s == 200 && path.contains('?') {
                let key = v["meta"]["key"].as_str().unwrap();
                assert!(v[key].as_array().unwrap().is_empty(), "{path}: {v}");
            }
        }
        for field in ["Eid", "CallbackUrl", "CallbackMethod", "GenerateMatchingId"] {
            let (s, v) = ra.create(&[(field, h)]).await;
            assert!(matches!(s, 400 | 404), "create {field}={h:?}: {s} {v}");
        }
        let (s, v) = ra
            .send("POST", &format!("/v1/Sims/{sim}"), &[("UniqueName", h)])
            .await;
        assert!(s < 500, "Sim UniqueName={h:?}: {s} {v}");
    }
    // Nothing changed underneath.
    let (_, l) = ra.get("/v1/ESimProfiles").await;
    assert_eq!(l["esim_profiles"].as_array().unwrap().len(), 2, "{l}");
    let (_, l) = rb.get("/v1/ESimProfiles").await;
    assert!(l["esim_profiles"].as_array().unwrap().is_empty(), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_accounts_and_hostile_values_reach_nothing_on_sqlite() {
    let server = TestServer::start(Options::default()).await;
    other_accounts_and_hostile_values_reach_nothing(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_accounts_and_hostile_values_reach_nothing_on_postgres() {
    let Some(db) = smdp_store_postgres::testing::fresh_db() else {
        return;
    };
    let store = std::sync::Arc::new(smdp_store_postgres::PgStore::connect(&db.url).unwrap());
    let server = TestServer::start_on(Options::default(), store).await;
    other_accounts_and_hostile_values_reach_nothing(&server).await;
    server.stop().await;
}

/// Issue 18: a finished session's messages replayed, another eUICC's transaction ID, and a
/// session continued by another eUICC are all refused, and leave the orders as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_other_sessions_are_refused() {
    use rsp_asn1::es9::{AuthenticateClientResponse, GetBoundProfilePackageResponse};
    let server = TestServer::start(Options::default()).await;
    let cards = EuiccFactory::new(&server);
    let mut a = Lpa::with_euicc(&server, cards.euicc(&test_eid(41), 41));
    let mut b = Lpa::with_euicc(&server, cards.euicc(&test_eid(42), 42));
    let done = server.reserve(by_matching_id("REPLAY-1"));
    let open = server.reserve(by_matching_id("REPLAY-2"));
    // A finished session, its requests kept.
    let init = a.initiate().await.unwrap();
    let auth_req = a.authenticate_client_request(&init, Some("REPLAY-1"));
    let auth: AuthenticateClientResponse = a
        .client
        .call(path::AUTHENTICATE_CLIENT, &auth_req)
        .await
        .unwrap();
    let bpp_req = a.get_bpp_request(&auth, None);
    let bpp: GetBoundProfilePackageResponse = a
        .client
        .call(path::GET_BOUND_PROFILE_PACKAGE, &bpp_req)
        .await
        .unwrap();
    a.install(&bpp).await;
    assert_eq!(server.profile(&done).status, ProfileStatus::Installed);
    let replayed: Result<AuthenticateClientResponse, _> =
        a.client.call(path::AUTHENTICATE_CLIENT, &auth_req).await;
    assert_failed(replayed, "8.10.1", "3.9");
    let replayed: Result<GetBoundProfilePackageResponse, _> = a
        .client
        .call(path::GET_BOUND_PROFILE_PACKAGE, &bpp_req)
        .await;
    assert_failed(replayed, "8.10.1", "3.9");
    // B's authenticateClient, signed in B's session, sent under A's transaction ID: the
    // eUICC signed B's session's challenge, not A's.
    let init_a = a.initiate().await.unwrap();
    let init_b = b.initiate().await.unwrap();
    let mut req = b.authenticate_client_request(&init_b, Some("REPLAY-2"));
    req.transaction_id = init_a.transaction_id.clone();
    let r: Result<AuthenticateClientResponse, _> =
        b.client.call(path::AUTHENTICATE_CLIENT, &req).await;
    // (euiccSigned1 carries B's transaction ID: not the one the request names.)
    assert_failed(r, "8.10.1", "3.9");
    // A's session authenticated, then continued by B: B's PrepareDownloadResponse does not
    // verify under A's certificate.
    let auth_a = a.authenticate(&init_a, Some("REPLAY-2")).await.unwrap();
    let mut req = b.get_bpp_request(&auth_a, None);
    req.transaction_id = auth_a.transaction_id.clone();
    let r: Result<GetBoundProfilePackageResponse, _> =
        b.client.call(path::GET_BOUND_PROFILE_PACKAGE, &req).await;
    assert_failed(r, "8.1", "6.1");
    let p = server.profile(&open);
    assert_eq!(
        (p.status, p.eid),
        (ProfileStatus::Available, None),
        "unbound"
    );
    // A itself can still finish it.
    let bpp = a.get_bpp(&auth_a, None).await.unwrap();
    a.install(&bpp).await;
    assert_eq!(server.profile(&open).status, ProfileStatus::Installed);
    server.stop().await;
}
