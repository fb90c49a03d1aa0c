//! Whole-system integration tests. The tests live in `tests/tests/`; this
//! library holds what they share (locating the built binaries, temporary
//! directories, bounded waiting).

#![forbid(unsafe_code)]
