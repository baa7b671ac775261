//! A generated client calls a generated server over QUIC on 127.0.0.1, all
//! four call kinds.
#![deny(warnings)]

use std::pin::Pin;

use futures_util::{stream, StreamExt};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Endpoint, Request, Response, Server, Status, Streaming};
use tests_protos::own::routeguide::route_guide_client::RouteGuideClient;
use tests_protos::own::routeguide::route_guide_server::{RouteGuide, RouteGuideServer};
use tests_protos::own::routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};

type BoxStream<T> = Pin<Box<dyn futures_core::Stream<Item = Result<T, Status>> + Send + 'static>>;

struct Guide;

impl RouteGuide for Guide {
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        let p = request.into_inner();
        Ok(Response::new(Feature {
            name: format!("{},{}", p.latitude, p.longitude),
            location: Some(p),
        }))
    }

    type ListFeaturesStream = BoxStream<Feature>;

    async fn list_features(
        &self,
        request: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        let lo = request.into_inner().lo.unwrap_or_default();
        let items = (0..3).map(move |i| {
            Ok(Feature {
                name: format!("f{i}"),
                location: Some(Point {
                    latitude: lo.latitude + i,
                    longitude: lo.longitude,
                }),
            })
        });
        Ok(Response::new(Box::pin(stream::iter(items))))
    }

    async fn record_route(
        &self,
        request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        let mut points = request.into_inner();
        let mut count = 0;
        while let Some(p) = points.next().await {
            p?;
            count += 1;
        }
        Ok(Response::new(RouteSummary {
            point_count: count,
            ..RouteSummary::default()
        }))
    }

    type RouteChatStream = BoxStream<RouteNote>;

    async fn route_chat(
        &self,
        request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        let notes = request.into_inner();
        Ok(Response::new(Box::pin(notes.map(|n| {
            n.map(|mut n| {
                n.message = format!("re: {}", n.message);
                n
            })
        }))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_client_calls_generated_server() -> Result<(), Box<dyn std::error::Error>> {
    let cert = SelfSigned::generate(&["localhost"])?;
    let server = Server::builder()
        .tls_config(cert.server_config()?)
        .add_service(RouteGuideServer::new(Guide))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve());

    let channel = Endpoint::new(format!("localhost:{}", addr.port()))?
        .tls_config(cert.client_config())
        .connect()
        .await?;
    let client = RouteGuideClient::new(channel);

    let f = client
        .get_feature(Point {
            latitude: 1,
            longitude: 2,
        })
        .await?
        .into_inner();
    assert_eq!(f.name, "1,2");

    let rect = Rectangle {
        lo: Some(Point {
            latitude: 10,
            longitude: 0,
        }),
        hi: None,
    };
    let names: Vec<String> = client
        .list_features(rect)
        .await?
        .into_inner()
        .map(|f| f.map(|f| f.name))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(names, ["f0", "f1", "f2"]);

    let points = stream::iter((0..5).map(|i| Point {
        latitude: i,
        longitude: i,
    }));
    let summary = client.record_route(points).await?.into_inner();
    assert_eq!(summary.point_count, 5);

    let notes = stream::iter(["a", "b"].map(|m| RouteNote {
        location: None,
        message: m.into(),
    }));
    let replies: Vec<String> = client
        .route_chat(notes)
        .await?
        .into_inner()
        .map(|n| n.map(|n| n.message))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(replies, ["re: a", "re: b"]);

    handle.shutdown();
    serving.await?;
    Ok(())
}
