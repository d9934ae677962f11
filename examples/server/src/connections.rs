//! Serving connections: an accept loop that holds one permit per connection,
//! HTTP/1.1 on hyper, and the deadlines of each connection.
//!
//! A connection is always in one of three stages:
//!
//! - **head**: a request's headers are awaited. A new connection must send
//!   its first request's headers within the header timeout of being
//!   accepted; on a kept-alive connection, the headers of the next request
//!   must arrive within the header timeout of its first byte.
//! - **busy**: a request is being served, from its complete headers until
//!   its response has been handed over to be written. The body's own
//!   deadline is enforced by the request-context layer (`middleware.rs`).
//! - **idle**: a response has been handed over and no byte of the next
//!   request has arrived; the connection is closed after the idle timeout.
//!
//! hyper's own `header_read_timeout` is not used: its timer starts as soon as
//! a connection waits for a request, idle or not, so it would close idle
//! kept-alive connections after the header timeout.
//!
//! At most `max_connections` are served at once: the loop takes a permit
//! before it accepts, so further connections wait in the listening socket's
//! backlog until one ends. Each request runs in a task of its own that keeps
//! its connection's permit, so a client that hangs up neither cancels the
//! work its request started nor frees the capacity that work still uses.
//! What a hung-up request has not started, it does not start: a wait for
//! scarce capacity (a password-hashing permit) goes through
//! [`unless_hung_up`], which gives up as soon as the client has gone. A flood
//! of logins whose clients hang up at once therefore never queues more
//! hashing than is running, and never fills the connection limit.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;

tokio::task_local! {
    /// The current request's client: its sender is dropped when the client
    /// hangs up (or when the request's answer is handed over).
    static CLIENT: watch::Receiver<()>;
}

/// Awaits `wait` unless the current request's client hangs up first, and
/// then answers `None`. For waits that come before any work starts; outside
/// a request (tests, start-up) it simply awaits.
pub async fn unless_hung_up<F: Future>(wait: F) -> Option<F::Output> {
    let Ok(mut client) = CLIENT.try_with(watch::Receiver::clone) else {
        return Some(wait.await);
    };
    tokio::select! {
        biased;
        out = wait => Some(out),
        // Nothing is ever sent: this resolves only when the sender is dropped.
        _ = client.changed() => None,
    }
}

/// The deadlines and the connection limit.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` resolves, then lets requests
/// in flight finish for up to `grace`. Returns false if some were still
/// running when the grace period ended.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> bool {
    let capacity = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping, stopped) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    loop {
        // The permit comes first: while none is free, connections wait in
        // the backlog instead of being accepted and left unread.
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = Arc::clone(&capacity).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of file descriptors, or a connection that failed
                    // before it was accepted: wait a little and go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            router.clone(),
            limits,
            Arc::new(permit),
            stopped.clone(),
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection and every request task holds a permit: all of them
    // are back when everything has finished.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::time::timeout(grace, capacity.acquire_many(all))
        .await
        .is_ok()
}

/// Serves one connection until it ends, times out or is told to stop.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    permit: Arc<OwnedSemaphorePermit>,
    mut stopping: watch::Receiver<bool>,
) {
    let clock = Arc::new(Clock::new(limits));
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&clock)));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        clock.set(Stage::Busy);
        let mut router = router.clone();
        let work = Arc::clone(&permit);
        let clock = Arc::clone(&clock);
        async move {
            let request = request.map(Body::new);
            // hyper drops this future when the client hangs up, and `here` with it.
            let (here, client) = watch::channel(());
            let handled = tokio::spawn(async move {
                // Held until the request's work is done, whether or not
                // its client is still there.
                let _work = work;
                CLIENT
                    .scope(client, tower_service::Service::call(&mut router, request))
                    .await
            });
            let _here = here;
            let response = match handled.await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(e) => {
                    tracing::error!("a request's task ended without an answer: {e}");
                    failed()
                }
            };
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _idle_when_dropped: IdleOnDrop(clock),
            }))
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut served = std::pin::pin!(served);
    tokio::select! {
        _ = served.as_mut() => return,
        _ = stopping.wait_for(|&stop| stop) => {}
    }
    // Finish the request in flight, if any, then close.
    served.as_mut().graceful_shutdown();
    let _ = served.await;
}

/// The answer when a request's task ended without one (it cannot panic by
/// design; this keeps the connection well-formed if it ever did).
fn failed() -> Response<Body> {
    let problem = ApiError::internal("the request's task ended without an answer").into_problem();
    let mut response = axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    if let Ok(body) = serde_json::to_vec(&problem) {
        *response.body_mut() = Body::from(body);
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
    }
    response
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Head,
    Busy,
    Idle,
}

/// The stage of one connection and when it began.
struct Clock {
    limits: Limits,
    state: Mutex<(Stage, Instant)>,
    /// The connection's task, if it waits for bytes: a change of stage
    /// wakes it to take up the new deadline.
    reader: Mutex<Option<Waker>>,
}

impl Clock {
    fn new(limits: Limits) -> Self {
        Clock {
            limits,
            state: Mutex::new((Stage::Head, Instant::now())),
            reader: Mutex::new(None),
        }
    }

    fn set(&self, stage: Stage) {
        if let Ok(mut state) = self.state.lock() {
            *state = (stage, Instant::now());
        }
        let waiting = self.reader.lock().ok().and_then(|mut w| w.take());
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    fn wake_on_change(&self, waker: &Waker) {
        if let Ok(mut slot) = self.reader.lock()
            && !slot.as_ref().is_some_and(|w| w.will_wake(waker))
        {
            *slot = Some(waker.clone());
        }
    }

    /// Bytes arrived: on an idle connection, they begin the next request.
    fn on_bytes(&self) {
        if let Ok(mut state) = self.state.lock()
            && state.0 == Stage::Idle
        {
            *state = (Stage::Head, Instant::now());
        }
    }

    /// When the connection is to be closed if nothing changes.
    fn deadline(&self) -> Option<Instant> {
        let state = self.state.lock().ok()?;
        match state.0 {
            Stage::Head => Some(state.1 + self.limits.header_timeout),
            Stage::Idle => Some(state.1 + self.limits.idle_timeout),
            Stage::Busy => None,
        }
    }
}

/// Marks the connection idle when hyper is done with a response's body.
struct IdleOnDrop(Arc<Clock>);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.set(Stage::Idle);
    }
}

/// A response body that marks its connection idle once hyper drops it,
/// which it does when it has taken its last frame (or gives up on it).
struct Tracked {
    body: Body,
    _idle_when_dropped: IdleOnDrop,
}

impl HttpBody for Tracked {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A TCP stream whose reads fail with `TimedOut` once its connection's
/// deadline has passed while hyper waits for bytes, which closes it.
struct Watched {
    stream: TcpStream,
    clock: Arc<Clock>,
    timer: Pin<Box<Sleep>>,
}

impl Watched {
    fn new(stream: TcpStream, clock: Arc<Clock>) -> Self {
        Watched {
            stream,
            clock,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.clock.on_bytes();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.clock.wake_on_change(cx.waker());
                let Some(deadline) = self.clock.deadline() else {
                    return Poll::Pending;
                };
                if self.timer.deadline() != deadline {
                    self.timer.as_mut().reset(deadline);
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
