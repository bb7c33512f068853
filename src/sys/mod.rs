//! The operating system (`std` only).
//!
//! - `os`: the one door to the kernel. Every system call of the crate (mappings,
//!   protection, advice, clocks, randomness) goes through here, by `rustix`.
//! - `pages`: the OS as a strategy: every block its own anonymous mapping.

pub(crate) mod os;
pub(crate) mod pages;
