//! Form parameters of the REST API, typed the way the Super SIM spec types them: booleans as
//! the SDK writes them (`true`/`false`), `format: uri` as absolute http(s) URLs,
//! `format: http-method` as `GET`/`POST`, integers as plain digits. Each check names the
//! parameter in its error, so a client sees which field is wrong.

use std::collections::BTreeMap;

use crate::rest::ApiError;

/// Longest URL accepted in a `format: uri` field (Twilio documents none; browsers and
/// proxies commonly stop near 8 KiB, callbacks need far less).
const MAX_URL: usize = 2048;

/// A request's form fields.
pub struct Fields<'a>(pub &'a BTreeMap<String, String>);

impl Fields<'_> {
    /// The value, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name).filter(|v| !v.is_empty())
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(format!(
                "{name} must be true or false, not {v:?}"
            ))),
        }
    }

    /// An absolute `http://` or `https://` URL with a host.
    pub fn url(&self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(u) = self.get(name) else {
            return Ok(None);
        };
        let ok = u.len() <= MAX_URL
            && (u.starts_with("http://") || u.starts_with("https://"))
            && u.parse::<http::Uri>().is_ok_and(|x| x.host().is_some());
        if !ok {
            return Err(ApiError::invalid(format!(
                "{name} must be an http(s) URL of at most {MAX_URL} characters"
            )));
        }
        Ok(Some(u.clone()))
    }

    /// [`Self::url`] that the server will call: refused (Twilio 400) when [`EgressPolicy`]
    /// says its host is not somewhere a callback may go.
    ///
    /// [`EgressPolicy`]: crate::egress::EgressPolicy
    pub fn callback_url(
        &self,
        name: &str,
        policy: &crate::egress::EgressPolicy,
    ) -> Result<Option<String>, ApiError> {
        let Some(u) = self.url(name)? else {
            return Ok(None);
        };
        policy
            .check_url(&u)
            .map_err(|e| ApiError::invalid(format!("{name} {u:?} is refused: {e}")))?;
        Ok(Some(u))
    }

    /// `GET` or `POST` (any case, answered upper case).
    pub fn http_method(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name).map(|m| m.to_ascii_uppercase()) {
            None => Ok(None),
            Some(m) if m == "GET" || m == "POST" => Ok(Some(m)),
            Some(m) => Err(ApiError::invalid(format!(
                "{name} must be GET or POST, not {m:?}"
            ))),
        }
    }

    /// A decimal integer within `range`.
    pub fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.0.get(name) else {
            return Ok(None);
        };
        crate::rest::decimal::<i64>(v)
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{name} must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ))
            })
    }

    /// A resource's `UniqueName`: 1 to 64 printable characters, not shaped like a sid of
    /// `prefix` (it is looked up in the same path segment as the sid).
    pub fn unique_name(&self, prefix: &str) -> Result<Option<String>, ApiError> {
        let Some(n) = self.0.get("UniqueName") else {
            return Ok(None);
        };
        if n.is_empty()
            || n.chars().count() > 64
            || n.chars().any(char::is_control)
            || crate::rest::is_sid(n, prefix)
        {
            return Err(ApiError::invalid(format!(
                "UniqueName must be 1 to 64 printable characters and not look like a {prefix} sid"
            )));
        }
        Ok(Some(n.clone()))
    }
}
