//! The security family (`std` only).
//!
//! - `hardened`: a wrapper around any strategy that detects misuse (canaries, guard
//!   pages, double, invalid and wrong-layout frees, zero-on-free checks, a quarantine)
//!   and aborts with one line naming what and where.
//! - `compartment`: a heap in an address range of its own, with guard gaps, that can be
//!   sealed (made inaccessible) while unused.
//!
//! `Hardened` protects memory from the program's own mistakes; `Compartment` keeps some
//! memory apart from everything else.

pub(crate) mod compartment;
pub(crate) mod hardened;
