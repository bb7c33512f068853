//! The public vocabulary of a [`Hardened`](super::Hardened) heap: its [`Options`], the
//! [`Violation`]s it detects and how they are reported, and what [`leaks`] and [`stats`]
//! return.
//!
//! [`leaks`]: super::Hardened::leaks
//! [`stats`]: super::Hardened::stats

use core::fmt;

use alloc::string::String;

use super::table::{Entry, State};
use crate::api::Layout;

/// Which hardening features a [`Hardened`](super::Hardened) heap uses, and what each
/// costs.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::{Hardened, Options, SizeClasses};
///
/// let heap = Hardened::with_options(
///     SizeClasses::new(),
///     Options { quarantine_bytes: 0, ..Options::default() },
/// );
/// let v: Vec<u8, _> = Vec::with_capacity_in(10, &heap);
/// # drop(v);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Write 8 canary bytes after every block; check them on free and in `check`.
    /// Costs 8 bytes per block and an 8-byte write and compare.
    pub canary: bool,
    /// Zero freed blocks, and verify the zeros when they leave the quarantine (write after
    /// free). Costs a `memset` per free and a read of the block per release.
    pub zero_on_free: bool,
    /// Freed bytes held back from reuse (a random slot, then FIFO); 0 disables the
    /// quarantine. Costs that much memory and worse cache reuse.
    pub quarantine_bytes: usize,
    /// Blocks larger than this many bytes get their own mapping between guard pages;
    /// `usize::MAX` disables guard pages. Costs a few system calls per large block.
    pub guard_pages_above: usize,
    /// Record a backtrace for every allocation, shown in leak reports. Costs a stack walk
    /// per allocation (kept in the global allocator).
    pub backtrace: bool,
    /// Print a leak report to stderr when the heap is dropped with live blocks.
    pub report_leaks: bool,
}

impl Options {
    /// Every feature on except backtraces: [`Hardened::new`](super::Hardened::new)'s choice.
    ///
    /// ```
    /// use allockit::{Hardened, Options};
    /// assert!(Options::SECURE.canary && Options::SECURE.zero_on_free);
    /// assert_eq!(Options::default(), Options::SECURE);
    /// assert_eq!(Hardened::new(allocator_api2::alloc::Global).options(), Options::SECURE);
    /// ```
    pub const SECURE: Options = Options {
        canary: true,
        zero_on_free: true,
        quarantine_bytes: 1 << 20,
        guard_pages_above: 64 << 10,
        backtrace: false,
        report_leaks: true,
    };

    /// Only what is always on: invalid-free and double-free detection, leak report.
    ///
    /// ```
    /// use allockit::{Hardened, Options};
    /// let heap = Hardened::with_options(allocator_api2::alloc::Global, Options::MINIMAL);
    /// drop(allocator_api2::boxed::Box::new_in([0u8; 64], &heap));
    /// assert_eq!(heap.stats().quarantined_blocks, 0, "no quarantine: freed at once");
    /// ```
    pub const MINIMAL: Options = Options {
        canary: false,
        zero_on_free: false,
        quarantine_bytes: 0,
        guard_pages_above: usize::MAX,
        backtrace: false,
        report_leaks: true,
    };
}

impl Default for Options {
    fn default() -> Self {
        Options::SECURE
    }
}

/// A kind of heap misuse a [`Hardened`](super::Hardened) heap detects.
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use allockit::{Allocator, Hardened, Layout, Violation, ViolationReport};
/// static SEEN: AtomicBool = AtomicBool::new(false);
/// fn hook(r: &ViolationReport) { SEEN.store(r.violation == Violation::InvalidFree, Ordering::Relaxed) }
/// let heap = Hardened::new(allocator_api2::alloc::Global);
/// heap.set_violation_hook(Some(hook));
/// let mut local = 0u64;
/// // SAFETY: freeing memory the heap never handed out is the bug the hook observes; the
/// // heap ignores the call.
/// unsafe { heap.deallocate(core::ptr::NonNull::from(&mut local).cast(), Layout::new::<u64>()) };
/// assert!(SEEN.load(Ordering::Relaxed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A block freed (or resized) again after it was freed.
    DoubleFree,
    /// A pointer this heap never handed out (or already gave back to the inner allocator).
    InvalidFree,
    /// A pointer into the middle of a block.
    InteriorFree,
    /// A pointer not aligned to the layout passed with it.
    UnalignedFree,
    /// A live block freed or resized with a layout other than its allocation's.
    WrongLayout,
    /// The canary after a live block was overwritten.
    Overflow,
    /// A freed block was written to while it waited in quarantine.
    WriteAfterFree,
}

impl Violation {
    /// The name printed in the report line.
    ///
    /// ```
    /// use allockit::Violation;
    /// assert_eq!(Violation::DoubleFree.name(), "double free");
    /// assert_eq!(Violation::WriteAfterFree.name(), "write after free");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Violation::DoubleFree => "double free",
            Violation::InvalidFree => "invalid free",
            Violation::InteriorFree => "invalid free (interior pointer)",
            Violation::UnalignedFree => "invalid free (unaligned pointer)",
            Violation::WrongLayout => "free with a wrong layout",
            Violation::Overflow => "buffer overflow (canary overwritten)",
            Violation::WriteAfterFree => "write after free",
        }
    }
}

/// One detected violation, as printed before aborting or passed to the hook.
///
/// ```
/// use std::sync::Mutex;
/// use allockit::{Allocator, Hardened, Layout, ViolationReport};
/// static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// fn hook(r: &ViolationReport) { LINES.lock().unwrap().push(r.to_string()) }
/// let heap = Hardened::new(allocator_api2::alloc::Global);
/// heap.set_violation_hook(Some(hook));
/// let l = Layout::new::<u64>();
/// let p = heap.allocate(l).unwrap().cast::<u8>();
/// // SAFETY: the second free is the bug the hook observes; the heap ignores it.
/// unsafe { heap.deallocate(p, l); heap.deallocate(p, l) };
/// assert!(LINES.lock().unwrap()[0].starts_with("double free of 0x"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViolationReport {
    /// What went wrong.
    pub violation: Violation,
    /// The address involved (the pointer passed, or the corrupted block).
    pub addr: usize,
    /// The layout passed with it (or the block's own, for corruption).
    pub layout: Layout,
    /// The block the address belongs to, when the heap knows one: its address and layout.
    pub block: Option<(usize, Layout)>,
}

impl ViolationReport {
    /// The report for a block whose fences (or, in quarantine, zeros) were overwritten.
    pub(super) fn corrupted(e: &Entry) -> Self {
        let violation = match e.state() {
            State::Live => Violation::Overflow,
            State::Quarantined => Violation::WriteAfterFree,
        };
        ViolationReport {
            violation,
            addr: e.addr(),
            layout: e.layout(),
            block: None,
        }
    }

    /// Classifies a free of `addr` with `layout` that matches no recorded block, given
    /// every recorded block: unaligned, inside a block, or never handed out.
    #[cold]
    #[inline(never)]
    pub(super) fn unknown(
        mut blocks: impl Iterator<Item = Entry>,
        addr: usize,
        layout: Layout,
    ) -> Self {
        let block = blocks
            .find(|e| e.addr() < addr && addr < e.addr() + e.size())
            .map(|e| (e.addr(), e.layout()));
        let violation = if !addr.is_multiple_of(layout.align()) {
            Violation::UnalignedFree
        } else if block.is_some() {
            Violation::InteriorFree
        } else {
            Violation::InvalidFree
        };
        ViolationReport {
            violation,
            addr,
            layout,
            block,
        }
    }
}

impl fmt::Display for ViolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v, l) = (self.violation, self.layout);
        write!(
            f,
            "{} of {:#x} (size {}, align {})",
            v.name(),
            self.addr,
            l.size(),
            l.align()
        )?;
        match self.block {
            Some((addr, b)) if addr != self.addr || b != l => write!(
                f,
                "; block {addr:#x} was allocated with size {}, align {}",
                b.size(),
                b.align()
            ),
            _ => Ok(()),
        }
    }
}

/// What a violation hook receives.
///
/// ```
/// use allockit::{Allocator, Hardened, Layout, ViolationHook, ViolationReport};
/// fn ignore(_: &ViolationReport) {}
/// let hook: ViolationHook = ignore;
/// let heap = Hardened::new(allocator_api2::alloc::Global);
/// heap.set_violation_hook(Some(hook));
/// let l = Layout::new::<u32>();
/// let p = heap.allocate(l).unwrap().cast::<u8>();
/// // SAFETY: the second free is the bug the hook observes; the heap ignores it.
/// unsafe { heap.deallocate(p, l); heap.deallocate(p, l) };
/// assert_eq!(heap.stats().live_blocks, 0, "the process went on, the block freed once");
/// ```
pub type ViolationHook = fn(&ViolationReport);

/// A block still live, from [`Hardened::leaks`](super::Hardened::leaks).
///
/// ```
/// use allockit::{Hardened, Options};
/// let heap = Hardened::with_options(allocator_api2::alloc::Global, Options { backtrace: true, ..Options::MINIMAL });
/// let b = allocator_api2::boxed::Box::new_in(1u16, &heap);
/// let leak = &heap.leaks()[0];
/// assert_eq!((leak.addr, leak.layout.size()), (&*b as *const u16 as usize, 2));
/// assert!(leak.backtrace.is_some(), "where it was allocated");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The block's address.
    pub addr: usize,
    /// The layout it was allocated with.
    pub layout: Layout,
    /// Where it was allocated, when [`Options::backtrace`] is on.
    pub backtrace: Option<String>,
}

/// Counters of a [`Hardened`](super::Hardened) heap, from
/// [`Hardened::stats`](super::Hardened::stats).
///
/// ```
/// use allocator_api2::boxed::Box;
/// let heap = allockit::Hardened::new(allocator_api2::alloc::Global);
/// let a = Box::new_in([0u8; 100], &heap);
/// let b = Box::new_in([1u8; 50], &heap);
/// drop(a);
/// let s = heap.stats();
/// assert_eq!((s.live_blocks, s.live_bytes), (1, 50));
/// assert_eq!((s.quarantined_blocks, s.quarantined_bytes), (1, 100));
/// # drop(b);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HardenedStats {
    /// Blocks handed out and not freed.
    pub live_blocks: usize,
    /// Requested bytes of those blocks.
    pub live_bytes: usize,
    /// Freed blocks waiting in quarantine.
    pub quarantined_blocks: usize,
    /// Requested bytes of those blocks; at most [`Options::quarantine_bytes`].
    pub quarantined_bytes: usize,
}

/// Writes the drop-time leak report to stderr: a line for the total, then one per block
/// (with its backtrace, when recorded). Nothing when there are no leaks.
pub(super) fn write_leak_report(leaks: &[Leak]) {
    use std::io::Write as _;
    if leaks.is_empty() {
        return;
    }
    let mut err = std::io::stderr().lock();
    let bytes: usize = leaks.iter().map(|l| l.layout.size()).sum();
    let _ = writeln!(
        err,
        "allockit::Hardened: {} block{} ({bytes} bytes) still live when the heap was dropped:",
        leaks.len(),
        if leaks.len() == 1 { "" } else { "s" }
    );
    for l in leaks {
        let _ = writeln!(
            err,
            "  {:#x} (size {}, align {})",
            l.addr,
            l.layout.size(),
            l.layout.align()
        );
        if let Some(trace) = &l.backtrace {
            for line in trace.lines() {
                let _ = writeln!(err, "      {line}");
            }
        }
    }
}
