//! [`HealthService`]: `Check` and `Watch` over a [`HealthReporter`]'s statuses.

use crate::reporter::{State, Watcher};
use crate::{Health, HealthCheckRequest, HealthCheckResponse, HealthReporter, ServingStatus};
use futures_core::Stream;
use rpc_core::{Request, Response, Status};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The `grpc.health.v1.Health` implementation: answers from the statuses set with its
/// [`HealthReporter`]. Serve it wrapped in a [`HealthServer`](crate::HealthServer), as
/// [`health_reporter`](crate::health_reporter) returns it.
#[derive(Debug, Clone)]
pub struct HealthService {
    reporter: HealthReporter,
}

impl HealthService {
    /// A health service answering from `reporter`'s statuses.
    pub fn new(reporter: HealthReporter) -> Self {
        HealthService { reporter }
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        match self.reporter.service_status(&service) {
            Some(status) => Ok(Response::new(response(status))),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let watcher = self.reporter.subscribe(&request.into_inner().service);
        Ok(Response::new(WatchStream::new(watcher)))
    }
}

/// Where a `Watch` call is.
enum Phase {
    /// Send the current status.
    First,
    /// Send each change.
    Changes {
        last: ServingStatus,
    },
    /// The reporter shut down: end the call.
    End,
    Done,
}

type BoxStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

/// The responses of a `Watch` call: the current status, then each change. Only the latest
/// status is kept, so a slow reader skips intermediate ones rather than buffering them.
/// Ends with `UNAVAILABLE` once the reporter is shut down.
pub struct WatchStream {
    inner: BoxStream,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

impl WatchStream {
    fn new(watcher: Watcher) -> Self {
        let stream = futures_util::stream::unfold(
            (watcher, Phase::First),
            |(mut watcher, phase)| async move {
                let (item, next) = match phase {
                    Phase::First => {
                        let State { status, draining } = watcher.current();
                        let next = if draining {
                            Phase::End
                        } else {
                            Phase::Changes { last: status }
                        };
                        (Ok(response(status)), next)
                    }
                    Phase::Changes { last } => loop {
                        // `None`: the entry is gone, which only happens to unwatched ones.
                        let State { status, draining } = watcher.next().await?;
                        match (status != last, draining) {
                            (true, false) => {
                                break (Ok(response(status)), Phase::Changes { last: status })
                            }
                            (true, true) => break (Ok(response(status)), Phase::End),
                            (false, true) => break (Err(shutting_down()), Phase::Done),
                            // A change and its undoing, coalesced: nothing to tell.
                            (false, false) => continue,
                        }
                    },
                    Phase::End => (Err(shutting_down()), Phase::Done),
                    Phase::Done => return None,
                };
                Some((item, (watcher, next)))
            },
        );
        WatchStream {
            inner: Box::pin(stream),
        }
    }
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down")
}

impl Stream for WatchStream {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{FutureExt, StreamExt};

    fn status(item: Option<Result<HealthCheckResponse, Status>>) -> ServingStatus {
        item.expect("stream ended").expect("stream failed").status()
    }

    #[tokio::test]
    async fn a_slow_watcher_gets_the_latest_status_only() {
        let reporter = HealthReporter::new();
        reporter.set_service_status("s", ServingStatus::Serving);
        let mut stream = WatchStream::new(reporter.subscribe("s"));
        assert_eq!(status(stream.next().await), ServingStatus::Serving);

        // A thousand changes while the watcher is not reading: one message, the last status.
        for i in 0..1000 {
            let s = if i % 2 == 0 {
                ServingStatus::NotServing
            } else {
                ServingStatus::Unknown
            };
            reporter.set_service_status("s", s);
        }
        assert_eq!(status(stream.next().await), ServingStatus::Unknown);
        assert!(
            stream.next().now_or_never().is_none(),
            "more than one message"
        );

        // Changes that undo each other before the watcher reads: nothing to send.
        reporter.set_service_status("s", ServingStatus::Serving);
        reporter.set_service_status("s", ServingStatus::Unknown);
        assert!(
            stream.next().now_or_never().is_none(),
            "a message for no change"
        );
    }

    #[tokio::test]
    async fn after_shutdown_a_watch_sends_the_status_then_ends_unavailable() {
        let reporter = HealthReporter::new();
        reporter.set_service_status("s", ServingStatus::Serving);
        reporter.shutdown();
        let mut stream = WatchStream::new(reporter.subscribe("s"));
        assert_eq!(status(stream.next().await), ServingStatus::NotServing);
        let end = stream.next().await.expect("stream ended without a status");
        assert_eq!(end.unwrap_err().code(), rpc_core::Code::Unavailable);
        assert!(stream.next().await.is_none());
    }
}
