//! wschaos: a WebSocket fuzzing and chaos-injection testbed. This crate holds the
//! conformance checker (`check`), its case catalogue, the reports, and the
//! commands built on them; the frame codec lives in `wschaos-codec`.

pub mod catalogue;
pub mod check;
pub mod demo;
pub mod http;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod seed;
pub mod url;
pub mod verdict;
