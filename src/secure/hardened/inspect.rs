//! What a `Hardened` heap can tell about itself: counters, a full check of every live
//! block's canary, and the blocks still allocated.

use alloc::vec::Vec;

use super::table::State;
use super::{Hardened, HardenedStats, Leak, ViolationReport};
use crate::api::Allocator;

impl<A: Allocator> Hardened<A> {
    /// Counters of live and quarantined blocks.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let heap = allockit::Hardened::new(allockit::SizeClasses::new());
    /// let v: Vec<u32, _> = Vec::with_capacity_in(10, &heap);
    /// assert_eq!((heap.stats().live_blocks, heap.stats().live_bytes), (1, 40));
    /// drop(v);
    /// assert_eq!((heap.stats().live_blocks, heap.stats().quarantined_blocks), (0, 1));
    /// ```
    pub fn stats(&self) -> HardenedStats {
        self.with_core(|c| HardenedStats {
            live_blocks: c.live_blocks,
            live_bytes: c.live_bytes,
            quarantined_blocks: c.quarantine.blocks,
            quarantined_bytes: c.quarantine.bytes,
        })
    }

    /// Verifies every live block's canary and every quarantined block's zeros, reporting
    /// each violation (abort, or the hook). Returns how many it found.
    ///
    /// ```
    /// use allockit::{Allocator, Hardened, Layout, Options, Violation, ViolationReport};
    /// fn expect_overflow(r: &ViolationReport) { assert_eq!(r.violation, Violation::Overflow) }
    /// let options = Options { report_leaks: false, ..Options::SECURE };
    /// let heap = Hardened::with_options(allocator_api2::alloc::Global, options);
    /// heap.set_violation_hook(Some(expect_overflow));
    /// let p = heap.allocate(Layout::new::<[u8; 24]>()).unwrap().cast::<u8>();
    /// assert_eq!(heap.check(), 0);
    /// // SAFETY: a deliberate overflow by one byte into the canary, which lies inside the
    /// // inner allocator's block; the hook observes it.
    /// unsafe { p.as_ptr().add(24).write(b'A') };
    /// assert_eq!(heap.check(), 1);
    /// ```
    pub fn check(&self) -> usize {
        let found: Vec<ViolationReport> = self.with_core(|c| {
            c.blocks
                .iter()
                // SAFETY: every entry describes a block this heap owns.
                .filter(|e| !unsafe { self.intact(e) })
                .map(|e| ViolationReport::corrupted(&e))
                .collect()
        });
        for r in &found {
            self.report(*r);
        }
        found.len()
    }

    /// Every live block: address, layout and (with [`Options::backtrace`](crate::Options::backtrace)) where it was
    /// allocated.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::Hardened::new(allocator_api2::alloc::Global);
    /// let b = Box::new_in(5u16, &heap);
    /// let leaks = heap.leaks();
    /// assert_eq!((leaks.len(), leaks[0].addr), (1, &*b as *const u16 as usize));
    /// drop(b);
    /// assert!(heap.leaks().is_empty());
    /// ```
    pub fn leaks(&self) -> Vec<Leak> {
        self.with_core(|c| {
            let mut leaks: Vec<Leak> = c
                .blocks
                .iter()
                .filter(|e| e.state() == State::Live)
                .map(|e| Leak {
                    addr: e.addr(),
                    layout: e.layout(),
                    backtrace: c
                        .traces
                        .as_ref()
                        .and_then(|t| t.get(&e.addr()))
                        .map(|b| alloc::format!("{b}")),
                })
                .collect();
            leaks.sort_by_key(|l| l.addr);
            leaks
        })
    }
}
