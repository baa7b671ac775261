//! Error details over a real call: a server on 127.0.0.1 fails calls with rich, malformed
//! and oversized details, and the client reads what arrives.

use bytes::Bytes;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
use rpc_types::{
    ErrorDetails, FieldViolation, HelpLink, PreconditionViolation, QuotaViolation, StatusExt,
};
use std::time::Duration;

/// Which failure the server answers with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FailRequest {
    #[prost(string, tag = "1")]
    pub how: String,
}

/// Never sent: every call fails.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FailReply {}

/// A service whose only method fails, as asked.
#[rpc_core::service(package = "test.rich", descriptor = false)]
pub trait Failer {
    /// Fails the call the way `how` says.
    async fn fail(&self, request: Request<FailRequest>) -> Result<Response<FailReply>, Status>;
}

struct MyFailer;

fn rich() -> ErrorDetails {
    ErrorDetails::new()
        .with_error_info("TOO_FAST", "test.rich", [("limit", "1/s")])
        .with_retry_info(Some(Duration::from_secs(3)))
        .with_debug_info(["failer.rs:1"], "asked to fail")
        .with_quota_failure([QuotaViolation::new("client:1", "1 call a second")])
        .with_precondition_failure([PreconditionViolation::new("TOS", "test", "not signed")])
        .with_bad_request([FieldViolation::new("how", "asked for an error")])
        .with_request_info("req-1", "")
        .with_resource_info("service", "test.rich.Failer", "", "failing on purpose")
        .with_help([HelpLink::new("why", "https://example.com/why")])
        .with_localized_message("en-GB", "Failed, as you asked.")
}

impl failer_server::Failer for MyFailer {
    async fn fail(&self, request: Request<FailRequest>) -> Result<Response<FailReply>, Status> {
        let garbage = |bytes: &'static [u8]| {
            Err(Status::with_details(
                Code::FailedPrecondition,
                "garbage details",
                Bytes::from_static(bytes),
            ))
        };
        match request.into_inner().how.as_str() {
            "rich" => Err(Status::with_error_details(
                Code::ResourceExhausted,
                "slow down",
                rich(),
            )),
            "garbage" => garbage(b"\xff\xfe\xfd not protobuf"),
            // A google.rpc.Status whose one detail claims to be a BadRequest but is not.
            "bad payload" => garbage(
                b"\x1a\x2f\x0a\x29type.googleapis.com/google.rpc.BadRequest\x12\x02\xff\xff",
            ),
            "oversized" => {
                let huge = ErrorDetails::new().with_debug_info(["x".repeat(32 * 1024)], "");
                Err(Status::with_error_details(Code::Internal, "huge", huge))
            }
            other => Err(Status::invalid_argument(format!("unknown: {other}"))),
        }
    }
}

struct Running {
    client: failer_client::FailerClient,
    _server: tokio::task::JoinHandle<()>,
}

async fn start() -> Running {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let server = Server::builder()
        .tls_config(cert.server_config().unwrap())
        .add_service(failer_server::FailerServer::new(MyFailer))
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    let task = tokio::spawn(async move {
        let _ = server.serve().await;
    });
    let channel = Endpoint::from_addr(addr)
        .tls_config(cert.client_config())
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    Running {
        client: failer_client::FailerClient::new(channel),
        _server: task,
    }
}

async fn fail(client: &failer_client::FailerClient, how: &str) -> Status {
    let request = FailRequest { how: how.into() };
    client.fail(request).await.unwrap_err()
}

#[tokio::test]
async fn the_client_reads_every_payload_the_server_sent() {
    let running = start().await;
    let status = fail(&running.client, "rich").await;
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "slow down");

    let sent = rich();
    assert_eq!(status.get_error_details().unwrap(), sent);
    let info = status.get_details_error_info().unwrap().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.metadata["limit"].as_str()),
        ("TOO_FAST", "1/s")
    );
    let retry = status.get_details_retry_info().unwrap().unwrap();
    assert_eq!(retry.delay(), Some(Duration::from_secs(3)));
    assert_eq!(status.get_details_debug_info().unwrap(), sent.debug_info);
    assert_eq!(
        status.get_details_quota_failure().unwrap(),
        sent.quota_failure
    );
    let pre = status.get_details_precondition_failure().unwrap();
    assert_eq!(pre, sent.precondition_failure);
    let bad = status.get_details_bad_request().unwrap().unwrap();
    assert_eq!(
        bad.field_violations,
        [FieldViolation::new("how", "asked for an error")]
    );
    assert_eq!(
        status.get_details_request_info().unwrap(),
        sent.request_info
    );
    assert_eq!(
        status.get_details_resource_info().unwrap(),
        sent.resource_info
    );
    assert_eq!(status.get_details_help().unwrap(), sent.help);
    let text = status.get_details_localized_message().unwrap().unwrap();
    assert_eq!(text.message, "Failed, as you asked.");
    assert_eq!(status.get_details_vec().unwrap(), sent.into_vec());
}

#[tokio::test]
async fn garbage_details_are_an_error_and_the_call_keeps_its_status() {
    let running = start().await;
    let status = fail(&running.client, "garbage").await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "garbage details");
    assert!(matches!(
        status.get_error_details(),
        Err(rpc_types::DetailsError::Status(_))
    ));
    assert!(status.get_details_help().is_err());

    // The connection is fine: the next call gets its details.
    let status = fail(&running.client, "rich").await;
    assert!(status.get_details_help().unwrap().is_some());
}

#[tokio::test]
async fn a_malformed_payload_fails_only_its_getter() {
    let running = start().await;
    let status = fail(&running.client, "bad payload").await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(matches!(
        status.get_details_bad_request(),
        Err(rpc_types::DetailsError::Detail { .. })
    ));
    assert_eq!(status.get_details_help().unwrap(), None);
    assert_eq!(status.rpc_status().unwrap().unwrap().details.len(), 1);
}

#[tokio::test]
async fn details_over_the_clients_header_limit_end_the_call_resource_exhausted() {
    let running = start().await;
    let status = fail(&running.client, "oversized").await;
    // The trailers exceed the client's max_header_list_size (16 KiB): refused on the frame
    // header, before the details are buffered or decoded.
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_header_list_size"),
        "{status:?}"
    );
    assert!(status.details().is_empty());
}
