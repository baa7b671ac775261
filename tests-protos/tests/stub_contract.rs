//! Implements generated server traits with plain `async fn`s and drives the
//! generated dispatch and client against the contract stub (no network).
#![cfg(all(feature = "stub-runtime", not(feature = "e2e")))]
#![deny(warnings)]

use std::pin::Pin;

use futures_util::stream;
use tests_protos::own::routeguide::route_guide_server::{RouteGuide, RouteGuideServer};
use tests_protos::own::routeguide::{
    route_guide_client::RouteGuideClient, Feature, Point, Rectangle, RouteNote, RouteSummary,
};
use tests_protos::stub::codegen::{
    test_call, Channel, Endpoint, NamedService, Request, Response, Service, Status, Stream,
    Streaming,
};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

struct Guide;

impl RouteGuide for Guide {
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        Ok(Response(Feature {
            name: "here".into(),
            location: Some(request.0),
        }))
    }

    type ListFeaturesStream = BoxStream<Feature>;

    async fn list_features(
        &self,
        _request: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        Ok(Response(Box::pin(stream::empty())))
    }

    async fn record_route(
        &self,
        _request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        Err(Status::unimplemented())
    }

    type RouteChatStream = BoxStream<RouteNote>;

    async fn route_chat(
        &self,
        _request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        Ok(Response(Box::pin(stream::empty())))
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_util::FutureExt::now_or_never(f).expect("stub futures complete immediately")
}

#[test]
fn server_dispatches_every_method() {
    let server = RouteGuideServer::new(Guide);
    assert_eq!(
        <RouteGuideServer<Guide> as NamedService>::NAME,
        "routeguide.RouteGuide"
    );
    for method in [
        "GetFeature",
        "ListFeatures",
        "RecordRoute",
        "RouteChat",
        "Nope",
    ] {
        block_on(server.clone().call(method, test_call()));
    }
    let _ = format!("{server:?}");
}

#[test]
fn client_methods_have_the_contract_shape() {
    let client = block_on(RouteGuideClient::connect("127.0.0.1:1")).unwrap();
    let _ = client.channel().clone();
    let client = RouteGuideClient::new(Channel::clone(client.channel()));
    assert!(block_on(client.get_feature(Point::default())).is_err());
    assert!(block_on(client.get_feature(Request(Point::default()))).is_err());
    assert!(block_on(client.list_features(Rectangle::default())).is_err());
    assert!(block_on(client.record_route(stream::iter(vec![Point::default()]))).is_err());
    assert!(block_on(client.route_chat(stream::iter(Vec::<RouteNote>::new()))).is_err());
    let _: Result<Endpoint, _> = Endpoint::try_from("x");
}

#[test]
fn tricky_names_are_reachable() {
    use tests_protos::own::lonely_client::LonelyClient;
    use tests_protos::own::tricky::collisions::clash_client::ClashClient;
    use tests_protos::own::tricky::r#type::loop_server::Loop;
    use tests_protos::own::tricky::r#type::self_client::SelfClient;

    let ch = block_on(Endpoint::try_from("x").unwrap().connect()).unwrap();
    let clash = ClashClient::new(ch.clone());
    assert!(block_on(clash.get_foo(())).is_err());
    assert!(block_on(clash.new_2(())).is_err());
    assert!(block_on(clash.connect_2(String::from("x"))).is_err());
    assert!(block_on(clash.list_things_2(())).is_err());
    let _ = clash.clone();
    let s = SelfClient::new(ch.clone());
    assert!(block_on(s.r#type(tests_protos::own::tricky::common::Type::default())).is_err());
    assert!(block_on(s.self_(())).is_err());
    let lonely = LonelyClient::new(ch);
    assert!(block_on(lonely.nothing(())).is_err());
    fn _is_trait<T: Loop>() {}
}
