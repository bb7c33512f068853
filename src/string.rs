//! `String<A>`: a growable UTF-8 string over any allocator, and [`format_in!`].
//!
//! It is a `Vec<u8, A>` (allocator-api2's) that only ever holds UTF-8, with `str`'s
//! methods through `Deref`. On an arena the string is usually the latest block, so
//! `push_str` grows it in place without copying. `leak` turns it into a `&mut str` that
//! lives as long as the allocator, the arena counterpart of `String::leak`.
//!
//! ```
//! use allockit::{Arena, String, format_in};
//!
//! let arena = Arena::new();
//! let mut s = String::new_in(&arena);
//! s.push_str("hello");
//! s.push(' ');
//! s += "world";
//! assert_eq!(s, "hello world");
//!
//! let t = format_in!(&arena, "{}-{}", s.len(), 'x');
//! let key: &str = t.leak(); // lives as long as the arena
//! assert_eq!(key, "11-x");
//!
//! // A hashbrown key: `Borrow<str>` lets the map be queried with a plain `&str`.
//! let mut m = hashbrown::HashMap::new();
//! m.insert(format_in!(&arena, "k{}", 1), 1);
//! assert_eq!(m["k1"], 1);
//! ```

use core::borrow::{Borrow, BorrowMut};
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::{Add, AddAssign, Deref, DerefMut};
use core::ptr::NonNull;

use allocator_api2::alloc::Global;
use allocator_api2::vec::Vec;

use crate::api::{AllocError, Allocator};

/// A growable UTF-8 string whose bytes come from the allocator `A`.
///
/// It is a `Vec<u8, A>` that only ever holds UTF-8, with `str`'s methods through `Deref`.
/// On an arena it is usually the latest block, so `push_str` grows it in place; `leak`
/// turns it into a `&mut str` that lives as long as the allocator. It hashes and compares
/// as a `str` and is `Borrow<str>`, so it is a hashbrown key queried with a plain `&str`.
///
/// ```
/// use allockit::{Arena, String, format_in};
///
/// let arena = Arena::new();
/// let mut s = String::new_in(&arena);
/// s.push_str("hello");
/// s.push(' ');
/// s += "world";
/// assert_eq!(s, "hello world");
///
/// let t = format_in!(&arena, "{}-{}", s.len(), 'x');
/// let key: &str = t.leak(); // lives as long as the arena
/// assert_eq!(key, "11-x");
///
/// // A hashbrown key: `Borrow<str>` lets the map be queried with a plain `&str`.
/// let mut m = hashbrown::HashMap::new();
/// m.insert(format_in!(&arena, "k{}", 1), 1);
/// assert_eq!(m["k1"], 1);
/// ```
pub struct String<A: Allocator = Global> {
    /// Invariant: always valid UTF-8.
    bytes: Vec<u8, A>,
}

impl String<Global> {
    /// An empty string on the global allocator; it allocates nothing.
    ///
    /// ```
    /// let s = allockit::String::new();
    /// assert!(s.is_empty());
    /// ```
    #[inline]
    pub const fn new() -> Self {
        String { bytes: Vec::new() }
    }
}

impl Default for String<Global> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Allocator> String<A> {
    /// An empty string in `alloc`; it allocates nothing until the first push.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::new_in(&arena);
    /// assert_eq!((s.len(), s.capacity()), (0, 0));
    /// ```
    #[inline]
    pub const fn new_in(alloc: A) -> Self {
        String {
            bytes: Vec::new_in(alloc),
        }
    }

    /// An empty string in `alloc` with room for `capacity` bytes.
    ///
    /// # Panics
    ///
    /// When the allocation fails (`handle_alloc_error`) or `capacity` overflows.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::with_capacity_in(100, &arena);
    /// assert!(s.capacity() >= 100);
    /// ```
    #[inline]
    pub fn with_capacity_in(capacity: usize, alloc: A) -> Self {
        String {
            bytes: Vec::with_capacity_in(capacity, alloc),
        }
    }

    /// An empty string in `alloc` with room for `capacity` bytes, or `AllocError`.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert!(allockit::String::try_with_capacity_in(usize::MAX, &arena).is_err());
    /// ```
    pub fn try_with_capacity_in(capacity: usize, alloc: A) -> Result<Self, AllocError> {
        let mut s = Self::new_in(alloc);
        s.try_reserve(capacity)?;
        Ok(s)
    }

    /// A copy of `s` in `alloc`.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::from_str_in("copied", &arena);
    /// assert_eq!(s, "copied");
    /// ```
    pub fn from_str_in(s: &str, alloc: A) -> Self {
        let mut out = Self::with_capacity_in(s.len(), alloc);
        out.push_str(s);
        out
    }

    /// The bytes as a string in `alloc` if they are valid UTF-8, else the bytes back.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let arena = allockit::Arena::new();
    /// let mut v = Vec::new_in(&arena);
    /// v.extend_from_slice(b"ok");
    /// assert_eq!(allockit::String::from_utf8(v).unwrap(), "ok");
    /// ```
    pub fn from_utf8(bytes: Vec<u8, A>) -> Result<Self, Vec<u8, A>> {
        match core::str::from_utf8(&bytes) {
            Ok(_) => Ok(String { bytes }),
            Err(_) => Err(bytes),
        }
    }

    /// Appends `s`, growing the buffer as needed.
    ///
    /// # Panics
    ///
    /// When the allocation fails (`handle_alloc_error`).
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let mut s = allockit::String::new_in(&arena);
    /// s.push_str("ab");
    /// s.push_str("cd");
    /// assert_eq!(s.as_str(), "abcd");
    /// ```
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// Appends `s`, or `AllocError` (and the string is unchanged).
    ///
    /// ```
    /// let mut space = [core::mem::MaybeUninit::uninit(); 8];
    /// let buf = allockit::FixedBuffer::new(&mut space);
    /// let mut s = allockit::String::new_in(&buf);
    /// assert!(s.try_push_str("12345678").is_ok());
    /// assert!(s.try_push_str("9").is_err());
    /// assert_eq!(s, "12345678");
    /// ```
    pub fn try_push_str(&mut self, s: &str) -> Result<(), AllocError> {
        self.try_reserve(s.len())?;
        self.bytes.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// Appends one character.
    ///
    /// # Panics
    ///
    /// When the allocation fails (`handle_alloc_error`).
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let mut s = allockit::String::new_in(&arena);
    /// s.push('é');
    /// assert_eq!((s.as_str(), s.len()), ("é", 2));
    /// ```
    #[inline]
    pub fn push(&mut self, c: char) {
        match c.len_utf8() {
            1 => self.bytes.push(c as u8),
            _ => self.push_str(c.encode_utf8(&mut [0; 4])),
        }
    }

    /// Appends one character, or `AllocError`.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let mut s = allockit::String::new_in(&arena);
    /// s.try_push('x').unwrap();
    /// assert_eq!(s, "x");
    /// ```
    pub fn try_push(&mut self, c: char) -> Result<(), AllocError> {
        self.try_push_str(c.encode_utf8(&mut [0; 4]))
    }

    /// Removes and returns the last character.
    ///
    /// ```
    /// let mut s = allockit::String::from("ab");
    /// assert_eq!(s.pop(), Some('b'));
    /// assert_eq!(s, "a");
    /// ```
    pub fn pop(&mut self) -> Option<char> {
        let c = self.as_str().chars().next_back()?;
        self.bytes.truncate(self.bytes.len() - c.len_utf8());
        Some(c)
    }

    /// Shortens the string to `len` bytes; nothing happens if it is already shorter.
    ///
    /// # Panics
    ///
    /// When `len` is not on a character boundary.
    ///
    /// ```
    /// let mut s = allockit::String::from("hello");
    /// s.truncate(2);
    /// assert_eq!(s, "he");
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            assert!(
                self.is_char_boundary(len),
                "truncate: {len} is not a char boundary"
            );
            self.bytes.truncate(len);
        }
    }

    /// Empties the string, keeping its capacity.
    ///
    /// ```
    /// let mut s = allockit::String::from("x");
    /// s.clear();
    /// assert!(s.is_empty() && s.capacity() >= 1);
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Makes room for at least `additional` more bytes, or `AllocError`.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let mut s = allockit::String::new_in(&arena);
    /// s.try_reserve(64).unwrap();
    /// assert!(s.capacity() >= 64);
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), AllocError> {
        self.bytes.try_reserve(additional).map_err(|_| AllocError)
    }

    /// Makes room for at least `additional` more bytes.
    ///
    /// # Panics
    ///
    /// When the allocation fails (`handle_alloc_error`) or the size overflows.
    ///
    /// ```
    /// let mut s = allockit::String::new();
    /// s.reserve(10);
    /// assert!(s.capacity() >= 10);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.bytes.reserve(additional);
    }

    /// Bytes the buffer can hold without growing.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let mut s = allockit::String::with_capacity_in(32, &arena);
    /// assert!(s.capacity() >= 32);
    /// s.push_str("short");
    /// assert!(s.capacity() >= 32, "no reallocation for 5 bytes");
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The string as a `&str` (also reachable through `Deref`).
    ///
    /// ```
    /// let s = allockit::String::from("abc");
    /// assert_eq!(s.as_str().len(), 3);
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes are always valid UTF-8 (the type's invariant).
        unsafe { core::str::from_utf8_unchecked(&self.bytes) }
    }

    /// The string as a `&mut str`.
    ///
    /// ```
    /// let mut s = allockit::String::from("abc");
    /// s.as_mut_str().make_ascii_uppercase();
    /// assert_eq!(s, "ABC");
    /// ```
    #[inline]
    pub fn as_mut_str(&mut self) -> &mut str {
        // SAFETY: as in `as_str`; `str`'s own methods keep the bytes UTF-8.
        unsafe { core::str::from_utf8_unchecked_mut(&mut self.bytes) }
    }

    /// The underlying bytes.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::from_str_in("hi", &arena);
    /// let v = s.into_bytes();
    /// assert_eq!(&v[..], b"hi");
    /// ```
    pub fn into_bytes(self) -> Vec<u8, A> {
        self.bytes
    }

    /// The allocator.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::from_str_in("abc", &arena);
    /// assert!(core::ptr::eq(*s.allocator(), &arena));
    /// assert!(s.allocator().used_bytes() >= 3);
    /// ```
    #[inline]
    pub fn allocator(&self) -> &A {
        self.bytes.allocator()
    }

    /// Gives the string up and returns it as a `&mut str` that lives as long as the
    /// allocator `A` may be used (`'a`). Its memory is never freed through the string;
    /// on an arena it is released with the arena, as every arena value is.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let name: &str = allockit::format_in!(&arena, "id{}", 7).leak();
    /// assert_eq!(name, "id7");
    /// ```
    pub fn leak<'a>(self) -> &'a mut str
    where
        A: 'a,
    {
        // SAFETY: the bytes are UTF-8 and, leaked, live as long as the allocator.
        unsafe { core::str::from_utf8_unchecked_mut(self.bytes.leak()) }
    }

    /// The string as a `Box<str, A>`, its buffer shrunk to the length.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let b = allockit::String::from_str_in("boxed", &arena).into_boxed_str();
    /// assert_eq!(&*b, "boxed");
    /// ```
    pub fn into_boxed_str(self) -> allocator_api2::boxed::Box<str, A> {
        let (ptr, alloc) =
            allocator_api2::boxed::Box::into_raw_with_allocator(self.bytes.into_boxed_slice());
        // SAFETY: the box held this string's UTF-8 bytes; `str` and `[u8]` have the
        // same layout, and the allocator is the one that allocated the block.
        unsafe { allocator_api2::boxed::Box::from_raw_in(ptr as *mut str, alloc) }
    }

    /// Shrinks the buffer to the length and gives up ownership of it: the pointer and
    /// length of UTF-8 bytes in a block of `A` that is never freed. For `alloc_fmt`,
    /// which then ties the bytes to its allocator's lifetime.
    pub(crate) fn into_raw_parts_shrunk(mut self) -> (NonNull<u8>, usize) {
        self.bytes.shrink_to_fit();
        let len = self.bytes.len();
        let mut bytes = core::mem::ManuallyDrop::new(self.bytes);
        // SAFETY: a `Vec`'s pointer is never null.
        (unsafe { NonNull::new_unchecked(bytes.as_mut_ptr()) }, len)
    }
}

impl From<&str> for String<Global> {
    fn from(s: &str) -> Self {
        String::from_str_in(s, Global)
    }
}

impl<A: Allocator> From<String<A>> for Vec<u8, A> {
    fn from(s: String<A>) -> Self {
        s.into_bytes()
    }
}

impl<A: Allocator> Deref for String<A> {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<A: Allocator> DerefMut for String<A> {
    #[inline]
    fn deref_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl<A: Allocator> AsRef<str> for String<A> {
    fn as_ref(&self) -> &str {
        self
    }
}

impl<A: Allocator> AsRef<[u8]> for String<A> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<A: Allocator> Borrow<str> for String<A> {
    fn borrow(&self) -> &str {
        self
    }
}

impl<A: Allocator> BorrowMut<str> for String<A> {
    fn borrow_mut(&mut self) -> &mut str {
        self
    }
}

impl<A: Allocator> fmt::Write for String<A> {
    /// Appends `s`; an allocation failure is `fmt::Error`, not a panic.
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.try_push_str(s).map_err(|_| fmt::Error)
    }

    #[inline]
    fn write_char(&mut self, c: char) -> fmt::Result {
        self.try_push(c).map_err(|_| fmt::Error)
    }
}

impl<A: Allocator> fmt::Display for String<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl<A: Allocator> fmt::Debug for String<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<A: Allocator + Clone> Clone for String<A> {
    fn clone(&self) -> Self {
        String {
            bytes: self.bytes.clone(),
        }
    }
}

impl<A: Allocator, B: Allocator> PartialEq<String<B>> for String<A> {
    fn eq(&self, other: &String<B>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<A: Allocator> Eq for String<A> {}

impl<A: Allocator> PartialEq<str> for String<A> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<A: Allocator> PartialEq<&str> for String<A> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<A: Allocator> PartialEq<String<A>> for str {
    fn eq(&self, other: &String<A>) -> bool {
        self == other.as_str()
    }
}

impl<A: Allocator> PartialEq<String<A>> for &str {
    fn eq(&self, other: &String<A>) -> bool {
        *self == other.as_str()
    }
}

impl<A: Allocator, B: Allocator> PartialOrd<String<B>> for String<A> {
    fn partial_cmp(&self, other: &String<B>) -> Option<core::cmp::Ordering> {
        Some(self.as_str().cmp(other.as_str()))
    }
}

impl<A: Allocator> Ord for String<A> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl<A: Allocator> Hash for String<A> {
    /// Hashes as the `str` does, so `Borrow<str>` lookups in hash maps agree.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl<A: Allocator> Extend<char> for String<A> {
    fn extend<I: IntoIterator<Item = char>>(&mut self, iter: I) {
        for c in iter {
            self.push(c);
        }
    }
}

impl<'s, A: Allocator> Extend<&'s str> for String<A> {
    fn extend<I: IntoIterator<Item = &'s str>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(s);
        }
    }
}

impl<A: Allocator> AddAssign<&str> for String<A> {
    fn add_assign(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl<A: Allocator> Add<&str> for String<A> {
    type Output = String<A>;
    fn add(mut self, s: &str) -> String<A> {
        self.push_str(s);
        self
    }
}

/// `format!` into any allocator: `format_in!(alloc, "{x} and {y}")` returns an
/// [`allockit::String`](crate::String) whose bytes come from `alloc` (an `Allocator`
/// value, such as `&arena` or `&*scope`).
///
/// # Panics
///
/// When the allocator is out of memory or a formatting trait returns an error, as
/// `format!` does. [`String::try_format_in`] is the fallible form.
///
/// ```
/// let arena = allockit::Arena::new();
/// let n = 3;
/// let s = allockit::format_in!(&arena, "{n} items at {:.1}", 2.25);
/// assert_eq!(s, "3 items at 2.2");
/// ```
#[macro_export]
macro_rules! format_in {
    ($alloc:expr, $($arg:tt)*) => {
        $crate::String::format_in($alloc, ::core::format_args!($($arg)*))
    };
}

impl<A: Allocator> String<A> {
    /// What [`format_in!`](crate::format_in) expands to: `args` formatted into a new string
    /// in `alloc`.
    ///
    /// # Panics
    ///
    /// When the allocator is out of memory or a formatting trait returns an error.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::format_in(&arena, format_args!("{}{}", 1, 2));
    /// assert_eq!(s, "12");
    /// ```
    pub fn format_in(alloc: A, args: fmt::Arguments<'_>) -> Self {
        match Self::try_format_in(alloc, args) {
            Ok(s) => s,
            Err(_) => crate::bump::error::fail_fmt(),
        }
    }

    /// `args` formatted into a new string in `alloc`, or `AllocError` when the allocator
    /// is out of memory or a formatting trait returns an error.
    ///
    /// ```
    /// let mut space = [core::mem::MaybeUninit::uninit(); 4];
    /// let buf = allockit::FixedBuffer::new(&mut space);
    /// let r = allockit::String::try_format_in(&buf, format_args!("{}", 123456));
    /// assert!(r.is_err());
    /// ```
    pub fn try_format_in(alloc: A, args: fmt::Arguments<'_>) -> Result<Self, AllocError> {
        let mut s = match args.as_str() {
            Some(text) => Self::try_with_capacity_in(text.len(), alloc)?,
            None => Self::new_in(alloc),
        };
        fmt::Write::write_fmt(&mut s, args).map_err(|_| AllocError)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arena, Counting};
    use core::fmt::Write as _;

    #[test]
    fn grows_in_place_on_an_arena() {
        // One chunk with room for the whole string: every grow is in place.
        let arena = Counting::new(Arena::with_capacity(1 << 16));
        let mut s = String::new_in(&arena);
        for i in 0..1000 {
            write!(s, "{i},").unwrap();
        }
        assert!(s.starts_with("0,1,2,") && s.ends_with("998,999,"));
        let stats = arena.stats();
        assert!(stats.grows > 5 && stats.allocations == 1, "{stats:?}");
        // Nothing was left behind by a move: the arena holds exactly the string's buffer.
        assert_eq!(arena.inner().used_bytes(), s.capacity().next_multiple_of(8));
    }

    #[test]
    fn hash_agrees_with_str() {
        let arena = Arena::new();
        let mut m = hashbrown::HashMap::new_in(&arena);
        for i in 0..100 {
            m.insert(crate::format_in!(&arena, "key{i}"), i);
        }
        assert_eq!(m.get("key42"), Some(&42));
        assert!(m.get("key100").is_none());
    }

    #[test]
    fn multibyte_pop_and_truncate() {
        let mut s = String::from("aé😀");
        assert_eq!(s.pop(), Some('😀'));
        assert_eq!(s.pop(), Some('é'));
        s.push('ß');
        assert_eq!(s, "aß");
        s.truncate(1);
        assert_eq!(s, "a");
    }

    #[test]
    #[should_panic(expected = "char boundary")]
    fn truncate_inside_a_char_panics() {
        String::from("é").truncate(1);
    }

    #[test]
    fn a_failing_display_is_an_error_not_a_panic() {
        struct Bad;
        impl fmt::Display for Bad {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                Err(fmt::Error)
            }
        }
        let arena = Arena::new();
        assert!(String::try_format_in(&arena, format_args!("{Bad}")).is_err());
        assert!(crate::BumpAlloc::try_alloc_fmt(&arena, format_args!("a{Bad}")).is_err());
    }
}
