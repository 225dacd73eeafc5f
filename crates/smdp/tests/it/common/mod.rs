//! A spawned SM-DP+ and a test LPA: an HTTPS client driving a virtual eUICC (`veuicc`) over
//! real TLS, so every test is a download as a phone would do it.

#![allow(dead_code)]

mod rest_client;
pub use rest_client::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rsp_asn1::auth::AuthenticateServerRequest;
use rsp_asn1::download::{BoundProfilePackage, PrepareDownloadRequest};
use rsp_asn1::es9::{
    self, path, AuthenticateClientRequest, AuthenticateClientResponse, CancelSessionResponseBody,
    Der, GetBoundProfilePackageRequest, GetBoundProfilePackageResponse,
    InitiateAuthenticationRequest, InitiateAuthenticationResponse, ResponseHeader,
};
use rsp_asn1::notification::{CancelSessionReason, PendingNotification};
use rsp_asn1::TransactionId;
use rsp_auth::pki::Pki;
use rsp_auth::{Backend, Curve};
use smdp_core::clock::Clock;
use smdp_core::es9::{Policy, Smdp};
use smdp_core::orders::OrderRequest;
use smdp_core::store::Profile;
use smdp_server::http::Limits;
use smdp_store_sqlite::SqliteStore;
use tokio_rustls::TlsConnector;
use veuicc::{lpa, Euicc};

pub const ADDRESS: &str = "localhost";

/// Each test LPA gets its own seed: two eUICC instances must not make the same otPK.
static NEXT_SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1000);

fn lpa_rng() -> rsp_auth::rng::Rng {
    rsp_auth::rng::rng(Some(
        NEXT_SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    ))
}

/// The project's PKI (`certs/`).
pub fn our_pki_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs")
}

/// The EID of our PKI's NIST eUICC (its CERT.EUICC's serialNumber).
pub fn our_nist_eid() -> String {
    rsp_auth::pki::Pki::load(&our_pki_dir())
        .unwrap()
        .by_curve(rsp_auth::Curve::NistP256)
        .unwrap()
        .euicc
        .as_ref()
        .unwrap()
        .cert
        .subject_serial_number
        .clone()
        .unwrap()
}

/// SGP.26 (`../shared/pki/sgp26`), if present.
/// Our NIST P-256 CI (DER): what the servers' DPtls certificates chain to.
pub fn our_nist_root() -> Vec<u8> {
    let pki = Pki::load(&our_pki_dir()).unwrap();
    pki.by_curve(Curve::NistP256).unwrap().ci.der().to_vec()
}

/// An empty folder under the temp dir for this test process (`name` keeps tests apart).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn sgp26_dir() -> Option<PathBuf> {
    rsp_shared::dir_for_test("SGP.26 PKI").map(|d| d.join("pki/sgp26"))
}

/// A time inside every test certificate's validity (ours: generated with a long lifetime;
/// SGP.26: valid in 2026).
pub fn test_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub struct Options {
    pub pki: PathBuf,
    pub address: String,
    pub policy: Policy,
    pub limits: Limits,
    pub seed: Option<u64>,
    /// Template of REST-created profiles.
    pub template: String,
    /// Extra CA (PEM or DER file) for https callbacks.
    pub callback_ca: Option<PathBuf>,
    /// Also serve REST on the ES9+ listener.
    pub rest_on_es9: bool,
    /// Fixture orders to provision.
    pub fixtures: Option<smdp_core::fixtures::FixtureFile>,
    /// Hostile mode (seed, rate).
    pub hostile: Option<(u64, f64)>,
    /// Server-wide scripted faults.
    pub scenario: Vec<smdp_core::faults::ScenarioFault>,
    /// Where callbacks may go (a test's resolver, `--callback-allow`).
    pub egress: smdp_operator::egress::EgressPolicy,
    /// Serve ES2+ on a random port, for clients of `certs/`' operator CA.
    pub es2: Option<smdp_server::serve::Es2Config>,
    /// HandleDownloadProgressInfo endpoints by function requester.
    pub es2_endpoints: std::collections::HashMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pki: our_pki_dir(),
            address: ADDRESS.into(),
            policy: Policy::default(),
            limits: Limits::default(),
            seed: Some(1),
            template: "minimal".into(),
            callback_ca: None,
            rest_on_es9: false,
            fixtures: None,
            hostile: None,
            scenario: Vec::new(),
            egress: Default::default(),
            es2: None,
            es2_endpoints: Default::default(),
        }
    }
}

/// The server configuration for `opts`: random ports, no reservation delay.
fn config(opts: &Options) -> smdp_server::serve::Config {
    smdp_server::serve::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        address: opts.address.clone(),
        data: PathBuf::new(),
        store: smdp_server::StoreLocation::Sqlite(PathBuf::new()),
        sqlite_synchronous: Default::default(),
        pki: opts.pki.clone(),
        seed: opts.seed,
        json_logs: false,
        policy: opts.policy.clone(),
        // No shedding on a timer in tests (a loaded CI machine would shed at random): the
        // tests that shed set it (Smdp::set_overloaded).
        limits: Limits {
            shed_lag: None,
            ..opts.limits.clone()
        },
        rest_listen: "127.0.0.1:0".parse().unwrap(),
        rest_tls: false,
        oauth_token_ttl: Duration::from_secs(3600),
        preinstalled_charge_cents: 300,
        fixtures: opts.fixtures.clone(),
        hostile: opts.hostile,
        scenario: opts.scenario.clone(),
        rest_on_es9: opts.rest_on_es9,
        reservation_delay: Duration::ZERO,
        template: opts.template.parse().unwrap(),
        accounts: Vec::new(),
        callback_egress: opts.egress.clone(),
        callback_roots: opts
            .callback_ca
            .as_deref()
            .map(|p| smdp_operator::callbacks::load_roots(p).unwrap())
            .unwrap_or_default(),
        es2: opts.es2.clone(),
        es2_endpoints: opts.es2_endpoints.clone(),
    }
}

/// ES2+ on a random port for the clients of our operator CA.
pub fn es2_on_our_ca() -> smdp_server::serve::Es2Config {
    smdp_server::serve::Es2Config::for_pki("127.0.0.1:0".parse().unwrap(), &our_pki_dir()).unwrap()
}

/// An SM-DP+ on 127.0.0.1:<random port> (TLS: ES9+ and REST; plain HTTP: REST) with an
/// in-memory store, a manual clock and no reservation delay.
pub struct TestServer {
    pub smdp: Arc<Smdp>,
    pub addr: SocketAddr,
    /// The plain-HTTP REST listener.
    pub rest_addr: SocketAddr,
    /// The ES2+ listener (mutual TLS), if served.
    pub es2_addr: Option<SocketAddr>,
    pub clock: Clock,
    /// The CI the TLS certificate chains to (trust anchor for the client).
    pub tls_root: Vec<u8>,
    pub store: Arc<dyn smdp_core::store::OperatorStore>,
    running: Option<smdp_server::serve::Running>,
    rng: std::sync::Mutex<rsp_auth::rng::Rng>,
}

impl TestServer {
    pub async fn start(opts: Options) -> Self {
        Self::start_on(opts, Arc::new(SqliteStore::in_memory().unwrap())).await
    }

    /// A server on `store` (several servers on one PostgreSQL store are several nodes).
    pub async fn start_on(opts: Options, store: Arc<dyn smdp_core::store::OperatorStore>) -> Self {
        let clock = Clock::manual(test_now());
        let cfg = config(&opts);
        let running = smdp_server::serve::start_with(&cfg, store.clone(), clock.clone())
            .await
            .unwrap();
        let pki = Pki::load(&opts.pki).unwrap();
        Self {
            smdp: running.smdp.clone(),
            addr: running.addr(),
            rest_addr: running.rest_addr(),
            es2_addr: running.es2_addr(),
            clock,
            tls_root: pki.by_curve(Curve::NistP256).unwrap().ci.der().to_vec(),
            store,
            running: Some(running),
            rng: std::sync::Mutex::new(rsp_auth::rng::rng(Some(99))),
        }
    }

    /// Stops the listeners and workers and starts them again on the same store (a restart).
    pub async fn restart(&mut self, opts: Options) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(2)).await;
        }
        let cfg = config(&opts);
        let running = smdp_server::serve::start_with(&cfg, self.store.clone(), self.clock.clone())
            .await
            .unwrap();
        self.smdp = running.smdp.clone();
        self.addr = running.addr();
        self.rest_addr = running.rest_addr();
        self.es2_addr = running.es2_addr();
        self.running = Some(running);
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(2)).await;
        }
    }

    /// Reserves a profile as `smdp profile add` does.
    pub fn reserve(&self, req: OrderRequest) -> Profile {
        let mut rng = self.rng.lock().unwrap();
        smdp_core::orders::reserve(
            self.smdp.store.as_ref(),
            &rsp_saip::NumberPlan::default(),
            None,
            &req,
            &mut *rng,
            self.clock.unix(),
        )
        .unwrap()
    }

    pub fn profile(&self, p: &Profile) -> Profile {
        self.smdp.store.profile(p.id).unwrap().unwrap()
    }

    /// A new REST account (AccountSid, token, API key, bearer token) in this server's store.
    pub fn account(&self, name: &str) -> smdp_operator::accounts::Credentials {
        smdp_operator::accounts::create(
            self.store.as_ref(),
            name,
            &mut rsp_auth::rng::rng(None),
            self.clock.unix(),
        )
        .unwrap()
    }

    /// The REST service in process (no socket).
    pub fn rest(&self) -> RestTarget {
        RestTarget {
            addr: self.rest_addr,
            svc: smdp_operator::service::RestService {
                op: self.running.as_ref().expect("running").operator.clone(),
                scheme: "http",
                max_body: Limits::default().max_body,
            },
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr, &self.tls_root)
    }
}

/// An HTTPS client for one server (new connection per request unless `keep_alive`).
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    /// The CI the server's TLS certificate chains to.
    pub root: Vec<u8>,
    tls: TlsConnector,
}

pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Client {
    pub fn new(addr: SocketAddr, root: &[u8]) -> Self {
        Self::with_versions(addr, root, rustls::DEFAULT_VERSIONS)
    }

    /// With a TLS 1.2-only client configuration.
    pub fn tls12_only(addr: SocketAddr, root: &[u8]) -> Self {
        Self::with_versions(addr, root, &[&rustls::version::TLS12])
    }

    fn with_versions(
        addr: SocketAddr,
        root: &[u8],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(root.to_vec()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            addr,
            root: root.to_vec(),
            tls: TlsConnector::from(Arc::new(cfg)),
        }
    }

    /// A TLS connection to the server, for tests that write raw HTTP.
    pub async fn tls_stream(
        &self,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let name = rustls::pki_types::ServerName::try_from(ADDRESS).unwrap();
        self.tls.connect(name, tcp).await
    }

    /// A new HTTP/1.1 connection over TLS; the returned task ends when the server closes it.
    pub async fn connect(
        &self,
    ) -> (
        hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        tokio::task::JoinHandle<hyper::Result<()>>,
    ) {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(ADDRESS).unwrap();
        let tls = self.tls.connect(name, tcp).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        (sender, tokio::spawn(conn))
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> HttpResponse {
        self.try_request(method, path, headers, body)
            .await
            .expect("the server answers")
    }

    /// [`Self::request`], `None` when the server cannot be reached or drops the connection.
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Option<HttpResponse> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let name = rustls::pki_types::ServerName::try_from(ADDRESS).unwrap();
        let tls = self.tls.connect(name, tcp).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .ok()?;
        let _conn = tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", ADDRESS);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = sender
            .send_request(b.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .ok()?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.ok()?.to_bytes().to_vec();
        Some(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// An ES9+ POST as lpac sends it.
    pub async fn es9(&self, path: &str, body: Vec<u8>) -> HttpResponse {
        self.request(
            "POST",
            path,
            &[
                ("content-type", "application/json"),
                ("x-admin-protocol", "gsma/rsp/v2.2.2"),
                ("user-agent", "gsma-rsp-lpad"),
            ],
            body,
        )
        .await
    }

    /// POSTs `req` and parses the answer: the typed response, or the `Failed` header.
    pub async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
    ) -> Result<Resp, ResponseHeader> {
        let r = self.es9(path, serde_json::to_vec(req).unwrap()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.headers.get("x-admin-protocol").unwrap(),
            smdp_server::http::ADMIN_PROTOCOL
        );
        es9::parse_response(&r.body).unwrap()
    }
}

/// An HTTP Basic `Authorization` value.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        rsp_asn1::es9::base64_encode(format!("{user}:{password}").as_bytes())
    )
}

/// The (subjectCode, reasonCode) of a failed response.
pub fn codes(h: &ResponseHeader) -> (String, String) {
    let d = h
        .function_execution_status
        .status_code_data
        .as_ref()
        .expect("statusCodeData");
    (d.subject_code.clone(), d.reason_code.clone())
}

/// Asserts a failure with these codes.
#[track_caller]
pub fn assert_failed<T: std::fmt::Debug>(
    r: Result<T, ResponseHeader>,
    subject: &str,
    reason: &str,
) {
    match r {
        Ok(v) => panic!("expected {subject}/{reason}, got success {v:?}"),
        Err(h) => assert_eq!(
            codes(&h),
            (subject.to_string(), reason.to_string()),
            "{h:?}"
        ),
    }
}

/// The REST API of a test server, called in process: its listener's address (for Host and
/// absolute URLs) and the service itself.
#[derive(Clone)]
pub struct RestTarget {
    pub addr: SocketAddr,
    pub svc: smdp_operator::service::RestService,
}

/// An EID of the test EUM's range, numbered.
pub fn test_eid(n: u32) -> rsp_asn1::ids::Eid {
    rsp_asn1::ids::Eid::with_check_digits(&format!("8900101200000000000000{n:08}")).unwrap()
}

/// Issues eUICCs of any EID under our test PKI's EUM (NIST P-256).
pub struct EuiccFactory {
    pki: Pki,
    trust: rsp_auth::chain::TrustStore,
}

impl EuiccFactory {
    pub fn new(server: &TestServer) -> Self {
        Self::new_at(server.clock.now())
    }

    /// Cards that check their chain at `now`.
    pub fn new_at(now: SystemTime) -> Self {
        let pki = Pki::load(&our_pki_dir()).unwrap();
        Self {
            trust: pki.trust_store(now).unwrap(),
            pki,
        }
    }

    /// An eUICC with EID `eid`, its key drawn from `seed`.
    pub fn euicc(&self, eid: &rsp_asn1::ids::Eid, seed: u64) -> Euicc {
        let curve = self.pki.by_curve(Curve::NistP256).unwrap();
        let issued = curve
            .issue_euicc_with(eid, &mut rsp_auth::rng::rng(Some(seed)), Backend::AwsLc)
            .unwrap();
        Euicc::from_parts(
            veuicc::EuiccParts {
                euicc_cert: issued.cert,
                eum_cert: curve.eum.clone().unwrap(),
                sk_euicc: issued.key,
                trust_store: self.trust.clone(),
            },
            Backend::AwsLc,
        )
        .unwrap()
    }
}

/// A test LPA with its eUICC.
pub struct Lpa {
    pub euicc: Euicc,
    pub client: Client,
    pub rng: rsp_auth::rng::Rng,
    pub now: SystemTime,
    pub address: String,
}

impl Lpa {
    pub fn new(server: &TestServer, pki: &Path, curve: Curve) -> Self {
        let pki = Pki::load(pki).unwrap();
        let now = server.clock.now();
        Self {
            euicc: Euicc::from_pki(&pki, curve, Backend::AwsLc, now).unwrap(),
            client: server.client(),
            rng: lpa_rng(),
            now,
            address: ADDRESS.into(),
        }
    }

    pub fn with_euicc(server: &TestServer, euicc: Euicc) -> Self {
        Self::with_euicc_at(server.client(), euicc, server.clock.now())
    }

    /// An LPA for `euicc` talking to `client` (a server in another process), at `now`.
    pub fn with_euicc_at(client: Client, euicc: Euicc, now: SystemTime) -> Self {
        Self {
            euicc,
            client,
            rng: lpa_rng(),
            now,
            address: ADDRESS.into(),
        }
    }

    pub fn eid(&self) -> String {
        self.euicc.eid().to_string()
    }

    pub fn initiate_request(&mut self) -> InitiateAuthenticationRequest {
        lpa::initiate_authentication(&mut self.euicc, &self.address, &mut self.rng).unwrap()
    }

    pub async fn initiate(&mut self) -> Result<InitiateAuthenticationResponse, ResponseHeader> {
        let req = self.initiate_request();
        self.client.call(path::INITIATE_AUTHENTICATION, &req).await
    }

    /// ES10b AuthenticateServerRequest from the initiateAuthentication response.
    pub fn authenticate_server_request(
        init: &InitiateAuthenticationResponse,
        matching_id: Option<&str>,
    ) -> AuthenticateServerRequest {
        let ctx = lpa::ctx_params1(matching_id, lpa::default_device_info());
        lpa::authenticate_server_request(init, ctx).unwrap()
    }

    pub fn authenticate_client_request(
        &mut self,
        init: &InitiateAuthenticationResponse,
        matching_id: Option<&str>,
    ) -> AuthenticateClientRequest {
        let asr = Self::authenticate_server_request(init, matching_id);
        let resp = self.euicc.authenticate_server(&asr, self.now);
        lpa::authenticate_client_request(&init.transaction_id, &resp).unwrap()
    }

    pub async fn authenticate(
        &mut self,
        init: &InitiateAuthenticationResponse,
        matching_id: Option<&str>,
    ) -> Result<AuthenticateClientResponse, ResponseHeader> {
        let req = self.authenticate_client_request(init, matching_id);
        self.client.call(path::AUTHENTICATE_CLIENT, &req).await
    }

    pub fn prepare_download_request(auth: &AuthenticateClientResponse) -> PrepareDownloadRequest {
        lpa::prepare_download_request(auth, None).unwrap()
    }

    pub fn get_bpp_request(
        &mut self,
        auth: &AuthenticateClientResponse,
        cc: Option<&str>,
    ) -> GetBoundProfilePackageRequest {
        let pdr = Self::prepare_download_request(auth);
        let resp = self
            .euicc
            .prepare_download(&pdr, cc, &mut self.rng, self.now);
        GetBoundProfilePackageRequest {
            header: None,
            transaction_id: auth.transaction_id.clone(),
            prepare_download_response: Der::encode(&resp).unwrap(),
        }
    }

    pub async fn get_bpp(
        &mut self,
        auth: &AuthenticateClientResponse,
        cc: Option<&str>,
    ) -> Result<GetBoundProfilePackageResponse, ResponseHeader> {
        let req = self.get_bpp_request(auth, cc);
        self.client
            .call(path::GET_BOUND_PROFILE_PACKAGE, &req)
            .await
    }

    /// Loads the BPP into the eUICC; the PIR goes to the SM-DP+ (HTTP 204 expected).
    pub async fn install(&mut self, bpp: &GetBoundProfilePackageResponse) -> PendingNotification {
        let bpp: BoundProfilePackage = bpp.bound_profile_package.decode().unwrap();
        let pir = self.euicc.load_bound_profile_package(&bpp).unwrap();
        let n = PendingNotification::ProfileInstallationResult(pir);
        self.notify(&n).await;
        n
    }

    pub async fn notify(&self, n: &PendingNotification) {
        let req = lpa::handle_notification_request(n).unwrap();
        let r = self
            .client
            .es9(path::HANDLE_NOTIFICATION, serde_json::to_vec(&req).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.body.is_empty());
    }

    pub async fn cancel(
        &mut self,
        txid: &TransactionId,
        reason: CancelSessionReason,
    ) -> Result<CancelSessionResponseBody, ResponseHeader> {
        let resp = self.euicc.cancel_session(txid, reason);
        let req = lpa::cancel_session_request(txid, &resp).unwrap();
        self.client.call(path::CANCEL_SESSION, &req).await
    }

    /// A whole download with the `lpa` crate, through the card's APDU interface (lpac's
    /// framing) and ES9+ over TLS with the server certificate verified; the install
    /// notification is then delivered and removed. The step-by-step methods above stay for
    /// the tests that edit one request.
    pub async fn download(
        &mut self,
        matching_id: Option<&str>,
        cc: Option<&str>,
    ) -> Result<::lpa::download::Installed, ::lpa::Error> {
        self.download_observed(matching_id, cc, |_| {}).await
    }

    /// [`Self::download`], calling `progress` at each step.
    pub async fn download_observed(
        &mut self,
        matching_id: Option<&str>,
        cc: Option<&str>,
        progress: impl FnMut(::lpa::download::Step),
    ) -> Result<::lpa::download::Installed, ::lpa::Error> {
        self.download_recorded(matching_id, cc, progress, None)
            .await
    }

    /// [`Self::download_observed`], keeping both sides of the session in `recording`.
    pub async fn download_recorded(
        &mut self,
        matching_id: Option<&str>,
        cc: Option<&str>,
        progress: impl FnMut(::lpa::download::Step),
        recording: Option<&::lpa::record::Recording>,
    ) -> Result<::lpa::download::Installed, ::lpa::Error> {
        let mut es9 =
            ::lpa::es9::Client::new(::lpa::es9::Trust::Roots(vec![self.client.root.clone()]))?
                .resolve(&self.address, self.client.addr);
        let mut card = veuicc::apdu::Card::new(&mut self.euicc, &mut self.rng);
        card.set_time(Some(self.now));
        let mut es10 = ::lpa::card::Es10::open(::lpa::card::VirtualCard { card, state: None })?;
        if let Some(r) = recording {
            es9 = es9.record(r.clone());
            es10.record(r.clone());
        }
        let order = ::lpa::download::Order {
            address: self.address.clone(),
            matching_id: matching_id.map(str::to_owned),
            confirmation_code: cc.map(str::to_owned),
        };
        let installed = ::lpa::download::download(&mut es10, &es9, &order, progress).await?;
        let sent = ::lpa::notifications::process(&mut es10, &es9, true).await?;
        assert!(sent.iter().all(|s| s.outcome.is_ok()), "{sent:?}");
        es10.close()?;
        Ok(installed)
    }
}

/// An order by matching ID.
pub fn by_matching_id(mid: &str) -> OrderRequest {
    OrderRequest {
        matching_id: Some(mid.into()),
        ..Default::default()
    }
}

/// An order by EID (default SM-DP+).
pub fn by_eid(eid: &str) -> OrderRequest {
    OrderRequest {
        eid: Some(eid.parse().expect("a valid EID")),
        ..Default::default()
    }
}

/// The BF23 InitialiseSecureChannelRequest of a BPP response (otPK.DP, transaction ID).
pub fn bf23(
    r: &GetBoundProfilePackageResponse,
) -> rsp_asn1::download::InitialiseSecureChannelRequest {
    let bpp: BoundProfilePackage = r.bound_profile_package.decode().unwrap();
    bpp.initialise_secure_channel_request.value().clone()
}

/// Everything of a BPP but BF23: the protected A0, A1, A2 and A3 segments, as bytes.
pub fn protected_parts(r: &GetBoundProfilePackageResponse) -> Vec<Vec<Vec<u8>>> {
    let bpp: BoundProfilePackage = r.bound_profile_package.decode().unwrap();
    vec![
        bpp.first_sequence_of87
            .iter()
            .map(|s| s.0.to_vec())
            .collect(),
        bpp.sequence_of88.iter().map(|s| s.0.to_vec()).collect(),
        bpp.second_sequence_of87
            .iter()
            .flatten()
            .map(|s| s.0.to_vec())
            .collect(),
        bpp.sequence_of86.iter().map(|s| s.0.to_vec()).collect(),
    ]
}

/// The JSON object keys of a response body, sorted.
pub fn json_keys(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// `smdp serve` as a process, from the workspace root on the data folder `data`: ports the OS
/// picks, REST over TLS, JSON logs filtered by `rust_log`, no shedding on a timer (a loaded
/// CI machine would refuse sessions at random), then `args`.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub es9: SocketAddr,
    pub rest: SocketAddr,
    head: Vec<String>,
    /// Keeps draining the log: a full pipe would block the server's writes.
    drain: std::thread::JoinHandle<Vec<String>>,
}

impl ServeProcess {
    pub fn start(data: &Path, rust_log: &str, args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smdp"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args([
                "--rest-listen",
                "127.0.0.1:0",
                "--rest-tls",
                "--shed-lag-ms",
                "0",
            ])
            .args(args)
            .env("SMDP_DATA", data)
            .env("RUST_LOG", rust_log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut head = Vec::new();
        // The startup line is JSON with the bound addresses.
        let (es9, rest) = loop {
            let line = lines.next().expect("server exited").unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            head.push(line);
            if let Some(l) = v["fields"]["listen"].as_str() {
                let rest = v["fields"]["rest_listen"].as_str().expect("rest_listen");
                break (l.parse().unwrap(), rest.parse().unwrap());
            }
        };
        let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        Self {
            child,
            es9,
            rest,
            head,
            drain,
        }
    }

    /// Clients for its ES9+ and REST listeners (both TLS under our NIST CI).
    pub fn clients(&self) -> (Client, Client) {
        let root = our_nist_root();
        (Client::new(self.es9, &root), Client::new(self.rest, &root))
    }

    /// Sends `signal` (`TERM`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let st = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the process to end: its exit status and its whole log.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        let mut log = self.head;
        log.extend(self.drain.join().unwrap());
        (status, log)
    }
}
