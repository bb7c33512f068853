//! The heap family: single-threaded allocators that free blocks one by one.
//!
//! - `size_class`: the size-class table shared with `ThreadCache` (8, 16, 32, 48, 64
//!   bytes, then four classes per doubling to 16 KiB).
//! - `side_table`: a growable array of metadata kept in the strategy's own backing
//!   allocator.
//! - `tlsf` and `free_list`: two-level segregated fit with boundary tags and coalescing,
//!   for any mix of sizes and lifetimes; memory goes back region by region.
//! - `size_classes`: a free list per class with no per-block header, the fastest general
//!   choice when sizes are stable.
//! - `slab`: one layout in slabs with out-of-line metadata, for many objects of one type,
//!   with double and invalid frees detected.
//!
//! They trade generality for speed in that order: `FreeList` takes any size and coalesces,
//! `SizeClasses` rounds to a class, `Slab` serves one layout only.

pub(crate) mod free_list;
pub(crate) mod side_table;
pub(crate) mod size_class;
pub(crate) mod size_classes;
pub(crate) mod slab;
pub(crate) mod tlsf;
