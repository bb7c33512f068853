//! # allockit — memory allocators as values
//!
//! Every strategy in this crate is a type that implements [`Allocator`], the
//! `allocator_api2` 0.2 trait that builds on stable Rust and that `hashbrown`, bumpalo and
//! allocator-api2's own `Vec` and `Box` accept; with the `nightly` feature each also
//! implements the nightly [`core::alloc::Allocator`], so std's collections take it. A
//! collection picks its strategy per instance:
//!
//! ```
//! use allocator_api2::boxed::Box;
//! use allocator_api2::vec::Vec;
//! use allockit::Arena;
//!
//! let arena = Arena::new();
//! let mut v = Vec::new_in(&arena);
//! v.extend([1, 2, 3]);
//! let b = Box::new_in(42u64, &arena);
//! let mut m = hashbrown::HashMap::new_in(&arena);
//! m.insert("answer", *b);
//! assert_eq!(v.len() + m.len(), 4);
//! ```
//!
//! With the `nightly` feature, on a nightly compiler, std's own collections:
//!
#![cfg_attr(feature = "nightly", doc = "```")]
#![cfg_attr(not(feature = "nightly"), doc = "```ignore")]
//! #![feature(allocator_api)]
//! use allockit::{Arena, SizeClasses};
//!
//! let arena = Arena::new();
//! let mut v = Vec::new_in(&arena);
//! v.extend([1, 2, 3]);
//! let heap = SizeClasses::new();
//! let mut list = std::collections::LinkedList::new_in(&heap);
//! list.push_back(Box::new_in(7u64, &arena));
//! assert_eq!(v.len() as u64 + *list.pop_front().unwrap(), 10);
//! ```
//!
//! ## Strategies
//!
//! | type | what it is | pick it when |
//! |---|---|---|
//! | [`Pages`] | every block is its own anonymous mapping (`std` only) | large buffers that should go straight back to the OS |
//! | [`FixedBuffer`] | bump allocator over a borrowed buffer, even a stack array | no heap at all; bounded scratch space |
//! | [`Arena`] | growable bump allocator on a backing allocator, with [`scope`](Arena::scope)s | many objects that die together: ASTs, graphs, per-request data |
//! | [`FreeList`] | two-level segregated fit with coalescing, individual free | mixed sizes and lifetimes; memory that must go back |
//! | [`SizeClasses`] | a free list per size class, no per-block header | the fastest single-threaded general choice |
//! | [`Slab`] | one object layout in slabs with out-of-line metadata | many objects of one type: tree, list or graph nodes |
//! | [`ThreadCache`] | thread-safe: per-thread heaps, remote frees go back to the owning heap; a `GlobalAlloc` (`std` only) | the global allocator; anything multi-threaded |
//! | [`Malloc`] | the C library's `malloc`/`realloc`/`posix_memalign`/`free`; blocks report `malloc_usable_size` (`std` only) | the yardstick; memory shared with C code; a global allocator that is just libc |
//! | [`Locked`] | wrapper that makes any strategy `Sync` behind a mutex; the slow, simple option (`std` only) | threads must share one heap and allocation is not the bottleneck |
//! | [`Hardened`] | wrapper: canaries, guard pages, invalid/double-free detection, zero-on-free, quarantine, leak report (`std` only) | tests, fuzzing, security-sensitive code that prefers a loud abort to silent corruption |
//! | [`Compartment`] | an isolated heap in its own reserved range with guard gaps; `seal`, `seal_read_only`, `unseal` by protection keys where the CPU has them, else `mprotect` (`std` only) | secrets or untrusted data that must never share pages with the rest, and that can be locked away while unused |
//! | [`Counting`] | wrapper that counts calls, live and peak bytes | measuring what another allocator does |
//! | [`Fallback`] | `P` first, `F` when `P` refuses; a block goes back to the part that [`Owns`] it | a bounded or one-size allocator in front of a general one |
//! | [`Segregate`] | layouts up to `LIMIT` bytes to `S`, the rest to `L` | small and large blocks from different strategies |
//! | [`StackFallback`] | `N` bytes inline first (on the stack), then `A`; the allocator is `&StackFallback` | temporaries that are usually small |
//!
//! ## Composing strategies
//!
//! No single strategy serves every workload, so they combine: [`Fallback`] tries one
//! allocator and then another, [`Segregate`] splits by size, [`StackFallback`] puts a
//! buffer on the stack in front of any allocator. A block goes back to the part that
//! allocated it, told by the layout ([`Segregate`]) or by [`Owns`] ([`Fallback`]).
//! Composites nest, and [`Reset`] and [`Inspect`] reach their parts:
//!
//! ```
//! use allockit::{Fallback, FixedBuffer, Pages, Segregate, SizeClasses};
//! use core::mem::MaybeUninit;
//!
//! let mut scratch = [MaybeUninit::uninit(); 64 << 10];
//! // Up to 256 bytes from size classes; larger blocks from the 64 KiB buffer while it
//! // lasts, then straight from the OS.
//! let heap: Segregate<256, SizeClasses, Fallback<FixedBuffer, Pages>> = Segregate::new(
//!     SizeClasses::new(),
//!     Fallback::new(FixedBuffer::new(&mut scratch), Pages),
//! );
//! let mut ids = allocator_api2::vec::Vec::new_in(&heap);
//! ids.extend(0..100u32); // 400 bytes: above the limit, so in the buffer
//! assert_eq!(heap.large().primary().used(), 400);
//! ```
//!
//! ## Coming from bumpalo
//!
//! [`Arena`] is the counterpart of `bumpalo::Bump`, and its typed methods keep bumpalo's
//! names and signatures; [`BumpAlloc`] carries them as a trait, so one function serves an
//! arena and a scope.
//!
//! | bumpalo | allockit |
//! |---|---|
//! | `Bump::new()`, `with_capacity(n)`, `try_with_capacity(n)` | [`Arena::new()`], [`Arena::with_capacity`], [`Arena::try_with_capacity`] |
//! | `Bump::<1>::with_min_align()` (bumpalo's default `MIN_ALIGN` is 1) | `Arena::<_, 1>::with_min_align()` (allockit's default is 8: see [`Arena`]) |
//! | `bump.alloc(x)`, `try_alloc`, `alloc_with`, `try_alloc_with` | the same names on `Arena` and `Scope` |
//! | `bump.alloc_try_with(f)`, `try_alloc_try_with(f)` → `AllocOrInitError` | the same, [`AllocOrInitError`] |
//! | `alloc_str`, `alloc_slice_copy`, `alloc_slice_clone` | the same |
//! | `alloc_slice_fill_with`, `_copy`, `_clone`, `_default`, `_iter` | the same |
//! | — (needs an exact size) | `alloc_iter(iter)`: any iterator, the block grown in place |
//! | `alloc_layout`, `try_alloc_layout` | the same |
//! | `bumpalo::format!(in &bump, "…")` | [`format_in!`]`(&arena, "…")` |
//! | `bumpalo::collections::String::new_in(&bump)` | [`String::new_in`]`(&arena)` |
//! | `bumpalo::collections::Vec::new_in(&bump)` | `allocator_api2::vec::Vec::new_in(&arena)` (std's `Vec` with `nightly`) |
//! | `bumpalo::boxed::Box::new_in(x, &bump)` (runs `Drop`) | `allocator_api2::boxed::Box::new_in(x, &arena)` (runs `Drop`) |
//! | `bump.reset()` | [`Arena::reset`] (keeps one chunk that fits the whole round) |
//! | `bump.allocated_bytes()` | [`Arena::reserved_bytes`]; [`Arena::used_bytes`] for what was handed out |
//! | `bump.chunk_capacity()`, `iter_allocated_chunks()` | [`Arena::stats`] (`current_chunk_free`, chunk counts) |
//! | `bump.set_allocation_limit(Some(n))` (caps chunk bytes) | [`Arena::set_limit`]`(Some(n))` (caps bytes handed out) |
//! | a `&'a Bump` parameter | `impl BumpAlloc<'a>`: takes `&arena` or `&*scope` |
//! | — | [`Arena::scope`]: nested scopes freed at once, checked by the borrow checker |
//!
//! As in bumpalo, `alloc` and the other typed methods never run `Drop`: the arena frees
//! memory, not values. A value whose `Drop` must run goes in a `Box` in the arena.
//!
//! ## Glossary
//!
//! - **block** — the memory an allocator hands out for one [`Layout`].
//! - **chunk** — a large block an [`Arena`] obtains from its backing allocator and bumps
//!   through.
//! - **cursor** — the address where the next bump allocation starts; it only moves up,
//!   except when the most recent block is freed or shrunk.
//! - **backing allocator** — the allocator a strategy gets its chunks or regions from.
//! - **scope** — a region of an arena whose blocks are all released when it ends, in time
//!   proportional to the number of chunks, not blocks.
//!
//! ## The contract every strategy keeps
//!
//! - `allocate` never panics for a bad or impossible layout: it returns `AllocError`.
//! - Zero-size layouts get a dangling, well-aligned pointer.
//! - A block may be freed, grown or shrunk with any size from the one requested to the
//!   length returned (a fitting layout); the conformance suite checks both ends and
//!   sizes in between for every strategy.
//! - Single-threaded strategies are `Send` but not `Sync`; [`Locked`] shares one between
//!   threads.
//!
//! ## Features
//!
//! - `std` (default): the OS layer, [`Pages`], [`Malloc`] and [`Locked`]. Without it the
//!   crate is `#![no_std]` + `alloc`, and [`FixedBuffer`], [`Arena`] over any allocator, and
//!   [`Counting`] build for kernels and firmware.
//! - `nightly`: every strategy also implements the nightly [`core::alloc::Allocator`]
//!   (generated from its allocator-api2 impl, so the two agree), and [`ThreadCache`] keeps
//!   its heap pointer in a `#[thread_local]` static rather than a `thread_local!` (the
//!   same single TLS access; measured alike). Needs a nightly compiler, and
//!   `#![feature(allocator_api)]` in the crate that uses std's collections with it.
//!
//! allocator-api2's own `nightly` feature (which turns its trait into a re-export of the
//! nightly one) must stay off: with it, each strategy's two impls would be impls of one
//! trait. The crate re-exports the allocator-api2 it is built with as
//! [`allockit::allocator_api2`](crate::allocator_api2), so a user's `Vec` and `Box` can be
//! sure to match.
//!
#![cfg_attr(
    feature = "std",
    doc = "[`Pages`]: crate::Pages\n[`Malloc`]: crate::Malloc\n[`Locked`]: crate::Locked\n[`ThreadCache`]: crate::ThreadCache\n[`Hardened`]: crate::Hardened\n[`Compartment`]: crate::Compartment"
)]
#![cfg_attr(
    not(feature = "std"),
    doc = "[`Pages`]: #features\n[`Malloc`]: #features\n[`Locked`]: #features\n[`ThreadCache`]: #features\n[`Hardened`]: #features\n[`Compartment`]: #features"
)]
#![no_std]
#![cfg_attr(feature = "nightly", feature(allocator_api))]
#![cfg_attr(all(feature = "nightly", feature = "std"), feature(thread_local))]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]
#![warn(missing_debug_implementations)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[macro_use]
mod api;
mod align;
#[macro_use]
mod bump;
mod compose;
mod heap;
#[cfg(feature = "std")]
mod secure;
mod string;
#[cfg(feature = "std")]
mod sys;
#[cfg(feature = "std")]
mod thread;

// Each module under its short name, so the crate's own paths name a strategy, not its
// family (`crate::arena`, `crate::os`).
use bump::{arena, bump_alloc, fixed_buffer, scope};
use compose::{counting, fallback, segregate, stack_fallback};
use heap::{free_list, side_table, size_class, size_classes, slab, tlsf};
#[cfg(feature = "std")]
use secure::{compartment, hardened};
#[cfg(feature = "std")]
use sys::{os, pages};
#[cfg(feature = "std")]
use thread::{locked, malloc, segment, thread_cache};

pub use allocator_api2;
pub use api::{AllocError, Allocator, Layout};
pub use arena::{Arena, ArenaStats};
pub use bump::error::AllocOrInitError;
pub use bump_alloc::BumpAlloc;
#[cfg(feature = "std")]
pub use compartment::{Compartment, Protection, SealError};
pub use compose::traits::{Inspect, Owns, Reset};
pub use counting::{Counting, Stats};
pub use fallback::Fallback;
pub use fixed_buffer::FixedBuffer;
pub use free_list::{FreeList, FreeListStats};
#[cfg(feature = "std")]
pub use hardened::{
    Hardened, HardenedStats, Leak, Options, Violation, ViolationHook, ViolationReport,
};
#[cfg(feature = "std")]
pub use locked::{Locked, LockedGuard};
#[cfg(feature = "std")]
pub use malloc::Malloc;
#[cfg(feature = "std")]
pub use pages::Pages;
pub use scope::Scope;
pub use segregate::Segregate;
pub use size_classes::SizeClasses;
pub use slab::{Slab, SlabStats};
pub use stack_fallback::StackFallback;
pub use string::String;
#[cfg(feature = "std")]
pub use thread_cache::{OptionsError, ThreadCache, ThreadCacheOptions, ThreadCacheStats};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
