//! The operator REST API, shaped like the Super SIM v1 `ESimProfile`, `Sim` and `Fleet`
//! resources (`../shared/rest/twilio-supersim.md`): form-encoded requests, JSON resources with
//! Twilio's field formats, Twilio error bodies, HTTP Basic (`AC…:token`, `SK…:secret`) or
//! Bearer auth, and cursor paging whose absolute URLs point back at this server.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use rsp_asn1::ids::Eid;
use serde_json::{json, Value};

use crate::params::Fields;
use smdp_core::clock::iso8601;
use smdp_core::es9::Smdp;
use smdp_core::store::{
    CallbackRecord, CallbackState, CallbackSubject, Credential, Cursor, NewProfile, OperatorStore,
    Profile, ProfileFilter, ProfileStatus, ScheduledStatus, Sim, SimFilter, SimStatus, SimUpdate,
};

/// $3.00 per reserved profile.
pub const PROFILE_CHARGE_CENTS: i64 = 300;
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// Called when a profile is created or released: wakes the reservation worker.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// A REST answer before any transport: status, headers, body bytes.
pub type RestResponse = Response<Vec<u8>>;

/// What the REST API needs besides the SM-DP+.
pub struct Operator {
    pub smdp: Arc<Smdp>,
    pub store: Arc<dyn OperatorStore>,
    /// Wakes the reservation worker when a profile is created.
    pub wake: Wake,
    /// The template and attempts new orders get.
    pub template: String,
    pub max_attempts: i64,
    /// Scheme and authority of absolute URLs, when not taken from the request's Host.
    pub public_url: Option<String>,
    /// This worker's name in the leases it takes (unique per process).
    pub node: String,
    /// Seconds an issued OAuth access token is valid.
    pub token_ttl: i64,
    /// What each imported pre-installed profile is charged (0: nothing).
    pub preinstalled_charge_cents: i64,
    /// The conformance fixtures the server keeps (`smdp serve --fixtures`), for
    /// `/v1/Fixtures`.
    pub fixtures: Option<smdp_core::fixtures::FixtureFile>,
    /// Where callback URLs may point (`--callback-allow`); the callback worker's too.
    pub egress: crate::egress::EgressPolicy,
}

/// The `Template` of a REST order (a simulator extension, e.g. `minimal:50k` for load
/// runs): a generated or TS.48 template only, never a path on the server, and at most 1 MiB.
fn rest_template(t: &str) -> Result<String, ApiError> {
    use smdp_core::template::TemplateSource;
    let refuse = |why: String| ApiError::invalid(format!("Template {t:?}: {why}"));
    match t.parse::<TemplateSource>() {
        Ok(TemplateSource::Minimal { size: Some(n) }) if n > 1 << 20 => {
            Err(refuse("at most 1m".into()))
        }
        Ok(s @ (TemplateSource::Minimal { .. } | TemplateSource::Ts48 { .. })) => Ok(s.to_string()),
        Ok(TemplateSource::File(_)) => Err(refuse(
            "one of minimal, minimal:<size> or ts48[:<variant>]".into(),
        )),
        Err(e) => Err(refuse(e.to_string())),
    }
}

/// A Twilio error: HTTP status, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 20001, message)
    }

    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "REST internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal server error",
        )
    }

    pub fn response(&self) -> RestResponse {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut r = json_response(self.status, &body);
        if let Some(allow) = self.allow {
            r.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"smdp-sim\""),
            );
        }
        r
    }
}

impl From<smdp_core::store::StoreError> for ApiError {
    fn from(e: smdp_core::store::StoreError) -> Self {
        match e {
            // Twilio's 20503 "Service Unavailable": the client may retry; nothing changed.
            smdp_core::store::StoreError::Unavailable(why) => {
                tracing::warn!(why, "REST call while the store is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    20503,
                    "Service Unavailable",
                )
            }
            e => Self::internal(e),
        }
    }
}

fn json_response(status: StatusCode, v: &Value) -> RestResponse {
    let mut r = Response::new(serde_json::to_vec(v).unwrap_or_default());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A successful answer: a JSON resource, or an image.
pub enum Reply {
    Json(StatusCode, Value),
    /// JSON with an RFC 7234 `Warning: 299` header (a note about the request).
    JsonWarning(StatusCode, Value, String),
    Bytes(&'static str, Vec<u8>),
}

impl From<(StatusCode, Value)> for Reply {
    fn from((s, v): (StatusCode, Value)) -> Self {
        Self::Json(s, v)
    }
}

/// Whether a path is the REST API's.
pub fn is_rest_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/") || crate::oauth::is_oauth_path(path)
}

/// Parsed `application/x-www-form-urlencoded` pairs. None of the API's parameters is a
/// list, so a repeated name is refused rather than "last one wins", which would hide a
/// client bug (and accept an array where the spec has a scalar). No parameter may hold a
/// NUL: no field of the API has one, and PostgreSQL text cannot store it (it was a 500).
fn form(bytes: &[u8]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(bytes).into_owned() {
        if k.contains('\0') || v.contains('\0') {
            return Err(ApiError::invalid(format!(
                "Parameter {k:?} holds a NUL character"
            )));
        }
        if out.contains_key(&k) {
            return Err(ApiError::invalid(format!(
                "Parameter {k:?} given more than once"
            )));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// A decimal integer, digits only: `str::parse` also takes a sign ("+5"), which the
/// spec's `integer` parameters do not.
pub(crate) fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn credential(req: &Parts) -> Option<Credential> {
    let h = req
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = h.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = rsp_asn1::es9::base64_decode(rest.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(Credential::Basic {
            user: user.into(),
            password: password.into(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Credential::Bearer(rest.trim().into()))
    } else {
        None
    }
}

/// Refuses parameters the operation does not define (a typo must not be silently ignored).
pub(crate) fn only(params: &BTreeMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid(format!("Unknown parameter {k:?}"))),
        None => Ok(()),
    }
}

const PAGING: [&str; 3] = ["PageSize", "Page", "PageToken"];

/// `^XX[0-9a-fA-F]{32}$`.
pub(crate) fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|c| c.is_ascii_hexdigit())
}

impl Operator {
    fn base_url(&self, req: &Parts, scheme: &str) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_string();
        }
        let host = req
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("{scheme}://{host}")
    }

    /// Serves one REST request without I/O: the request head, its whole body, and how it
    /// arrived (`http`/`https`, for absolute URLs). It runs on the calling thread (it waits on
    /// the store). [`crate::service::RestService`] calls it for hyper; the `rest_api` fuzz
    /// target calls it directly.
    pub fn call(&self, req: &Parts, body: &[u8], scheme: &str) -> RestResponse {
        let path = req.uri.path();
        let query = form(req.uri.query().unwrap_or("").as_bytes());
        let base = self.base_url(req, scheme);
        let cred = credential(req);
        if crate::oauth::is_oauth_path(path) {
            return self.oauth(req, form(body), cred);
        }
        match self.route(&req.method, path, &query, body, cred, &base) {
            Ok(Reply::Json(status, v)) => json_response(status, &v),
            Ok(Reply::JsonWarning(status, v, note)) => {
                let mut r = json_response(status, &v);
                let text = format!("299 smdp-sim {:?}", note.replace(['"', '\\'], "'"));
                if let Ok(h) = HeaderValue::from_str(&text) {
                    r.headers_mut().insert(http::header::WARNING, h);
                }
                r
            }
            Ok(Reply::Bytes(content_type, bytes)) => {
                let mut r = Response::new(bytes);
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                r
            }
            Err(e) => e.response(),
        }
    }

    fn route(
        &self,
        method: &Method,
        path: &str,
        query: &Result<BTreeMap<String, String>, ApiError>,
        body: &[u8],
        cred: Option<Credential>,
        base: &str,
    ) -> Result<Reply, ApiError> {
        let account = match &cred {
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    20003,
                    "Authentication Error - No credentials provided",
                ))
            }
            Some(c) => self
                .store
                .authenticate(c, self.smdp.clock.unix())?
                .ok_or_else(|| {
                    let what = match c {
                        Credential::Basic { .. } => "invalid username or password",
                        Credential::Bearer(_) => "invalid, expired or revoked access token",
                    };
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        20003,
                        format!("Authentication Error - {what}"),
                    )
                })?,
        };
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
        let allow: &'static str = match segments.as_slice() {
            ["ESimProfiles"] | ["ESimProfiles", _, "Release" | "Faults"] => "GET, POST",
            ["ESimProfiles", "Import"] | ["Fixtures", "Reset"] => "POST",
            ["Sims"] | ["Sims", _] | ["Fleets"] | ["Fleets", _] | ["NetworkAccessProfiles"] => {
                "GET, POST"
            }
            _ => "GET",
        };
        let not_allowed = || {
            ApiError {
            allow: Some(allow),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                20004,
                format!("The requested resource {path} does not support the attempted HTTP method {method}"),
            )
        }
        };
        // Query parameters each operation defines (fetches take none).
        let allowed_query: Vec<&str> = match (segments.as_slice(), method) {
            (["ESimProfiles"], &Method::GET) => {
                [&["Eid", "SimSid", "Status"][..], &PAGING].concat()
            }
            (["ESimProfiles", "Export"], &Method::GET) => vec!["Format", "Status"],
            (["Sims"], &Method::GET) => [&["Status", "Fleet", "Iccid"][..], &PAGING].concat(),
            (["Fleets"], &Method::GET) => [&["NetworkAccessProfile"][..], &PAGING].concat(),
            (["NetworkAccessProfiles"], &Method::GET) => PAGING.to_vec(),
            _ => Vec::new(),
        };
        // After authentication: a stranger learns nothing about parameters.
        let query = query.as_ref().map_err(Clone::clone)?;
        only(query, &allowed_query)?;
        if let Some((k, _)) = query.iter().find(|(_, v)| v.is_empty()) {
            return Err(ApiError::invalid(format!("{k} must not be empty")));
        }
        let reply = match segments.as_slice() {
            ["ESimProfiles", sid, image @ ("QrCode.png" | "QrCode.svg")] => {
                if *method != Method::GET {
                    return Err(not_allowed());
                }
                let p = self.profile_at(&account, sid, path)?;
                let Some(code) = self.activation_code(&p) else {
                    return Err(ApiError::not_found(path));
                };
                let text = format!("LPA:{code}");
                // Without the `qr` feature (the fuzz build) there are no images to render.
                #[cfg(not(feature = "qr"))]
                return {
                    let _ = (image, text);
                    Err(ApiError::not_found(path))
                };
                #[cfg(feature = "qr")]
                return if *image == "QrCode.png" {
                    crate::qr::png(&text)
                        .map(|b| Reply::Bytes("image/png", b))
                        .map_err(ApiError::internal)
                } else {
                    crate::qr::svg(&text)
                        .map(|s| Reply::Bytes("image/svg+xml", s.into_bytes()))
                        .map_err(ApiError::internal)
                };
            }
            ["ESimProfiles"] => match *method {
                Method::POST => return self.create_profile(&account, &form(body)?, base),
                Method::GET => self.list_profiles(&account, query, base),
                _ => Err(not_allowed()),
            },
            // A manufacturer's batch of pre-installed profiles (CSV or JSON body): a simulator
            // extension; all or nothing, every bad row reported.
            ["ESimProfiles", "Import"] => match *method {
                Method::POST => {
                    let now = self.smdp.clock.unix();
                    let outcome = crate::preinstalled::import(
                        self.store.as_ref(),
                        &account,
                        body,
                        self.preinstalled_charge_cents,
                        &mut *self.smdp.rng(),
                        now,
                    );
                    return Ok(match outcome {
                        Ok(o) => Reply::Json(
                            if o.created.is_empty() {
                                StatusCode::OK
                            } else {
                                StatusCode::CREATED
                            },
                            json!({
                                "imported": o.created.len(),
                                "unchanged": o.unchanged,
                                "esim_profile_sids": o.created,
                            }),
                        ),
                        Err(crate::preinstalled::ImportError::Store(e))
                            if !matches!(e, smdp_core::store::StoreError::Rows(_)) =>
                        {
                            return Err(e.into())
                        }
                        Err(e) => {
                            let errors: Vec<Value> = e
                                .rows()
                                .into_iter()
                                .map(|(row, message)| json!({"row": row, "message": message}))
                                .collect();
                            Reply::Json(
                                StatusCode::BAD_REQUEST,
                                json!({
                                    "code": 20001,
                                    "message": format!("Invalid import: {e}"),
                                    "more_info": "https://www.twilio.com/docs/errors/20001",
                                    "status": 400,
                                    "errors": errors,
                                }),
                            )
                        }
                    });
                }
                _ => Err(not_allowed()),
            },
            // The subscriber keys of the account's issued profiles, for a lab core network (a
            // simulator extension; the only response that carries Ki/OPc).
            ["ESimProfiles", "Export"] => match *method {
                Method::GET => return self.export(&account, query),
                _ => Err(not_allowed()),
            },
            ["ESimProfiles", sid] => match *method {
                Method::GET => {
                    let p = self.profile_at(&account, sid, path)?;
                    Ok((StatusCode::OK, self.profile_json(&p, base)))
                }
                _ => Err(not_allowed()),
            },
            ["ESimProfiles", sid, "Release"] => match *method {
                // Releases a held order (created with Released=false): a simulator extension,
                // SGP.22 ES2+ ReleaseProfile.
                Method::POST => {
                    let p = self.profile_at(&account, sid, path)?;
                    if !self
                        .smdp
                        .store
                        .release_order(p.id, self.smdp.clock.unix())?
                    {
                        return Err(ApiError::invalid(format!(
                            "ESimProfile {sid} is not held: it was released already"
                        )));
                    }
                    (self.wake)();
                    let p = self
                        .store
                        .profile_by_sid(&account, sid)?
                        .ok_or_else(|| ApiError::not_found(path))?;
                    Ok((StatusCode::OK, self.profile_json(&p, base)))
                }
                _ => Err(not_allowed()),
            },
            ["ESimProfiles", sid, "Faults"] => {
                // The order's scripted faults and what fired (a simulator extension); POST
                // replaces the plan (`Faults`: comma-separated, empty for none).
                let p = self.profile_at(&account, sid, path)?;
                let p = match *method {
                    Method::GET => p,
                    Method::POST => {
                        let f = form(body)?;
                        only(&f, &["Faults"])?;
                        let plan = smdp_core::faults::parse_list(
                            f.get("Faults").map(String::as_str).unwrap_or(""),
                        )
                        .map_err(|e| ApiError::invalid(e.to_string()))?;
                        self.smdp.store.set_faults(p.id, &plan)?;
                        self.store
                            .profile_by_sid(&account, sid)?
                            .ok_or_else(|| ApiError::not_found(path))?
                    }
                    _ => return Err(not_allowed()),
                };
                let fired: Vec<Value> = self
                    .smdp
                    .store
                    .faults_fired(p.id)?
                    .iter()
                    .map(|f| {
                        json!({
                            "fault": f.fault,
                            "function": f.function,
                            "attempt": f.attempt,
                            "transaction_id": f.txid.as_ref().map(|t| t.to_hex()),
                            "session": f.session,
                            "date_fired": iso8601(f.fired_at),
                        })
                    })
                    .collect();
                let plan: Vec<String> = p.options.faults.iter().map(ToString::to_string).collect();
                Ok((StatusCode::OK, json!({"faults": plan, "fired": fired})))
            }
            ["ESimProfiles", sid, "Notifications"] => match *method {
                // The eUICC's enable/disable/delete notifications about this profile, as
                // received over ES9+ HandleNotification (a simulator extension).
                Method::GET => {
                    let p = self.profile_at(&account, sid, path)?;
                    let items: Vec<Value> = self
                        .store
                        .notifications_for(p.id)?
                        .iter()
                        .map(|n| {
                            json!({
                                "operation": n.operation,
                                "seq_number": n.seq_number,
                                "eid": n.eid.to_string(),
                                "iccid": n.iccid,
                                "date_received": iso8601(n.received_at),
                            })
                        })
                        .collect();
                    Ok((StatusCode::OK, json!({ "notifications": items })))
                }
                _ => Err(not_allowed()),
            },
            ["ESimProfiles", sid, "Callbacks"] => match *method {
                // Delivery state of the profile's status callbacks (a simulator extension).
                Method::GET => {
                    if self.store.profile_by_sid(&account, sid)?.is_none() {
                        return Err(ApiError::not_found(path));
                    }
                    let rows = self.store.callbacks_for(&account, sid)?;
                    let items: Vec<Value> = rows
                        .iter()
                        .filter(|c| c.subject == CallbackSubject::ESimProfile)
                        .map(|c| {
                            callback_json(
                                c,
                                json!({"esim_profile_status": c.profile_status.as_str()}),
                            )
                        })
                        .collect();
                    Ok((StatusCode::OK, json!({ "callbacks": items })))
                }
                _ => Err(not_allowed()),
            },
            ["Sims"] => match *method {
                Method::GET => self.list_sims(&account, query, base),
                Method::POST => register_sim(&form(body)?),
                _ => Err(not_allowed()),
            },
            ["Sims", key] => {
                let sim = self
                    .store
                    .sim(&account, key)?
                    .ok_or_else(|| ApiError::not_found(path))?;
                match *method {
                    Method::GET => Ok((StatusCode::OK, sim_json(&sim, base))),
                    Method::POST => return self.update_sim(&account, sim, &form(body)?, base),
                    _ => Err(not_allowed()),
                }
            }
            ["Sims", key, "Callbacks"] => match *method {
                // Delivery state of the Sim's update callbacks (a simulator extension).
                Method::GET => {
                    let sim = self
                        .store
                        .sim(&account, key)?
                        .ok_or_else(|| ApiError::not_found(path))?;
                    let profile = self
                        .store
                        .list_profiles(
                            &account,
                            &ProfileFilter {
                                sim_sid: Some(sim.sid.clone()),
                                ..Default::default()
                            },
                            Cursor::Start,
                            1,
                        )?
                        .pop();
                    let rows = match profile {
                        Some(p) => self.store.callbacks_for(&account, &p.sid)?,
                        None => Vec::new(),
                    };
                    let items: Vec<Value> =
                        rows.iter()
                            .filter_map(|c| match &c.subject {
                                CallbackSubject::Sim { status, .. } => {
                                    Some(callback_json(c, json!({"sim_status": status.as_str()})))
                                }
                                CallbackSubject::ESimProfile
                                | CallbackSubject::Es2Progress { .. } => None,
                            })
                            .collect();
                    Ok((StatusCode::OK, json!({ "callbacks": items })))
                }
                _ => Err(not_allowed()),
            },
            ["Fixtures"] => match *method {
                Method::GET => self.list_fixtures(path),
                _ => Err(not_allowed()),
            },
            ["Fixtures", "Reset"] => match *method {
                Method::POST => self.reset_fixtures(path),
                _ => Err(not_allowed()),
            },
            ["Fleets"] => match *method {
                Method::GET => self.list_fleets(&account, query, base),
                Method::POST => self.create_fleet(&account, &form(body)?, base),
                _ => Err(not_allowed()),
            },
            ["Fleets", key] => {
                let fleet = self
                    .store
                    .fleet(&account, key)?
                    .ok_or_else(|| ApiError::not_found(path))?;
                match *method {
                    Method::GET => Ok((StatusCode::OK, crate::fleets::fleet_json(&fleet, base))),
                    Method::POST => self.update_fleet(&account, fleet, &form(body)?, base),
                    _ => Err(not_allowed()),
                }
            }
            ["NetworkAccessProfiles"] => match *method {
                Method::GET => self.list_naps(&account, query, base),
                Method::POST => self.create_nap(&account, &form(body)?, base),
                _ => Err(not_allowed()),
            },
            ["NetworkAccessProfiles", key] => match *method {
                Method::GET => self.fetch_nap(&account, key, path, base),
                _ => Err(not_allowed()),
            },
            ["Charges"] => match *method {
                Method::GET => self.charges(&account),
                _ => Err(not_allowed()),
            },
            ["Inventory"] => match *method {
                Method::GET => self.inventory(&account),
                _ => Err(not_allowed()),
            },
            _ => Err(ApiError::not_found(path)),
        };
        reply.map(Reply::from)
    }

    /// `POST /v1/ESimProfiles`: the Super SIM parameters, plus simulator extensions for
    /// what SGP.22 orders can carry (all optional): `MatchingId`, `ConfirmationCode`,
    /// `ConfirmationCodeEncoding` (ascii|hex), `Released` (false holds the order until
    /// `…/Release`), `AllowRebinding`, `PreProtected`, `ServiceProviderName`, `ProfileName`,
    /// `ProfileClass`, `ProfilePolicyRules` (ppr1,ppr2), `ProfileOwner` (MCCMNC[:GID1[:GID2]]).
    fn create_profile(
        &self,
        account: &str,
        f: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<Reply, ApiError> {
        use smdp_core::order_options as oo;
        only(
            f,
            &[
                "Eid",
                "GenerateMatchingId",
                "CallbackUrl",
                "CallbackMethod",
                "MatchingId",
                "ConfirmationCode",
                "ConfirmationCodeEncoding",
                "Released",
                "AllowRebinding",
                "PreProtected",
                "ServiceProviderName",
                "ProfileName",
                "ProfileClass",
                "ProfilePolicyRules",
                "ProfileOwner",
                "EcallIndication",
                "FallbackAllowed",
                "Faults",
                "Template",
            ],
        )?;
        let fields = Fields(f);
        let boolean = |name: &str, default: bool| -> Result<bool, ApiError> {
            Ok(fields.boolean(name)?.unwrap_or(default))
        };
        let parsed = |name: &str| f.get(name).filter(|v| !v.is_empty());
        let template = match parsed("Template") {
            None => self.template.clone(),
            Some(t) => rest_template(t)?,
        };
        let eid = f
            .get("Eid")
            .filter(|e| !e.is_empty())
            .map(|e| {
                Eid::parse(e).map_err(|err| ApiError::invalid(format!("Invalid Eid {e:?}: {err}")))
            })
            .transpose()?;
        let generate = boolean("GenerateMatchingId", false)?;
        let given_mid = parsed("MatchingId").cloned();
        if generate && given_mid.is_some() {
            return Err(ApiError::invalid(
                "MatchingId and GenerateMatchingId=true exclude each other",
            ));
        }
        let note = match &given_mid {
            Some(m) => smdp_core::orders::check_matching_id(m)
                .map_err(|e| ApiError::invalid(format!("Invalid MatchingId: {e}")))?,
            None => None,
        };
        if eid.is_none() && !generate && given_mid.is_none() {
            return Err(ApiError::invalid(
                "Either Eid or GenerateMatchingId=true is required",
            ));
        }
        let callback_url = fields.callback_url("CallbackUrl", &self.egress)?;
        let callback_method = fields
            .http_method("CallbackMethod")?
            .or_else(|| callback_url.as_ref().map(|_| "POST".to_string()));
        let opt = |e: oo::OptionError| ApiError::invalid(e.to_string());
        let options = oo::OrderOptions {
            confirmation_code_encoding: parsed("ConfirmationCodeEncoding")
                .map(|v| v.parse())
                .transpose()
                .map_err(opt)?
                .unwrap_or_default(),
            rebinding: if boolean("AllowRebinding", true)? {
                oo::Rebinding::Allowed
            } else {
                oo::Rebinding::Refused
            },
            pre_protected: boolean("PreProtected", false)?,
            profile_class: parsed("ProfileClass")
                .map(|v| v.parse())
                .transpose()
                .map_err(opt)?,
            ppr: parsed("ProfilePolicyRules")
                .map(|v| v.parse())
                .transpose()
                .map_err(opt)?
                .unwrap_or_default(),
            owner: parsed("ProfileOwner")
                .map(|v| v.parse())
                .transpose()
                .map_err(opt)?,
            ecall_indication: fields.boolean("EcallIndication")?,
            fallback_allowed: fields.boolean("FallbackAllowed")?,
            faults: parsed("Faults")
                .map(|v| smdp_core::faults::parse_list(v))
                .transpose()
                .map_err(|e| ApiError::invalid(e.to_string()))?
                .unwrap_or_default(),
            ..Default::default()
        };
        let confirmation_code = parsed("ConfirmationCode").cloned();
        if let Some(cc) = &confirmation_code {
            if cc.len() > 64 {
                return Err(ApiError::invalid("ConfirmationCode is 1..64 characters"));
            }
            options
                .confirmation_code_encoding
                .code_bytes(cc)
                .map_err(opt)?;
        }
        let text = |name: &str, max: usize, default: &str| -> Result<String, ApiError> {
            match parsed(name) {
                None => Ok(default.into()),
                Some(v) if v.chars().count() <= max && !v.chars().any(char::is_control) => {
                    Ok(v.clone())
                }
                Some(_) => Err(ApiError::invalid(format!(
                    "{name} is at most {max} printable characters"
                ))),
            }
        };
        // SGP.22 StoreMetadataRequest: serviceProviderName ≤ 32, profileName ≤ 64.
        let service_provider_name = text("ServiceProviderName", 32, "smdp-sim")?;
        let profile_name = text("ProfileName", 64, "smdp-sim eSIM")?;
        let unreleased = !boolean("Released", true)?;
        let (sid, matching_id) = {
            let mut rng = self.smdp.rng();
            let sid = smdp_core::orders::new_sid("HP", &mut *rng);
            let mid = generate.then(|| smdp_core::orders::new_matching_id(&mut *rng));
            (sid, mid.or(given_mid))
        };
        let p = self.store_new(NewProfile {
            sid,
            account_sid: account.into(),
            status: Some(ProfileStatus::New),
            eid,
            matching_id,
            confirmation_code,
            template,
            service_provider_name,
            profile_name,
            max_attempts: self.max_attempts,
            callback_url,
            callback_method,
            unreleased,
            options,
            ..Default::default()
        })?;
        (self.wake)();
        tracing::info!(sid = %p.sid, account, "ESimProfile created");
        let body = self.profile_json(&p, base);
        Ok(match note {
            Some(n) => Reply::JsonWarning(StatusCode::CREATED, body, n),
            None => Reply::Json(StatusCode::CREATED, body),
        })
    }

    /// `GET /v1/ESimProfiles/Export?Format=csv|json|open5gs|open5gs-dbctl[&Status=…]`.
    fn export(&self, account: &str, q: &BTreeMap<String, String>) -> Result<Reply, ApiError> {
        use smdp_core::export::ExportFormat;
        let format: ExportFormat = q
            .get("Format")
            .ok_or_else(|| ApiError::invalid("Missing required parameter Format"))?
            .parse()
            .map_err(|e: smdp_core::export::UnknownExportFormat| {
                ApiError::invalid(e.to_string())
            })?;
        let status = q
            .get("Status")
            .map(|s| {
                ProfileStatus::parse(s)
                    .ok_or_else(|| ApiError::invalid(format!("Invalid Status {s:?}")))
            })
            .transpose()?;
        let rows = crate::export::subscribers(self.store.as_ref(), account, status).map_err(
            |e| match e {
                crate::export::ExportError::Status(_) => ApiError::invalid(e.to_string()),
                crate::export::ExportError::Store(e) => ApiError::from(e),
                e => ApiError::internal(e),
            },
        )?;
        tracing::info!(account, rows = rows.len(), format = %format, "subscriber export");
        Ok(Reply::Bytes(
            format.content_type(),
            smdp_core::export::render(format, &rows).into_bytes(),
        ))
    }

    fn store_new(&self, p: NewProfile) -> Result<Profile, ApiError> {
        match self.smdp.store.insert_profile(&p, self.smdp.clock.unix()) {
            Ok(p) => Ok(p),
            Err(smdp_core::store::StoreError::Duplicate { what, value }) => Err(ApiError::invalid(
                format!("Invalid parameter: {what} {value:?} is already in use"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The account's profile `sid` (an `HP…` sid), or the 404 for `path`.
    fn profile_at(&self, account: &str, sid: &str, path: &str) -> Result<Profile, ApiError> {
        is_sid(sid, "HP")
            .then(|| self.store.profile_by_sid(account, sid))
            .transpose()?
            .flatten()
            .ok_or_else(|| ApiError::not_found(path))
    }

    /// `1$<address>$<matching id>[$$1]` once the profile is released and has a matching ID.
    fn activation_code(&self, p: &Profile) -> Option<String> {
        let released = !matches!(p.status, ProfileStatus::New | ProfileStatus::Reserving);
        smdp_core::orders::activation_code(&self.smdp.address, p)
            .filter(|_| released)
            .map(|ac| ac.to_string())
    }

    fn profile_json(&self, p: &Profile, base: &str) -> Value {
        let released = !matches!(p.status, ProfileStatus::New | ProfileStatus::Reserving);
        let shown = |v: &Option<String>| if released { v.clone() } else { None };
        // The field is `format: uri` in the spec: the address as an https URL (the
        // activation code keeps the bare address, as SGP.22 defines it).
        let address = released.then(|| smdp_url(&self.smdp.address));
        let activation_code = self.activation_code(p);
        json!({
            "sid": p.sid,
            "account_sid": p.account_sid,
            "iccid": shown(&p.iccid),
            "sim_sid": shown(&p.sim_sid),
            "status": p.status.as_str(),
            "eid": p.eid.map(|e| e.to_string()),
            "smdp_plus_address": address,
            "matching_id": shown(&p.matching_id),
            "activation_code": activation_code,
            "error_code": p.error_code.map(|c| c.to_string()),
            "error_message": p.error_message,
            "date_created": iso8601(p.created_at),
            "date_updated": iso8601(p.updated_at),
            "url": format!("{base}/v1/ESimProfiles/{}", p.sid),
        })
    }

    fn list_profiles(
        &self,
        account: &str,
        q: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        let status = q
            .get("Status")
            .map(|s| {
                ProfileStatus::parse(s)
                    .ok_or_else(|| ApiError::invalid(format!("Invalid Status {s:?}")))
            })
            .transpose()?;
        let filter = ProfileFilter {
            // An EID that cannot exist matches nothing; the filter does not judge its digits.
            eid: match q.get("Eid") {
                None => None,
                Some(e) => match Eid::parse_unchecked(e) {
                    Ok(e) => Some(e),
                    Err(_) => return Err(ApiError::invalid(format!("Invalid Eid {e:?}"))),
                },
            },
            sim_sid: q.get("SimSid").cloned(),
            status,
        };
        let mut filters = Vec::new();
        for k in ["Eid", "SimSid", "Status"] {
            if let Some(v) = q.get(k) {
                filters.push((k, v.clone()));
            }
        }
        paged(
            q,
            &format!("{base}/v1/ESimProfiles"),
            "esim_profiles",
            &filters,
            |c, n| self.store.list_profiles(account, &filter, c, n),
            |c| self.store.profiles_beyond(account, &filter, c),
            |p| p.id,
            |p| self.profile_json(p, base),
        )
    }

    fn list_sims(
        &self,
        account: &str,
        q: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        // A fleet named by sid or unique name; one that does not exist is a 404.
        let fleet_sid = match q.get("Fleet") {
            None => None,
            Some(k) => Some(
                self.store
                    .fleet(account, k)?
                    .ok_or_else(|| ApiError::not_found(&format!("/v1/Fleets/{k}")))?
                    .sid,
            ),
        };
        let filter = SimFilter {
            status: q
                .get("Status")
                .map(|s| {
                    SimStatus::parse(s)
                        .ok_or_else(|| ApiError::invalid(format!("Invalid Status {s:?}")))
                })
                .transpose()?,
            iccid: q.get("Iccid").cloned(),
            fleet_sid,
        };
        let mut filters = Vec::new();
        for k in ["Status", "Fleet", "Iccid"] {
            if let Some(v) = q.get(k) {
                filters.push((k, v.clone()));
            }
        }
        paged(
            q,
            &format!("{base}/v1/Sims"),
            "sims",
            &filters,
            |c, n| self.store.list_sims(account, &filter, c, n),
            |c| self.store.sims_beyond(account, &filter, c),
            |s| s.id,
            |s| sim_json(s, base),
        )
    }

    /// `POST /v1/Sims/{Sid}`. A status change is asynchronous, as the real service's: the
    /// answer is 202 with the Sim `scheduled`, the change completes in the background and
    /// then calls `CallbackUrl`, signed like the ESimProfile callbacks. Other fields change at
    /// once (200).
    fn update_sim(
        &self,
        account: &str,
        sim: Sim,
        f: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<Reply, ApiError> {
        only(
            f,
            &[
                "UniqueName",
                "Status",
                "Fleet",
                "AccountSid",
                "CallbackUrl",
                "CallbackMethod",
            ],
        )?;
        let fields = Fields(f);
        if let Some(a) = f.get("AccountSid") {
            // Subaccounts are not simulated: the only account a Sim can move to is its own.
            if a != account {
                return Err(ApiError::invalid(format!(
                    "AccountSid {a:?} is not this account (subaccounts are not simulated)"
                )));
            }
            if sim.status != SimStatus::New {
                return Err(ApiError::invalid(
                    "AccountSid is only valid while the Sim is new",
                ));
            }
        }
        let status = match f.get("Status") {
            None => None,
            Some(s) => match SimStatus::parse(s) {
                Some(st @ (SimStatus::Ready | SimStatus::Active | SimStatus::Inactive)) => Some(st),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Status must be ready, active or inactive, not {s:?}"
                    )))
                }
            },
        };
        let in_progress = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                83010,
                format!(
                    "Unable to update Super SIM {}: a status change is in progress",
                    sim.sid
                ),
            )
        };
        // Asking for the status it has is no change (and no callback).
        let status = status.filter(|s| *s != sim.status);
        if let Some(s) = status {
            if sim.status == SimStatus::Scheduled {
                return Err(in_progress());
            }
            // "can only be updated to ready if it is currently new"; none returns to new.
            if s == SimStatus::Ready && sim.status != SimStatus::New {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    83010,
                    format!("Unable to update Super SIM from {} to {s}", sim.status),
                ));
            }
        }
        let callback_url = fields.callback_url("CallbackUrl", &self.egress)?;
        let callback_method = fields.http_method("CallbackMethod")?;
        let note = (status.is_none() && callback_url.is_some()).then(|| {
            "CallbackUrl is called after a status change only: this update changes no status"
                .to_string()
        });
        let unique_name = fields.unique_name("HS")?;
        let fleet_sid = match fields.get("Fleet") {
            None => None,
            Some(k) => Some(
                self.store
                    .fleet(account, k)?
                    .ok_or_else(|| ApiError::invalid(format!("Fleet {k:?} does not exist")))?
                    .sid,
            ),
        };
        let schedule = status.map(|s| ScheduledStatus {
            status: s,
            callback_url,
            callback_method: callback_method.unwrap_or_else(|| "POST".into()),
        });
        let scheduled = schedule.is_some();
        let applied = self
            .store
            .update_sim(
                sim.id,
                &SimUpdate {
                    unique_name,
                    fleet_sid,
                    schedule,
                },
                self.smdp.clock.unix(),
            )
            .map_err(|e| match e {
                smdp_core::store::StoreError::Duplicate { .. } => {
                    ApiError::invalid("UniqueName is already in use")
                }
                e => ApiError::from(e),
            })?;
        if !applied {
            // Another request scheduled a change between our read and our write.
            return Err(in_progress());
        }
        // Read before waking the worker: the answer shows the change as accepted
        // (`scheduled`), not as the worker may already have completed it.
        let updated = self
            .store
            .sim(&sim.account_sid, &sim.sid)?
            .ok_or_else(|| ApiError::internal("Sim vanished"))?;
        if scheduled {
            (self.wake)();
        }
        let code = if scheduled {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        let body = sim_json(&updated, base);
        Ok(match note {
            Some(n) => Reply::JsonWarning(code, body, n),
            None => Reply::Json(code, body),
        })
    }

    /// `GET /v1/Inventory` (a simulator extension): the account's ES2+ inventory, counted by
    /// profile type and ES2+ state (`smdp inventory list`); ordered profiles are also
    /// ESimProfiles.
    fn inventory(&self, account: &str) -> Result<(StatusCode, Value), ApiError> {
        let items: Vec<Value> = self
            .store
            .inventory_counts(Some(account))?
            .iter()
            .map(|c| json!({"profile_type": c.profile_type, "state": c.state.as_str(), "count": c.count}))
            .collect();
        Ok((StatusCode::OK, json!({ "inventory": items })))
    }

    fn charges(&self, account: &str) -> Result<(StatusCode, Value), ApiError> {
        let rows = self.store.charges(account)?;
        let total: i64 = rows.iter().map(|c| c.amount_cents).sum();
        let items: Vec<Value> = rows
            .iter()
            .map(|c| {
                json!({
                    "account_sid": c.account_sid,
                    "esim_profile_sid": c.profile_sid,
                    "amount": format!("{}.{:02}", c.amount_cents / 100, c.amount_cents % 100),
                    "currency": c.currency,
                    "description": c.description,
                    "date_created": iso8601(c.created_at),
                })
            })
            .collect();
        Ok((
            StatusCode::OK,
            json!({"charges": items, "total": format!("{}.{:02}", total / 100, total % 100),
                   "currency": "USD"}),
        ))
    }
}

pub use smdp_core::orders::smdp_url;

/// `POST /v1/Sims` registers a physical Super SIM by its ICCID and the 10-character code
/// printed with it. The simulator has no physical SIMs (its Sims come from eSIM profiles), so
/// a well-formed request is answered as the service answers a code that matches no SIM:
/// 83002 "Super SIM cannot be registered".
fn register_sim(f: &BTreeMap<String, String>) -> Result<(StatusCode, Value), ApiError> {
    only(f, &["Iccid", "RegistrationCode"])?;
    let fields = Fields(f);
    let iccid = fields
        .get("Iccid")
        .ok_or_else(|| ApiError::invalid("Missing required parameter Iccid"))?;
    let code = fields
        .get("RegistrationCode")
        .ok_or_else(|| ApiError::invalid("Missing required parameter RegistrationCode"))?;
    let luhn_ok = matches!(iccid.len(), 19 | 20)
        && iccid.bytes().all(|b| b.is_ascii_digit())
        && rsp_asn1::ids::luhn_check_digit(&iccid[..iccid.len() - 1])
            == iccid.as_bytes()[iccid.len() - 1] - b'0';
    if !luhn_ok {
        return Err(ApiError::invalid(format!(
            "Iccid {iccid:?} is not 19 or 20 digits with a valid Luhn check digit"
        )));
    }
    if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid(
            "RegistrationCode is the 10-character code printed with the SIM",
        ));
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        83002,
        format!("Super SIM cannot be registered: no physical Super SIM {iccid} with this registration code exists in this simulator"),
    ))
}

/// A queued callback's delivery state; `what` says what it reports.
fn callback_json(c: &CallbackRecord, what: Value) -> Value {
    let mut v = json!({
        "url": c.url,
        "method": c.method,
        "state": c.state.as_str(),
        "attempts": c.attempts,
        "last_attempt": c.last_attempt_at.map(iso8601),
        "last_http_status": c.last_http_status,
        "last_error": c.last_error,
        "next_attempt": (c.state == CallbackState::Pending).then(|| iso8601(c.next_attempt_at)),
    });
    if let (Some(v), Value::Object(w)) = (v.as_object_mut(), what) {
        v.extend(w);
    }
    v
}

fn sim_json(s: &Sim, base: &str) -> Value {
    let url = format!("{base}/v1/Sims/{}", s.sid);
    json!({
        "sid": s.sid,
        "unique_name": s.unique_name,
        "account_sid": s.account_sid,
        "iccid": s.iccid,
        "status": s.status.as_str(),
        "fleet_sid": s.fleet_sid,
        "date_created": iso8601(s.created_at),
        "date_updated": iso8601(s.updated_at),
        "url": url,
        "links": {
            "billing_periods": format!("{url}/BillingPeriods"),
            "sim_ip_addresses": format!("{url}/IpAddresses"),
        },
    })
}

/// One page of a listing with Twilio's `meta` block: `list` fetches up to n rows from a
/// cursor, `beyond` says whether rows exist past one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn paged<T>(
    q: &BTreeMap<String, String>,
    list_url: &str,
    key: &str,
    filters: &[(&str, String)],
    list: impl Fn(Cursor, usize) -> smdp_core::store::Result<Vec<T>>,
    beyond: impl Fn(Cursor) -> smdp_core::store::Result<bool>,
    id: impl Fn(&T) -> i64,
    render: impl Fn(&T) -> Value,
) -> Result<(StatusCode, Value), ApiError> {
    let page = Paging::from_query(q)?;
    let rows = list(page.cursor, page.size)?;
    let (first, last) = (rows.first().map(&id), rows.last().map(&id));
    let more_after = match last {
        Some(i) => beyond(Cursor::After(i))?,
        None => false,
    };
    let more_before = match first {
        Some(i) => beyond(Cursor::Before(i))?,
        None => false,
    };
    let items: Vec<Value> = rows.iter().map(render).collect();
    let meta = page.meta(
        list_url,
        key,
        filters,
        (more_before, first),
        (more_after, last),
    );
    Ok((StatusCode::OK, json!({ key: items, "meta": meta })))
}

fn page_size(q: &BTreeMap<String, String>) -> Result<usize, ApiError> {
    match q.get("PageSize") {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(s) => decimal::<usize>(s)
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("PageSize must be 1..{MAX_PAGE_SIZE}"))),
    }
}

/// A page request: size, client page number, cursor from the token.
struct Paging {
    size: usize,
    page: u64,
    cursor: Cursor,
}

impl Paging {
    fn from_query(q: &BTreeMap<String, String>) -> Result<Self, ApiError> {
        let size = page_size(q)?;
        let page = match q.get("Page") {
            None => 0,
            Some(p) => decimal::<u64>(p)
                .ok_or_else(|| ApiError::invalid("Page must be a non-negative integer"))?,
        };
        let bad_token = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                21481,
                "Invalid PageToken: use the provided paging URLs",
            )
        };
        let cursor = match q.get("PageToken") {
            None => Cursor::Start,
            Some(t) => {
                let id = decimal::<i64>;
                if let Some(n) = t.strip_prefix("PTA").and_then(id) {
                    Cursor::After(n)
                } else if let Some(n) = t.strip_prefix("PTB").and_then(id) {
                    Cursor::Before(n)
                } else {
                    return Err(bad_token());
                }
            }
        };
        Ok(Self { size, page, cursor })
    }

    /// Twilio's `meta` block with absolute URLs (filters first, as the spec's examples).
    fn meta(
        &self,
        list_url: &str,
        key: &str,
        filters: &[(&str, String)],
        (more_before, first): (bool, Option<i64>),
        (more_after, last): (bool, Option<i64>),
    ) -> Value {
        let url = |page: u64, token: Option<String>| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in filters {
                s.append_pair(k, v);
            }
            s.append_pair("PageSize", &self.size.to_string());
            s.append_pair("Page", &page.to_string());
            if let Some(t) = token {
                s.append_pair("PageToken", &t);
            }
            format!("{list_url}?{}", s.finish())
        };
        let this_token = match self.cursor {
            Cursor::Start => None,
            Cursor::After(id) => Some(format!("PTA{id}")),
            Cursor::Before(id) => Some(format!("PTB{id}")),
        };
        let next = match (more_after, last) {
            (true, Some(id)) => Some(url(self.page + 1, Some(format!("PTA{id}")))),
            _ => None,
        };
        let previous = match (more_before, first, self.page) {
            (true, Some(id), p) if p > 0 => Some(url(p - 1, Some(format!("PTB{id}")))),
            _ => None,
        };
        json!({
            "first_page_url": url(0, None),
            "key": key,
            "next_page_url": next,
            "page": self.page,
            "page_size": self.size,
            "previous_page_url": previous,
            "url": url(self.page, this_token),
        })
    }
}
