//! The page's HTTP server: hyper under the axum router, with the limits a
//! page open to a machine's users needs. A connection that has not sent its
//! headers within 10 s is closed (a half-sent request holds nothing); one
//! whose client takes no byte of the answer for a minute is closed (a client
//! that stops reading holds nothing either); at most 256 connections are
//! served at once; on Ctrl-C or SIGTERM no connection is
//! accepted, the open ones finish their answers within 10 s, and a second
//! signal ends the server at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower_service::Service;

/// How long a connection may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How many connections are served at once.
const MAX_CONNECTIONS: usize = 256;
/// How long open connections may go on after the first signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until a signal.
pub(super) async fn run(listener: TcpListener, router: Router) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut signalled = std::pin::pin!(signal());
    loop {
        let permit = tokio::select! {
            () = &mut signalled => break,
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut signalled => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: wait for connections to end.
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (router, stop) = (router.clone(), stop.clone());
        connections.spawn(async move {
            serve_connection(stream, router, stop).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = stopping.send(true);
    drain(connections).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(Stalling::new(stream)), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Waits until the server stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// How long a client may leave the answer unread before its connection is
/// closed.
const WRITE_STALL: Duration = Duration::from_secs(60);

/// A connection whose writes fail once the client has taken nothing for
/// [`WRITE_STALL`]: hyper then closes it.
struct Stalling<T> {
    inner: T,
    waiting: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Stalling<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            waiting: None,
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Stalling<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> Stalling<T> {
    /// A write that is pending: fails once it has been for too long.
    fn pending<R>(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<R>> {
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL)));
        match waiting.as_mut().poll(context) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing for a minute",
            ))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn settled<R>(
        &mut self,
        done: std::task::Poll<std::io::Result<R>>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<R>> {
        match done {
            std::task::Poll::Pending => self.pending(context),
            done @ std::task::Poll::Ready(_) => {
                self.waiting = None;
                done
            }
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Stalling<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let done = std::pin::Pin::new(&mut self.inner).poll_write(context, bytes);
        self.settled(done, context)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let done = std::pin::Pin::new(&mut self.inner).poll_flush(context);
        self.settled(done, context)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let done = std::pin::Pin::new(&mut self.inner).poll_shutdown(context);
        self.settled(done, context)
    }
}

/// Lets open connections finish their answers, for a while.
async fn drain(mut connections: JoinSet<()>) {
    if connections.is_empty() {
        return;
    }
    tracing::info!(
        connections = connections.len(),
        "stopping: open connections finish their answers (a second Ctrl-C ends them now)"
    );
    let finished = async { while connections.join_next().await.is_some() {} };
    tokio::select! {
        () = finished => {}
        () = tokio::time::sleep(DRAIN) => tracing::warn!("connections still open after 10 s were closed"),
        () = signal() => tracing::warn!("stopped at once"),
    }
}

/// The first Ctrl-C or SIGTERM.
async fn signal() {
    let interrupt = tokio::signal::ctrl_c();
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = interrupt.await;
        return;
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
