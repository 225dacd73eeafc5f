//! The orders of a load run, reserved through the Super SIM REST API (`POST
//! /v1/ESimProfiles`, then each fetched until `available` for its matching ID), as an
//! operator's back-end would: plain HTTP/1.1 with keep-alive to the REST listener, Basic
//! auth with an AccountSid and AuthToken, several requests in flight.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::load::Target;
use crate::Error;

/// Where and as whom.
#[derive(Debug, Clone)]
pub struct Rest {
    /// The REST listener (loopback).
    pub addr: SocketAddr,
    pub account_sid: String,
    pub auth_token: String,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

fn e(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Transport {
        function: "REST",
        detail: format!("{what}: {detail}"),
    }
}

/// `application/x-www-form-urlencoded`, percent-encoding all but unreserved characters.
fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Rest {
    fn authorization(&self) -> String {
        let raw = format!("{}:{}", self.account_sid, self.auth_token);
        format!("Basic {}", rsp_asn1::es9::base64_encode(raw.as_bytes()))
    }

    async fn connect(&self) -> Result<Sender, Error> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|x| e(&format!("connect {}", self.addr), x))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|x| e("HTTP", x))?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// One request on `conn` (reconnecting when the kept one is gone): status and JSON.
    async fn send(
        &self,
        conn: &mut Option<Sender>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, serde_json::Value), Error> {
        for _ in 0..2 {
            let mut s = match conn.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            if s.ready().await.is_err() {
                continue;
            }
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", self.addr.to_string())
                .header("authorization", self.authorization());
            if body.is_some() {
                req = req.header("content-type", "application/x-www-form-urlencoded");
            }
            let req = req
                .body(Full::new(Bytes::from(body.clone().unwrap_or_default())))
                .map_err(|x| e("request", x))?;
            let resp = match s.send_request(req).await {
                Ok(r) => r,
                Err(x) if x.is_canceled() => continue,
                Err(x) => return Err(e(path, x)),
            };
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|x| e(path, x))?
                .to_bytes();
            *conn = Some(s);
            let json = serde_json::from_slice(&bytes).map_err(|x| {
                e(
                    path,
                    format!(
                        "HTTP {status}, not JSON ({x}): {}",
                        String::from_utf8_lossy(&bytes)
                    ),
                )
            })?;
            return Ok((status, json));
        }
        Err(e(path, "the connection closed twice"))
    }
}

/// Creates one order per EID of `eids` (`by_eid`: reserved for that EID, downloaded by
/// EID; otherwise with a generated matching ID) with `template`, `concurrency` requests at
/// once, and waits until each is `available`.
pub async fn reserve(
    rest: &Rest,
    eids: Vec<rsp_asn1::ids::Eid>,
    by_eid: bool,
    template: Option<&str>,
    concurrency: usize,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
) -> Result<Reserved, Error> {
    let n = eids.len();
    let eids = Arc::new(eids);
    let sids: Arc<std::sync::Mutex<Vec<Option<String>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; n]));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(progress);
    let started = Instant::now();
    let template = template.map(str::to_string);
    // 1. Create.
    let mut tasks = Vec::new();
    for _ in 0..concurrency.clamp(1, 256).min(n.max(1)) {
        let (rest, eids, sids, next, done, progress, template) = (
            rest.clone(),
            eids.clone(),
            sids.clone(),
            next.clone(),
            done.clone(),
            progress.clone(),
            template.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(eid) = eids.get(i) else {
                    return Ok::<(), Error>(());
                };
                let eid = eid.to_string();
                let mut fields = vec![if by_eid {
                    ("Eid", eid.as_str())
                } else {
                    ("GenerateMatchingId", "true")
                }];
                if let Some(t) = &template {
                    fields.push(("Template", t.as_str()));
                }
                let (status, v) = rest
                    .send(&mut conn, "POST", "/v1/ESimProfiles", Some(form(&fields)))
                    .await?;
                if status != 201 {
                    return Err(e("POST /v1/ESimProfiles", format!("HTTP {status}: {v}")));
                }
                let sid = v["sid"]
                    .as_str()
                    .ok_or_else(|| e("POST /v1/ESimProfiles", "no sid"))?;
                sids.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(sid.to_string());
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(d, n);
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|x| e("worker", x))??;
    }
    let created_s = started.elapsed().as_secs_f64();
    // 2. Wait for each to be available (the reservation worker runs meanwhile).
    let sids: Vec<String> = std::mem::take(&mut *sids.lock().unwrap_or_else(|p| p.into_inner()))
        .into_iter()
        .map(|s| s.expect("every index created"))
        .collect();
    let sids = Arc::new(sids);
    let targets: Arc<std::sync::Mutex<Vec<Option<Target>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; n]));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.clamp(1, 64).min(n.max(1)) {
        let (rest, eids, sids, next, targets) = (
            rest.clone(),
            eids.clone(),
            sids.clone(),
            next.clone(),
            targets.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(sid) = sids.get(i) else {
                    return Ok::<(), Error>(());
                };
                let path = format!("/v1/ESimProfiles/{sid}");
                let waited = Instant::now();
                let v = loop {
                    let (status, v) = rest.send(&mut conn, "GET", &path, None).await?;
                    if status != 200 {
                        return Err(e(&path, format!("HTTP {status}: {v}")));
                    }
                    match v["status"].as_str() {
                        Some("available") => break v,
                        Some("new" | "reserving")
                            if waited.elapsed() < Duration::from_secs(600) =>
                        {
                            tokio::time::sleep(Duration::from_millis(50)).await
                        }
                        other => {
                            return Err(e(&path, format!("status {other:?}: {v}")));
                        }
                    }
                };
                let matching_id = if by_eid {
                    None
                } else {
                    Some(
                        v["matching_id"]
                            .as_str()
                            .ok_or_else(|| e(&path, "available without a matching_id"))?
                            .to_string(),
                    )
                };
                targets.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(Target {
                    eid: eids[i],
                    matching_id,
                });
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|x| e("worker", x))??;
    }
    let targets = std::mem::take(&mut *targets.lock().unwrap_or_else(|p| p.into_inner()))
        .into_iter()
        .map(|t| t.expect("every index fetched"))
        .collect();
    Ok(Reserved {
        targets,
        created_s,
        available_s: started.elapsed().as_secs_f64(),
    })
}

/// What [`reserve`] made.
#[derive(Debug)]
pub struct Reserved {
    /// In the order of the EIDs given.
    pub targets: Vec<Target>,
    /// Seconds from the first create to the last create answered.
    pub created_s: f64,
    /// Seconds from the first create to the last order seen `available`.
    pub available_s: f64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_encoding() {
        assert_eq!(
            super::form(&[("Template", "minimal:50k"), ("A", "b c&d")]),
            "Template=minimal%3A50k&A=b%20c%26d"
        );
    }
}
