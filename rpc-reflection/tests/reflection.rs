//! ServerReflectionInfo end to end over QUIC on 127.0.0.1.

mod common;

use common::{names, start, start_default, Session, NOT_FOUND, TEST_SET};
use futures_util::stream;
use rpc_core::Code;
use rpc_reflection::pb::server_reflection_request::MessageRequest;
use rpc_reflection::pb::server_reflection_response::MessageResponse;
use rpc_reflection::{Builder, ServerReflectionRequest};

const SHOP_CLOSURE: [&str; 4] = [
    "testpkg/shop.proto",
    "testpkg/types.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/timestamp.proto",
];
const TYPES_CLOSURE: [&str; 2] = ["testpkg/types.proto", "google/protobuf/timestamp.proto"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_services_is_the_registered_services_and_reflection() {
    let mut session = Session::open(start_default()).await;
    assert_eq!(
        session.list_services().await,
        [
            "grpc.reflection.v1.ServerReflection",
            "testpkg.Shop",
            "testpkg.Stock"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_services_only_the_named_ones_or_without_reflection() {
    let named = start(
        Builder::configure()
            .register_encoded_file_descriptor_set(TEST_SET)
            .with_service_name("testpkg.Stock"),
    );
    let mut session = Session::open(named).await;
    assert_eq!(
        session.list_services().await,
        ["grpc.reflection.v1.ServerReflection", "testpkg.Stock"]
    );

    let bare = start(
        Builder::configure()
            .register_encoded_file_descriptor_set(TEST_SET)
            .include_reflection_service(false),
    );
    let mut session = Session::open(bare).await;
    assert_eq!(
        session.list_services().await,
        ["testpkg.Shop", "testpkg.Stock"]
    );
    let (code, _) = session
        .symbol("grpc.reflection.v1.ServerReflection")
        .await
        .unwrap_err();
    assert_eq!(code, NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_containing_symbol_is_the_file_then_its_dependencies() {
    let mut session = Session::open(start_default()).await;
    for symbol in [
        "testpkg.Shop",        // service
        "testpkg.Shop.Buy",    // method
        "testpkg.Stock.Count", // method of the other service
        "testpkg.Receipt",     // message
        "testpkg.Order.Line",  // nested message
        "testpkg.Order.State", // nested enum
        "testpkg.STATE_PAID",  // no: nested enum values are scoped in the message
        "testpkg.Order.STATE_PAID",
        "testpkg.Order.lines",    // field
        "testpkg.Order.delivery", // oneof
    ] {
        let files = session.symbol(symbol).await;
        if symbol == "testpkg.STATE_PAID" {
            assert_eq!(files.unwrap_err().0, NOT_FOUND, "{symbol}");
            continue;
        }
        let files = files.unwrap_or_else(|e| panic!("{symbol}: {e:?}"));
        assert_eq!(names(&files), SHOP_CLOSURE, "{symbol}");
    }

    // The defining file as compiled, with its source info (comments and locations).
    let files = session.symbol("testpkg.Shop.Buy").await.unwrap();
    let shop = &files[0];
    assert_eq!(shop.package(), "testpkg");
    let services: Vec<_> = shop.service.iter().map(|s| s.name()).collect();
    assert_eq!(services, ["Shop", "Stock"]);
    let methods: Vec<_> = shop.service[0].method.iter().map(|m| m.name()).collect();
    assert_eq!(methods, ["Buy", "Watch"]);
    assert!(shop.source_code_info.is_some(), "no source info");
    assert_eq!(
        shop.dependency,
        ["testpkg/types.proto", "google/protobuf/empty.proto"]
    );

    // A type of another package: its own file first.
    for symbol in [
        "testpkg.types.Color",
        "testpkg.types.COLOR_RED",
        "testpkg.types.Money",
    ] {
        let files = session.symbol(symbol).await.unwrap();
        assert_eq!(names(&files), TYPES_CLOSURE, "{symbol}");
    }
    let files = session.symbol("google.protobuf.Timestamp").await.unwrap();
    assert_eq!(names(&files), ["google/protobuf/timestamp.proto"]);

    // The reflection service describes itself.
    let files = session
        .symbol("grpc.reflection.v1.ServerReflection.ServerReflectionInfo")
        .await
        .unwrap();
    assert_eq!(names(&files), ["grpc/reflection/v1/reflection.proto"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_by_filename() {
    let mut session = Session::open(start_default()).await;
    let files = session.file("testpkg/shop.proto").await.unwrap();
    assert_eq!(names(&files), SHOP_CLOSURE);
    let files = session.file("testpkg/types.proto").await.unwrap();
    assert_eq!(names(&files), TYPES_CLOSURE);
    let files = session.file("google/protobuf/empty.proto").await.unwrap();
    assert_eq!(names(&files), ["google/protobuf/empty.proto"]);

    let (code, message) = session.file("testpkg/nope.proto").await.unwrap_err();
    assert_eq!(code, NOT_FOUND);
    assert!(message.contains("testpkg/nope.proto"), "{message}");
    // Names are matched exactly.
    let (code, _) = session.file("shop.proto").await.unwrap_err();
    assert_eq!(code, NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_is_not_found_and_the_call_goes_on() {
    let mut session = Session::open(start_default()).await;
    for symbol in [
        "testpkg.Nope",
        "Shop",          // not fully qualified
        ".testpkg.Shop", // a leading dot is not part of the name
        "testpkg.Shop.Sell",
        "testpkg", // a package is not a symbol
        "",
    ] {
        let (code, message) = session.symbol(symbol).await.unwrap_err();
        assert_eq!(code, NOT_FOUND, "{symbol}");
        assert!(message.contains(&format!("{symbol:?}")), "{message}");
        // The same call still answers.
        let files = session.symbol("testpkg.Shop").await.unwrap();
        assert_eq!(names(&files), SHOP_CLOSURE);
    }
    assert_eq!(session.list_services().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions() {
    let mut session = Session::open(start_default()).await;
    assert_eq!(
        session.extension_numbers("testpkg.ext.Extendable").await,
        Ok(vec![100, 150])
    );
    // A message without extensions: an empty list.
    assert_eq!(
        session.extension_numbers("testpkg.Receipt").await,
        Ok(vec![])
    );
    assert_eq!(
        session.extension_numbers("testpkg.Order.Line").await,
        Ok(vec![])
    );
    // No such message type (an enum is not one): NOT_FOUND.
    for ty in ["testpkg.Nope", "testpkg.types.Color", "testpkg.Shop"] {
        assert_eq!(
            session.extension_numbers(ty).await.unwrap_err().0,
            NOT_FOUND,
            "{ty}"
        );
    }

    // The file of an extension, top-level or declared in a message.
    for number in [100, 150] {
        let files = session
            .extension("testpkg.ext.Extendable", number)
            .await
            .unwrap();
        assert_eq!(names(&files), ["testpkg/ext.proto"]);
    }
    let (code, _) = session
        .extension("testpkg.ext.Extendable", 101)
        .await
        .unwrap_err();
    assert_eq!(code, NOT_FOUND);
    let (code, _) = session.extension("testpkg.Nope", 100).await.unwrap_err();
    assert_eq!(code, NOT_FOUND);

    // Extensions are symbols too.
    for symbol in ["testpkg.ext.note", "testpkg.ext.Holder.level"] {
        let files = session.symbol(symbol).await.unwrap();
        assert_eq!(names(&files), ["testpkg/ext.proto"], "{symbol}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_asks_nothing_ends_the_call_invalid_argument() {
    let mut session = Session::open(start_default()).await;
    assert_eq!(session.list_services().await.len(), 3);
    let status = session
        .call(ServerReflectionRequest {
            host: String::new(),
            message_request: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_stream_is_answered_in_order() {
    let addr = start_default();
    let channel = rpc_core::Endpoint::from_addr(addr)
        .tls_config(common::cert().client_config())
        .connect()
        .await
        .unwrap();
    let client = rpc_reflection::ServerReflectionClient::new(channel);
    const N: usize = 300;
    let requests = (0..N).map(|i| ServerReflectionRequest {
        host: i.to_string(),
        message_request: Some(if i % 2 == 0 {
            MessageRequest::FileContainingSymbol("testpkg.Order".into())
        } else {
            MessageRequest::FileContainingSymbol(format!("testpkg.Nope{i}"))
        }),
    });
    let mut responses = client
        .server_reflection_info(stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut count = 0;
    while let Some(response) = responses.message().await.unwrap() {
        assert_eq!(response.valid_host, count.to_string());
        match (count % 2, response.message_response) {
            (0, Some(MessageResponse::FileDescriptorResponse(r))) => {
                assert_eq!(r.file_descriptor_proto.len(), SHOP_CLOSURE.len());
            }
            (1, Some(MessageResponse::ErrorResponse(e))) => {
                assert_eq!(e.error_code, NOT_FOUND);
            }
            other => panic!("response {count}: {other:?}"),
        }
        count += 1;
    }
    assert_eq!(count, N);
}
