//! The typed methods' failures: [`AllocOrInitError`] for an initialiser that can fail,
//! and the panics of the methods without a `try_`.

use core::fmt;

use crate::api::{AllocError, Layout};

/// The failure of [`BumpAlloc::try_alloc_try_with`](crate::BumpAlloc::try_alloc_try_with): no room, or the initialiser's error.
///
/// ```
/// use allockit::{AllocOrInitError, Arena};
/// let arena = Arena::new();
/// let err = arena.try_alloc_try_with(|| "x".parse::<u8>()).unwrap_err();
/// assert!(matches!(err, AllocOrInitError::Init(_)));
/// assert_eq!(err.to_string(), "initialisation failed: invalid digit found in string");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocOrInitError<E> {
    /// The allocator had no room; the initialiser was not called.
    Alloc(AllocError),
    /// The initialiser returned this error; the room was given back if it could be.
    Init(E),
}

impl<E> From<AllocError> for AllocOrInitError<E> {
    fn from(e: AllocError) -> Self {
        AllocOrInitError::Alloc(e)
    }
}

impl<E: fmt::Display> fmt::Display for AllocOrInitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocOrInitError::Alloc(_) => f.write_str("memory allocation failed"),
            AllocOrInitError::Init(e) => write!(f, "initialisation failed: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for AllocOrInitError<E> {}

/// The panicking methods' failure: `handle_alloc_error` for a real layout, a panic for a
/// size that overflows `isize` (the same split `Vec` makes).
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn fail(layout: Option<Layout>) -> ! {
    match layout {
        Some(layout) => alloc::alloc::handle_alloc_error(layout),
        None => panic!("allocation size overflows isize::MAX"),
    }
}

/// `alloc_fmt`'s and `format_in!`'s failure.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn fail_fmt() -> ! {
    panic!(
        "formatting into an allocator failed: out of memory, or a formatting trait returned an error"
    )
}
