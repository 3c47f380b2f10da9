//! The chaos proxy: `relay` is the sans-IO core for one connection, `fault` the
//! faults it can inject.

pub mod api;
pub mod fault;
pub mod fuzz;
pub mod record;
pub mod relay;
pub mod server;
pub mod state;
