//! `ThreadCache`'s thread-local state: the thread's heap pointer, its setup state, and the
//! guard whose destructor abandons the heap at thread exit.

use core::cell::Cell;
use core::ptr;

use super::{Heap, abandon, pool_give};

/// `STATE` values.
pub(super) const UNINIT: u8 = 0;
/// Setting the thread up: requests go to the fallback heap.
pub(super) const INITIALIZING: u8 = 1;
/// The thread has a heap.
pub(super) const READY: u8 = 2;
/// The heap was abandoned (thread exit): requests go to the fallback heap.
pub(super) const DEAD: u8 = 3;

/// Declares a thread-local `Cell` read and written as `NAME.get()`, `NAME.set(v)`,
/// `NAME.replace(v)`: a `#[thread_local]` static with the `nightly` feature, else a
/// `thread_local!` with a `const` initialiser. A `Cell` of a `Copy` value has no
/// destructor, so the latter is the same single TLS access (no lazy-init or
/// destroyed-state check); `benches/threads.rs` measures the two builds alike.
macro_rules! thread_cell {
    ($(#[$doc:meta])* $vis:vis static $name:ident: Cell<$t:ty> = $init:expr;) => {
        #[cfg(feature = "nightly")]
        $(#[$doc])*
        #[thread_local]
        $vis static $name: Cell<$t> = Cell::new($init);
        #[cfg(not(feature = "nightly"))]
        std::thread_local! {
            $(#[$doc])*
            $vis static $name: Cell<$t> = const { Cell::new($init) };
        }
    };
}

thread_cell! {
    /// This thread's heap, or null while it has none.
    pub(super) static HEAP: Cell<*mut Heap> = ptr::null_mut();
}
thread_cell! {
    /// This thread's setup state (one of the constants above).
    pub(super) static STATE: Cell<u8> = UNINIT;
}

/// Its destructor runs at thread exit and abandons the thread's heap.
pub(super) struct ExitGuard;
impl Drop for ExitGuard {
    fn drop(&mut self) {
        let heap = HEAP.replace(ptr::null_mut());
        STATE.set(DEAD);
        if !heap.is_null() {
            // SAFETY: `heap` was this thread's heap and no one else uses it; it is now
            // unreachable from the thread-local.
            unsafe { abandon(heap) };
            pool_give(heap);
        }
    }
}
std::thread_local! {
    pub(super) static EXIT: ExitGuard = const { ExitGuard };
}
