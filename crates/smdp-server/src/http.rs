//! ES9+ over HTTPS: hyper 1 on tokio-rustls, TLS 1.2 and 1.3.
//!
//! HTTP-level problems (unknown path, wrong method, non-JSON content type, oversized body)
//! get HTTP status codes; everything about the function itself is HTTP 200 with a JSON header
//! (`Failed` + subject/reason code), and handleNotification is always 204 (digest §1.2).
//! The ASN.1 binding (`/gsma/rsp2/asn1`) answers in DER the same way: an error alternative
//! with HTTP 200, 204 for handleNotification, and 400 only for a body whose function cannot
//! be read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rsp_asn1::binding;
use rsp_asn1::es9::path;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use smdp_core::es9::Es9Answer;
use smdp_core::es9::Smdp;
use smdp_core::status::{Code, Failure};

/// What the server answers in `X-Admin-Protocol` (a v2 value: pySim's client refuses others).
pub const ADMIN_PROTOCOL: &str = "gsma/rsp/v2.2.0";
pub(crate) const JSON: &str = "application/json;charset=UTF-8";
const ES2_PREFIX: &str = "/gsma/rsp2/es2plus/";
/// Any `gsma/rsp/v…` X-Admin-Protocol, absent tolerated (lpac and TTCN differ).
const ES9_PROTOCOL: (fn(&str) -> bool, &str) = (|s| s.starts_with("gsma/rsp/v"), "gsma/rsp/v…");

/// Connection and request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body; ES9+ requests are a few KB.
    pub max_body: usize,
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// TLS handshake and request-header deadline.
    pub handshake_timeout: Duration,
    /// Keep-alive connections idle longer than this are closed.
    pub idle_timeout: Duration,
    /// A request's body must have arrived this long after its headers (else 408).
    pub body_timeout: Duration,
    /// New ES9+ sessions are shed (1.2/4.4) while requests wait longer than this to run
    /// ([`watch_load`]); `None` never sheds.
    pub shed_lag: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1 << 20,
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            // A session is some twenty turns of its connections in the run queue, so a wait
            // of 100 ms per turn is two seconds per session. Measured (benches/overload.sh):
            // at 250, 2× the capacity timed out 40 % of its sessions before shedding engaged;
            // at 100, 2× got 1.2/4.4 for its excess (1 % timed out, 4× still 12 %); 50 was
            // cleaner at 4× but shed at 1× under a container's CPU quota, whose throttling
            // reads as lag.
            shed_lag: Some(Duration::from_millis(100)),
        }
    }
}

/// A running server: its address, and a way to stop it gracefully.
pub struct ServerHandle {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, lets in-flight requests finish (up to `grace`), then returns.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.task).await;
    }
}

/// What a listener serves.
#[derive(Clone, Default)]
pub struct Services {
    /// ES9+ (`/gsma/rsp2/es9plus/*`); only ever on a TLS listener.
    pub es9: Option<Arc<Smdp>>,
    /// The operator REST API (`/v1/*`).
    pub rest: Option<Arc<smdp_operator::rest::Operator>>,
    /// ES2+ (`/gsma/rsp2/es2plus/*`): only on a listener that requires a client
    /// certificate, which names the function requester.
    pub es2: Option<Arc<smdp_core::es2::Es2>>,
}

/// Binds `listen` and serves ES9+ until [`ServerHandle::shutdown`].
pub async fn start(
    smdp: Arc<Smdp>,
    tls: Arc<rustls::ServerConfig>,
    listen: SocketAddr,
    limits: Limits,
) -> std::io::Result<ServerHandle> {
    let services = Services {
        es9: Some(smdp),
        ..Services::default()
    };
    start_services(services, Some(tls), listen, limits).await
}

/// Binds `listen` and serves `services` over TLS, or over plain HTTP without `tls` (the
/// REST API's admin port; ES9+ is never served without TLS).
pub async fn start_services(
    services: Services,
    tls: Option<Arc<rustls::ServerConfig>>,
    listen: SocketAddr,
    limits: Limits,
) -> std::io::Result<ServerHandle> {
    let listener = TcpListener::bind(listen).await?;
    serve_listener(services, tls, listener, limits)
}

/// Serves `services` on a bound listener (so that a caller can learn the port first).
pub fn serve_listener(
    services: Services,
    tls: Option<Arc<rustls::ServerConfig>>,
    listener: TcpListener,
    limits: Limits,
) -> std::io::Result<ServerHandle> {
    let services = if tls.is_none() {
        Services {
            es9: None,
            es2: None,
            ..services
        }
    } else {
        services
    };
    let addr = listener.local_addr()?;
    let (tx, mut rx) = watch::channel(false);
    let acceptor = tls.map(TlsAcceptor::from);
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut refused = 0u64;
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = rx.changed() => break,
            };
            // At the cap a connection is closed at once rather than left in the kernel's
            // backlog, where its client would wait for a timeout: it learns now, and can
            // come back (the sessions under way keep their connections).
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                refused += 1;
                if refused.is_power_of_two() {
                    tracing::warn!(%peer, refused, max = limits.max_connections,
                        "connection limit reached: closing new connections");
                }
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let services = services.clone();
            let limits = limits.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _permit = permit;
                let Some(acceptor) = acceptor else {
                    let conn = Conn {
                        scheme: "http",
                        peer,
                        requester: None,
                    };
                    serve_connection(TokioIo::new(tcp), services, conn, &limits, watcher).await;
                    return;
                };
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => {
                        // On a listener that asks for one, the verified client certificate
                        // names the ES2+ function requester for the whole connection.
                        let requester = t
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|c| rsp_auth::operator::requester_of_der(c))
                            .map(Arc::<str>::from);
                        let conn = Conn {
                            scheme: "https",
                            peer,
                            requester,
                        };
                        serve_connection(TokioIo::new(t), services, conn, &limits, watcher).await
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
        drop(listener);
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(Duration::from_secs(10)) => {
                tracing::warn!("graceful shutdown timed out; dropping connections");
            }
        }
    });
    Ok(ServerHandle {
        addr,
        shutdown: tx,
        task,
    })
}

/// What a connection is: its scheme, its client, and the function requester its client
/// certificate names (ES2+).
struct Conn {
    scheme: &'static str,
    peer: SocketAddr,
    requester: Option<Arc<str>>,
}

async fn serve_connection<IO>(
    io: IO,
    services: Services,
    conn: Conn,
    limits: &Limits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let max_body = limits.max_body;
    let peer = conn.peer;
    let svc = Router {
        services,
        scheme: conn.scheme,
        max_body,
        body_timeout: limits.body_timeout,
        peer: Some(peer.ip()),
        requester: conn.requester,
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true)
        .serve_connection(io, svc);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Watches how late the runtime runs ready work, and sheds new ES9+ sessions while it is
/// late by more than `threshold`: a task asking to wake every 20 ms wakes late by about as
/// long as ready work (requests) queues ahead of it, which is the wait every request sees.
/// Smoothed (EWMA over about ten ticks), with hysteresis: shedding starts above the
/// threshold and stops below half of it.
pub async fn watch_load(smdp: Arc<Smdp>, threshold: Duration, mut stop: watch::Receiver<bool>) {
    const TICK: Duration = Duration::from_millis(20);
    let mut lag = 0.0f64;
    let limit = threshold.as_secs_f64();
    loop {
        let t = tokio::time::Instant::now();
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
        let late = t.elapsed().saturating_sub(TICK).as_secs_f64();
        lag = 0.9 * lag + 0.1 * late;
        let shed = if smdp.is_overloaded() {
            lag > limit / 2.0
        } else {
            lag > limit
        };
        if shed != smdp.is_overloaded() {
            smdp.set_overloaded(shed);
            if shed {
                tracing::warn!(
                    lag_ms = lag * 1e3,
                    "overloaded: shedding new sessions (1.2/4.4)"
                );
            } else {
                tracing::info!(
                    lag_ms = lag * 1e3,
                    "load back to normal: new sessions accepted"
                );
            }
        }
    }
}

/// A scripted fault: close the connection without answering.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a scripted fault")
    }
}

impl std::error::Error for Dropped {}

async fn route<B>(router: Router, req: Request<B>) -> Result<Response<Full<Bytes>>, Dropped>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Router {
        services,
        scheme,
        max_body,
        peer,
        requester,
        ..
    } = router;
    if smdp_operator::rest::is_rest_path(req.uri().path()) {
        if let Some(op) = services.rest {
            return Ok(smdp_operator::service::handle(op, req, scheme, max_body).await);
        }
    } else if req.uri().path().starts_with(ES2_PREFIX) {
        if let Some(es2) = services.es2 {
            return Ok(crate::es2::handle(es2, requester, req, max_body).await);
        }
    } else if let Some(smdp) = services.es9 {
        return handle(smdp, req, max_body, peer).await;
    }
    Ok(plain(StatusCode::NOT_FOUND, "not served on this listener"))
}

/// What a listener serves, as a hyper [`hyper::service::Service`] generic over the request
/// body: callable in process without a socket (model: hyper's
/// `examples/service_struct_impl.rs`).
#[derive(Clone)]
pub struct Router {
    pub services: Services,
    /// `https` or `http`: how requests arrive (for the REST API's absolute URLs).
    pub scheme: &'static str,
    pub max_body: usize,
    pub body_timeout: Duration,
    /// The client's address (the TCP peer), for limits kept per client.
    pub peer: Option<IpAddr>,
    /// The function requester the connection's client certificate names (ES2+).
    pub requester: Option<Arc<str>>,
}

impl<B> hyper::service::Service<Request<B>> for Router
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    /// Only a scripted drop: hyper then closes the connection without an answer.
    type Error = Dropped;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Dropped>> + Send>,
    >;

    fn call(&self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        let timeout = this.body_timeout;
        let req = req.map(|b| smdp_operator::service::Deadline::new(b, timeout));
        Box::pin(route(this, req))
    }
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    r
}

pub(crate) fn json(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    r.headers_mut()
        .insert("x-admin-protocol", HeaderValue::from_static(ADMIN_PROTOCOL));
    r
}

fn asn1(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(binding::CONTENT_TYPE),
    );
    r.headers_mut()
        .insert("x-admin-protocol", HeaderValue::from_static(ADMIN_PROTOCOL));
    r
}

/// An empty answer: 204, or 200 when so configured.
fn no_content(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("x-admin-protocol", HeaderValue::from_static(ADMIN_PROTOCOL));
    r
}

/// One ES9+ request: HTTP-level checks (path, method, content type, admin protocol, body
/// size), then [`smdp_core::es9::dispatch`] on the blocking pool.
pub async fn handle<B>(
    smdp: Arc<Smdp>,
    req: Request<B>,
    max_body: usize,
    peer: Option<IpAddr>,
) -> Result<Response<Full<Bytes>>, Dropped>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let clock = smdp.clock.clone();
    let mut resp = answer(smdp, req, max_body, peer).await?;
    // hyper dates every response by the system time unless it has a `date` already: under a
    // manual clock (tests, `smdp record`) the answer carries that clock's time, so a recorded
    // session replays byte for byte, headers included.
    if let smdp_core::clock::Clock::Manual(_) = clock {
        if let Ok(v) = HeaderValue::from_str(&smdp_core::clock::http_date(clock.unix())) {
            resp.headers_mut().insert(hyper::header::DATE, v);
        }
    }
    Ok(resp)
}

async fn answer<B>(
    smdp: Arc<Smdp>,
    req: Request<B>,
    max_body: usize,
    peer: Option<IpAddr>,
) -> Result<Response<Full<Bytes>>, Dropped>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let function = req.uri().path().to_string();
    if function == binding::PATH {
        return answer_asn1(smdp, req, max_body, peer).await;
    }
    if !path::ALL.contains(&function.as_str()) {
        return Ok(plain(StatusCode::NOT_FOUND, "not an ES9+ path"));
    }
    let body = match json_body(req, max_body, "ES9+", ES9_PROTOCOL).await {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let notification = function == path::HANDLE_NOTIFICATION;
    // On this worker thread: a call is a few hundred µs of signing and store work, and a
    // hop to the blocking pool and back cost more than that in context switches (measured
    // with `lpa load`: a third of the server's CPU was the kernel's). A panic is caught
    // here as spawn_blocking would have.
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        smdp_core::es9::dispatch_from(&smdp, &function, &body, peer)
    }))
    .unwrap_or_else(|_| {
        tracing::error!(function, "handler panicked");
        None
    });
    let answer = answer.unwrap_or_else(|| {
        if notification {
            Es9Answer::NoContent
        } else {
            Es9Answer::Json(smdp_core::es9::failed_body(&Failure::new(
                Code::ExecutionError,
                "internal error",
            )))
        }
    });
    answer_with_faults(answer, empty_status(&smdp)).await
}

/// An ES9+ ASN.1 binding call: the HTTP checks, then [`smdp_core::es9::dispatch_asn1`].
async fn answer_asn1<B>(
    smdp: Arc<Smdp>,
    req: Request<B>,
    max_body: usize,
    peer: Option<IpAddr>,
) -> Result<Response<Full<Bytes>>, Dropped>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = match checked_body(req, max_body, "ES9+", ES9_PROTOCOL, binding::CONTENT_TYPE).await
    {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        smdp_core::es9::dispatch_asn1(&smdp, &body, peer)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("ASN.1 binding handler panicked");
        Es9Answer::BadRequest("internal error".into())
    });
    answer_with_faults(answer, empty_status(&smdp)).await
}

/// The HTTP-level checks both JSON interfaces make (method, content type, admin protocol,
/// body size and deadline), then the body; an `Err` is the HTTP answer to give instead.
pub(crate) async fn json_body<B>(
    req: Request<B>,
    max_body: usize,
    interface: &str,
    protocol: (fn(&str) -> bool, &str),
) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    checked_body(req, max_body, interface, protocol, "application/json").await
}

/// [`json_body`]'s checks for a body of `content_type` (parameters after it allowed, the
/// header itself may be absent).
async fn checked_body<B>(
    req: Request<B>,
    max_body: usize,
    interface: &str,
    (admin_protocol_ok, protocol): (fn(&str) -> bool, &str),
    content_type: &str,
) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != Method::POST {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{interface} functions are POST"),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Err(r);
    }
    // Any application/json* (lpac, TTCN add parameters); absent is tolerated.
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let ok = ct
            .to_str()
            .map(|s| s.trim().to_ascii_lowercase().starts_with(content_type))
            .unwrap_or(false);
        if !ok {
            return Err(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("Content-Type must be {content_type}"),
            ));
        }
    }
    if let Some(v) = req.headers().get("x-admin-protocol") {
        if !v.to_str().is_ok_and(admin_protocol_ok) {
            return Err(plain(
                StatusCode::BAD_REQUEST,
                &format!("X-Admin-Protocol must be {protocol}"),
            ));
        }
    }
    let body = match Limited::new(req.into_body(), max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ))
        }
        Err(e) if smdp_operator::service::timed_out(e.as_ref()) => {
            return Err(plain(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ))
        }
        Err(_) => {
            return Err(plain(
                StatusCode::BAD_REQUEST,
                "could not read the request body",
            ))
        }
    };
    Ok(body)
}

/// handleNotification's status (`Policy::notification_status`).
fn empty_status(smdp: &Smdp) -> StatusCode {
    StatusCode::from_u16(smdp.policy.notification_status).unwrap_or(StatusCode::NO_CONTENT)
}

/// An answer, with a scripted transport fault applied (`smdp_core::faults`); `empty` is the
/// status of an empty answer.
async fn answer_with_faults(
    answer: Es9Answer,
    empty: StatusCode,
) -> Result<Response<Full<Bytes>>, Dropped> {
    use smdp_core::faults::Transport;
    match answer {
        Es9Answer::Json(body) => Ok(json(body)),
        Es9Answer::NoContent => Ok(no_content(empty)),
        Es9Answer::Asn1(body) => Ok(asn1(body)),
        Es9Answer::BadRequest(why) => Ok(plain(
            StatusCode::BAD_REQUEST,
            &format!("not a RemoteProfileProvisioningRequest: {why}"),
        )),
        Es9Answer::Faulted(inner, fault) => match fault {
            Transport::Delay { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Box::pin(answer_with_faults(*inner, empty)).await
            }
            Transport::Drop => Err(Dropped),
            Transport::Http { status } => Ok(plain(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "scripted fault",
            )),
            Transport::Truncate => match *inner {
                Es9Answer::Json(mut body) => {
                    body.truncate(body.len() / 2);
                    Ok(json(body))
                }
                Es9Answer::Asn1(mut body) => {
                    body.truncate(body.len() / 2);
                    Ok(asn1(body))
                }
                other => Box::pin(answer_with_faults(other, empty)).await,
            },
        },
    }
}
