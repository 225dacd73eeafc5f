//! ES2+ over mutually authenticated TLS (SGP.22 §2.6.3, §5.3): the client verifier that
//! admits operators whose certificate chains to a configured trust anchor, and the HTTP
//! handler that gives each call to [`smdp_core::es2::dispatch`] with the function requester
//! the certificate names.
//!
//! A missing or untrusted client certificate is refused in the handshake (rustls sends
//! `certificate_required` / `unknown_ca`); a request that reaches the handler without a
//! requester (a certificate naming nobody) is answered 403.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::http::{json, json_body, plain};

/// The trust anchors ES2+ clients chain to, from DER or PEM files (a PEM file may hold
/// several), and whether to admit certificates that have expired.
pub fn client_verifier(
    anchors: &[Vec<u8>],
    allow_expired: bool,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for a in anchors {
        roots
            .add(CertificateDer::from(a.clone()))
            .map_err(|e| format!("ES2+ client trust anchor: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
        .build()
        .map_err(|e| format!("ES2+ client verifier: {e}"))?;
    Ok(if allow_expired {
        Arc::new(ExpiryIgnored { inner })
    } else {
        inner
    })
}

/// The certificates of a trust-anchor file: PEM (one or more `CERTIFICATE` blocks) or DER.
pub fn read_anchors(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    if bytes.starts_with(b"-----") {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no CERTIFICATE in the PEM file".into());
        }
        Ok(certs.into_iter().map(|c| c.to_vec()).collect())
    } else {
        Ok(vec![bytes.to_vec()])
    }
}

/// The operator's certificate is checked as at the last second it was valid when it has
/// expired: everything else (chain, signature, usage) is checked as usual. For test
/// certificates only (SGP.26's operator certificate has expired); an explicit opt-in.
#[derive(Debug)]
struct ExpiryIgnored {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for ExpiryIgnored {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. },
            )) => {
                let Some(last) = rsp_auth::operator::not_after_of_der(end_entity) else {
                    return Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::BadEncoding,
                    ));
                };
                tracing::warn!("ES2+ client certificate has expired: admitted (expiry check skipped by configuration)");
                self.inner.verify_client_cert(
                    end_entity,
                    intermediates,
                    UnixTime::since_unix_epoch(std::time::Duration::from_secs(last)),
                )
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// One ES2+ request: the HTTP-level checks, then the function on this worker thread (a
/// store transaction or two; no signing).
pub async fn handle<B>(
    es2: Arc<smdp_core::es2::Es2>,
    requester: Option<Arc<str>>,
    req: Request<B>,
    max_body: usize,
) -> Response<Full<Bytes>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let function = req.uri().path().to_string();
    if !rsp_asn1::es2::path::SERVED.contains(&function.as_str()) {
        return plain(StatusCode::NOT_FOUND, "not an ES2+ function");
    }
    let Some(requester) = requester else {
        return plain(
            StatusCode::FORBIDDEN,
            "ES2+ needs a client certificate that names the function requester \
             (a dNSName or a commonName)",
        );
    };
    let protocol = (
        rsp_asn1::es2::admin_protocol_ok as fn(&str) -> bool,
        "gsma/rsp/v2.…",
    );
    let body = match json_body(req, max_body, "ES2+", protocol).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        smdp_core::es2::dispatch(&es2, &requester, &function, &body)
    }))
    .unwrap_or_else(|_| {
        tracing::error!(function, "ES2+ handler panicked");
        None
    });
    json(answer.unwrap_or_else(|| {
        smdp_core::es9::failed_body(&smdp_core::status::Failure::new(
            smdp_core::status::Code::ExecutionError,
            "internal error",
        ))
    }))
}
