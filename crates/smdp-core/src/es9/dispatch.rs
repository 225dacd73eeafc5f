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
    /// HTTP 200 with this DER body (`application/x-gsma-rsp-asn1`): the ASN.1 binding's
    /// `RemoteProfileProvisioningResponse`, an error alternative included.
    Asn1(Vec<u8>),
    /// HTTP 400: an ASN.1 binding body whose function cannot be read, so that no error
    /// alternative can answer it.
    BadRequest(String),
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
    guarded(smdp, client, || dispatch_call(smdp, path, body))
}

/// One call of the ES9+ ASN.1 binding (`POST /gsma/rsp2/asn1`) from `client`: the body's
/// alternative names the function, which runs exactly as over JSON ([`dispatch_from`]); its
/// answer, or its failure's error alternative ([`Code::asn1_error`]), goes back as DER.
pub fn dispatch_asn1(smdp: &Smdp, body: &[u8], client: Option<IpAddr>) -> Es9Answer {
    guarded(smdp, client, || Some(dispatch_asn1_call(smdp, body)))
        .unwrap_or(Es9Answer::BadRequest(String::new()))
}

/// Runs `call` with the client noted for it and its scripted transport fault applied.
fn guarded(
    smdp: &Smdp,
    client: Option<IpAddr>,
    call: impl FnOnce() -> Option<Es9Answer>,
) -> Option<Es9Answer> {
    // A fault left behind by a call that panicked must not leak into this one.
    let _ = crate::faults::take_transport();
    CLIENT.with(|c| c.set(client));
    let answer = call();
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

fn dispatch_asn1_call(smdp: &Smdp, body: &[u8]) -> Es9Answer {
    use rsp_asn1::binding::{Function, Request, Response};
    let request = match Request::from_der(body) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "ASN.1 binding: request refused");
            return match e.function {
                None => Es9Answer::BadRequest(e.to_string()),
                Some(Function::HandleNotification) => Es9Answer::NoContent,
                Some(f) => asn1_failed(f, &Failure::new(Code::InvalidInput, e.msg)),
            };
        }
    };
    fn answer<T>(
        function: Function,
        result: Result<T, Failure>,
        ok: impl FnOnce(T) -> Response,
    ) -> Es9Answer {
        match result {
            Ok(v) => match ok(v).to_der() {
                Ok(der) => Es9Answer::Asn1(der),
                Err(e) => asn1_failed(function, &Failure::new(Code::ExecutionError, e.msg)),
            },
            Err(f) => asn1_failed(function, &f),
        }
    }
    let function = request.function();
    match request {
        Request::InitiateAuthentication(r) => {
            answer(function, smdp.initiate_authentication(&r), |v| {
                Response::InitiateAuthentication(Ok(v))
            })
        }
        Request::AuthenticateClient(r) => answer(function, smdp.authenticate_client(&r), |v| {
            Response::AuthenticateClient(Ok(v))
        }),
        Request::GetBoundProfilePackage(r) => {
            answer(function, smdp.get_bound_profile_package(&r), |v| {
                Response::GetBoundProfilePackage(Ok(v))
            })
        }
        Request::CancelSession(r) => answer(function, smdp.cancel_session(&r), |_| {
            Response::CancelSession(Ok(()))
        }),
        Request::HandleNotification(r) => {
            // No response alternative: an empty body whatever happened, as over JSON.
            match smdp.handle_notification(&r) {
                Ok(o) => tracing::debug!(?o, "notification handled"),
                Err(f) => {
                    tracing::warn!(code = ?f.subject_reason(), message = %f.message, "notification refused")
                }
            }
            Es9Answer::NoContent
        }
    }
}

/// The error alternative of `function` for `f`.
fn asn1_failed(function: rsp_asn1::binding::Function, f: &Failure) -> Es9Answer {
    use rsp_asn1::binding::{
        AuthenticateClientError, CancelSessionError, Function, GetBoundProfilePackageError,
        InitiateAuthenticationError, Response,
    };
    let (subject, reason) = f.subject_reason();
    let code = f.code.asn1_error(function);
    tracing::info!(function = function.name(), code = %format!("{subject}/{reason}"), asn1_error = code, message = %f.message, "failed");
    let response = match function {
        Function::InitiateAuthentication => {
            Response::InitiateAuthentication(Err(InitiateAuthenticationError(code)))
        }
        Function::AuthenticateClient => {
            Response::AuthenticateClient(Err(AuthenticateClientError(code)))
        }
        Function::GetBoundProfilePackage => {
            Response::GetBoundProfilePackage(Err(GetBoundProfilePackageError(code)))
        }
        Function::CancelSession | Function::HandleNotification => {
            Response::CancelSession(Err(CancelSessionError(code)))
        }
    };
    // An error alternative is an INTEGER: it always encodes.
    Es9Answer::Asn1(response.to_der().unwrap_or_default())
}
