//! The thread family: allocators that many threads share (`std` only).
//!
//! - `segment` and `thread_cache`: per-thread heaps of pages in 4 MiB segments (the
//!   mimalloc design); allocation and same-thread free take no lock, a remote free
//!   returns a block to its owner with one CAS. `ThreadCache` is a `GlobalAlloc` and, in
//!   `capi/`, a C `malloc`.
//! - `locked`: any single-threaded strategy behind one mutex: slow and simple.
//! - `malloc`: the C library's allocator as a strategy, the yardstick.
//!
//! They differ in how threads meet: `ThreadCache` keeps them apart until a block crosses
//! over, `Locked` serialises every call, `Malloc` leaves it to libc.

pub(crate) mod locked;
pub(crate) mod malloc;
pub(crate) mod segment;
pub(crate) mod thread_cache;
