//! Mutual TLS: the server requires a client certificate and greets each caller by the
//! identity in it (its SPIFFE ID, else its common name).
//!
//! ```text
//! cargo run -p examples --bin mtls
//! ```
//!
//! A throwaway CA (`rpc_core::tls::dev::DevCa`) issues the server's certificate and two
//! clients'; they are written as PEM files to a temporary folder and loaded from there, as a
//! deployment would. A third client without a certificate is refused in the handshake.

use rpc_core::tls::dev::DevCa;
use rpc_core::tls::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use rpc_core::{Endpoint, Request, Response, Server, Status};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod helloworld {
    rpc_core::include_proto!("helloworld");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

struct MyGreeter;

impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        // Verified in the handshake and parsed once per connection.
        let caller = request
            .peer_identity()
            .and_then(|id| id.spiffe_id().or(id.common_name()))
            .unwrap_or("stranger")
            .to_owned();
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}, known as {caller}!"),
        }))
    }
}

/// Writes the CA's certificate and issues the server's and the clients' into `dir`.
fn write_certificates(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let ca = DevCa::generate("example ca")?;
    std::fs::write(dir.join("ca.pem"), ca.cert_pem())?;
    let issued = [
        ("server", ca.issue("server", &["localhost", "127.0.0.1"])?),
        ("alice", ca.issue("alice", &["spiffe://example.org/alice"])?),
        ("bob", ca.issue("bob", &[])?),
    ];
    for (name, cert) in issued {
        std::fs::write(dir.join(format!("{name}.pem")), cert.cert_pem())?;
        std::fs::write(dir.join(format!("{name}.key")), cert.key_pem())?;
    }
    Ok(())
}

fn identity(dir: &Path, name: &str) -> Result<Identity, rpc_core::tls::TlsError> {
    Identity::from_pem_files(
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

/// Calls the greeter as `name`, with that client's certificate when there is one.
async fn greet(addr: SocketAddr, dir: &Path, name: &str, with_certificate: bool) {
    let mut tls = ClientTlsConfig::new()
        .with_webpki_roots(false)
        .ca_certificate(Certificate::from_pem_file(dir.join("ca.pem")).expect("CA written"));
    if with_certificate {
        tls = tls.identity(identity(dir, name).expect("identity written"));
    }
    let reply = async {
        let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
            .tls_config(tls)
            .connect()
            .await?;
        let request = HelloRequest { name: name.into() };
        let reply = GreeterClient::new(channel).say_hello(request).await?;
        Ok::<_, Box<dyn std::error::Error>>(reply.into_inner().message)
    };
    match reply.await {
        Ok(message) => println!("{name}: {message}"),
        Err(e) => println!("{name}: refused: {e}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::temp_dir().join(format!("qrpc-mtls-{}", std::process::id()));
    write_certificates(&dir)?;
    let tls = ServerTlsConfig::new(identity(&dir, "server")?)
        .client_ca_root(Certificate::from_pem_file(dir.join("ca.pem"))?);
    let server = Server::builder()
        .tls_config(tls)
        .add_service(GreeterServer::new(MyGreeter))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    greet(addr, &dir, "alice", true).await;
    greet(addr, &dir, "bob", true).await;
    greet(addr, &dir, "eve", false).await;

    handle.shutdown();
    serving.await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
