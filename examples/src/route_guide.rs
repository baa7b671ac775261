//! The route_guide service: unary `GetFeature`, server-streaming `ListFeatures`,
//! client-streaming `RecordRoute` and bidirectional `RouteChat` over a few landmarks, served
//! with the health and reflection services. The `route_guide` binary serves and calls it;
//! the tools' tests (qrpc, qrpc bench) run against it.

use futures_util::{stream, Stream, StreamExt};
use rpc_core::server::BoundServer;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Request, Response, Server, Status, Streaming};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Code generated from `proto/route_guide.proto`.
#[allow(missing_docs)]
pub mod routeguide {
    rpc_core::include_proto!("routeguide");

    /// route_guide.proto's descriptors (and its imports'), for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        rpc_reflection::include_file_descriptor_set!("routeguide");
}

use routeguide::route_guide_server::{RouteGuide, RouteGuideServer};
use routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A few landmarks (E7 coordinates).
pub fn features() -> Vec<Feature> {
    let at = |name: &str, latitude, longitude| Feature {
        name: name.to_owned(),
        location: Some(Point {
            latitude,
            longitude,
        }),
    };
    vec![
        at(
            "Patriots Path, Mendham, NJ 07945, USA",
            407_838_351,
            -746_143_763,
        ),
        at(
            "101 New Jersey 10, Whippany, NJ 07981, USA",
            408_122_808,
            -743_999_179,
        ),
        at("U.S. 6, Shohola, PA 18458, USA", 413_628_156, -749_015_468),
        at(
            "5 Conners Road, Kingston, NY 12401, USA",
            419_999_544,
            -740_371_136,
        ),
        at(
            "Mid Hudson Psychiatric Center, New Hampton, NY 10958, USA",
            414_008_389,
            -743_951_297,
        ),
    ]
}

/// Notes left at each place, by (latitude, longitude).
type Notes = Arc<Mutex<HashMap<(i32, i32), Vec<RouteNote>>>>;

/// The RouteGuide implementation: fixed features, notes kept in memory.
pub struct Guide {
    features: Vec<Feature>,
    notes: Notes,
}

fn in_range(p: &Point, r: &Rectangle) -> bool {
    let (lo, hi) = (r.lo.unwrap_or_default(), r.hi.unwrap_or_default());
    let (left, right) = (
        lo.longitude.min(hi.longitude),
        lo.longitude.max(hi.longitude),
    );
    let (bottom, top) = (lo.latitude.min(hi.latitude), lo.latitude.max(hi.latitude));
    (left..=right).contains(&p.longitude) && (bottom..=top).contains(&p.latitude)
}

/// Great-circle distance in metres between two E7 points.
fn distance(a: &Point, b: &Point) -> i32 {
    const R: f64 = 6_371_000.0;
    let rad = |e7: i32| (f64::from(e7) / 1e7).to_radians();
    let (lat1, lat2) = (rad(a.latitude), rad(b.latitude));
    let (dlat, dlon) = (lat2 - lat1, rad(b.longitude) - rad(a.longitude));
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    (2.0 * R * h.sqrt().atan2((1.0 - h).sqrt())) as i32
}

impl RouteGuide for Guide {
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        let point = request.into_inner();
        let found = self
            .features
            .iter()
            .find(|f| f.location == Some(point))
            .cloned()
            // gRPC's convention: an unnamed feature when there is none.
            .unwrap_or(Feature {
                name: String::new(),
                location: Some(point),
            });
        Ok(Response::new(found))
    }

    type ListFeaturesStream = BoxStream<Feature>;

    async fn list_features(
        &self,
        request: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        let rect = request.into_inner();
        let found: Vec<_> = self
            .features
            .iter()
            .filter(|f| f.location.as_ref().is_some_and(|p| in_range(p, &rect)))
            .cloned()
            .map(Ok)
            .collect();
        Ok(Response::new(Box::pin(stream::iter(found))))
    }

    async fn record_route(
        &self,
        request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        let start = Instant::now();
        let mut points = request.into_inner();
        let mut summary = RouteSummary::default();
        let mut last: Option<Point> = None;
        while let Some(point) = points.message().await? {
            summary.point_count += 1;
            if self.features.iter().any(|f| f.location == Some(point)) {
                summary.feature_count += 1;
            }
            if let Some(prev) = last {
                summary.distance += distance(&prev, &point);
            }
            last = Some(point);
        }
        summary.elapsed_time = start.elapsed().as_secs() as i32;
        Ok(Response::new(summary))
    }

    type RouteChatStream = BoxStream<RouteNote>;

    async fn route_chat(
        &self,
        request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        let notes = self.notes.clone();
        // For each note received, send back every earlier note at the same place.
        let replies = request.into_inner().flat_map(move |note| {
            let earlier = match note {
                Ok(note) => {
                    let loc = note.location.unwrap_or_default();
                    let mut notes = notes.lock().unwrap();
                    let at = notes.entry((loc.latitude, loc.longitude)).or_default();
                    let earlier: Vec<_> = at.iter().cloned().map(Ok).collect();
                    at.push(note);
                    earlier
                }
                Err(status) => vec![Err(status)],
            };
            stream::iter(earlier)
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

/// The RouteGuide service over [`features`].
pub fn service() -> RouteGuideServer<Guide> {
    RouteGuideServer::new(Guide {
        features: features(),
        notes: Arc::default(),
    })
}

/// A server with the RouteGuide, health and reflection services, bound to `addr`; the
/// health service reports `NOT_SERVING` from the start of a graceful shutdown.
pub fn bind(
    cert: &SelfSigned,
    addr: SocketAddr,
) -> Result<BoundServer, Box<dyn std::error::Error>> {
    let (reporter, health_service) = rpc_health::health_reporter();
    reporter.set_serving::<RouteGuideServer<Guide>>();
    let reflection = rpc_reflection::Builder::configure()
        .register_encoded_file_descriptor_set(routeguide::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(rpc_health::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(service())
        .add_service(health_service)
        .add_service(reflection)
        .bind(addr)?;
    reporter.set_not_serving_on_shutdown(&server.handle());
    Ok(server)
}
