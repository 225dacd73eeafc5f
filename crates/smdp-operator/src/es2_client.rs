//! An operator's ES2+ client (SGP.22 §5.3): JSON over TLS with a client certificate, what an
//! operator's BSS calls the SM-DP+ with. `smdp es2` drives it from a shell, and the tests
//! use it as the operator. It sends what it is given: the bodies are the caller's, so a test
//! can send a malformed one.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Why a call got no HTTP answer (the TLS handshake refused, the connection failed).
#[derive(Debug, thiserror::Error)]
#[error("ES2+ {0}")]
pub struct Es2ClientError(pub String);

fn err(what: &str) -> impl Fn(String) -> Es2ClientError + '_ {
    move |e| Es2ClientError(format!("{what}: {e}"))
}

/// One SM-DP+'s ES2+ endpoint, with the operator's identity.
#[derive(Clone)]
pub struct Es2Client {
    tls: tokio_rustls::TlsConnector,
    /// `host:port` to connect to.
    connect: String,
    /// The name the SM-DP+'s certificate must carry.
    host: String,
}

/// An HTTP answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct Es2Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Es2Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Es2Client {
    /// `connect` is `host:port`; `host` the name to verify the server certificate for;
    /// `roots` the CAs (DER) it chains to; `identity` the client certificate chain and key
    /// (PEM), or `None` to connect without one.
    pub fn new(
        connect: &str,
        host: &str,
        roots: &[Vec<u8>],
        identity: Option<(&[u8], &[u8])>,
    ) -> Result<Self, Es2ClientError> {
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store
                .add(CertificateDer::from(r.clone()))
                .map_err(|e| err("trust anchor")(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err("TLS")(e.to_string()))?
            .with_root_certificates(store);
        let cfg = match identity {
            Some((chain, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<_, _>>()
                    .map_err(|e| err("client certificate")(e.to_string()))?;
                if chain.is_empty() {
                    return Err(Es2ClientError(
                        "client certificate: no PEM CERTIFICATE".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| err("client key")(e.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| err("client certificate")(e.to_string()))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            connect: connect.to_string(),
            host: host.to_string(),
        })
    }

    /// POSTs `body` to the ES2+ function at `path` (`/gsma/rsp2/es2plus/…`).
    pub async fn call(&self, path: &str, body: &[u8]) -> Result<Es2Reply, Es2ClientError> {
        let tcp = tokio::net::TcpStream::connect(&self.connect)
            .await
            .map_err(|e| err("connect")(e.to_string()))?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| err("server name")(e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| err("TLS handshake")(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| err("HTTP")(e.to_string()))?;
        tokio::spawn(conn);
        let req = Request::post(path)
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("x-admin-protocol", "gsma/rsp/v2.1.0")
            .header("user-agent", "smdp-sim es2")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| err("request")(e.to_string()))?;
        // A server that refuses the certificate after the handshake (TLS 1.3 sends the
        // alert with its first record) fails the request here.
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| err("request")(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| err("response")(e.to_string()))?
            .to_bytes()
            .to_vec();
        Ok(Es2Reply {
            status,
            headers,
            body,
        })
    }
}
