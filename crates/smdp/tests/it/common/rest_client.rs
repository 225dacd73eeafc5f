//! A REST client for the tests: one account's credentials, calling the server's REST
//! service in process.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::{basic_auth, RestTarget};

/// A REST client with one account's credentials, calling the server's REST service in
/// process (no socket): requests carry the REST listener's address as Host, so absolute
/// URLs are what a socket client would see.
pub struct Rest {
    pub at: RestTarget,
    pub auth: Option<String>,
}

impl Rest {
    pub fn basic(at: RestTarget, user: &str, password: &str) -> Self {
        Self {
            at,
            auth: Some(basic_auth(user, password)),
        }
    }

    pub async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let (s, _, v) = self.send_full(method, path, form).await;
        (s, v)
    }

    /// Status, response headers and JSON body of a form request.
    pub async fn send_full(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, hyper::HeaderMap, Value) {
        let body = {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in form {
                s.append_pair(k, v);
            }
            s.finish()
        };
        self.request(
            method,
            path,
            "application/x-www-form-urlencoded",
            body.into_bytes(),
        )
        .await
    }

    /// Any body, in process through the REST service.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, hyper::HeaderMap, Value) {
        use hyper::service::Service as _;
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("{}", self.at.addr))
            .header("content-type", content_type);
        if let Some(a) = &self.auth {
            b = b.header("authorization", a);
        }
        let resp = self
            .at
            .svc
            .call(b.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// POST /v1/ESimProfiles.
    pub async fn create(&self, form: &[(&str, &str)]) -> (u16, Value) {
        self.send("POST", "/v1/ESimProfiles", form).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, &[]).await
    }

    /// GET of an absolute URL the server handed out (paging).
    pub async fn follow(&self, url: &str) -> (u16, Value) {
        let prefix = format!("http://{}", self.at.addr);
        let path = url
            .strip_prefix(&prefix)
            .expect("absolute URL to this server");
        self.get(path).await
    }
}

/// Polls a profile until it leaves new/reserving.
pub async fn reserved(rest: &Rest, sid: &str) -> Value {
    // Generous: a loaded 2-core CI machine may take a while to schedule the worker.
    for _ in 0..1000 {
        let (s, v) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
        assert_eq!(s, 200, "{v}");
        if !matches!(v["status"].as_str(), Some("new" | "reserving")) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{sid} never left reserving");
}

/// Polls a Sim until its scheduled status change completed.
pub async fn settled_sim(rest: &Rest, sid: &str) -> Value {
    for _ in 0..1000 {
        let (s, v) = rest.get(&format!("/v1/Sims/{sid}")).await;
        assert_eq!(s, 200, "{v}");
        if v["status"] != "scheduled" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("Sim {sid} stayed scheduled");
}
