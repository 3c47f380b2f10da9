//! Strict, sans-IO codec for RFC 6455 WebSocket frames and the HTTP/1.1 upgrade
//! handshake, with RFC 7692 (permessage-deflate) awareness.
//!
//! Nothing here does I/O: parsers take byte slices as they arrive (any split) and
//! every protocol violation is a typed [`Violation`] that maps to the close code the
//! receiving endpoint must send. The fuzz targets, the checker and the chaos proxy all
//! stand on this one codec.

pub mod cases;
pub mod close;
pub mod decode;
pub mod deflate;
pub mod encode;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod parse;
pub mod stream;
pub mod url;
pub mod utf8;
pub mod validate;
pub mod violation;

#[cfg(feature = "differential")]
pub mod differential;
#[cfg(feature = "arbitrary")]
pub mod fuzz;

pub use close::CloseCode;
pub use decode::{Decoder, DecoderEvent};
pub use frame::{Control, Data, FrameHeader, LengthForm, OpCode, Role};
pub use parse::{Event, FrameParser};
pub use stream::{StreamOutcome, classify};
pub use validate::{Validator, ValidatorConfig};
pub use violation::{Notice, Violation};
