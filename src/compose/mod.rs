//! The composition family: allocators built from other allocators.
//!
//! No single strategy serves every workload, so a program combines them per use (D's
//! `std.experimental.allocator.building_blocks`, Zig's `StackFallbackAllocator`):
//!
//! - `traits`: [`Owns`] ("is this block mine?", answered exactly in O(1) or O(log n)),
//!   [`Reset`] and [`Inspect`], which composites forward when their parts have them.
//! - `fallback`: [`Fallback<P, F>`](crate::Fallback) — `P` first, `F` when `P` fails;
//!   a block goes back to whichever part [`Owns`] it.
//! - `segregate`: [`Segregate<LIMIT, S, L>`](crate::Segregate) — small layouts to `S`,
//!   the rest to `L`; the layout alone says which part a block belongs to.
//! - `stack_fallback`: [`StackFallback<N, A>`](crate::StackFallback) — an inline buffer
//!   of `N` bytes first, then `A`; the allocator is `&StackFallback`, so the buffer
//!   cannot move while it is allocated from.
//! - `counting`: [`Counting`](crate::Counting), a wrapper that counts what its part is
//!   asked to do.
//!
//! A composite's fast path is its part's plus one test: a compare of the size with a
//! constant (`Segregate`), or the range test of [`Owns`] (`Fallback`, `StackFallback`).
//! Composites are plain values of their parts, so they keep their parts' `Send` and
//! `Sync` and nest freely: `Segregate<256, SizeClasses, Fallback<FixedBuffer, Pages>>`.
//!
//! [`Owns`]: crate::Owns
//! [`Reset`]: crate::Reset
//! [`Inspect`]: crate::Inspect

pub(crate) mod counting;
pub(crate) mod fallback;
pub(crate) mod segregate;
pub(crate) mod stack_fallback;
pub(crate) mod traits;
