//! The chaos proxy: `relay` is the sans-IO core for one connection, `fault` the
//! faults it can inject, `pump` one direction's tokio loop, `server` the
//! listener, the per-connection handler and the start-up, `api` the control API.

pub mod api;
pub mod fault;
pub mod fuzz;
pub mod pump;
pub mod record;
pub mod relay;
pub mod server;
pub mod state;
