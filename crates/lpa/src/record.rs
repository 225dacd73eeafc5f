//! A session as the LPA saw it, for vectors: every ES9+ exchange (the HTTP request and
//! response headers and bodies as they went over TLS) and every ES10 command (its TLV, the
//! card's answer, and the STORE DATA / GET RESPONSE APDUs that carried them), in order.
//! Works against any SM-DP+ and any card behind a [`crate::card::Transport`].

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One ES9+ exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es9Record {
    pub function: &'static str,
    pub path: String,
    /// Request headers in the order sent (hyper adds `content-length` from the body).
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

/// One ES10 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es10Record {
    pub function: &'static str,
    /// The request TLV (for a BPP, one of its STORE DATA commands: BF36 ‖ BF23, A0, …).
    pub command: Vec<u8>,
    /// The card's answer (empty while a BPP needs more).
    pub response: Vec<u8>,
    /// C-APDU and R-APDU (data ‖ SW) pairs, in order.
    pub apdus: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One thing that happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Es9(Es9Record),
    Es10(Es10Record),
    /// A simulated card's EID and otSK.EUICC, as the BPP reaches it.
    EuiccSecret {
        eid: rsp_asn1::ids::Eid,
        otsk: [u8; 32],
    },
}

/// Both sides of one session in the order they happened, filled as it runs (the ES9+ client
/// and the ES10 card share one); clones share it.
#[derive(Clone, Default)]
pub struct Recording {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recording {
    pub fn push(&self, e: Event) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn headers(h: &[(String, String)]) -> Value {
    Value::Array(h.iter().map(|(k, v)| json!([k, v])).collect())
}

/// A body as JSON when it is (ES9+ bodies are), else as hex.
fn body(b: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(b) {
        Ok(v) => json!({"json": v, "text": String::from_utf8_lossy(b)}),
        Err(_) if b.is_empty() => json!({"text": ""}),
        Err(_) => json!({"hex": hex::encode(b)}),
    }
}

/// A TLV by its type name and decoded value, as `smdp decode` prints it.
fn tlv(der: &[u8]) -> Value {
    match rsp_asn1::inspect::describe(der, None) {
        Ok((name, pretty)) => json!({"hex": hex::encode(der), "type": name, "decoded": pretty}),
        Err(_) => json!({"hex": hex::encode(der)}),
    }
}

/// The JSON of a recorded session: `events`, each `{"interface": "es9" | "es10" | "euicc",
/// "function", …}` in the order they happened (`euicc`: a simulated card's secret).
pub fn to_json(events: &[Event]) -> Value {
    let events: Vec<Value> = events
        .iter()
        .map(|e| match e {
            Event::Es9(r) => json!({
                "interface": "es9",
                "function": r.function,
                "request": {"method": "POST", "path": r.path,
                            "headers": headers(&r.request_headers), "body": body(&r.request_body)},
                "response": {"status": r.status, "headers": headers(&r.response_headers),
                             "body": body(&r.response_body)},
            }),
            Event::EuiccSecret { eid, otsk } => json!({
                "interface": "euicc",
                "function": "sessionSecret",
                "eid": eid.to_string(),
                "otskEuicc": hex::encode(otsk),
            }),
            Event::Es10(r) => json!({
                "interface": "es10",
                "function": r.function,
                "command": tlv(&r.command),
                "response": if r.response.is_empty() { json!(null) } else { tlv(&r.response) },
                "apdus": r.apdus.iter()
                    .map(|(c, rr)| json!({"c": hex::encode(c), "r": hex::encode(rr)}))
                    .collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({ "events": events })
}
