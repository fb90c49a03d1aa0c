//! Routing as a specification: distances, which region a client lands in,
//! how rendezvous hashing keeps Workers in place, and the CIDR table.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::IpAddr;

use edge_proto::v1::NodeHealth;
use edge_proto::v1::NodeInfo;
use gateway::CidrTable;
use gateway::Coordinates;
use gateway::Placement;
use gateway::candidates;
use gateway::client_location;
use gateway::haversine_km;
use gateway::rendezvous_score;
use gateway::routing::LocationError;
use gateway::routing::LocationHints;
use gateway::routing::region_centres;

const FRANKFURT: (f64, f64) = (50.11, 8.68);
const VIRGINIA: (f64, f64) = (38.95, -77.45);

fn at((lat, lon): (f64, f64)) -> Coordinates {
    Coordinates::new(lat, lon).expect("valid coordinates")
}

fn node(id: &str, region: &str, (lat, lon): (f64, f64), load: u32) -> NodeInfo {
    NodeInfo {
        node_id: id.into(),
        region: region.into(),
        latitude: lat,
        longitude: lon,
        grpc_addr: format!("127.0.0.1:{}", 1000 + id.len()),
        capacity: 100,
        load,
        health: NodeHealth::Healthy as i32,
        ..Default::default()
    }
}

fn fleet() -> Vec<NodeInfo> {
    vec![
        node("eu-1", "eu", FRANKFURT, 10),
        node("eu-2", "eu", FRANKFURT, 5),
        node("us-1", "us", VIRGINIA, 1),
        node("us-2", "us", VIRGINIA, 2),
    ]
}

fn ids(nodes: &[&NodeInfo]) -> Vec<String> {
    nodes.iter().map(|n| n.node_id.clone()).collect()
}

#[test]
fn haversine_matches_known_distances() {
    assert_eq!(haversine_km(at(FRANKFURT), at(FRANKFURT)), 0.0);
    let fra_iad = haversine_km(at(FRANKFURT), at(VIRGINIA));
    assert!(
        (fra_iad - 6553.3).abs() < 1.0,
        "Frankfurt-Virginia {fra_iad}"
    );
    let london_paris = haversine_km(at((51.5074, -0.1278)), at((48.8566, 2.3522)));
    assert!(
        (london_paris - 343.6).abs() < 1.0,
        "London-Paris {london_paris}"
    );
    let pole_to_pole = haversine_km(at((90.0, 0.0)), at((-90.0, 0.0)));
    assert!((pole_to_pole - std::f64::consts::PI * 6371.0088).abs() < 0.01);
    // Antipodes and the date line do not break it.
    let antipodal = haversine_km(at((0.0, 0.0)), at((0.0, 180.0)));
    assert!(antipodal.is_finite() && (antipodal - pole_to_pole).abs() < 0.01);
    let across_date_line = haversine_km(at((0.0, 179.5)), at((0.0, -179.5)));
    assert!((across_date_line - 111.2).abs() < 0.5, "{across_date_line}");
}

#[test]
fn coordinates_off_the_globe_are_refused() {
    assert!(Coordinates::new(90.5, 0.0).is_err());
    assert!(Coordinates::new(0.0, -180.1).is_err());
    assert!(Coordinates::new(f64::NAN, 0.0).is_err());
    assert!(Coordinates::new(-90.0, 180.0).is_ok());
}

#[test]
fn a_client_lands_in_the_nearest_region_with_capacity() {
    let nodes = fleet();
    let sticky = Placement::Sticky {
        tenant: "t",
        worker_id: "w",
    };
    let near_us = candidates(&nodes, at((40.7, -74.0)), sticky, |_| false);
    assert_eq!(near_us.len(), 4);
    assert!(
        near_us[..2].iter().all(|n| n.region == "us"),
        "{:?}",
        ids(&near_us)
    );
    assert!(near_us[2..].iter().all(|n| n.region == "eu"));
    let near_eu = candidates(&nodes, at((48.85, 2.35)), sticky, |_| false);
    assert!(
        near_eu[..2].iter().all(|n| n.region == "eu"),
        "{:?}",
        ids(&near_eu)
    );
}

#[test]
fn a_region_without_eligible_nodes_is_passed_over() {
    let mut nodes = fleet();
    // us-1 is draining, us-2 is full: nothing in "us" may take work.
    nodes[2].health = NodeHealth::Draining as i32;
    nodes[3].load = nodes[3].capacity;
    let order = candidates(&nodes, at(VIRGINIA), Placement::LeastLoaded, |_| false);
    assert_eq!(ids(&order), ["eu-2", "eu-1"]);
    // A node failed locally is skipped too.
    let order = candidates(&nodes, at(VIRGINIA), Placement::LeastLoaded, |id| {
        id == "eu-2"
    });
    assert_eq!(ids(&order), ["eu-1"]);
    nodes[0].health = NodeHealth::Unhealthy as i32;
    nodes[1].health = NodeHealth::Unhealthy as i32;
    assert!(candidates(&nodes, at(VIRGINIA), Placement::LeastLoaded, |_| false).is_empty());
}

#[test]
fn one_offs_go_to_the_least_loaded_node_of_the_region() {
    let nodes = fleet();
    let order = candidates(&nodes, at(FRANKFURT), Placement::LeastLoaded, |_| false);
    assert_eq!(ids(&order), ["eu-2", "eu-1", "us-1", "us-2"]);
}

#[test]
fn rendezvous_is_stable_and_spreads_workers() {
    assert_eq!(
        rendezvous_score("t", "w", "n"),
        rendezvous_score("t", "w", "n")
    );
    assert_ne!(
        rendezvous_score("t", "w", "n1"),
        rendezvous_score("t", "w", "n2")
    );
    // The tenant is part of the key: ("a", "bc") and ("ab", "c") differ.
    assert_ne!(
        rendezvous_score("a", "bc", "n"),
        rendezvous_score("ab", "c", "n")
    );
    let nodes: Vec<NodeInfo> = (0..4)
        .map(|i| node(&format!("eu-{i}"), "eu", FRANKFURT, 0))
        .collect();
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for w in 0..4000 {
        let worker_id = format!("w{w}");
        let placement = Placement::Sticky {
            tenant: "t",
            worker_id: &worker_id,
        };
        let first = candidates(&nodes, at(FRANKFURT), placement, |_| false)[0]
            .node_id
            .clone();
        // The same Worker goes to the same node every time.
        let again = candidates(&nodes, at(FRANKFURT), placement, |_| false)[0]
            .node_id
            .clone();
        assert_eq!(first, again);
        *per_node.entry(first).or_default() += 1;
    }
    assert_eq!(per_node.len(), 4);
    for (n, count) in &per_node {
        assert!((800..=1200).contains(count), "{n} got {count} of 4000");
    }
}

fn owners(nodes: &[NodeInfo], workers: usize) -> Vec<String> {
    (0..workers)
        .map(|w| {
            let worker_id = format!("w{w}");
            let placement = Placement::Sticky {
                tenant: "t",
                worker_id: &worker_id,
            };
            candidates(nodes, at(FRANKFURT), placement, |_| false)[0]
                .node_id
                .clone()
        })
        .collect()
}

#[test]
fn rendezvous_moves_only_the_workers_it_must() {
    let five: Vec<NodeInfo> = (0..5)
        .map(|i| node(&format!("eu-{i}"), "eu", FRANKFURT, 0))
        .collect();
    let before = owners(&five, 5000);
    // Remove eu-2: only its Workers move.
    let four: Vec<NodeInfo> = five
        .iter()
        .filter(|n| n.node_id != "eu-2")
        .cloned()
        .collect();
    let after = owners(&four, 5000);
    for (b, a) in before.iter().zip(&after) {
        if b != "eu-2" {
            assert_eq!(a, b, "a Worker moved off a node that stayed");
        }
    }
    // Add eu-5: Workers move only onto it, about a sixth of them.
    let mut six = five.clone();
    six.push(node("eu-5", "eu", FRANKFURT, 0));
    let grown = owners(&six, 5000);
    let moved = before
        .iter()
        .zip(&grown)
        .filter(|(b, g)| {
            if b != g {
                assert_eq!(g.as_str(), "eu-5", "a Worker moved between old nodes");
                true
            } else {
                false
            }
        })
        .count();
    assert!((600..=1100).contains(&moved), "{moved} of 5000 moved");
}

#[test]
fn the_sticky_node_that_fails_is_replaced_by_the_next_in_its_region() {
    let nodes = fleet();
    let placement = Placement::Sticky {
        tenant: "t",
        worker_id: "w",
    };
    let all = ids(&candidates(&nodes, at(FRANKFURT), placement, |_| false));
    let without_first = ids(&candidates(&nodes, at(FRANKFURT), placement, |id| {
        id == all[0]
    }));
    assert_eq!(without_first, all[1..].to_vec());
}

#[test]
fn cidr_table_picks_the_longest_prefix() {
    let table = CidrTable::new(vec![
        ("10.0.0.0/8".parse().unwrap(), "eu".into()),
        ("10.1.0.0/16".parse().unwrap(), "us".into()),
        ("2001:db8::/32".parse().unwrap(), "ap".into()),
        ("0.0.0.0/0".parse().unwrap(), "default".into()),
    ]);
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(table.region_of(ip("10.2.3.4")), Some("eu"));
    assert_eq!(table.region_of(ip("10.1.3.4")), Some("us"));
    assert_eq!(table.region_of(ip("2001:db8::1")), Some("ap"));
    assert_eq!(table.region_of(ip("::ffff:10.1.0.9")), Some("us"));
    assert_eq!(table.region_of(ip("192.168.1.1")), Some("default"));
    assert_eq!(table.region_of(ip("2001:db9::1")), None);
    for bad in [
        "10.0.0.0",
        "10.0.0.0/33",
        "nonsense/8",
        "::/129",
        "10.0.0.0/x",
    ] {
        assert!(bad.parse::<gateway::Cidr>().is_err(), "{bad} parsed");
    }
}

#[test]
fn client_location_follows_the_hints_in_order() {
    let regions: BTreeMap<String, Coordinates> = region_centres(&fleet());
    let table = CidrTable::new(vec![("10.0.0.0/8".parse().unwrap(), "us".into())]);
    let own = ("eu", at(FRANKFURT));
    let hints = |region, lat, lon, peer: Option<&str>| LocationHints {
        region,
        latitude: lat,
        longitude: lon,
        peer: peer.map(|p| p.parse().unwrap()),
    };
    let got = |h| client_location(h, &regions, &table, own);
    assert_eq!(got(hints(Some("us"), None, None, None)), Ok(at(VIRGINIA)));
    // The region wins over coordinates and the network.
    assert_eq!(
        got(hints(
            Some("eu"),
            Some("38.9"),
            Some("-77.4"),
            Some("10.0.0.1")
        )),
        Ok(at(FRANKFURT))
    );
    assert_eq!(
        got(hints(None, Some("-33.9"), Some("151.2"), Some("10.0.0.1"))),
        Ok(at((-33.9, 151.2)))
    );
    assert_eq!(
        got(hints(None, None, None, Some("10.0.0.1"))),
        Ok(at(VIRGINIA))
    );
    assert_eq!(
        got(hints(None, None, None, Some("127.0.0.1"))),
        Ok(at(FRANKFURT))
    );
    assert_eq!(got(hints(None, None, None, None)), Ok(at(FRANKFURT)));

    assert!(matches!(
        got(hints(Some("eu west"), None, None, None)),
        Err(LocationError::BadRegionName(_))
    ));
    assert!(matches!(
        got(hints(Some("mars"), None, None, None)),
        Err(LocationError::UnknownRegion { .. })
    ));
    assert_eq!(
        got(hints(None, Some("10"), None, None)),
        Err(LocationError::HalfCoordinates)
    );
    for (lat, lon) in [("91", "0"), ("0", "180.5"), ("north", "0"), ("NaN", "0")] {
        assert!(
            matches!(
                got(hints(None, Some(lat), Some(lon), None)),
                Err(LocationError::BadCoordinates { .. })
            ),
            "{lat},{lon} accepted"
        );
    }
}
