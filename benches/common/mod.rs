//! Adapters that put the comparison allocators behind the same traits as allockit's.
#![allow(dead_code)]

use allockit::{AllocError, Allocator, Layout};
use std::alloc::GlobalAlloc;
use std::ptr::NonNull;

/// A `GlobalAlloc` (glibc's `System`, `MiMalloc`) as a per-collection `Allocator`.
#[derive(Clone, Copy, Default)]
pub struct ViaGlobal<G>(pub G);

// SAFETY: forwards to a `GlobalAlloc`, whose blocks stay valid until freed; zero-size
// layouts get a dangling pointer and are never passed on.
unsafe impl<G: GlobalAlloc> Allocator for ViaGlobal<G> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            let dangling = NonNull::new(std::ptr::without_provenance_mut(layout.align())).unwrap();
            return Ok(NonNull::slice_from_raw_parts(dangling, 0));
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { self.0.alloc(layout) };
        NonNull::new(p)
            .map(|p| NonNull::slice_from_raw_parts(p, layout.size()))
            .ok_or(AllocError)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: `ptr` came from `alloc`/`realloc` with this layout (caller).
            unsafe { self.0.dealloc(ptr.as_ptr(), layout) }
        }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 || old.align() != new.align() {
            let fresh = self.allocate(new)?;
            // SAFETY: both blocks are live and distinct; `old.size()` bytes are valid.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.cast().as_ptr(), old.size());
                self.deallocate(ptr, old);
            }
            return Ok(fresh);
        }
        // SAFETY: `ptr` is live with layout `old`, and `new.size()` is non-zero.
        let p = unsafe { self.0.realloc(ptr.as_ptr(), old, new.size()) };
        NonNull::new(p)
            .map(|p| NonNull::slice_from_raw_parts(p, new.size()))
            .ok_or(AllocError)
    }
}

/// Any allocator-api2 allocator as a nightly `core::alloc::Allocator`, for std's
/// collections: bumpalo's `&Bump` (built with its `allocator-api2` feature) and
/// [`ViaGlobal`] implement only the former.
#[cfg(feature = "nightly")]
#[derive(Clone, Copy)]
pub struct Core<A>(pub A);

// SAFETY: every method forwards to the allocator-api2 impl, which upholds the same
// contract; only the error type is translated.
#[cfg(feature = "nightly")]
unsafe impl<A: Allocator> core::alloc::Allocator for Core<A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, core::alloc::AllocError> {
        self.0.allocate(layout).map_err(|_| core::alloc::AllocError)
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(ptr, layout) }
    }
}

/// A C allocator in a shared library opened with `dlopen` (its symbols stay local, so the
/// process keeps glibc's `malloc`): GrapheneOS hardened_malloc, or mimalloc built with
/// `MI_SECURE=4`, measured in the same process as allockit's strategies.
#[derive(Clone, Copy)]
pub struct Dl {
    malloc: unsafe extern "C" fn(usize) -> *mut libc::c_void,
    free: unsafe extern "C" fn(*mut libc::c_void),
}

impl Dl {
    /// Opens `path` and takes `{prefix}malloc` and `{prefix}free` from it (prefix `mi_`
    /// for mimalloc's own API, empty for hardened_malloc). The library stays loaded.
    pub fn open(path: &str, prefix: &str) -> Result<Dl, String> {
        let cpath = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: a valid C string; the library is never closed.
        let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!("dlopen {path} failed"));
        }
        let sym = |name: &str| {
            let c = std::ffi::CString::new(format!("{prefix}{name}")).unwrap();
            // SAFETY: `handle` is an open library and `c` a valid C string.
            let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
            if p.is_null() {
                Err(format!("{path} has no {prefix}{name}"))
            } else {
                Ok(p)
            }
        };
        let (m, f) = (sym("malloc")?, sym("free")?);
        // SAFETY: the symbols are C's `malloc` and `free` signatures.
        unsafe {
            Ok(Dl {
                malloc: std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(usize) -> *mut libc::c_void,
                >(m),
                free: std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(*mut libc::c_void),
                >(f),
            })
        }
    }
}

// SAFETY: blocks come from the library's `malloc`, aligned to 16 (the workload asks for
// 8), and stay valid until its `free`; zero sizes get a dangling pointer, never passed on.
unsafe impl Allocator for Dl {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.align() > 16 {
            return Err(AllocError);
        }
        // SAFETY: C's `malloc` accepts any size (0 is served as 1).
        let p = unsafe { (self.malloc)(layout.size().max(1)) }.cast::<u8>();
        NonNull::new(p)
            .map(|p| NonNull::slice_from_raw_parts(p, layout.size()))
            .ok_or(AllocError)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, _: Layout) {
        // SAFETY: `ptr` came from this library's `malloc` (caller).
        unsafe { (self.free)(ptr.as_ptr().cast()) }
    }
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

unsafe extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// Bytes glibc holds from the OS: the main arena (sbrk) plus mmap'd chunks.
pub fn glibc_held_bytes() -> usize {
    // SAFETY: `mallinfo2` only reads allocator statistics.
    let m = unsafe { mallinfo2() };
    m.arena + m.hblkhd
}

/// Live objects in the mixed workload.
pub const LIVE: usize = 1_000;
/// Free-a-victim-then-allocate steps in the mixed workload.
pub const STEPS: usize = 100_000;
/// The mixed workload's script: initial sizes, then (victim, new size) per step.
pub struct Script {
    /// Sizes of the blocks allocated first.
    pub initial: Vec<usize>,
    /// Per step: the victim to free and the size of its replacement.
    pub steps: Vec<(usize, usize)>,
}

pub fn script() -> Script {
    script_sized(|r| 8 + (r % 505) as usize) // 8..=512 bytes
}

/// The same workload with `percent`% of the blocks between 513 B and 16 KiB.
pub fn script_with_large(percent: u64) -> Script {
    script_sized(move |r| {
        if r % 100 < percent {
            513 + ((r >> 8) % (16_384 - 512)) as usize
        } else {
            8 + ((r >> 8) % 505) as usize
        }
    })
}

fn script_sized(size: impl Fn(u64) -> usize) -> Script {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let initial = (0..LIVE).map(|_| size(next())).collect();
    let steps = (0..STEPS)
        .map(|_| ((next() % LIVE as u64) as usize, size(next())))
        .collect();
    Script { initial, steps }
}

pub fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Runs the mixed workload on `a`. Before the final frees, calls `held` and returns
/// `(live bytes, held bytes)` at that moment.
pub fn mixed_measured<A: Allocator>(
    a: &A,
    s: &Script,
    held: impl FnOnce() -> usize,
) -> (usize, usize) {
    let mut live: Vec<(NonNull<u8>, usize)> = s
        .initial
        .iter()
        .map(|&n| (a.allocate(layout(n)).unwrap().cast(), n))
        .collect();
    for &(victim, n) in &s.steps {
        let (p, old) = live[victim];
        // SAFETY: `p` is live with `layout(old)`.
        unsafe { a.deallocate(p, layout(old)) };
        let q = a.allocate(layout(n)).unwrap().cast::<u8>();
        // SAFETY: `q` has at least `n >= 8` writable bytes.
        unsafe { q.as_ptr().write(n as u8) };
        live[victim] = (q, n);
    }
    let measured = (live.iter().map(|&(_, n)| n).sum(), held());
    for (p, n) in live {
        // SAFETY: `p` is live with `layout(n)`.
        unsafe { a.deallocate(p, layout(n)) };
    }
    measured
}

pub fn mixed<A: Allocator>(a: &A, s: &Script) {
    mixed_measured(a, s, || 0);
}
