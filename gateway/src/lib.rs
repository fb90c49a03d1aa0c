//! The gateway: the gRPC front door (`edge.v1.Gateway`).
//!
//! A request passes the tower stack ([`stack`], inside a request span that
//! continues the client's W3C trace: request id, global load shedding,
//! deadline, API-key authentication, per-tenant limits) and reaches a handler ([`service`]), which talks to the control
//! plane ([`upstream::ControlPlanes`]) or routes to a worker node:
//! the client's location ([`routing::client_location`]), the nearest region
//! with capacity and a node in it ([`routing::candidates`]) from the polled
//! node snapshot ([`nodes::NodeView`]), with failover within a retry budget.
//!
//! Modules, one job each: [`config`] (flags, env, TOML), [`geo`] (distance,
//! CIDR), [`routing`], [`nodes`], [`upstream`] (channels, reachability),
//! [`auth`] (key cache), [`ratelimit`], [`registry`] (stored-Worker cache),
//! [`context`] (what layers hand handlers), [`validate`], [`stack`],
//! [`service`], [`server`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod context;
pub mod geo;
pub mod nodes;
pub mod ratelimit;
pub mod registry;
pub mod routing;
pub mod server;
pub mod service;
pub mod stack;
pub mod upstream;
pub mod validate;

pub use config::Cli;
pub use config::Config;
pub use config::ConfigError;
pub use geo::Cidr;
pub use geo::CidrTable;
pub use geo::Coordinates;
pub use geo::haversine_km;
pub use ratelimit::TokenBucket;
pub use routing::Placement;
pub use routing::candidates;
pub use routing::client_location;
pub use routing::rendezvous_score;
pub use server::ServeError;
pub use server::serve;
