//! Building and reading error details without a network: every payload round trips, and
//! malformed details give the documented errors, never a panic.

use bytes::Bytes;
use prost::Message;
use rpc_core::{Code, Status};
use rpc_types::pb;
use rpc_types::{
    Any, DetailsError, ErrorDetail, ErrorDetails, FieldViolation, HelpLink, PreconditionViolation,
    QuotaViolation, StatusExt,
};
use std::time::Duration;

fn every_payload() -> ErrorDetails {
    ErrorDetails::new()
        .with_error_info("QUOTA", "example.com", [("limit", "10"), ("used", "11")])
        .with_retry_info(Some(Duration::from_millis(2500)))
        .with_debug_info(["main.rs:1", "lib.rs:2"], "it broke")
        .with_quota_failure([QuotaViolation::new("project:7", "daily limit")])
        .with_precondition_failure([PreconditionViolation::new("TOS", "example.com", "sign")])
        .with_bad_request([
            FieldViolation::new("name", "empty"),
            FieldViolation::new("address.zip", "not a zip code"),
        ])
        .with_request_info("req-42", "opaque")
        .with_resource_info("file", "/tmp/x", "user:me", "not found")
        .with_help([HelpLink::new("docs", "https://example.com/docs")])
        .with_localized_message("fr-CH", "Réessayez plus tard.")
        .with_other(custom_any())
}

fn custom_any() -> Any {
    Any {
        type_url: "type.example.com/acme.Custom".into(),
        // Not even valid protobuf: unknown types are never decoded.
        value: vec![0xff, 0xff],
    }
}

fn status_of(details: Vec<Any>) -> Status {
    let rpc = pb::Status {
        code: 3,
        message: "m".into(),
        details,
    };
    Status::with_details(Code::InvalidArgument, "m", Bytes::from(rpc.encode_to_vec()))
}

fn any(type_url: &str, value: &[u8]) -> Any {
    Any {
        type_url: type_url.into(),
        value: value.to_vec(),
    }
}

#[test]
fn every_payload_round_trips() {
    let sent = every_payload();
    let status = Status::with_error_details(Code::ResourceExhausted, "slow down", sent.clone());
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "slow down");

    assert_eq!(status.get_error_details().unwrap(), sent);
    assert_eq!(status.get_details_vec().unwrap(), sent.clone().into_vec());
    assert_eq!(status.get_details_vec().unwrap().len(), 11);

    // Every field of `sent` is set, so equal options are equal payloads.
    assert_eq!(status.get_details_error_info().unwrap(), sent.error_info);
    assert_eq!(status.get_details_retry_info().unwrap(), sent.retry_info);
    assert_eq!(status.get_details_debug_info().unwrap(), sent.debug_info);
    let quota = status.get_details_quota_failure().unwrap();
    assert_eq!(quota, sent.quota_failure);
    let pre = status.get_details_precondition_failure().unwrap();
    assert_eq!(pre, sent.precondition_failure);
    assert_eq!(status.get_details_bad_request().unwrap(), sent.bad_request);
    assert_eq!(
        status.get_details_request_info().unwrap(),
        sent.request_info
    );
    assert_eq!(
        status.get_details_resource_info().unwrap(),
        sent.resource_info
    );
    assert_eq!(status.get_details_help().unwrap(), sent.help);
    let localized = status.get_details_localized_message().unwrap();
    assert_eq!(localized, sent.localized_message);

    let retry = status.get_details_retry_info().unwrap().unwrap();
    assert_eq!(retry.delay(), Some(Duration::from_millis(2500)));
}

#[test]
fn details_bytes_are_an_encoded_google_rpc_status() {
    let details = ErrorDetails::new().with_localized_message("en", "hi");
    let status = Status::with_error_details(Code::NotFound, "gone", details);
    // As gRPC's grpc-status-details-bin: code and message repeated, payloads as Any.
    let rpc = pb::Status::decode(status.details().as_ref()).unwrap();
    assert_eq!(rpc.code, Code::NotFound as i32);
    assert_eq!(rpc.message, "gone");
    assert_eq!(
        rpc.details[0].type_url,
        "type.googleapis.com/google.rpc.LocalizedMessage"
    );
    assert_eq!(status.rpc_status().unwrap(), Some(rpc));
}

#[test]
fn each_payload_alone_round_trips_through_any() {
    for detail in every_payload().into_vec() {
        let back = ErrorDetail::from_any(detail.to_any()).unwrap();
        assert_eq!(back, detail);
        let status = Status::with_error_details_vec(Code::Internal, "x", [detail.clone()]);
        assert_eq!(status.get_details_vec().unwrap(), vec![detail]);
    }
}

#[test]
fn no_details_means_nothing_to_read() {
    let status = Status::internal("plain");
    assert_eq!(status.rpc_status().unwrap(), None);
    assert!(status.get_error_details().unwrap().is_empty());
    assert!(status.get_details_vec().unwrap().is_empty());
    assert_eq!(status.get_details_bad_request().unwrap(), None);
    // An ErrorDetails with nothing in it encodes code and message only.
    let status = Status::with_error_details(Code::Aborted, "a", ErrorDetails::new());
    assert!(status.get_error_details().unwrap().is_empty());
}

/// Calls every getter, checking each fails with `DetailsError::Status`.
fn assert_status_error(status: &Status) {
    let is_status_error = |e: DetailsError| matches!(e, DetailsError::Status(_));
    assert!(is_status_error(status.rpc_status().unwrap_err()));
    assert!(is_status_error(status.get_error_details().unwrap_err()));
    assert!(is_status_error(status.get_details_vec().unwrap_err()));
    assert!(is_status_error(
        status.get_details_error_info().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_retry_info().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_debug_info().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_quota_failure().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_precondition_failure().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_bad_request().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_request_info().unwrap_err()
    ));
    assert!(is_status_error(
        status.get_details_resource_info().unwrap_err()
    ));
    assert!(is_status_error(status.get_details_help().unwrap_err()));
    assert!(is_status_error(
        status.get_details_localized_message().unwrap_err()
    ));
}

#[test]
fn details_that_are_not_a_google_rpc_status_are_an_error() {
    let garbage: [&[u8]; 6] = [
        // Not protobuf at all.
        b"\xff\xff\xff\xff",
        // Field 3 (details) with a length far beyond the input: refused before allocating.
        b"\x1a\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
        // Field 2 (message) that is not UTF-8.
        b"\x12\x02\xc3\x28",
        // Field 1 (code) with the wrong wire type.
        b"\x0a\x00",
        // A truncated varint.
        b"\x08\x80",
        // A detail whose Any is itself malformed.
        b"\x1a\x02\x0a\x05",
    ];
    for bytes in garbage {
        let status = Status::with_details(Code::Unknown, "bad", Bytes::from_static(bytes));
        assert_status_error(&status);
        // The call's own status is untouched.
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(status.message(), "bad");
    }
}

#[test]
fn every_truncation_of_valid_details_reads_without_panicking() {
    let full = Status::with_error_details(Code::Internal, "x", every_payload());
    let bytes = full.details().clone();
    for len in 0..bytes.len() {
        let status = Status::with_details(Code::Internal, "x", bytes.slice(..len));
        // Either an error or a prefix of the payloads: just never a panic.
        let _ = status.get_error_details();
        let _ = status.get_details_vec();
        let _ = status.get_details_help();
    }
}

#[test]
fn a_malformed_known_payload_fails_only_its_getters() {
    let localized = pb::LocalizedMessage::new("en", "ok");
    let status = status_of(vec![
        any("type.googleapis.com/google.rpc.BadRequest", b"\xff\xff"),
        ErrorDetail::from(localized.clone()).to_any(),
    ]);
    let err = status.get_details_bad_request().unwrap_err();
    assert!(matches!(
        &err,
        DetailsError::Detail { type_url, .. }
            if type_url == "type.googleapis.com/google.rpc.BadRequest"
    ));
    assert!(matches!(
        status.get_error_details(),
        Err(DetailsError::Detail { .. })
    ));
    assert!(matches!(
        status.get_details_vec(),
        Err(DetailsError::Detail { .. })
    ));
    // Other payloads, and the raw list, are still readable.
    assert_eq!(
        status.get_details_localized_message().unwrap(),
        Some(localized)
    );
    assert_eq!(status.get_details_help().unwrap(), None);
    assert_eq!(status.rpc_status().unwrap().unwrap().details.len(), 2);
}

#[test]
fn unknown_types_are_kept_as_is() {
    let status = status_of(vec![custom_any(), any("no-slash-at-all", b"\x01")]);
    let details = status.get_error_details().unwrap();
    assert_eq!(
        details.other,
        vec![custom_any(), any("no-slash-at-all", b"\x01")]
    );
    assert_eq!(
        status.get_details_vec().unwrap(),
        vec![
            ErrorDetail::Other(custom_any()),
            ErrorDetail::Other(any("no-slash-at-all", b"\x01"))
        ]
    );
}

#[test]
fn the_type_url_host_does_not_matter() {
    let help = pb::Help::new([HelpLink::new("d", "u")]);
    let value = help.encode_to_vec();
    for url in [
        "example.com/google.rpc.Help",
        "/google.rpc.Help",
        "google.rpc.Help",
    ] {
        let status = status_of(vec![any(url, &value)]);
        assert_eq!(
            status.get_details_help().unwrap(),
            Some(help.clone()),
            "{url}"
        );
    }
}

#[test]
fn the_last_payload_of_a_type_wins_and_the_vec_keeps_all() {
    let first = ErrorDetail::from(pb::LocalizedMessage::new("en", "one"));
    let second = ErrorDetail::from(pb::LocalizedMessage::new("de", "zwei"));
    let status =
        Status::with_error_details_vec(Code::Internal, "x", [first.clone(), second.clone()]);
    assert_eq!(status.get_details_vec().unwrap(), vec![first, second]);
    let last = status.get_details_localized_message().unwrap().unwrap();
    assert_eq!(last.message, "zwei");
    let all = status.get_error_details().unwrap();
    assert_eq!(all.localized_message.unwrap().message, "zwei");
}

/// An application's own payload type.
#[derive(Clone, PartialEq, prost::Message)]
struct Reservation {
    #[prost(string, tag = "1")]
    seat: String,
}

impl prost::Name for Reservation {
    const NAME: &'static str = "Reservation";
    const PACKAGE: &'static str = "acme.v1";
    fn type_url() -> String {
        "type.googleapis.com/acme.v1.Reservation".into()
    }
}

#[test]
fn applications_read_their_own_payloads() {
    let seat = Reservation { seat: "12C".into() };
    let details = ErrorDetails::new().with_other(Any::from_msg(&seat).unwrap());
    let status = Status::with_error_details(Code::AlreadyExists, "taken", details);
    assert_eq!(status.get_detail::<Reservation>().unwrap(), Some(seat));
    assert_eq!(status.get_details_bad_request().unwrap(), None);
}

#[test]
fn errors_describe_their_own_layer() {
    let status = status_of(vec![any("x/google.rpc.Help", b"\xff")]);
    let err = status.get_details_help().unwrap_err();
    assert_eq!(
        err.to_string(),
        "status detail of type x/google.rpc.Help does not decode as that type"
    );
    assert!(std::error::Error::source(&err).is_some());
}
