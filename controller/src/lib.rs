//! The library half of `banana`, the Banana dom0 controller: everything but
//! argument parsing at the edge, written against [`registry::Registry`] and
//! [`toolstack::Toolstack`] so it runs on fakes in tests. The xenstore layout
//! it keeps is in `controller/README.md`.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod endpoint;
pub mod error;
pub mod reconcile;
pub mod registry;
pub mod run;
pub mod schema;
pub mod status;
pub mod table;
pub mod toolstack;
pub mod wire;
pub mod xenstore;

#[cfg(test)]
mod tests;
