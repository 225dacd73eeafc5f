//! `dispatch(path, body)`: one ES9+ function call without HTTP or TLS, JSON in and out.

use std::net::IpAddr;

use rsp_asn1::es9::{path, HeaderOnlyResponse, ResponseHeader};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Smdp;
use crate::status::{Code, Failure};

/// The header-only `Failed` body of a failure (SGP.22 6.5.1.4).
pub fn failed_body(f: &Failure) -> Vec<u8> {
    let (subject, reason) = f.subject_reason();
    let body = HeaderOnlyResponse {
        header: ResponseHeader::failed(subject, reason, Some(f.message.clone())),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Malformed JSON and missing fields get their own codes; a bad base64 or hex value inside
/// well-formed JSON is invalid data.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data if e.to_string().starts_with("missing field") => {
                Failure::new(Code::MandatoryElementMissing, e.to_string())
            }
            Category::Data => Failure::new(Code::InvalidInput, e.to_string()),
            _ => Failure::new(Code::InvalidInput, format!("malformed JSON: {e}")),
        }
    })
}

/// What an ES9+ function answers, before HTTP adds its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Es9Answer {
    /// HTTP 200 with this JSON body: the function's response, or a header-only `Failed`.
    Json(Vec<u8>),
    /// HTTP 204 (handleNotification, whatever happened).
    NoContent,
    /// A scripted transport fault ([`crate::faults`]) on top of the answer.
    Faulted(Box<Es9Answer>, crate::faults::Transport),
}

/// One ES9+ function call as the server makes it, without HTTP or TLS: the request body in,
/// the answer out, `None` when `path` is not an ES9+ function. It runs on the calling thread
/// (it signs and waits on the store). The HTTP layer and the fuzz target `es9_session` call this.
pub fn dispatch(smdp: &Smdp, path: &str, body: &[u8]) -> Option<Es9Answer> {
    dispatch_from(smdp, path, body, None)
}

thread_local! {
    /// The client address of the call running on this thread (one call runs on one thread
    /// from start to end), for the matching-ID guess limit.
    static CLIENT: std::cell::Cell<Option<IpAddr>> = const { std::cell::Cell::new(None) };
}

/// The client address [`dispatch_from`] was given for the running call.
pub(super) fn client() -> Option<IpAddr> {
    CLIENT.with(|c| c.get())
}

/// [`dispatch`] for a call from `client` (the TCP peer): guessing matching IDs is limited
/// per client network as well as per EID ([`super::guesses`]).
pub fn dispatch_from(
    smdp: &Smdp,
    path: &str,
    body: &[u8],
    client: Option<IpAddr>,
) -> Option<Es9Answer> {
    // A fault left behind by a call that panicked must not leak into this one.
    let _ = crate::faults::take_transport();
    CLIENT.with(|c| c.set(client));
    let answer = dispatch_call(smdp, path, body);
    CLIENT.with(|c| c.set(None));
    let mut answer = answer?;
    if let (Some(h), Es9Answer::Json(body)) = (&smdp.hostile, &answer) {
        if let Some((mutated, _)) = h.mutate(body) {
            answer = Es9Answer::Json(mutated);
        }
    }
    Some(match crate::faults::take_transport() {
        Some(t) => Es9Answer::Faulted(Box::new(answer), t),
        None => answer,
    })
}

fn dispatch_call(smdp: &Smdp, path: &str, body: &[u8]) -> Option<Es9Answer> {
    fn call<Req: DeserializeOwned, Resp: Serialize>(
        smdp: &Smdp,
        body: &[u8],
        function: &str,
        f: fn(&Smdp, &Req) -> Result<Resp, Failure>,
    ) -> Es9Answer {
        call_with(smdp, body, function, f, |v| serde_json::to_vec(v))
    }
    fn call_with<Req: DeserializeOwned, Resp>(
        smdp: &Smdp,
        body: &[u8],
        function: &str,
        f: fn(&Smdp, &Req) -> Result<Resp, Failure>,
        json: fn(&Resp) -> serde_json::Result<Vec<u8>>,
    ) -> Es9Answer {
        let result = parse::<Req>(body).and_then(|req| f(smdp, &req));
        Es9Answer::Json(match result {
            Ok(v) => json(&v).unwrap_or_else(|e| {
                failed_body(&Failure::new(Code::ExecutionError, e.to_string()))
            }),
            Err(f) => {
                tracing::info!(function, code = %format!("{}/{}", f.subject_reason().0, f.subject_reason().1), message = %f.message, "failed");
                failed_body(&f)
            }
        })
    }
    Some(match path {
        path::INITIATE_AUTHENTICATION => call(
            smdp,
            body,
            "initiateAuthentication",
            Smdp::initiate_authentication,
        ),
        path::AUTHENTICATE_CLIENT => {
            call(smdp, body, "authenticateClient", Smdp::authenticate_client)
        }
        path::GET_BOUND_PROFILE_PACKAGE => call_with(
            smdp,
            body,
            "getBoundProfilePackage",
            Smdp::get_bound_profile_package,
            rsp_asn1::es9::bound_profile_package_json,
        ),
        path::CANCEL_SESSION => call(smdp, body, "cancelSession", Smdp::cancel_session),
        path::HANDLE_NOTIFICATION => {
            // Always 204: the LPA can do nothing useful with an error (digest §1.2); the
            // outcome is logged and recorded.
            match parse(body).and_then(|req| smdp.handle_notification(&req)) {
                Ok(o) => tracing::debug!(?o, "notification handled"),
                Err(f) => {
                    tracing::warn!(code = ?f.subject_reason(), message = %f.message, "notification refused")
                }
            }
            Es9Answer::NoContent
        }
        _ => return None,
    })
}
