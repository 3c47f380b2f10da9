//! The chaos proxy: `relay` is the sans-IO core for one connection, `fault` the
//! faults it can inject, `pump` one direction's tokio loop, `server` the
//! listeners (one per named proxy), the per-connection handler and the
//! start-up, `api` the control API, `metrics` its `/metrics`, `config` the
//! `--config` file.

pub mod api;
pub mod config;
pub mod fault;
pub mod fuzz;
pub mod metrics;
pub mod pump;
pub mod record;
pub mod relay;
pub mod server;
pub mod state;
