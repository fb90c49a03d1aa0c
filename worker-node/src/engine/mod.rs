//! The V8 engine: real V8 14.4 from the pinned mini-racer shared library.

mod types;

pub use types::*;
