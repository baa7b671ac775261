//! Client and server interceptors.

mod common;

use common::*;
use rpc_core::{Code, Request, Status};

fn auth(req: &mut Request<()>) -> Result<(), Status> {
    match req.metadata().get("authorization") {
        Some("Bearer secret") => {
            req.extensions_mut().insert(User("alice".into()));
            Ok(())
        }
        _ => Err(Status::unauthenticated("missing or bad token")),
    }
}

#[tokio::test]
async fn server_interceptor_rejects_and_annotates() {
    let srv = start_with(builder().interceptor(auth));
    let ch = connect(srv.addr).await;
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "missing or bad token");

    // A client interceptor adds the token; the handler sees what the server one stored.
    let ch = endpoint(srv.addr)
        .interceptor(|req: &mut Request<()>| {
            assert_eq!(req.path(), Some("/test.Test/Unary"));
            req.metadata_mut()
                .insert("authorization", "Bearer secret")
                .unwrap();
            Ok(())
        })
        .connect()
        .await
        .unwrap();
    let r = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert_eq!(r.trailers().get("user"), Some("alice"));
    assert_eq!(r.trailers().get("path"), Some("/test.Test/Unary"));
    assert!(eventually(|| srv.handle.active_calls() == 0).await);
}

#[tokio::test]
async fn client_interceptor_can_fail_the_call_locally() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .interceptor(|_: &mut Request<()>| Err(Status::permission_denied("not from here")))
        .connect()
        .await
        .unwrap();
    let err = ch
        .server_streaming("/test.Test/Expand", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(srv.handle.active_calls(), 0);
}

/// An async token check: waits (as a lookup would), then annotates or rejects.
async fn lookup(mut req: Request<()>) -> Result<Request<()>, Status> {
    tokio::task::yield_now().await;
    let user = match req.metadata().get("authorization") {
        Some("Bearer secret") => "alice",
        Some("Bearer other") => "bob",
        _ => return Err(Status::unauthenticated("unknown token")),
    };
    req.extensions_mut().insert(User(user.into()));
    Ok(req)
}

#[tokio::test]
async fn async_interceptors_run_in_order_with_sync_ones() {
    // Server: a sync interceptor, then an async one that may overwrite what it stored.
    let srv = start_with(
        builder()
            .interceptor(|req: &mut Request<()>| {
                req.extensions_mut().insert(User("sync".into()));
                Ok(())
            })
            .async_interceptor(lookup),
    );
    let err = connect(srv.addr)
        .await
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "unknown token");

    // Client: an async interceptor adds a token, a later sync one replaces it.
    let ch = endpoint(srv.addr)
        .async_interceptor(|mut req: Request<()>| async move {
            tokio::task::yield_now().await;
            req.metadata_mut()
                .insert("authorization", "Bearer secret")
                .unwrap();
            Ok(req)
        })
        .interceptor(|req: &mut Request<()>| {
            assert_eq!(req.metadata().get("authorization"), Some("Bearer secret"));
            req.metadata_mut()
                .insert("authorization", "Bearer other")
                .unwrap();
            Ok(())
        })
        .connect()
        .await
        .unwrap();
    let r = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap();
    assert_eq!(r.trailers().get("user"), Some("bob"));
    // The streaming paths run them too.
    let mut m = msg(1);
    m.count = 2;
    let replies = ch
        .server_streaming("/test.Test/Expand", Request::new(m), Codec::new())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(futures_util::StreamExt::count(replies).await, 2);
}

#[tokio::test]
async fn async_client_interceptor_can_fail_the_call_locally() {
    let srv = start();
    let ch = endpoint(srv.addr)
        .async_interceptor(|_req: Request<()>| async {
            Err(Status::permission_denied("not from here"))
        })
        .connect()
        .await
        .unwrap();
    let err = ch
        .unary("/test.Test/Unary", Request::new(msg(1)), Codec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(srv.handle.active_calls(), 0);
}
