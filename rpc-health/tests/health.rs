//! Check and Watch end to end over QUIC on 127.0.0.1.

mod common;

use common::{client, req, start, Greeter};
use rpc_core::{Code, Request, Streaming};
use rpc_health::{HealthCheckResponse, ServingStatus};
use std::time::Duration;

async fn check(client: &rpc_health::HealthClient, service: &str) -> Result<ServingStatus, Code> {
    client
        .check(req(service))
        .await
        .map(|r| r.into_inner().status())
        .map_err(|s| s.code())
}

/// The next message of a Watch call (bounded wait: a hang guard).
async fn next(stream: &mut Streaming<HealthCheckResponse>) -> Result<Option<ServingStatus>, Code> {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("no watch message within 5 s")
        .map(|m| m.map(|m| m.status()))
        .map_err(|s| s.code())
}

/// Asserts that the watch stream sends nothing for a while.
async fn quiet(stream: &mut Streaming<HealthCheckResponse>) {
    let got = tokio::time::timeout(Duration::from_millis(200), stream.message()).await;
    assert!(got.is_err(), "unexpected watch message: {got:?}");
}

async fn watch(client: &rpc_health::HealthClient, service: &str) -> Streaming<HealthCheckResponse> {
    let mut request = Request::new(req(service));
    request.clear_timeout();
    client.watch(request).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_serving_not_serving_and_unknown() {
    let server = start();
    let client = client(server.addr).await;

    // The server as a whole is SERVING from the start; Greeter is not set yet.
    assert_eq!(check(&client, "").await, Ok(ServingStatus::Serving));
    assert_eq!(
        check(&client, "helloworld.Greeter").await,
        Err(Code::NotFound)
    );

    server.reporter.set_serving::<Greeter>();
    assert_eq!(
        check(&client, "helloworld.Greeter").await,
        Ok(ServingStatus::Serving)
    );
    server.reporter.set_not_serving::<Greeter>();
    assert_eq!(
        check(&client, "helloworld.Greeter").await,
        Ok(ServingStatus::NotServing)
    );
    server
        .reporter
        .set_service_status("", ServingStatus::NotServing);
    assert_eq!(check(&client, "").await, Ok(ServingStatus::NotServing));

    // Unknown service: NOT_FOUND, with the name in the message.
    let status = client.check(req("no.Such")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("no.Such"), "{status}");

    // Cleared: unknown again.
    server.reporter.clear_service_status("helloworld.Greeter");
    assert_eq!(
        check(&client, "helloworld.Greeter").await,
        Err(Code::NotFound)
    );
    assert_eq!(server.reporter.service_status("helloworld.Greeter"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_the_current_status_then_each_change() {
    let server = start();
    let client = client(server.addr).await;
    server.reporter.set_serving::<Greeter>();

    let mut stream = watch(&client, "helloworld.Greeter").await;
    assert_eq!(next(&mut stream).await, Ok(Some(ServingStatus::Serving)));
    quiet(&mut stream).await;

    server.reporter.set_not_serving::<Greeter>();
    assert_eq!(next(&mut stream).await, Ok(Some(ServingStatus::NotServing)));
    // Setting the same status again is not a change.
    server.reporter.set_not_serving::<Greeter>();
    quiet(&mut stream).await;
    server.reporter.set_serving::<Greeter>();
    assert_eq!(next(&mut stream).await, Ok(Some(ServingStatus::Serving)));

    // Another service's change is not this watcher's business.
    server
        .reporter
        .set_service_status("", ServingStatus::NotServing);
    quiet(&mut stream).await;

    // Cleared: the watcher sees SERVICE_UNKNOWN and stays.
    server.reporter.clear_service_status("helloworld.Greeter");
    assert_eq!(
        next(&mut stream).await,
        Ok(Some(ServingStatus::ServiceUnknown))
    );
    server.reporter.set_serving::<Greeter>();
    assert_eq!(next(&mut stream).await, Ok(Some(ServingStatus::Serving)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_an_unknown_service_until_it_is_set() {
    let server = start();
    let client = client(server.addr).await;

    let mut stream = watch(&client, "later.Service").await;
    assert_eq!(
        next(&mut stream).await,
        Ok(Some(ServingStatus::ServiceUnknown))
    );
    quiet(&mut stream).await;
    // Being watched does not make a service known to Check.
    assert_eq!(check(&client, "later.Service").await, Err(Code::NotFound));

    server
        .reporter
        .set_service_status("later.Service", ServingStatus::Serving);
    assert_eq!(next(&mut stream).await, Ok(Some(ServingStatus::Serving)));
    assert_eq!(
        check(&client, "later.Service").await,
        Ok(ServingStatus::Serving)
    );

    // A second watcher starts from the current status.
    let mut second = watch(&client, "later.Service").await;
    assert_eq!(next(&mut second).await, Ok(Some(ServingStatus::Serving)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_not_serving_to_watchers_while_draining() {
    // A grace period far longer than the test: the server must not wait for the watchers.
    let server = start();
    let client = client(server.addr).await;
    server.reporter.set_serving::<Greeter>();

    let mut overall = watch(&client, "").await;
    let mut greeter = watch(&client, "helloworld.Greeter").await;
    let mut unknown = watch(&client, "no.Such").await;
    assert_eq!(next(&mut overall).await, Ok(Some(ServingStatus::Serving)));
    assert_eq!(next(&mut greeter).await, Ok(Some(ServingStatus::Serving)));
    assert_eq!(
        next(&mut unknown).await,
        Ok(Some(ServingStatus::ServiceUnknown))
    );
    assert!(!server.handle.is_shutting_down());

    let started = tokio::time::Instant::now();
    server.handle.shutdown();

    // Each watcher is told NOT_SERVING, then its call ends with UNAVAILABLE (the server is
    // going away: clients retry elsewhere), not OK.
    assert_eq!(
        next(&mut overall).await,
        Ok(Some(ServingStatus::NotServing))
    );
    assert_eq!(
        next(&mut greeter).await,
        Ok(Some(ServingStatus::NotServing))
    );
    assert_eq!(next(&mut overall).await, Err(Code::Unavailable));
    assert_eq!(next(&mut greeter).await, Err(Code::Unavailable));
    assert_eq!(next(&mut unknown).await, Err(Code::Unavailable));
    assert!(server.reporter.is_shut_down());

    // Later changes are ignored: a draining server stays NOT_SERVING.
    server.reporter.set_serving::<Greeter>();
    assert_eq!(
        server.reporter.service_status("helloworld.Greeter"),
        Some(ServingStatus::NotServing)
    );
    assert_eq!(
        server.reporter.service_status(""),
        Some(ServingStatus::NotServing)
    );

    // With the watch calls over, the server closes well before its 30 s grace period.
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("server still draining after 5 s")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_while_draining_says_not_serving() {
    let server = start();
    let client = client(server.addr).await;
    server.reporter.set_serving::<Greeter>();
    // A call in flight keeps the server draining (and the connection open).
    let mut held = watch(&client, "held.Service").await;
    assert_eq!(
        next(&mut held).await,
        Ok(Some(ServingStatus::ServiceUnknown))
    );

    server.handle.shutdown();
    let reporter = server.reporter.clone();
    assert!(
        eventually(|| reporter.is_shut_down()).await,
        "reporter not shut down"
    );
    assert_eq!(
        server.reporter.service_status("helloworld.Greeter"),
        Some(ServingStatus::NotServing)
    );
    // New calls are refused by the draining server, whatever their service.
    let refused = client.check(req("helloworld.Greeter")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused}");
}

async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}
