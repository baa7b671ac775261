//! Rich error details (gRPC's richer error model, `rpc-types`): the server rejects a request
//! with `INVALID_ARGUMENT` and says which field is wrong, why, and what to tell the user.
//!
//! ```text
//! cargo run -p examples --bin rich_errors
//! ```
//!
//! Starts a Greeter on 127.0.0.1 (any free port) that refuses names that are empty or too
//! long, makes one good call and one bad one, prints the typed details the client reads
//! back, and exits.

use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint, Request, Response, Server, Status};
use rpc_types::{ErrorDetails, FieldViolation, StatusExt};

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

const MAX_NAME: usize = 20;

struct ValidatingGreeter;

/// What is wrong with `name`, if anything: each problem as a field violation.
fn validate(name: &str) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    if name.trim().is_empty() {
        violations.push(FieldViolation::new("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        let why = format!("must be at most {MAX_NAME} characters");
        violations.push(FieldViolation::new("name", why));
    }
    violations
}

impl Greeter for ValidatingGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        let violations = validate(&name);
        if !violations.is_empty() {
            let details = ErrorDetails::new()
                .with_bad_request(violations)
                .with_localized_message("en-US", "Please enter your name.");
            let status = Status::with_error_details(Code::InvalidArgument, "bad name", details);
            return Err(status);
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}!"),
        }))
    }
}

/// Prints what a failed call's details say.
fn print_details(status: &Status) -> Result<(), rpc_types::DetailsError> {
    println!("status: {:?}: {}", status.code(), status.message());
    let details = status.get_error_details()?;
    for v in details.bad_request.iter().flat_map(|b| &b.field_violations) {
        println!("bad field: {}: {}", v.field, v.description);
    }
    if let Some(text) = details.localized_message {
        println!("tell the user ({}): {}", text.locale, text.message);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(GreeterServer::new(ValidatingGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let port = server.local_addr().port();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{port}"))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = GreeterClient::new(channel);

    for name in ["Ada", ""] {
        let request = HelloRequest { name: name.into() };
        match client.say_hello(request).await {
            Ok(reply) => println!("reply: {}", reply.into_inner().message),
            Err(status) => print_details(&status)?,
        }
    }

    handle.shutdown();
    serving.await?;
    Ok(())
}
