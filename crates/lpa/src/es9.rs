//! ES9+ over HTTPS as an LPA calls it (SGP.22 6.5; digest §1.1): POST
//! `https://<address>/gsma/rsp2/es9plus/<function>` with `X-Admin-Protocol: gsma/rsp/v2.2.2`,
//! JSON in and out. Unlike lpac (which disables verification), the server certificate is
//! verified: against the CIs given (SGP.22 2.6.6: DPtls chains to a CI), or the system
//! roots; `insecure` turns verification off only when asked.
//!
//! Connections are kept alive and reused (HTTP/1.1, one request at a time each), unless
//! [`Client::new_connection_per_call`] models the LPAs (lpac) that reconnect every call; the
//! rustls client keeps TLS sessions for resumption either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rsp_asn1::binding;
use rsp_asn1::es9::{parse_response, status_meaning, ResponseHeader};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::Error;

/// What the server answers ES9+ requests with; we send the same.
pub const ADMIN_PROTOCOL: &str = "gsma/rsp/v2.2.2";
const JSON: &str = "application/json";

/// How ES9+ messages travel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Binding {
    /// `POST /gsma/rsp2/es9plus/<function>`, JSON with base64 DER parts (SGP.22 6.5).
    #[default]
    Json,
    /// `POST /gsma/rsp2/asn1`, a DER RemoteProfileProvisioningRequest (SGP.22 v3, SGP.32;
    /// [`rsp_asn1::binding`]).
    Asn1,
}

impl std::str::FromStr for Binding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "asn1" => Ok(Self::Asn1),
            _ => Err(format!("binding {s:?}: expected json or asn1")),
        }
    }
}
const TIMEOUT: Duration = Duration::from_secs(30);

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
/// Idle connections by pool key.
type Idle = Arc<Mutex<HashMap<String, Vec<Sender>>>>;

/// The connection a call went out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// A kept-alive one.
    Reused,
    /// A new one, with a full TLS handshake.
    New,
    /// A new one whose TLS session was resumed (a ticket from an earlier connection).
    Resumed,
}

/// What a call took, for load reports: the function, the time from the connect or first byte
/// sent to the last byte received, and the connection it used.
pub type Observer = Arc<dyn Fn(&'static str, Duration, Connection) + Send + Sync>;

fn header_list(h: &hyper::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// An ES9+ client.
#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    /// Addresses reached at another socket (curl's `--resolve`): the name stays in SNI,
    /// Host and smdpAddress.
    resolve: HashMap<String, std::net::SocketAddr>,
    /// Idle kept-alive connections by address and the socket it resolves to; `None`: a new
    /// connection for every call.
    idle: Option<Idle>,
    observer: Option<Observer>,
    recording: Option<crate::record::Recording>,
    binding: Binding,
}

/// How the server certificate is checked.
pub enum Trust {
    /// These CA certificates (DER): the SGP.22 CIs, or a test CA.
    Roots(Vec<Vec<u8>>),
    /// No verification at all (lpac's behaviour): only when the user asks.
    Insecure,
}

#[derive(Debug)]
pub(crate) struct NoVerification(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Client {
    pub fn new(trust: Trust) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::transport("TLS", e))?;
        let cfg = match trust {
            Trust::Roots(roots) => {
                let mut store = rustls::RootCertStore::empty();
                for der in roots {
                    store
                        .add(CertificateDer::from(der))
                        .map_err(|e| Error::transport("TLS", format!("a trust anchor: {e}")))?;
                }
                builder.with_root_certificates(store).with_no_client_auth()
            }
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth(),
        };
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            resolve: Default::default(),
            idle: Some(Default::default()),
            observer: None,
            recording: None,
            binding: Binding::Json,
        })
    }

    /// Speaks `binding` from now on ([`Client::call`] and [`Client::notify`]).
    pub fn binding(mut self, binding: Binding) -> Self {
        self.binding = binding;
        self
    }

    /// A new TCP and TLS connection for every call (TLS sessions are still resumed), as
    /// lpac does.
    pub fn new_connection_per_call(mut self) -> Self {
        self.idle = None;
        self
    }

    /// Keeps every exchange, headers and bodies as sent and received, in `r`.
    pub fn record(mut self, r: crate::record::Recording) -> Self {
        self.recording = Some(r);
        self
    }

    /// Calls `f` after every exchange (see [`Observer`]).
    pub fn observe(mut self, f: Observer) -> Self {
        self.observer = Some(f);
        self
    }

    /// Another client with the same TLS settings (and session cache) but its own idle
    /// connections: one per simulated LPA.
    pub fn fork(&self) -> Self {
        Self {
            idle: self.idle.as_ref().map(|_| Default::default()),
            ..self.clone()
        }
    }

    async fn connect(
        &self,
        function: &'static str,
        address: &str,
        host: &str,
        port: u16,
    ) -> Result<(Sender, Connection), Error> {
        let t = |e: &dyn std::fmt::Display| Error::transport(function, e);
        let tcp = match self.resolve.get(&address.to_ascii_lowercase()) {
            Some(to) => tokio::net::TcpStream::connect(to).await,
            None => tokio::net::TcpStream::connect((host, port)).await,
        }
        .map_err(|e| t(&format!("connect {address}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_string()).map_err(|e| t(&e))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| t(&format!("TLS with {address}: {e}")))?;
        let kind = match tls.get_ref().1.handshake_kind() {
            Some(rustls::HandshakeKind::Resumed) => Connection::Resumed,
            _ => Connection::New,
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| t(&e))?;
        tokio::spawn(conn);
        Ok((sender, kind))
    }

    fn pool_key(&self, address: &str) -> String {
        let a = address.to_ascii_lowercase();
        match self.resolve.get(&a) {
            Some(to) => format!("{a}@{to}"),
            None => a,
        }
    }

    /// An idle connection to `address` that is still open.
    fn take_idle(&self, address: &str) -> Option<Sender> {
        let mut idle = self
            .idle
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(&self.pool_key(address))?;
        while let Some(s) = list.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, address: &str, s: Sender) {
        if let Some(idle) = &self.idle {
            if !s.is_closed() {
                let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
                idle.entry(self.pool_key(address)).or_default().push(s);
            }
        }
    }

    /// Connects to `to` whenever `address` (`host[:port]`) is called, as curl's `--resolve`.
    pub fn resolve(mut self, address: &str, to: std::net::SocketAddr) -> Self {
        self.resolve.insert(address.to_ascii_lowercase(), to);
        self
    }

    /// POSTs `body` to `function` at `address` (`host[:port]`, as in an activation code):
    /// the HTTP status and body.
    pub async fn post(
        &self,
        function: &'static str,
        address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), Error> {
        self.post_as(function, address, path, JSON, body).await
    }

    /// [`Client::post`] with another content type.
    pub async fn post_as(
        &self,
        function: &'static str,
        address: &str,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let t = |e: &dyn std::fmt::Display| Error::transport(function, e);
        let (host, port) = split_address(address).ok_or_else(|| {
            Error::Input(format!("SM-DP+ address {address:?} is not host[:port]"))
        })?;
        let started = Instant::now();
        let mut used = Connection::Reused;
        let body_len = body.len();
        let kept_body = self.recording.as_ref().map(|_| body.clone());
        let mut sent_headers = Vec::new();
        let exchange = async {
            let mut req = hyper::Request::builder()
                .method("POST")
                .uri(path)
                .header("host", address)
                .header("user-agent", "smdp-sim lpa")
                .header("x-admin-protocol", ADMIN_PROTOCOL)
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| t(&e))?;
            if self.recording.is_some() {
                sent_headers = header_list(req.headers());
                // hyper writes it from the body.
                sent_headers.push(("content-length".into(), body_len.to_string()));
            }
            // A kept connection the server closed meanwhile hands the request back unsent:
            // then, and only then, it goes out once more on a new connection.
            let (sender, resp) = loop {
                let (mut sender, reused) = match self.take_idle(address) {
                    Some(s) => (s, true),
                    None => {
                        let (s, kind) = self.connect(function, address, &host, port).await?;
                        used = kind;
                        (s, false)
                    }
                };
                if sender.ready().await.is_err() && reused {
                    continue;
                }
                match sender.try_send_request(req).await {
                    Ok(resp) => break (sender, resp),
                    Err(mut e) if reused => match e.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(t(e.error())),
                    },
                    Err(e) => return Err(t(e.error())),
                }
            };
            let status = resp.status().as_u16();
            let response_headers = header_list(resp.headers());
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| t(&e))?
                .to_bytes()
                .to_vec();
            self.put_idle(address, sender);
            if let (Some(r), Some(request_body)) = (&self.recording, kept_body) {
                r.push(crate::record::Event::Es9(crate::record::Es9Record {
                    function,
                    path: path.to_string(),
                    request_headers: std::mem::take(&mut sent_headers),
                    request_body,
                    status,
                    response_headers,
                    response_body: body.clone(),
                }));
            }
            Ok((status, body))
        };
        let out = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| t(&"no answer in 30 s"))?;
        if let Some(o) = &self.observer {
            o(function, started.elapsed(), used);
        }
        out
    }

    /// One ES9+ function: the typed response, or the server's `Failed` as [`Error::Es9`]
    /// (an error alternative of the ASN.1 binding as [`Error::Es9Asn1`]).
    pub async fn call<Req, Resp>(
        &self,
        function: &'static str,
        address: &str,
        path: &str,
        req: &Req,
    ) -> Result<Resp, Error>
    where
        Req: serde::Serialize + Clone + Into<binding::Request>,
        Resp: serde::de::DeserializeOwned + binding::Answer,
    {
        if self.binding == Binding::Asn1 {
            let body = self
                .asn1_exchange(function, address, req.clone().into())
                .await?;
            let response = binding::Response::from_der(&body).map_err(|e| {
                Error::transport(
                    function,
                    format!("not a RemoteProfileProvisioningResponse: {e}"),
                )
            })?;
            return match Resp::from_response(response) {
                Some(Ok(r)) => Ok(r),
                Some(Err((code, name))) => Err(Error::Es9Asn1 {
                    function,
                    code,
                    name,
                }),
                None => Err(Error::transport(
                    function,
                    "the response answers another function",
                )),
            };
        }
        let body = serde_json::to_vec(req).map_err(|e| Error::transport(function, e))?;
        let (status, body) = self.post(function, address, path, body).await?;
        if status != 200 {
            return Err(Error::transport(
                function,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
            ));
        }
        match parse_response::<Resp>(&body) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(h)) => Err(failed(function, &h)),
            Err(e) => Err(Error::transport(
                function,
                format!("not an ES9+ response: {e}"),
            )),
        }
    }

    /// handleNotification: 204 (any 2xx) with no body is success.
    pub async fn notify(
        &self,
        address: &str,
        req: &rsp_asn1::es9::HandleNotificationRequest,
    ) -> Result<(), Error> {
        const F: &str = "handleNotification";
        if self.binding == Binding::Asn1 {
            // No response alternative: any 2xx with an empty body.
            let body = self.asn1_exchange(F, address, req.clone().into()).await?;
            if !body.is_empty() {
                return Err(Error::transport(F, "a body where none is defined"));
            }
            return Ok(());
        }
        let body = serde_json::to_vec(req).map_err(|e| Error::transport(F, e))?;
        let (status, body) = self
            .post(F, address, rsp_asn1::es9::path::HANDLE_NOTIFICATION, body)
            .await?;
        if !(200..300).contains(&status) {
            return Err(Error::transport(
                F,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
            ));
        }
        Ok(())
    }
}

impl Client {
    /// One ASN.1 binding exchange: the request's DER out, a 2xx answer's body back.
    async fn asn1_exchange(
        &self,
        function: &'static str,
        address: &str,
        req: binding::Request,
    ) -> Result<Vec<u8>, Error> {
        let der = req.to_der().map_err(|e| Error::Input(e.to_string()))?;
        let (status, body) = self
            .post_as(function, address, binding::PATH, binding::CONTENT_TYPE, der)
            .await?;
        if !(200..300).contains(&status) {
            return Err(Error::transport(
                function,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
            ));
        }
        Ok(body)
    }
}

/// The error of a `Failed` header, with the digest's meaning of its codes.
pub fn failed(function: &'static str, h: &ResponseHeader) -> Error {
    match &h.function_execution_status.status_code_data {
        Some(d) => Error::Es9 {
            function,
            subject: d.subject_code.clone(),
            reason: d.reason_code.clone(),
            meaning: status_meaning(&d.subject_code, &d.reason_code),
            message: d.message.clone(),
        },
        None => Error::Es9 {
            function,
            subject: "-".into(),
            reason: "-".into(),
            meaning: None,
            message: Some(format!("{:?}", h.function_execution_status.status)),
        },
    }
}

/// `host[:port]` (an IPv6 literal in brackets); port 443 when absent.
fn split_address(a: &str) -> Option<(String, u16)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest.split_once(']')?;
        let port = match p.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if p.is_empty() => 443,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        None if !a.is_empty() => Some((a.to_string(), 443)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses() {
        use super::split_address as s;
        assert_eq!(s("localhost:8443"), Some(("localhost".into(), 8443)));
        assert_eq!(s("smdp.example"), Some(("smdp.example".into(), 443)));
        assert_eq!(s("[::1]:8443"), Some(("::1".into(), 8443)));
        assert_eq!(s("127.0.0.1:x"), None);
        assert_eq!(s(""), None);
    }
}
