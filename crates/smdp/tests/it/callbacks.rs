//! Status callbacks seen by a receiver: every change from `reserving` to `installed`, in
//! order, with exactly the eight fields, each signed with `X-Twilio-Signature` under the
//! account's auth token; GET and POST; retries with backoff; delivery resuming after a
//! restart.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rsp_auth::Curve;
use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) struct Received {
    method: String,
    url: String,
    signature: String,
    /// `I-Twilio-Idempotency-Token`: one per callback, the same on every attempt.
    pub(crate) token: String,
    pub(crate) fields: BTreeMap<String, String>,
    params: Vec<(String, String)>,
    /// The raw body and its content type (ES2+ progress infos are JSON).
    pub(crate) body: Vec<u8>,
    pub(crate) content_type: String,
}

/// A callback receiver answering with queued statuses (200 once the queue is empty).
#[derive(Clone)]
pub(crate) struct Receiver {
    /// `http://127.0.0.1:<port>` or `https://localhost:<port>`.
    base: String,
    got: Arc<Mutex<Vec<Received>>>,
    pub(crate) answers: Arc<Mutex<VecDeque<u16>>>,
    /// When set, the next request is kept here and never answered (a sender that dies
    /// mid-delivery).
    pub(crate) stall_next: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) stalled: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Over TLS, with our DPtls for `localhost` (it chains to our NIST CI).
    async fn start_tls() -> Self {
        let pki = rsp_auth::pki::Pki::load(&our_pki_dir()).unwrap();
        let tls = smdp_server::serve::tls_config(
            &pki,
            "localhost",
            std::time::SystemTime::now(),
            Some(7),
        )
        .unwrap();
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let r = Self {
            base,
            got: Arc::default(),
            answers: Arc::default(),
            stall_next: Arc::default(),
            stalled: Arc::default(),
        };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let me = me.clone();
                        async move {
                            let method = req.method().to_string();
                            let url = format!("{}{}", me.base, req.uri());
                            let header = |name: &str| {
                                req.headers()
                                    .get(name)
                                    .map(|v| v.to_str().unwrap().to_string())
                                    .unwrap_or_default()
                            };
                            let signature = header("x-twilio-signature");
                            let token = header("i-twilio-idempotency-token");
                            let content_type = header("content-type");
                            let query = req.uri().query().unwrap_or("").to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let source = if method == "GET" {
                                query.into_bytes()
                            } else {
                                body.to_vec()
                            };
                            let params: Vec<(String, String)> =
                                form_urlencoded::parse(&source).into_owned().collect();
                            let r = Received {
                                method,
                                url,
                                signature,
                                token,
                                fields: params.iter().cloned().collect(),
                                params,
                                body: body.to_vec(),
                                content_type,
                            };
                            if me
                                .stall_next
                                .swap(false, std::sync::atomic::Ordering::SeqCst)
                            {
                                me.stalled.lock().unwrap().push(r.clone());
                                std::future::pending::<()>().await;
                            }
                            me.got.lock().unwrap().push(r);
                            let status = me.answers.lock().unwrap().pop_front().unwrap_or(200);
                            let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(s) => http.serve_connection(TokioIo::new(s), svc).await,
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(tcp), svc).await,
                    };
                });
            }
        });
        r
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/cb", self.base)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (advancing `clock` if given) until `n` callbacks arrived.
    pub(crate) async fn wait_for(
        &self,
        n: usize,
        clock: Option<&smdp_core::clock::Clock>,
    ) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if let Some(c) = clock {
                c.advance(Duration::from_secs(60));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "only {} of {n} callbacks arrived: {:?}",
            self.received().len(),
            self.received()
        );
    }
}

const FIELDS: [&str; 8] = [
    "ESimProfileSid",
    "SimSid",
    "SimIccid",
    "ESimProfileStatus",
    "Eid",
    "SmdpPlusAddress",
    "ErrorCode",
    "ErrorMessage",
];

pub(crate) fn check_signed(r: &Received, token: &str) {
    check_signed_with(r, token, &FIELDS);
}

/// Twilio's signature computed here with the hmac crate from the token itself: the server
/// signs with the key schedule it keeps instead (smdp_core::credentials).
fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    use hmac::{KeyInit, Mac};
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    rsp_asn1::es9::base64_encode(&mac.finalize().into_bytes())
}

fn check_signed_with(r: &Received, token: &str, fields: &[&str]) {
    let expected = if r.method == "GET" {
        twilio_signature(token, &r.url, &[])
    } else {
        twilio_signature(token, &r.url, &r.params)
    };
    assert_eq!(r.signature, expected, "signature of {r:?}");
    let names: Vec<&str> = r.fields.keys().map(String::as_str).collect();
    let mut want = fields.to_vec();
    want.sort();
    assert_eq!(names, want, "exactly the defined fields");
}

async fn create(
    server: &TestServer,
    acct: &smdp_operator::accounts::Credentials,
    form: &[(&str, &str)],
) -> Value {
    let c = server.client();
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        body.append_pair(k, v);
    }
    let auth = basic_auth(&acct.account_sid, &acct.auth_token);
    let r = c
        .request(
            "POST",
            "/v1/ESimProfiles",
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body.finish().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    serde_json::from_slice(&r.body).unwrap()
}

/// An order (GenerateMatchingId) whose callbacks go to `rx`, POST by default.
async fn order_calling(
    server: &TestServer,
    acct: &smdp_operator::accounts::Credentials,
    rx: &Receiver,
) -> Value {
    create(
        server,
        acct,
        &[("GenerateMatchingId", "true"), ("CallbackUrl", &rx.url())],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_change_is_called_back_signed_and_in_order() {
    let server = TestServer::start(rest_options()).await;
    let acct = server.account("callbacks");
    let rx = Receiver::start().await;
    let v = order_calling(&server, &acct, &rx).await;
    let sid = v["sid"].as_str().unwrap().to_string();
    let got = rx.wait_for(2, None).await;
    let statuses: Vec<&str> = got
        .iter()
        .map(|r| r.fields["ESimProfileStatus"].as_str())
        .collect();
    assert_eq!(statuses, ["reserving", "available"]);
    let available = &got[1];
    assert_eq!(available.method, "POST", "POST by default");
    assert_eq!(available.fields["ESimProfileSid"], sid);
    assert!(available.fields["SimSid"].starts_with("HS"));
    assert_eq!(
        available.fields["SmdpPlusAddress"],
        format!("https://{}", server.smdp.address)
    );
    let iccid = available.fields["SimIccid"].clone();
    assert_eq!(iccid.len(), 20);
    for r in &got {
        check_signed(r, &acct.auth_token);
    }
    // Download and install: two more, in order.
    let mid = server
        .store
        .profiles()
        .unwrap()
        .into_iter()
        .find(|p| p.sid == sid)
        .and_then(|p| p.matching_id)
        .unwrap();
    let mut lpa = Lpa::new(&server, &our_pki_dir(), Curve::NistP256);
    lpa.download(Some(&mid), None).await.unwrap();
    let got = rx.wait_for(4, None).await;
    let statuses: Vec<&str> = got
        .iter()
        .map(|r| r.fields["ESimProfileStatus"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["reserving", "available", "downloaded", "installed"]
    );
    assert_eq!(got[3].fields["Eid"], lpa.eid());
    assert_eq!(got[3].fields["SimIccid"], iccid);
    for r in &got {
        check_signed(r, &acct.auth_token);
    }
    // GET callbacks carry the fields in the query and sign the full URL.
    let rx2 = Receiver::start().await;
    create(
        &server,
        &acct,
        &[
            ("GenerateMatchingId", "true"),
            ("CallbackUrl", &format!("{}?tag=x", rx2.url())),
            ("CallbackMethod", "GET"),
        ],
    )
    .await;
    let got = rx2.wait_for(2, None).await;
    assert!(got
        .iter()
        .all(|r| r.method == "GET" && r.url.contains("?tag=x&")));
    for r in &got {
        let mut r = r.clone();
        r.fields.remove("tag");
        r.params.retain(|(k, _)| k != "tag");
        check_signed(&r, &acct.auth_token);
    }
    server.stop().await;
}

/// `GET …/Callbacks`, polled until `done(callbacks)` holds (the attempt is recorded just
/// after the receiver saw it).
async fn callback_state(
    server: &TestServer,
    acct: &smdp_operator::accounts::Credentials,
    sid: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let auth = basic_auth(&acct.account_sid, &acct.auth_token);
    let mut state = Value::Null;
    for _ in 0..400 {
        let r = server
            .client()
            .request(
                "GET",
                &format!("/v1/ESimProfiles/{sid}/Callbacks"),
                &[("authorization", &auth)],
                vec![],
            )
            .await;
        assert_eq!(r.status, 200);
        state = serde_json::from_slice(&r.body).unwrap();
        if done(&state["callbacks"]) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("callback state never settled: {state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_callbacks_verify_the_receiver_against_the_configured_ca() {
    let ci = our_pki_dir().join("CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    // Trusted through --callback-ca: delivered over TLS, signed over the https URL.
    let server = TestServer::start(Options {
        callback_ca: Some(ci),
        ..rest_options()
    })
    .await;
    let acct = server.account("https");
    let rx = Receiver::start_tls().await;
    assert!(rx.url().starts_with("https://localhost:"));
    order_calling(&server, &acct, &rx).await;
    let got = rx.wait_for(2, None).await;
    for r in &got {
        assert!(r.url.starts_with("https://"));
        check_signed(r, &acct.auth_token);
    }
    server.stop().await;

    // Mozilla's roots alone do not know our CI: nothing is delivered, the error is kept.
    let server = TestServer::start(rest_options()).await;
    let acct = server.account("https");
    let rx = Receiver::start_tls().await;
    let v = order_calling(&server, &acct, &rx).await;
    let sid = v["sid"].as_str().unwrap();
    let state = callback_state(&server, &acct, sid, |s| s[0]["attempts"] == 1).await;
    let first = &state["callbacks"][0];
    assert_eq!(first["state"], "pending", "{state}");
    assert!(first["last_http_status"].is_null());
    let error = first["last_error"].as_str().unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert!(rx.received().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_retry_with_backoff_and_resume_after_a_restart() {
    let mut server = TestServer::start(rest_options()).await;
    let acct = server.account("callbacks");
    let rx = Receiver::start().await;
    rx.answers.lock().unwrap().extend([500, 503]);
    let v = order_calling(&server, &acct, &rx).await;
    let sid = v["sid"].as_str().unwrap().to_string();
    // First attempt fails; the state is observable; nothing later is sent out of order.
    rx.wait_for(1, None).await;
    let state = callback_state(&server, &acct, &sid, |s| s[0]["attempts"] == 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.received().len(), 1, "the retry waits for its backoff");
    assert_eq!(state["callbacks"][0]["state"], "pending", "{state}");
    assert_eq!(state["callbacks"][0]["attempts"], 1);
    assert_eq!(state["callbacks"][0]["last_http_status"], 500);
    assert_eq!(
        state["callbacks"][1]["attempts"], 0,
        "available waits behind reserving"
    );

    // Restart the server with the second attempt still pending: the queue survives.
    server.restart(rest_options()).await;
    let got = rx.wait_for(4, Some(&server.clock)).await;
    let statuses: Vec<&str> = got
        .iter()
        .map(|r| r.fields["ESimProfileStatus"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["reserving", "reserving", "reserving", "available"]
    );
    // The three attempts of one callback carry its token; the next callback another.
    let tokens: Vec<&str> = got.iter().map(|r| r.token.as_str()).collect();
    assert!(!tokens[0].is_empty());
    assert_eq!((tokens[0], tokens[1]), (tokens[2], tokens[2]));
    assert_ne!(tokens[2], tokens[3]);
    for r in &got {
        check_signed(r, &acct.auth_token);
    }
    let state = callback_state(&server, &acct, &sid, |s| s[1]["state"] == "delivered").await;
    assert_eq!(state["callbacks"][0]["state"], "delivered");
    assert_eq!(state["callbacks"][0]["attempts"], 3);
    assert_eq!(state["callbacks"][1]["state"], "delivered");
    server.stop().await;
}

/// A Sim status change completes in the background and then calls the update's
/// CallbackUrl, signed, retried after a failure, once per change; the profile's own callbacks
/// are not mixed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_update_calls_back_when_it_completes() {
    let server = TestServer::start(rest_options()).await;
    let acct = server.account("sims");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let (_, v) = rest.create(&[("GenerateMatchingId", "true")]).await;
    let v = reserved(&rest, v["sid"].as_str().unwrap()).await;
    let sim_sid = v["sim_sid"].as_str().unwrap().to_string();
    let rx = Receiver::start().await;
    rx.answers.lock().unwrap().push_back(500);
    let (s, sim) = rest
        .send(
            "POST",
            &format!("/v1/Sims/{sim_sid}"),
            &[
                ("Status", "active"),
                ("UniqueName", "meter-7"),
                ("CallbackUrl", &rx.url()),
            ],
        )
        .await;
    assert_eq!(
        (s, sim["status"].as_str()),
        (202, Some("scheduled")),
        "{sim}"
    );
    // The first delivery fails; the retry comes after its backoff (the clock advanced).
    let got = rx.wait_for(2, Some(&server.clock)).await;
    const SIM_FIELDS: [&str; 6] = [
        "AccountSid",
        "SimSid",
        "SimUniqueName",
        "SimIccid",
        "SimStatus",
        "FleetSid",
    ];
    for r in &got {
        check_signed_with(r, &acct.auth_token, &SIM_FIELDS);
        assert_eq!(r.fields["SimSid"], sim_sid);
        assert_eq!(r.fields["SimStatus"], "active");
        assert_eq!(r.fields["SimUniqueName"], "meter-7");
        assert_eq!(r.fields["SimIccid"], v["iccid"].as_str().unwrap());
        assert_eq!(r.fields["AccountSid"], acct.account_sid);
        assert_eq!(r.method, "POST");
    }
    assert_eq!(settled_sim(&rest, &sim_sid).await["status"], "active");
    // The delivery record, under the Sim.
    let mut state = Value::Null;
    for _ in 0..400 {
        state = rest.get(&format!("/v1/Sims/{sim_sid}/Callbacks")).await.1;
        if state["callbacks"][0]["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let cbs = state["callbacks"].as_array().unwrap();
    assert_eq!(cbs.len(), 1, "{state}");
    assert_eq!(cbs[0]["state"], "delivered");
    assert_eq!(cbs[0]["attempts"], 2);
    assert_eq!(cbs[0]["sim_status"], "active");
    // A change with GET; a change without a CallbackUrl calls nothing.
    let rx2 = Receiver::start().await;
    let (s, _) = rest
        .send(
            "POST",
            "/v1/Sims/meter-7",
            &[
                ("Status", "inactive"),
                ("CallbackUrl", &rx2.url()),
                ("CallbackMethod", "GET"),
            ],
        )
        .await;
    assert_eq!(s, 202);
    let got = rx2.wait_for(1, None).await;
    assert_eq!(got[0].method, "GET");
    assert_eq!(got[0].fields["SimStatus"], "inactive");
    check_signed_with(&got[0], &acct.auth_token, &SIM_FIELDS);
    let (s, _) = rest
        .send("POST", "/v1/Sims/meter-7", &[("Status", "active")])
        .await;
    assert_eq!(s, 202);
    assert_eq!(settled_sim(&rest, &sim_sid).await["status"], "active");
    // A CallbackUrl without a status change: nothing to call back, and a Warning says so.
    let (s, h, _) = rest
        .send_full("POST", "/v1/Sims/meter-7", &[("CallbackUrl", &rx2.url())])
        .await;
    assert_eq!(s, 200);
    assert!(h["warning"].to_str().unwrap().contains("status change"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2);
    assert_eq!(rx2.received().len(), 1);
    server.stop().await;
}

/// These tests reserve over TLS on the ES9+ listener (`--rest-on-es9-listener`).
fn rest_options() -> Options {
    Options {
        rest_on_es9: true,
        ..Options::default()
    }
}

/// A resolver whose answers the test sets: one list per call, the last one repeated.
struct Scripted(Mutex<VecDeque<Vec<std::net::IpAddr>>>);

impl smdp_operator::egress::Resolve for Scripted {
    fn resolve(&self, _: &str, _: u16) -> std::io::Result<Vec<std::net::IpAddr>> {
        let mut q = self.0.lock().unwrap();
        let answer = if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        };
        Ok(answer.unwrap_or_default())
    }
}

/// Server-side request forgery through CallbackUrl, tried as an attacker would: metadata,
/// private, link-local and IPv4-in-IPv6 hosts, integer spellings and other schemes are
/// refused at creation with a Twilio 400 and create nothing; a name that resolves to an
/// allowed network at creation and to the metadata address at delivery (DNS rebinding) is
/// refused at delivery without a connection, and delivered once it resolves to the receiver.
/// No packet ever leaves loopback: names resolve through the test's resolver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_urls_cannot_reach_metadata_private_or_link_local_addresses() {
    use smdp_operator::egress::EgressPolicy;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let resolver = Arc::new(Scripted(Mutex::new(VecDeque::from([
        vec![ip("10.9.9.9")],        // creation: an allowed private network
        vec![ip("169.254.169.254")], // first delivery: rebound to the metadata service
    ]))));
    let egress = EgressPolicy::new(EgressPolicy::parse_allow(&["10.0.0.0/8".into()]).unwrap())
        .unwrap()
        .with_resolver(resolver.clone());
    let server = TestServer::start(Options {
        egress,
        ..rest_options()
    })
    .await;
    let acct = server.account("ssrf");
    let auth = basic_auth(&acct.account_sid, &acct.auth_token);
    let post_to = |path: String, form: String| {
        let c = server.client();
        let auth = auth.clone();
        async move {
            let r = c
                .request(
                    "POST",
                    &path,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    form.into_bytes(),
                )
                .await;
            (
                r.status,
                serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null),
            )
        }
    };
    let post = |path: &str, form: String| post_to(path.to_string(), form);
    let before = server.store.profiles().unwrap().len();
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.1.nip.io.invalid@192.168.0.1/", // userinfo: the host is 192.168.0.1
        "http://192.168.0.1/",
        "http://172.16.0.1:8080/cb",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0/",
        "http://224.0.0.251/",
        "gopher://127.0.0.1:6379/_",
    ] {
        let form = format!(
            "GenerateMatchingId=true&CallbackUrl={}",
            form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
        );
        let (status, v) = post("/v1/ESimProfiles", form).await;
        assert_eq!(status, 400, "{url}: {v}");
        assert_eq!(v["code"], 20001, "{url}: {v}");
        assert_eq!(v["status"], 400);
    }
    assert_eq!(
        server.store.profiles().unwrap().len(),
        before,
        "nothing created"
    );
    // DNS rebinding: allowed at creation (10.9.9.9 is in --callback-allow), refused at
    // delivery (169.254.169.254), never connected to.
    let rx = Receiver::start().await;
    let port = rx.url().rsplit(':').next().unwrap().to_string(); // "<port>/cb"
    let (status, v) = post(
        "/v1/ESimProfiles",
        format!("GenerateMatchingId=true&CallbackUrl=http%3A%2F%2Fhooks.test%3A{port}"),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let sid = v["sid"].as_str().unwrap().to_string();
    let state = callback_state(&server, &acct, &sid, |s| s[0]["attempts"] == 1).await;
    // The Sim resource's CallbackUrl goes through the same check.
    let sim = server
        .store
        .profiles()
        .unwrap()
        .into_iter()
        .find(|p| p.sid == sid)
        .and_then(|p| p.sim_sid)
        .unwrap();
    let (status, v) = post_to(
        format!("/v1/Sims/{sim}"),
        "Status=active&CallbackUrl=http%3A%2F%2F169.254.169.254%2F".into(),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], 20001, "{v}");
    let error = state["callbacks"][0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("refused") && error.contains("169.254.169.254"),
        "{error}"
    );
    assert!(state["callbacks"][0]["last_http_status"].is_null());
    assert!(rx.received().is_empty());
    // Now it resolves to the receiver: delivered, in order, once each.
    *resolver.0.lock().unwrap() = VecDeque::from([vec![ip("127.0.0.1")]]);
    let got = rx.wait_for(2, Some(&server.clock)).await;
    let statuses: Vec<&str> = got
        .iter()
        .map(|r| r.fields["ESimProfileStatus"].as_str())
        .collect();
    assert_eq!(statuses, ["reserving", "available"]);
    server.stop().await;
}
