//! [`HealthReporter`]: the statuses of the services, one watch channel each.

use crate::ServingStatus;
use rpc_core::server::{NamedService, ServerHandle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// What a service's watch channel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    /// `ServiceUnknown` while the service's status is not set (only watchers keep such an
    /// entry alive).
    pub(crate) status: ServingStatus,
    /// The reporter was shut down: watchers send the final status and end.
    pub(crate) draining: bool,
}

#[derive(Debug, Default)]
struct Inner {
    services: HashMap<String, watch::Sender<State>>,
    shut_down: bool,
}

/// Sets the serving status of services, as seen by the health service's `Check` and `Watch`.
///
/// Cheap to clone; every clone reports to the same health service. Made by
/// [`health_reporter`](crate::health_reporter). Statuses are kept per service name
/// (`package.Service`); the empty name `""` is the server as a whole.
#[derive(Debug, Clone, Default)]
pub struct HealthReporter {
    inner: Arc<Mutex<Inner>>,
}

impl HealthReporter {
    /// A reporter with no status set, not even the overall one (`""`):
    /// [`health_reporter`](crate::health_reporter) is the usual way to make one.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding the lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports `S` (a generated `FooServer<T>`, or anything naming a service) as `SERVING`.
    pub fn set_serving<S: NamedService>(&self) {
        self.set_service_status(S::NAME, ServingStatus::Serving);
    }

    /// Reports `S` as `NOT_SERVING`.
    pub fn set_not_serving<S: NamedService>(&self) {
        self.set_service_status(S::NAME, ServingStatus::NotServing);
    }

    /// Sets the status of the service named `service` (`package.Service`, or `""` for the
    /// server as a whole). Watchers of the service are told if the status changed.
    ///
    /// `SERVICE_UNKNOWN` is the same as [`clear_service_status`](Self::clear_service_status).
    /// Ignored after [`shutdown`](Self::shutdown): a draining server stays `NOT_SERVING`.
    pub fn set_service_status(&self, service: &str, status: ServingStatus) {
        let mut inner = self.lock();
        if inner.shut_down {
            return;
        }
        if status == ServingStatus::ServiceUnknown {
            return clear(&mut inner, service);
        }
        let draining = false;
        match inner.services.get(service) {
            Some(tx) => {
                tx.send_if_modified(|s| {
                    let changed = s.status != status;
                    s.status = status;
                    changed
                });
            }
            None => {
                let (tx, _) = watch::channel(State { status, draining });
                inner.services.insert(service.to_owned(), tx);
            }
        }
    }

    /// Forgets the status of `service`: `Check` then fails with `NOT_FOUND`, and watchers see
    /// `SERVICE_UNKNOWN`. Ignored after [`shutdown`](Self::shutdown).
    pub fn clear_service_status(&self, service: &str) {
        let mut inner = self.lock();
        if !inner.shut_down {
            clear(&mut inner, service);
        }
    }

    /// The status of `service`, or `None` when it is not set (`Check` fails with `NOT_FOUND`).
    pub fn service_status(&self, service: &str) -> Option<ServingStatus> {
        let inner = self.lock();
        let status = inner.services.get(service)?.borrow().status;
        (status != ServingStatus::ServiceUnknown).then_some(status)
    }

    /// Reports every service whose status is set, and the server as a whole (`""`), as
    /// `NOT_SERVING`, and ignores every later change (as grpc-go's `Shutdown`). `Watch`
    /// calls send `NOT_SERVING` (watchers of unknown services nothing more) and then end
    /// with `UNAVAILABLE`, so that they do not keep a draining server waiting.
    pub fn shutdown(&self) {
        let mut inner = self.lock();
        inner.shut_down = true;
        inner.services.entry(String::new()).or_insert_with(|| {
            watch::channel(State {
                status: ServingStatus::NotServing,
                draining: true,
            })
            .0
        });
        for tx in inner.services.values() {
            tx.send_modify(|s| {
                if s.status != ServingStatus::ServiceUnknown {
                    s.status = ServingStatus::NotServing;
                }
                s.draining = true;
            });
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }

    /// Calls [`shutdown`](Self::shutdown) as soon as the graceful shutdown of the server
    /// behind `handle` starts ([`ServerHandle::shutdown_started`]), so health checkers see
    /// `NOT_SERVING` while the server's calls drain.
    ///
    /// Spawns a task on the current tokio runtime (and so panics outside one); abort the
    /// returned handle to cancel.
    pub fn set_not_serving_on_shutdown(
        &self,
        handle: &ServerHandle,
    ) -> tokio::task::JoinHandle<()> {
        let started = handle.shutdown_started();
        let reporter = self.clone();
        tokio::spawn(async move {
            started.await;
            reporter.shutdown();
        })
    }

    /// A receiver of the status of `service`, made `SERVICE_UNKNOWN` when not set.
    pub(crate) fn subscribe(&self, service: &str) -> Watcher {
        let mut inner = self.lock();
        let draining = inner.shut_down;
        let rx = match inner.services.get(service) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(State {
                    status: ServingStatus::ServiceUnknown,
                    draining,
                });
                inner.services.insert(service.to_owned(), tx);
                rx
            }
        };
        Watcher {
            rx: Some(rx),
            service: service.to_owned(),
            reporter: self.clone(),
        }
    }
}

/// Sets `service` unknown, and drops its entry unless someone watches it.
fn clear(inner: &mut Inner, service: &str) {
    if let Some(tx) = inner.services.get(service) {
        if tx.receiver_count() == 0 {
            inner.services.remove(service);
        } else {
            tx.send_if_modified(|s| {
                let changed = s.status != ServingStatus::ServiceUnknown;
                s.status = ServingStatus::ServiceUnknown;
                changed
            });
        }
    }
}

/// One `Watch` call's receiver. Dropping the last watcher of an unknown service forgets the
/// service, so watching made-up names does not grow the map.
#[derive(Debug)]
pub(crate) struct Watcher {
    rx: Option<watch::Receiver<State>>,
    service: String,
    reporter: HealthReporter,
}

impl Watcher {
    /// The latest state, marked seen.
    pub(crate) fn current(&mut self) -> State {
        match &mut self.rx {
            Some(rx) => *rx.borrow_and_update(),
            None => unreachable!("the receiver is only taken on drop"),
        }
    }

    /// Waits for a state not yet seen; `None` if the service's entry was dropped.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub(crate) async fn next(&mut self) -> Option<State> {
        let rx = self.rx.as_mut()?;
        rx.changed().await.ok()?;
        Some(*rx.borrow_and_update())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut inner = self.reporter.lock();
        if let Some(tx) = inner.services.get(&self.service) {
            if tx.receiver_count() == 0 && tx.borrow().status == ServingStatus::ServiceUnknown {
                inner.services.remove(&self.service);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(reporter: &HealthReporter) -> usize {
        reporter.lock().services.len()
    }

    #[test]
    fn watching_unknown_names_does_not_grow_the_map() {
        let reporter = HealthReporter::new();
        reporter.set_service_status("known", ServingStatus::Serving);
        let watchers: Vec<_> = (0..100)
            .map(|i| reporter.subscribe(&format!("made.Up{i}")))
            .collect();
        let twice = reporter.subscribe("made.Up0");
        assert_eq!(entries(&reporter), 101);
        drop(watchers);
        // One watcher of made.Up0 is left.
        assert_eq!(entries(&reporter), 2);
        drop(twice);
        assert_eq!(entries(&reporter), 1);
        // Watching a known service keeps it, of course.
        drop(reporter.subscribe("known"));
        assert_eq!(
            reporter.service_status("known"),
            Some(ServingStatus::Serving)
        );
    }

    #[test]
    fn clearing_forgets_unwatched_services_and_keeps_watched_ones_unknown() {
        let reporter = HealthReporter::new();
        reporter.set_service_status("a", ServingStatus::Serving);
        reporter.set_service_status("b", ServingStatus::Serving);
        let mut watcher = reporter.subscribe("b");
        reporter.clear_service_status("a");
        reporter.set_service_status("b", ServingStatus::ServiceUnknown);
        assert_eq!(entries(&reporter), 1);
        assert_eq!(reporter.service_status("b"), None);
        assert_eq!(watcher.current().status, ServingStatus::ServiceUnknown);
        drop(watcher);
        assert_eq!(entries(&reporter), 0);
    }

    #[test]
    fn shutdown_sets_not_serving_and_ignores_later_changes() {
        let reporter = HealthReporter::new();
        reporter.set_service_status("a", ServingStatus::Serving);
        reporter.set_service_status("b", ServingStatus::Unknown);
        let mut unknown = reporter.subscribe("c");
        reporter.shutdown();
        assert!(reporter.is_shut_down());
        for name in ["", "a", "b"] {
            assert_eq!(
                reporter.service_status(name),
                Some(ServingStatus::NotServing),
                "{name:?}"
            );
        }
        let state = unknown.current();
        assert_eq!(state.status, ServingStatus::ServiceUnknown);
        assert!(state.draining);
        reporter.set_service_status("a", ServingStatus::Serving);
        reporter.clear_service_status("b");
        reporter.set_service_status("d", ServingStatus::Serving);
        assert_eq!(
            reporter.service_status("a"),
            Some(ServingStatus::NotServing)
        );
        assert_eq!(
            reporter.service_status("b"),
            Some(ServingStatus::NotServing)
        );
        assert_eq!(reporter.service_status("d"), None);
        // A watcher arriving now is draining from the start.
        assert!(reporter.subscribe("e").current().draining);
    }
}
