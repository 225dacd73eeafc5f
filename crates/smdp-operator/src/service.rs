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
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, 20001, "Request too large")
                .response()
                .map(|b| Full::new(Bytes::from(b)))
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
