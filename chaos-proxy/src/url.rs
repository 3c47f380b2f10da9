//! `ws://HOST:PORT/PATH` targets: the codec's parser ([`wschaos_codec::url`]),
//! re-exported so that `wschaos::url::WsUrl` names the one parser.

pub use wschaos_codec::url::*;
