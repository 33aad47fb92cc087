//! The library half of `banana`, the Banana dom0 controller: everything but
//! argument parsing at the edge, written against [`registry::Registry`] and
//! [`toolstack::Toolstack`] so it runs on fakes in tests. The xenstore layout
//! it keeps is in `controller/README.md`.

#![forbid(unsafe_code)]

pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod console;
pub mod counters;
pub mod domain;
pub mod endpoint;
pub mod error;
pub mod etcd;
pub mod flood;
pub mod gntdev;
pub mod reattach;
pub mod reconcile;
pub mod registry;
pub mod rekey;
pub mod repair;
pub mod run;
pub mod schema;
pub mod status;
pub mod supervise;
pub mod table;
pub mod toolstack;
pub mod tunnel_key;
pub mod underlay;
pub mod vif;
pub mod vtep;
pub mod wire;
pub mod xenstore;
pub mod xs_socket;
pub mod xs_watch;

#[cfg(test)]
mod tests;
