//! The REST API as a hyper [`Service`], generic over the request body, so that it runs
//! behind any listener and in process without a socket (model: hyper's
//! `examples/service_struct_impl.rs`). The body is read up to a limit, then
//! [`Operator::call`] runs on the blocking pool (it waits on the store).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};

use crate::rest::{ApiError, Operator};

/// Why a request body was not read: its deadline passed first.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that fails with [`BodyTimeout`] unless it is all read by a deadline.
/// hyper's header timeout ends with the headers: a client trickling its body (slow loris)
/// would otherwise hold its connection for as long as it likes.
pub struct Deadline<B> {
    body: Pin<Box<B>>,
    within: std::time::Duration,
    /// Armed at the first read, on the runtime that reads (the body may be made outside
    /// one: the es9_http fuzz target builds requests before entering its runtime).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> Deadline<B> {
    pub fn new(body: B, within: std::time::Duration) -> Self {
        Self {
            body: Box::pin(body),
            within,
            sleep: None,
        }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let within = self.within;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(within)));
        if sleep.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        self.body.as_mut().poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Whether a body read failed on its deadline ([`Deadline`]), somewhere in `e`'s sources.
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The REST API of one [`Operator`], as it arrived over `scheme` (`http` or `https`).
#[derive(Clone)]
pub struct RestService {
    pub op: Arc<Operator>,
    pub scheme: &'static str,
    pub max_body: usize,
}

impl<B> Service<Request<B>> for RestService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(handle(this.op, req, this.scheme, this.max_body).await) })
    }
}

/// Serves one request: the body up to `max_body` (else 413), then [`Operator::call`].
pub async fn handle<B>(
    op: Arc<Operator>,
    req: Request<B>,
    scheme: &'static str,
    max_body: usize,
) -> Response<Full<Bytes>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let (status, message) = if e.is::<http_body_util::LengthLimitError>() {
                (StatusCode::PAYLOAD_TOO_LARGE, "Request too large")
            } else if timed_out(e.as_ref()) {
                (
                    StatusCode::REQUEST_TIMEOUT,
                    "Request body not received in time",
                )
            } else {
                (StatusCode::BAD_REQUEST, "Request body could not be read")
            };
            return ApiError::new(status, 20001, message)
                .response()
                .map(|b| Full::new(Bytes::from(b)));
        }
    };
    // On the worker thread, as ES9+ is: a call is a few store statements, and the hop to the
    // blocking pool and back cost more in context switches (measured at 3,000 orders). A
    // panic is caught here as spawn_blocking would have.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        op.call(&parts, &body, scheme)
    }))
    .unwrap_or_else(|_| ApiError::internal("handler panicked").response())
    .map(|b| Full::new(Bytes::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Found by the es9_http fuzz target: a body wrapped outside any runtime (a request
    /// built before `block_on`) must not panic; its deadline starts at the first read.
    #[test]
    fn a_deadline_made_outside_a_runtime_arms_on_its_first_read() {
        let body = Deadline::new(Full::new(Bytes::from_static(b"{}")), Duration::from_secs(5));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let got = rt.block_on(body.collect()).unwrap().to_bytes();
        assert_eq!(&got[..], b"{}");
    }

    /// A body that never ends fails with BodyTimeout at its deadline.
    #[test]
    fn a_stalled_body_times_out() {
        struct Never;
        impl Body for Never {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>>
            {
                std::task::Poll::Pending
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let e = rt
            .block_on(Deadline::new(Never, Duration::from_millis(50)).collect())
            .unwrap_err();
        assert!(timed_out(e.as_ref()), "{e}");
    }
}
