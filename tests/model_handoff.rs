//! A deterministic model of `ThreadCache`'s page and segment life cycle, explored by
//! shuttle over thousands of schedules.
//!
//! The model keeps the real allocator's shape at a size a scheduler can explore: one size
//! class, segments of two page slots, two blocks per page. Each function below mirrors
//! the one of the same name in `src/thread/thread_cache.rs` (`alloc` ~ `heap_alloc`/`find_page`,
//! `free`, `collect`, `new_page`, `push_page`, `release_page`, `free_slot`, `abandon`,
//! `adopt`); atomics and the two list mutexes are shuttle's, so every point where another
//! thread can step in is a point where shuttle switches threads.
//!
//! Two properties are checked on every step:
//! - **ownership**: a page's owner-only fields (free list, count, circle links) and a
//!   segment's slot counts are written only by the heap named in the segment's `owner`;
//!   a write after the segment was published to the abandoned list, or after another heap
//!   adopted it, fails at once;
//! - **uniqueness**: no block is handed out while it is live, and no block is freed twice.
//!
//! `old_abandon_is_caught` runs a wrong abandon/adopt protocol (pages released after the
//! segment was published, the order that crashes larson); the model must find its
//! violation.
#![cfg(not(miri))]

use std::collections::HashSet;
use std::sync::Arc;

use shuttle::sync::Mutex;
use shuttle::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use shuttle::thread;

/// Blocks per page (bit `b` of a mask is block `b`).
const BLOCKS: u32 = 2;
/// Page slots per segment.
const SLOTS: usize = 2;
/// Segments that can exist (fresh mappings in the model).
const SEGMENTS: usize = 6;
/// Pages visited around the circle before a new page is taken.
const SEARCH: usize = 2;
/// `owner` of a segment nobody owns: mapped fresh, or in the cache.
const NOBODY: usize = 0;
/// `owner` of an abandoned segment.
const ABANDONED: usize = 1;
/// No page (an empty circle).
const NIL: usize = usize::MAX;

/// A page's owner-only fields.
#[derive(Clone, Copy)]
struct PageState {
    free: u32,
    used: u32,
    in_use: bool,
    next: usize,
    prev: usize,
}

/// A page: the remote-free stack other threads push onto, and the owner's fields.
struct Page {
    thread_free: AtomicU32,
    own: std::sync::Mutex<PageState>,
}

/// A segment: its owner, and its slot count (owner only).
struct Segment {
    owner: AtomicUsize,
    used_slots: std::sync::Mutex<u32>,
}

/// Everything threads share.
struct World {
    pages: Vec<Page>,
    segments: Vec<Segment>,
    fresh: AtomicUsize,
    abandoned: Mutex<Vec<usize>>,
    cache: Mutex<Vec<usize>>,
    live: Mutex<HashSet<u32>>,
    mailbox: Mutex<Vec<u32>>,
    old_protocol: bool,
}

/// One thread's heap (thread-local in the real allocator).
struct Heap {
    tag: usize,
    head: usize,
    segments: Vec<usize>,
}

impl Heap {
    /// A heap with no pages; `tag` is its `owner` value (2 and up).
    fn new(tag: usize) -> Self {
        Heap {
            tag,
            head: NIL,
            segments: Vec::new(),
        }
    }
}

fn seg_of(page: usize) -> usize {
    page / SLOTS
}

fn block_id(page: usize, bit: u32) -> u32 {
    page as u32 * BLOCKS + bit
}

impl World {
    fn new(old_protocol: bool) -> Self {
        World {
            pages: (0..SEGMENTS * SLOTS)
                .map(|_| Page {
                    thread_free: AtomicU32::new(0),
                    own: std::sync::Mutex::new(PageState {
                        free: 0,
                        used: 0,
                        in_use: false,
                        next: NIL,
                        prev: NIL,
                    }),
                })
                .collect(),
            segments: (0..SEGMENTS)
                .map(|_| Segment {
                    owner: AtomicUsize::new(NOBODY),
                    used_slots: std::sync::Mutex::new(0),
                })
                .collect(),
            fresh: AtomicUsize::new(0),
            abandoned: Mutex::new(Vec::new()),
            cache: Mutex::new(Vec::new()),
            live: Mutex::new(HashSet::new()),
            mailbox: Mutex::new(Vec::new()),
            old_protocol,
        }
    }

    /// Asserts that `heap` owns `seg`: the ownership property.
    fn check_owner(&self, heap: &Heap, seg: usize, what: &str) {
        let owner = self.segments[seg].owner.load(Ordering::Relaxed);
        assert_eq!(
            owner, heap.tag,
            "heap {} wrote {what} of segment {seg}, which belongs to {owner}",
            heap.tag
        );
    }

    /// Reads and writes `page`'s owner-only fields as `heap`.
    fn page<R>(&self, heap: &Heap, page: usize, f: impl FnOnce(&mut PageState) -> R) -> R {
        self.check_owner(heap, seg_of(page), "a page's owner-only fields");
        let mut state = self.pages[page]
            .own
            .try_lock()
            .expect("no overlapping access");
        f(&mut state)
    }

    /// Changes `seg`'s slot count as `heap`; returns the new count.
    fn slots(&self, heap: &Heap, seg: usize, delta: i32) -> u32 {
        self.check_owner(heap, seg, "the slot count");
        let mut n = self.segments[seg]
            .used_slots
            .try_lock()
            .expect("no overlap");
        *n = n.checked_add_signed(delta).expect("slot count underflow");
        *n
    }

    // ---- the allocator's operations, one function per function of thread_cache.rs ----

    /// `heap_alloc`: a block from `heap`, or `None` when the model is out of segments.
    fn alloc(&self, heap: &mut Heap) -> Option<u32> {
        let page = self.find_page(heap)?;
        let bit = self.page(heap, page, |p| {
            let bit = p.free.trailing_zeros();
            p.free &= !(1 << bit);
            p.used += 1;
            bit
        });
        let id = block_id(page, bit);
        assert!(
            self.live.lock().unwrap().insert(id),
            "block {id} handed out twice"
        );
        Some(id)
    }

    fn find_page(&self, heap: &mut Heap) -> Option<usize> {
        for _ in 0..2 {
            if heap.head != NIL {
                let mut page = heap.head;
                for _ in 0..SEARCH {
                    self.collect(heap, page);
                    if self.page(heap, page, |p| p.free != 0) {
                        heap.head = page;
                        return Some(page);
                    }
                    page = self.page(heap, page, |p| p.next);
                    if page == heap.head {
                        break;
                    }
                }
            }
            let adopted = if self.old_protocol {
                self.adopt_old(heap)
            } else {
                self.adopt(heap)
            };
            if !adopted {
                break;
            }
        }
        self.new_page(heap)
    }

    fn collect(&self, heap: &Heap, page: usize) {
        if self.pages[page].thread_free.load(Ordering::Relaxed) == 0 {
            return;
        }
        let taken = self.pages[page].thread_free.swap(0, Ordering::Acquire);
        self.page(heap, page, |p| {
            assert_eq!(p.free & taken, 0, "a block was freed twice");
            p.free |= taken;
            p.used = p
                .used
                .checked_sub(taken.count_ones())
                .expect("used underflow");
        });
    }

    fn new_page(&self, heap: &mut Heap) -> Option<usize> {
        let found = heap.segments.iter().find_map(|&seg| {
            (0..SLOTS)
                .map(|s| seg * SLOTS + s)
                .find(|&pg| !self.page(heap, pg, |p| p.in_use))
        });
        let page = match found {
            Some(page) => page,
            None => {
                let seg = match self.cache.lock().unwrap().pop() {
                    Some(seg) => seg,
                    None => {
                        let seg = self.fresh.fetch_add(1, Ordering::Relaxed);
                        if seg >= SEGMENTS {
                            return None;
                        }
                        seg
                    }
                };
                self.segments[seg].owner.store(heap.tag, Ordering::Release);
                heap.segments.push(seg);
                seg * SLOTS
            }
        };
        self.slots(heap, seg_of(page), 1);
        self.page(heap, page, |p| {
            *p = PageState {
                free: (1 << BLOCKS) - 1,
                used: 0,
                in_use: true,
                next: NIL,
                prev: NIL,
            }
        });
        self.push_page(heap, page);
        heap.head = page;
        Some(page)
    }

    fn push_page(&self, heap: &mut Heap, page: usize) {
        if heap.head == NIL {
            self.page(heap, page, |p| (p.next, p.prev) = (page, page));
            heap.head = page;
        } else {
            let head = heap.head;
            let tail = self.page(heap, head, |p| p.prev);
            self.page(heap, page, |p| (p.next, p.prev) = (head, tail));
            self.page(heap, tail, |p| p.next = page);
            self.page(heap, head, |p| p.prev = page);
        }
    }

    fn release_page(&self, heap: &mut Heap, page: usize) {
        let (next, prev) = self.page(heap, page, |p| (p.next, p.prev));
        if next == page {
            heap.head = NIL;
        } else {
            self.page(heap, prev, |p| p.next = next);
            self.page(heap, next, |p| p.prev = prev);
            if heap.head == page {
                heap.head = next;
            }
        }
        if self.free_slot(heap, page) {
            let seg = seg_of(page);
            heap.segments.retain(|&s| s != seg);
            self.release_segment(seg);
        }
    }

    fn free_slot(&self, heap: &Heap, page: usize) -> bool {
        self.page(heap, page, |p| {
            assert_eq!(p.used, 0, "a page with live blocks was released");
            p.in_use = false;
            p.free = 0;
        });
        self.slots(heap, seg_of(page), -1) == 0
    }

    fn release_segment(&self, seg: usize) {
        self.segments[seg].owner.store(NOBODY, Ordering::Release);
        self.cache.lock().unwrap().push(seg);
    }

    /// `free`: by the owner onto the free list, by anyone else onto `thread_free`.
    fn free(&self, heap: &mut Heap, id: u32) {
        assert!(
            self.live.lock().unwrap().remove(&id),
            "block {id} freed twice"
        );
        let (page, bit) = (id as usize / BLOCKS as usize, id % BLOCKS);
        if self.segments[seg_of(page)].owner.load(Ordering::Relaxed) == heap.tag {
            let used = self.page(heap, page, |p| {
                p.free |= 1 << bit;
                p.used -= 1;
                p.used
            });
            if used == 0 && heap.head != page {
                self.release_page(heap, page);
            }
        } else {
            self.pages[page]
                .thread_free
                .fetch_or(1 << bit, Ordering::Release);
        }
    }

    /// `abandon` as the allocator does it: circles dropped first, each segment finished
    /// before it is published, nothing touched after.
    fn abandon(&self, heap: &mut Heap) {
        heap.head = NIL;
        for seg in std::mem::take(&mut heap.segments) {
            for page in (0..SLOTS).map(|s| seg * SLOTS + s) {
                if self.page(heap, page, |p| p.in_use) {
                    self.collect(heap, page);
                    if self.page(heap, page, |p| p.used) == 0 {
                        self.free_slot(heap, page);
                    }
                }
            }
            if self.slots(heap, seg, 0) == 0 {
                self.release_segment(seg);
            } else {
                self.segments[seg].owner.store(ABANDONED, Ordering::Release);
                self.abandoned.lock().unwrap().push(seg);
            }
        }
    }

    /// `adopt` as the allocator does it.
    fn adopt(&self, heap: &mut Heap) -> bool {
        loop {
            let Some(seg) = self.abandoned.lock().unwrap().pop() else {
                return false;
            };
            self.segments[seg].owner.store(heap.tag, Ordering::Release);
            for page in (0..SLOTS).map(|s| seg * SLOTS + s) {
                if self.page(heap, page, |p| p.in_use) {
                    self.collect(heap, page);
                    if self.page(heap, page, |p| p.used) == 0 {
                        self.free_slot(heap, page);
                    } else {
                        self.push_page(heap, page);
                    }
                }
            }
            if self.slots(heap, seg, 0) == 0 {
                self.release_segment(seg);
            } else {
                heap.segments.push(seg);
                return true;
            }
        }
    }

    /// The earlier `abandon`: empty pages released (circle links and all) segment by
    /// segment, after earlier segments were already published.
    fn abandon_old(&self, heap: &mut Heap) {
        for seg in heap.segments.clone() {
            let mut released = false;
            for page in (0..SLOTS).map(|s| seg * SLOTS + s) {
                if self.page(heap, page, |p| p.in_use) {
                    self.collect(heap, page);
                    if self.page(heap, page, |p| p.used) == 0 {
                        released = self.slots(heap, seg, 0) == 1;
                        self.release_page(heap, page);
                        if released {
                            break;
                        }
                    }
                }
            }
            if !released {
                heap.segments.retain(|&s| s != seg);
                self.segments[seg].owner.store(ABANDONED, Ordering::Release);
                self.abandoned.lock().unwrap().push(seg);
            }
        }
        heap.head = NIL;
        heap.segments.clear();
    }

    /// The earlier `adopt`: one segment, every page linked, then empty ones released.
    fn adopt_old(&self, heap: &mut Heap) -> bool {
        let Some(seg) = self.abandoned.lock().unwrap().pop() else {
            return false;
        };
        self.segments[seg].owner.store(heap.tag, Ordering::Release);
        heap.segments.push(seg);
        for page in (0..SLOTS).map(|s| seg * SLOTS + s) {
            if self.page(heap, page, |p| p.in_use) {
                self.collect(heap, page);
                self.push_page(heap, page);
                if self.page(heap, page, |p| p.used) == 0 && self.slots(heap, seg, 0) > 1 {
                    self.release_page(heap, page);
                }
            }
        }
        true
    }
}

/// The scenario: thread A fills pages across segments, frees some blocks itself, posts
/// the other four for B and exits (abandon) while B frees them remotely and C, short of pages,
/// adopts A's segments, allocates from them and frees everything it got.
fn scenario(old_protocol: bool) {
    let world = Arc::new(World::new(old_protocol));

    let w = world.clone();
    let a = thread::spawn(move || {
        let mut heap = Heap::new(2);
        let blocks: Vec<u32> = (0..6).filter_map(|_| w.alloc(&mut heap)).collect();
        for (i, &b) in blocks.iter().enumerate() {
            if i % 3 == 0 {
                w.free(&mut heap, b);
            } else {
                w.mailbox.lock().unwrap().push(b);
            }
        }
        if w.old_protocol {
            w.abandon_old(&mut heap);
        } else {
            w.abandon(&mut heap);
        }
    });

    let w = world.clone();
    let b = thread::spawn(move || {
        let mut heap = Heap::new(3);
        // A posts four blocks; free each as it arrives, racing A's exit.
        let mut freed = 0;
        while freed < 4 {
            let got = w.mailbox.lock().unwrap().pop();
            match got {
                Some(block) => {
                    w.free(&mut heap, block);
                    freed += 1;
                }
                None => thread::yield_now(),
            }
        }
    });

    let w = world.clone();
    let c = thread::spawn(move || {
        let mut heap = Heap::new(4);
        let mut mine = Vec::new();
        for _ in 0..4 {
            thread::yield_now();
            if let Some(block) = w.alloc(&mut heap) {
                mine.push(block);
            }
        }
        for block in mine {
            w.free(&mut heap, block);
        }
    });

    a.join().unwrap();
    c.join().unwrap();
    b.join().unwrap();
    assert!(
        world.live.lock().unwrap().is_empty(),
        "every block was freed"
    );
}

#[test]
fn handoff_random_schedules() {
    shuttle::check_random(|| scenario(false), 20_000);
}

#[test]
fn handoff_pct_schedules() {
    shuttle::check_pct(|| scenario(false), 20_000, 3);
}

#[test]
#[should_panic(expected = "which belongs to")]
fn old_abandon_is_caught() {
    shuttle::check_random(|| scenario(true), 20_000);
}
