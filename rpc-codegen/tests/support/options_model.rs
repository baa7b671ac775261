//! The model of `proto/` test services with qrpc's method options, shared by the golden
//! test and the `.proto` front-end test.

use rpc_codegen::{Method, Service};

fn m(name: &str, proto: &str, input: &str, output: &str, cs: bool, ss: bool) -> Method {
    Method {
        name: name.into(),
        proto_name: proto.into(),
        input_type: input.into(),
        output_type: output.into(),
        client_streaming: cs,
        server_streaming: ss,
        ..Method::default()
    }
}

/// The qrpc method options (`#[rpc(priority = N, datagrams)]`, `(qrpc.priority)`,
/// `(qrpc.datagrams)`): the model both front ends fill. `tests/front_end.rs` checks that the
/// `.proto` front end generates exactly this for the same options.
pub fn telemetry_service() -> Service {
    Service {
        name: "Telemetry".into(),
        proto_name: "Telemetry".into(),
        package: "telemetry".into(),
        methods: vec![
            Method {
                priority: 3,
                datagrams: true,
                ..m("stream", "Stream", "Sample", "Ack", true, true)
            },
            Method {
                datagrams: true,
                ..m("watch", "Watch", "Sample", "Ack", false, true)
            },
            Method {
                priority: -1,
                ..m("report", "Report", "Sample", "Ack", false, false)
            },
        ],
        ..Service::default()
    }
}
