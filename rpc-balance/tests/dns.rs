//! The balancer over DNS: a tiny DNS server (hickory-server) started by the test answers
//! A and SRV queries from a zone the test changes while calls run.

mod common;

use common::who_client::WhoClient;
use common::{ask, builder, serve, TestServer};
use hickory_proto::op::{Header, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::ServerFuture;
use rpc_balance::{BuildError, DnsResolver, Policy, Resolve, StaticList};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test DNS server answers.
#[derive(Default)]
struct Zone {
    /// A records of every name under `test.` (the same list for all).
    a: Vec<Ipv4Addr>,
    /// SRV records of `_qrpc._udp.svc.test.`: priority, weight, port, target.
    srv: Vec<(u16, u16, u16, String)>,
    ttl: u32,
}

#[derive(Clone, Default)]
struct Dns(Arc<Mutex<Zone>>);

impl Dns {
    fn set_a(&self, ips: &[[u8; 4]]) {
        self.0.lock().unwrap().a = ips.iter().map(|ip| Ipv4Addr::from(*ip)).collect();
    }
}

#[async_trait::async_trait]
impl RequestHandler for Dns {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let Ok(info) = request.request_info() else {
            let msg = builder.error_msg(request.header(), ResponseCode::FormErr);
            return response_handle.send_response(msg).await.unwrap();
        };
        let name = Name::from(info.query.name().clone());
        let records: Vec<Record> = {
            let zone = self.0.lock().unwrap();
            match info.query.query_type() {
                RecordType::A if name.to_ascii().ends_with("test.") => zone
                    .a
                    .iter()
                    .map(|ip| Record::from_rdata(name.clone(), zone.ttl, RData::A(A(*ip))))
                    .collect(),
                RecordType::SRV if name.to_ascii() == "_qrpc._udp.svc.test." => zone
                    .srv
                    .iter()
                    .map(|(p, w, port, target)| {
                        let target = Name::from_str(target).unwrap();
                        Record::from_rdata(
                            name.clone(),
                            zone.ttl,
                            RData::SRV(SRV::new(*p, *w, *port, target)),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut header = Header::response_from_request(request.header());
        header.set_authoritative(true);
        if records.is_empty() {
            header.set_response_code(ResponseCode::NXDomain);
        }
        let msg = builder.build(header, records.iter(), [], [], []);
        match response_handle.send_response(msg).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(header),
        }
    }
}

/// Starts the DNS server on 127.0.0.1 (UDP, and TCP on the same port for long answers).
async fn dns_server(zone: Dns) -> SocketAddr {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let mut server = ServerFuture::new(zone);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5));
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
}

/// Servers on 127.0.0.2, .3, .4, all on one port (A records carry no port).
fn same_port_servers() -> (Vec<TestServer>, u16) {
    for _ in 0..20 {
        let first = serve(SocketAddr::from(([127, 0, 0, 2], 0)));
        let port = first.addr.port();
        let free = (3..=4)
            .all(|i| std::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, i], port))).is_ok());
        if free {
            let mut all = vec![first];
            all.extend((3..=4).map(|i| serve(SocketAddr::from(([127, 0, 0, i], port)))));
            return (all, port);
        }
        first.handle.shutdown();
    }
    panic!("no port free on 127.0.0.2-4");
}

fn addrs_of(balanced: &rpc_balance::BalancedChannel) -> HashSet<SocketAddr> {
    balanced.endpoints().iter().map(|e| e.addr).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answer_changes_are_picked_up_without_a_restart() {
    let (servers, port) = same_port_servers();
    let zone = Dns::default();
    zone.0.lock().unwrap().ttl = 1;
    zone.set_a(&[[127, 0, 0, 2], [127, 0, 0, 3]]);
    let dns = dns_server(zone.clone()).await;
    let resolver = DnsResolver::new("svc.test.", port).unwrap().nameserver(dns);
    let balanced = builder()
        .policy(Policy::RoundRobin)
        .refresh(Duration::from_millis(100), Duration::from_secs(2))
        .resolver(resolver)
        .build()
        .unwrap();
    assert!(balanced.ready(2).await);
    let client = WhoClient::new(balanced.clone());
    for i in 0..100 {
        client.who(ask(i)).await.unwrap();
    }
    let before: Vec<u64> = servers.iter().map(|s| s.node.calls()).collect();
    println!("A = .2, .3: {before:?}");
    assert!(
        before[0] > 0 && before[1] > 0 && before[2] == 0,
        "{before:?}"
    );

    // One server added, one removed.
    zone.set_a(&[[127, 0, 0, 3], [127, 0, 0, 4]]);
    let want: HashSet<SocketAddr> = [servers[1].addr, servers[2].addr].into();
    for _ in 0..200 {
        if addrs_of(&balanced) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(addrs_of(&balanced), want);
    assert!(balanced.ready(2).await);
    let removed = servers[0].node.calls();
    for i in 0..100 {
        client.who(ask(i)).await.unwrap();
    }
    let after: Vec<u64> = servers.iter().map(|s| s.node.calls()).collect();
    println!("A = .3, .4: {after:?}");
    assert_eq!(after[0], removed, "calls went to a removed server");
    assert!(after[2] > 0, "the added server gets no calls: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_and_absurd_answers() {
    let zone = Dns::default();
    {
        let mut z = zone.0.lock().unwrap();
        z.ttl = u32::MAX;
        z.a = vec![Ipv4Addr::new(127, 0, 0, 2)];
        z.srv = vec![
            (10, 5, 7002, "a.test.".into()),
            (0, 0, 0, "zero.test.".into()), // port 0: skipped
            (0, 0, 7009, ".".into()),       // the root: "no service", skipped
            (5, 1, 7001, "b.test.".into()), // lower priority first
        ];
    }
    let dns = dns_server(zone.clone()).await;
    let srv = DnsResolver::parse("dns+srv:///_qrpc._udp.svc.test.")
        .unwrap()
        .nameserver(dns);
    let found = srv.resolve().await.unwrap();
    let ports: Vec<u16> = found.addrs.iter().map(|a| a.port()).collect();
    assert_eq!(ports, [7001, 7002]);

    // A thousand records, absurd ports and weights, a TTL of 136 years: bounded.
    zone.0.lock().unwrap().srv = (0..1000u16)
        .map(|i| (u16::MAX - i, u16::MAX, 1 + i, format!("t{i}.test.")))
        .collect();
    let found = srv.resolve().await.unwrap();
    assert!(
        found.addrs.len() <= rpc_balance::MAX_SRV_RECORDS,
        "{}",
        found.addrs.len()
    );
    // The resolver's cache keeps nothing longer than 30 s, whatever the TTL said.
    assert!(
        found.ttl.unwrap() <= Duration::from_secs(30),
        "{:?}",
        found.ttl
    );
    assert!(!found.addrs.is_empty());
    let balanced = builder().resolver(srv.clone()).build().unwrap();
    assert!(balanced.ready(0).await);
    assert!(balanced.endpoints().len() <= rpc_balance::MAX_SRV_RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_give_clear_errors() {
    let dns = dns_server(Dns::default()).await;
    // An unresolvable name: calls fail with UNAVAILABLE naming it.
    let resolver = DnsResolver::new("nowhere.test.", 4433)
        .unwrap()
        .nameserver(dns);
    let err = resolver.resolve().await.unwrap_err();
    assert!(
        err.to_string().contains("cannot resolve nowhere.test."),
        "{err}"
    );
    let balanced = builder().resolver(resolver).build().unwrap();
    let err = WhoClient::new(balanced).who(ask(1)).await.unwrap_err();
    assert_eq!(err.code(), rpc_core::Code::Unavailable);
    assert!(err.message().contains("nowhere.test."), "{}", err.message());
    // It never left this process: a retry layer may send it again, whatever the method.
    assert!(err.never_processed());

    // Malformed targets and empty lists, at once.
    assert!(DnsResolver::new("", 1).is_err());
    assert!(DnsResolver::parse("dns:///no-port").is_err());
    assert!(DnsResolver::parse("dns:///host:99999").is_err());
    assert!(StaticList::parse("").is_err());
    let empty = builder().addrs([]).build().unwrap_err();
    assert!(matches!(empty, BuildError::Resolve(_)), "{empty}");
    assert!(empty.to_string().contains("empty"), "{empty}");
    assert!(matches!(
        builder().build().unwrap_err(),
        BuildError::NoTarget
    ));
}
