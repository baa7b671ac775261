//! Retries and hedging (`rpc_core::client::retry`): a flaky inventory server, and a client
//! whose retry policy comes from a gRPC service config.
//!
//! ```text
//! cargo run -p examples --bin retries
//! ```
//!
//! Starts an Inventory service on 127.0.0.1 (any free port) that fails the first two
//! lookups with `UNAVAILABLE` (the second asks the client to wait 50 ms), fails a
//! reservation, and answers one lookup very slowly. The client retries the lookups
//! (idempotent: `#[rpc(no_side_effects)]`), never the reservation (it may have happened),
//! and hedges a slow lookup: the hedge answers, and the slow attempt is cancelled at the
//! server.

use rpc_core::client::retry::{RetryLayer, PREVIOUS_ATTEMPTS};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Stock {
    #[prost(uint32, tag = "1")]
    pub count: u32,
}

/// An inventory: routes `/shop.Inventory/<Method>`.
#[rpc_core::service(package = "shop", name = "Inventory")]
pub trait Inventory {
    /// How many are in stock: reads only, so safe to retry and to hedge.
    #[rpc(no_side_effects)]
    async fn lookup(&self, request: Request<Item>) -> Result<Response<Stock>, Status>;

    /// Reserves one: not idempotent, never sent twice once the server may have run it.
    async fn reserve(&self, request: Request<Item>) -> Result<Response<Stock>, Status>;
}

/// Fails the first two lookups, every reservation, and is slow once for "gadget".
#[derive(Default)]
struct FlakyInventory {
    lookups: AtomicU32,
    slow_once: AtomicU32,
}

fn attempt(request: &Request<Item>) -> u32 {
    let previous = request.metadata().get(PREVIOUS_ATTEMPTS).unwrap_or("0");
    previous.parse::<u32>().unwrap_or(0) + 1
}

impl Inventory for Arc<FlakyInventory> {
    async fn lookup(&self, request: Request<Item>) -> Result<Response<Stock>, Status> {
        let attempt = attempt(&request);
        let item = request.into_inner().name;
        if item == "gadget" && self.slow_once.fetch_add(1, Ordering::SeqCst) == 0 {
            println!("server: lookup {item} attempt {attempt}: stuck");
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        match self.lookups.fetch_add(1, Ordering::SeqCst) {
            0 => {
                println!("server: lookup {item} attempt {attempt}: UNAVAILABLE");
                Err(Status::unavailable("warming up"))
            }
            1 => {
                println!("server: lookup {item} attempt {attempt}: UNAVAILABLE, retry in 50 ms");
                Err(Status::unavailable("busy").with_retry_pushback(Duration::from_millis(50)))
            }
            _ => {
                println!("server: lookup {item} attempt {attempt}: 42 in stock");
                Ok(Response::new(Stock { count: 42 }))
            }
        }
    }

    async fn reserve(&self, request: Request<Item>) -> Result<Response<Stock>, Status> {
        let attempt = attempt(&request);
        println!("server: reserve attempt {attempt}: UNAVAILABLE");
        Err(Status::unavailable("the warehouse is busy"))
    }
}

/// Retries for the whole service, hedging for lookups of gadgets.
const SERVICE_CONFIG: &str = r#"{
  "methodConfig": [
    {
      "name": [{"service": "shop.Inventory"}],
      "timeout": "5s",
      "retryPolicy": {
        "maxAttempts": 4,
        "initialBackoff": "0.02s",
        "maxBackoff": "0.2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    }
  ],
  "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
}"#;

const HEDGING_CONFIG: &str = r#"{
  "methodConfig": [{
    "name": [{"service": "shop.Inventory", "method": "Lookup"}],
    "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.1s",
                      "nonFatalStatusCodes": ["UNAVAILABLE"]}
  }]
}"#;

/// One attempt is no retry policy: refused when the layer is built.
const BAD_CONFIG: &str = r#"{"methodConfig": [{"name": [{"service": "shop.Inventory"}],
  "retryPolicy": {"maxAttempts": 1, "initialBackoff": "0.1s", "maxBackoff": "1s",
                  "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(inventory_server::InventoryServer::new(Arc::new(
            FlakyInventory::default(),
        )))
        .bind("127.0.0.1:0".parse()?)?;
    let port = server.local_addr().port();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{port}"))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    // A bad config is refused here, before any call.
    let retries = RetryLayer::from_service_config(SERVICE_CONFIG)?;
    let stack = tower::ServiceBuilder::new()
        .layer(retries)
        .service(channel.clone());
    let client = inventory_client::InventoryClient::new(stack);

    let stock = client
        .lookup(Item {
            name: "widget".into(),
        })
        .await?;
    println!("client: widget: {} in stock", stock.into_inner().count);

    match client
        .reserve(Item {
            name: "widget".into(),
        })
        .await
    {
        Ok(_) => println!("client: reserved"),
        Err(status) => println!(
            "client: reserve failed: {:?} (not idempotent: not retried)",
            status.code()
        ),
    }

    let hedging = RetryLayer::from_service_config(HEDGING_CONFIG)?;
    let hedged = tower::ServiceBuilder::new().layer(hedging).service(channel);
    let client = inventory_client::InventoryClient::new(hedged);
    let stock = client
        .lookup(Item {
            name: "gadget".into(),
        })
        .await?;
    println!(
        "client: gadget: {} in stock (the hedge answered, the stuck attempt was cancelled)",
        stock.into_inner().count
    );

    match RetryLayer::from_service_config(BAD_CONFIG) {
        Ok(_) => println!("client: bad config accepted?"),
        Err(e) => println!("client: {e}"),
    }

    handle.shutdown();
    serving.await?;
    Ok(())
}
