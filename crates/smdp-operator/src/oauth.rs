//! KORE-style OAuth2 client credentials (RFC 6749 §4.4): the token endpoint the KORE Super SIM
//! spec names (`tokenUrl …/api-services/v1/auth/token`), and revocation (RFC 7009). Issued
//! tokens are bearer credentials for the REST API until they expire or are revoked.
//!
//! Clients authenticate with `client_id`/`client_secret` in the form body or HTTP Basic
//! (RFC 6749 §2.3.1). Besides the client credentials `smdp account create` prints, an
//! account's SID and auth token are accepted as a client, so configured accounts need no
//! extra setting.

use std::collections::BTreeMap;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use serde_json::json;
use smdp_core::store::{Credential, IssuedToken};

use crate::rest::{ApiError, Operator, RestResponse};

/// The token endpoint (KORE: `https://api.korewireless.com/api-services/v1/auth/token`).
pub const TOKEN_PATH: &str = "/api-services/v1/auth/token";
/// Token revocation (RFC 7009).
pub const REVOKE_PATH: &str = "/api-services/v1/auth/revoke";
/// What the issued tokens may do.
pub const SCOPE: &str = "supersim";

/// Whether a path is one of the OAuth endpoints.
pub fn is_oauth_path(path: &str) -> bool {
    path == TOKEN_PATH || path == REVOKE_PATH
}

fn json_reply(status: StatusCode, v: &serde_json::Value) -> RestResponse {
    let mut r = Response::new(serde_json::to_vec(v).unwrap_or_default());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // RFC 6749 §5.1: token responses are not cached.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `401 {error: "invalid_client", error_description}` (RFC 6749 §5.2, the KORE shape).
fn invalid_client(description: &str) -> RestResponse {
    let mut r = json_reply(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "invalid_client", "error_description": description}),
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"smdp-sim\""),
    );
    r
}

impl Operator {
    /// Serves the token and revocation endpoints.
    pub(crate) fn oauth(
        &self,
        req: &Parts,
        form: Result<BTreeMap<String, String>, ApiError>,
        basic: Option<Credential>,
    ) -> RestResponse {
        if req.method != Method::POST {
            let mut e = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                20004,
                format!("{} takes POST", req.uri.path()),
            );
            e.allow = Some("POST");
            return e.response();
        }
        let form = match form {
            Ok(f) => f,
            Err(e) => return e.response(),
        };
        let revoke = req.uri.path() == REVOKE_PATH;
        let allowed: &[&str] = if revoke {
            &["token", "token_type_hint", "client_id", "client_secret"]
        } else {
            &["grant_type", "client_id", "client_secret", "scope"]
        };
        if let Some(k) = form.keys().find(|k| !allowed.contains(&k.as_str())) {
            return ApiError::invalid(format!("Unknown parameter {k:?}")).response();
        }
        // Client authentication: HTTP Basic (a body client_id, if any, must name the same
        // client), or the form's client_id and client_secret; one method, not both.
        let (id, secret) = match (form.get("client_id"), form.get("client_secret"), basic) {
            (id, None, Some(Credential::Basic { user, password }))
                if id.is_none_or(|i| *i == user) =>
            {
                (user, password)
            }
            (Some(i), Some(s), None) => (i.clone(), s.clone()),
            (_, _, Some(_)) => {
                return invalid_client(
                    "HTTP Basic and a client_secret in the body, or another client_id: use one",
                )
            }
            _ => return invalid_client("client authentication is missing"),
        };
        let account = match self.client_account(&id, &secret) {
            Ok(Some(a)) => a,
            Ok(None) => return invalid_client("unknown client or wrong secret"),
            Err(e) => return e.response(),
        };
        if revoke {
            let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
                return ApiError::invalid("token is required").response();
            };
            // RFC 7009 §2.2: 200 whether or not the token was valid.
            return match self.store.revoke_oauth_token(token) {
                Ok(_) => json_reply(StatusCode::OK, &json!({})),
                Err(e) => ApiError::from(e).response(),
            };
        }
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            None => return ApiError::invalid("grant_type is required").response(),
            Some(other) => {
                return ApiError::invalid(format!(
                    "unsupported grant_type {other:?}: only client_credentials"
                ))
                .response()
            }
        }
        let token = {
            let mut b = [0u8; 32];
            rand_core::Rng::fill_bytes(&mut *self.smdp.rng(), &mut b);
            hex::encode(b)
        };
        let now = self.smdp.clock.unix();
        let issued = IssuedToken {
            token: token.clone(),
            account_sid: account,
            client_id: id,
            issued_at: now,
            expires_at: now + self.token_ttl,
        };
        if let Err(e) = self.store.issue_oauth_token(&issued) {
            return ApiError::from(e).response();
        }
        json_reply(
            StatusCode::OK,
            &json!({
                "access_token": token,
                "expires_in": self.token_ttl,
                "token_type": "Bearer",
                "scope": SCOPE,
            }),
        )
    }

    /// An OAuth client's account; an account SID with its auth token is a client too.
    fn client_account(&self, id: &str, secret: &str) -> Result<Option<String>, ApiError> {
        if let Some(a) = self.store.oauth_client(id, secret)? {
            return Ok(Some(a));
        }
        if id.starts_with("AC") {
            let basic = Credential::Basic {
                user: id.into(),
                password: secret.into(),
            };
            return Ok(self.store.authenticate(&basic, self.smdp.clock.unix())?);
        }
        Ok(None)
    }
}
