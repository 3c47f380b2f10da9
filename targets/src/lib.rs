//! Small WebSocket endpoints on tokio-tungstenite for the wschaos conformance checker: a
//! conforming echo server and echo client, plus variants with one deliberate flaw each, so
//! the checker's tests and its `demo` command have known-good and known-bad peers to judge.

mod client;
mod fail;
pub mod rsv;
mod server;

pub use client::{ClientFlaw, ClientOptions, run_echo_client, run_echo_client_once};
pub use server::{ServerFlaw, ServerHandle, spawn_echo_server};
