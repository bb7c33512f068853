//! The bump family: allocators that hand out memory by moving a cursor up through a
//! region, and free it all at once.
//!
//! - `cursor`: the region `[cursor, end)` that every member bumps through, with in-place
//!   free, grow and shrink of the latest block.
//! - `fixed_buffer`: one cursor over a caller's buffer; nothing is ever allocated.
//! - `arena`: a cursor over chunks from a backing allocator, which grows, resets, and
//!   opens scopes; `scope`: a checkpoint of an arena, rewound when it ends.
//! - `bump_alloc`: the typed methods (`alloc`, `alloc_str`, `alloc_iter`, …) written once
//!   as the `BumpAlloc` trait; `typed`: the inherent forms of `Arena` and `Scope`;
//!   `error`: their failures.
//!
//! They differ in where the region comes from and how long its values live: a fixed
//! buffer's for the buffer's borrow, an arena's until `reset`, a scope's until it ends.

#[macro_use]
mod typed;
pub(crate) mod arena;
pub(crate) mod bump_alloc;
pub(crate) mod cursor;
pub(crate) mod error;
pub(crate) mod fixed_buffer;
pub(crate) mod scope;

pub(crate) use cursor::{Cursor, DEFAULT_MIN_ALIGN};
