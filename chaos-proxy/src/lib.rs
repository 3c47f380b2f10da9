//! wschaos: a WebSocket fuzzing and chaos-injection testbed. The frame codec,
//! the handshake and the frame-level cases live in `wschaos-codec`; this crate
//! holds everything built on them.
//!
//! # Layout
//!
//! - `catalogue`: every case the checker runs (the codec's frame cases plus the
//!   handshake, extension, after-valid, after-close and chop cases), what each
//!   sends and what it expects.
//! - `autobahn`: Autobahn|Testsuite's case ids, which of ours cover each, and
//!   the coverage per category (`wschaos cases --autobahn`).
//! - `check`: the checker. `check::server` drives a server under test as a
//!   client, `check::client` serves a client under test, `check::observe`
//!   watches an endpoint's reaction.
//! - `verdict`: the rules that turn a reaction into pass / non-strict / fail /
//!   info, for the checker and the proxy alike.
//! - `proxy`: the chaos proxy. `proxy::relay` is the sans-IO core of one
//!   connection, `proxy::fault` the faults (one file each, one registry),
//!   `proxy::pump` one direction's tokio loop, `proxy::server` the listener,
//!   the per-connection handler and start-up, `proxy::api` the control API.
//! - `report`: the report model and its formats (text, JSON, JUnit, and the
//!   proxy's JSONL).
//! - `cli`: one file per subcommand; `main.rs` only parses and dispatches.
//! - `replay`, `demo`: the `replay` and `demo` commands' work.
//! - Small shared pieces: `url` (the codec's ws:// parser, the one the whole
//!   workspace uses), `seed` (deriving every
//!   seeded stream from `--seed`), `http` (the plain responses wschaos writes).

pub mod autobahn;
pub mod catalogue;
pub mod check;
pub mod cli;
pub mod demo;
pub mod fuzz;
pub mod http;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod seed;
pub mod tls;
pub mod url;
pub mod verdict;
