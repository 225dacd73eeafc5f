//! Status callbacks: the store queues one per status change (a trigger, in the change's own
//! transaction); this worker delivers them in order per profile, signed with
//! `X-Twilio-Signature`, retrying with backoff on errors and timeouts. The queue is in the
//! store, so a restart resumes where delivery stopped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use smdp_core::credentials::HmacSha1Key;
use tokio::sync::watch;

use crate::egress::{EgressPolicy, Target};
use crate::rest::Operator;
use smdp_core::store::{Attempt, CallbackRecord, CallbackSubject, Lease, ProfileStatus};

/// Twilio's timeouts for webhooks (error 11205): 10 s to connect, 15 s for the response.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts before a callback is marked failed (about a day with the capped backoff).
pub const MAX_ATTEMPTS: i64 = 30;
const MAX_BACKOFF_SECS: i64 = 3600;
/// How long a claimed callback is this worker's: past the connect and response timeouts.
const LEASE_SECS: i64 = 60;

/// `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL ‖ sorted name‖value pairs)), with
/// the account's signing key (the store keeps that, not the token: `smdp_core::credentials`).
pub fn twilio_signature(key: &HmacSha1Key, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let parts = std::iter::once(url.as_bytes()).chain(
        sorted
            .into_iter()
            .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]),
    );
    rsp_asn1::es9::base64_encode(&key.mac(parts))
}

/// `I-Twilio-Idempotency-Token`, the same for every attempt of one callback: a delivery is
/// recorded after its answer, so a server that dies in between sends it again after the
/// restart, and the receiver tells the repeat by this (the header Twilio's webhooks carry for
/// it; not in `../shared/rest`).
pub fn idempotency_token(c: &CallbackRecord) -> String {
    format!("{}-{}", c.account_sid, c.id)
}

/// Seconds to wait after the `attempts`-th failure: 5 s doubling, capped at an hour.
pub fn backoff_secs(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    (5i64 << exp).min(MAX_BACKOFF_SECS)
}

/// The form fields of a callback, in a fixed order (all present; empty when unknown).
///
/// A Sim's update callback carries `AccountSid`, `SimSid`, `SimUniqueName`, `SimIccid`,
/// `SimStatus` and `FleetSid`: the Super SIM docs name no parameters for it (UNCONFIRMED in
/// `../shared/rest/twilio-supersim.md`), so these are the Sim resource's fields in Twilio's
/// callback naming.
pub fn params(c: &CallbackRecord, smdp_address: &str) -> Vec<(String, String)> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    if let CallbackSubject::Sim {
        status,
        unique_name,
        fleet_sid,
    } = &c.subject
    {
        return vec![
            ("AccountSid".into(), c.account_sid.clone()),
            ("SimSid".into(), s(&c.sim_sid)),
            ("SimUniqueName".into(), s(unique_name)),
            ("SimIccid".into(), s(&c.iccid)),
            ("SimStatus".into(), status.to_string()),
            ("FleetSid".into(), s(fleet_sid)),
        ];
    }
    let available = !matches!(
        c.profile_status,
        ProfileStatus::New | ProfileStatus::Reserving
    );
    vec![
        ("ESimProfileSid".into(), c.esim_profile_sid.clone()),
        ("SimSid".into(), s(&c.sim_sid)),
        ("SimIccid".into(), s(&c.iccid)),
        ("ESimProfileStatus".into(), c.profile_status.to_string()),
        (
            "Eid".into(),
            c.eid.map(|e| e.to_string()).unwrap_or_default(),
        ),
        (
            "SmdpPlusAddress".into(),
            if available {
                smdp_core::orders::smdp_url(smdp_address)
            } else {
                String::new()
            },
        ),
        (
            "ErrorCode".into(),
            c.error_code.map(|e| e.to_string()).unwrap_or_default(),
        ),
        ("ErrorMessage".into(), s(&c.error_message)),
    ]
}

/// Runs until `stop` turns true.
pub async fn run(
    op: Arc<Operator>,
    client: Client,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = op.smdp.clock.unix();
        let store = op.store.clone();
        let lease = Lease {
            owner: op.node.clone(),
            until: now + LEASE_SECS,
        };
        let due = tokio::task::spawn_blocking(move || store.claim_due_callbacks(&lease, now, 64))
            .await
            .ok()
            .and_then(|r| {
                r.map_err(|e| tracing::error!(error = %e, "callback poll"))
                    .ok()
            })
            .unwrap_or_default();
        // One per profile in a batch: deliver them concurrently.
        let tasks: Vec<_> = due
            .into_iter()
            .map(|(c, key)| {
                let (op, client) = (op.clone(), client.clone());
                tokio::spawn(async move { deliver(&op, &client, &c, &key).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn deliver(op: &Operator, client: &Client, c: &CallbackRecord, key: &HmacSha1Key) {
    let outcome = match &c.subject {
        // ES2+ HandleDownloadProgressInfo: its JSON body, no Twilio signature (SGP.22
        // §5.3.5; the operator answers 204).
        CallbackSubject::Es2Progress { body } => client.send_json(&c.url, body).await,
        _ => {
            let params = params(c, &op.smdp.address);
            client
                .send(&c.url, &c.method, &params, key, &idempotency_token(c))
                .await
        }
    };
    let now = op.smdp.clock.unix();
    let attempt = match outcome {
        Ok(s) if (200..300).contains(&s) => Attempt::Delivered { http_status: s },
        other => {
            let (http_status, error) = match other {
                Ok(s) => (Some(s), format!("HTTP {s}")),
                Err(e) => (None, e),
            };
            let attempts = c.attempts + 1;
            Attempt::Failed {
                http_status,
                error,
                next_at: (attempts < MAX_ATTEMPTS).then(|| now + backoff_secs(attempts)),
            }
        }
    };
    tracing::info!(profile = %c.esim_profile_sid, status = %c.profile_status, ?attempt, "callback");
    let store = op.store.clone();
    let id = c.id;
    let owner = op.node.clone();
    let recorded =
        tokio::task::spawn_blocking(move || store.record_attempt(id, &attempt, &owner, now)).await;
    if !matches!(recorded, Ok(Ok(true))) {
        tracing::warn!(profile = %c.esim_profile_sid, ?recorded, "callback lease lost before its attempt was recorded");
    }
}

/// Why the callback client cannot be set up (a bad `--callback-ca`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CallbackSetupError(String);

/// Reads CA certificates from a PEM file (one or more CERTIFICATE blocks) or a DER file.
pub fn load_roots(path: &std::path::Path) -> Result<Vec<Vec<u8>>, CallbackSetupError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        CallbackSetupError(format!("{}: {what}: {e}", path.display()))
    };
    let bytes = std::fs::read(path).map_err(|e| bad("reading", &e))?;
    let certs: Vec<Vec<u8>> = if bytes.starts_with(b"-----") {
        CertificateDer::pem_slice_iter(&bytes)
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| bad("bad PEM", &e))?
    } else {
        vec![bytes]
    };
    if certs.is_empty() {
        return Err(CallbackSetupError(format!(
            "{}: no CERTIFICATE in it",
            path.display()
        )));
    }
    // Refuse what rustls would not use as an anchor now, not at the first callback.
    let mut store = rustls::RootCertStore::empty();
    for c in &certs {
        store
            .add(CertificateDer::from(c.as_slice()))
            .map_err(|e| bad("not a usable CA certificate", &e))?;
    }
    Ok(certs)
}

/// HTTP(S) client for callbacks: Mozilla's roots, plus any configured CA, for https; only
/// to addresses the [`EgressPolicy`] allows, checked as resolved at each attempt.
#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    egress: EgressPolicy,
}

impl Client {
    pub fn new(extra_roots: &[Vec<u8>], egress: EgressPolicy) -> Result<Self, CallbackSetupError> {
        let tls = |e: rustls::Error| CallbackSetupError(format!("callback TLS: {e}"));
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(tls)?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            egress,
        })
    }

    /// Sends one callback; the HTTP status, or why there is none.
    async fn send(
        &self,
        url: &str,
        method: &str,
        params: &[(String, String)],
        key: &HmacSha1Key,
        token: &str,
    ) -> Result<u16, String> {
        let form = encode_form(params);
        // GET carries the fields in the query and signs the full URL; POST signs URL + fields.
        let (target, body, signature) = if method == "GET" {
            let sep = if url.contains('?') { '&' } else { '?' };
            let full = format!("{url}{sep}{form}");
            let sig = twilio_signature(key, &full, &[]);
            (full, String::new(), sig)
        } else {
            (url.to_string(), form, twilio_signature(key, url, params))
        };
        let headers = [
            ("x-twilio-signature", signature),
            ("i-twilio-idempotency-token", token.to_string()),
        ];
        let content_type = (method != "GET").then_some("application/x-www-form-urlencoded");
        self.exchange(url, &target, method, &headers, content_type, body)
            .await
    }

    /// POSTs an ES2+ JSON body to the operator; the HTTP status, or why there is none.
    async fn send_json(&self, url: &str, body: &str) -> Result<u16, String> {
        let headers = [("x-admin-protocol", "gsma/rsp/v2.2.0".to_string())];
        self.exchange(
            url,
            url,
            "POST",
            &headers,
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// One request to `target` (`url` with any query), to an address the egress policy
    /// allows.
    async fn exchange(
        &self,
        url: &str,
        target: &str,
        method: &str,
        headers: &[(&str, String)],
        content_type: Option<&str>,
        body: String,
    ) -> Result<u16, String> {
        let uri: hyper::Uri = target.parse().map_err(|e| format!("bad URL: {e}"))?;
        // Resolved and checked now, not only at creation (DNS rebinding); the connection goes
        // to a checked address, never to the name resolved again.
        let (egress, checked_url) = (self.egress.clone(), url.to_string());
        let (Target { host, https, .. }, addrs) =
            tokio::task::spawn_blocking(move || egress.resolve_checked(&checked_url))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("refused: {e}"))?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addrs[..]))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let path = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let authority = uri
            .authority()
            .map_or(host.clone(), |a| a.as_str().to_string());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority)
            .header("user-agent", "smdp-sim callbacks");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            if https {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| e.to_string())?;
                let tls = self
                    .tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| e.to_string())?;
                send_on(TokioIo::new(tls), req).await
            } else {
                send_on(TokioIo::new(tcp), req).await
            }
        };
        tokio::time::timeout(RESPONSE_TIMEOUT, exchange)
            .await
            .map_err(|_| "no response in 15 s".to_string())?
    }
}

fn encode_form(params: &[(String, String)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

async fn send_on<IO>(io: IO, req: Request<Full<Bytes>>) -> Result<u16, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The twilio-python SDK's request-validator vector (facts file §3).
    #[test]
    fn signature_matches_the_sdk_vector() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            twilio_signature(&HmacSha1Key::new(b"12345"), url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            twilio_signature(&HmacSha1Key::new(b"12345"), url, &[]),
            "zYQTYrRWXE7LtzbG4PfP7/bkkGo="
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_secs(1), 5);
        assert_eq!(backoff_secs(2), 10);
        assert_eq!(backoff_secs(5), 80);
        assert_eq!(backoff_secs(40), 3600);
    }
}
