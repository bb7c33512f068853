//! Process-wide tuning of [`ThreadCache`](crate::ThreadCache): how long free memory stays
//! resident before it is purged, how many empty segments and how many bytes of freed large
//! blocks are kept for reuse.
//!
//! The values live in atomics read on slow paths only (a page or segment freed, a large
//! block allocated or freed); [`ThreadCache::configure`](crate::ThreadCache::configure)
//! stores them, and the C drop-in reads them from the environment when it is loaded
//! ([`ThreadCacheOptions::from_env`]).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;
use std::string::String;

/// Tuning for every [`ThreadCache`](crate::ThreadCache) in the process: start from
/// `ThreadCacheOptions::default()` and change the fields you need.
///
/// ```
/// use allockit::{ThreadCache, ThreadCacheOptions};
/// use std::time::Duration;
///
/// let mut options = ThreadCacheOptions::default();
/// options.purge_delay = Some(Duration::from_millis(50));
/// options.large_cache_bytes = 16 << 20;
/// ThreadCache::configure(&options);
/// assert_eq!(ThreadCache::options(), options);
/// # ThreadCache::configure(&ThreadCacheOptions::default());
/// ```
///
/// The C drop-in reads the same settings from environment variables when it is loaded;
/// see [`ThreadCacheOptions::from_env`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadCacheOptions {
    /// How long a free 64 KiB page (or an empty cached segment) stays resident before its
    /// memory is given back to the OS with `madvise`; `None` never purges, a zero
    /// duration purges at once. Default: 10 ms, as mimalloc.
    pub purge_delay: Option<Duration>,
    /// Purge with `MADV_FREE` (the kernel reclaims the pages only under memory pressure:
    /// cheaper, but RSS does not fall at once) instead of `MADV_DONTNEED`. Default: false.
    pub lazy_purge: bool,
    /// Empty 4 MiB segments kept mapped for reuse by any thread and size class, beyond
    /// which they are unmapped. Default: 4.
    pub segment_cache: usize,
    /// Bytes of freed large blocks (over 16 KiB) kept mapped for reuse instead of being
    /// unmapped; 0 disables the cache. Default: 64 MiB.
    pub large_cache_bytes: usize,
    /// Freed large blocks bigger than this always go straight back to the OS. Default:
    /// 32 MiB.
    pub large_cache_max_block: usize,
    /// A cached large block unused for this long is unmapped. Default: 1 s.
    pub large_cache_age: Duration,
    /// Ask the kernel to back segments and large blocks of 2 MiB or more with transparent
    /// huge pages (`madvise(MADV_HUGEPAGE)`, as mimalloc does): one page fault per 2 MiB
    /// instead of one per 4 KiB, and fewer TLB misses. A purge inside a huge page splits
    /// it, so memory still goes back. No effect where the kernel's THP setting is `never`.
    /// Default: true.
    pub huge_pages: bool,
}

impl Default for ThreadCacheOptions {
    fn default() -> Self {
        ThreadCacheOptions {
            purge_delay: Some(Duration::from_millis(DEFAULT_PURGE_DELAY_MS)),
            lazy_purge: false,
            segment_cache: DEFAULT_SEGMENT_CACHE,
            large_cache_bytes: DEFAULT_LARGE_CACHE_BYTES,
            large_cache_max_block: DEFAULT_LARGE_CACHE_MAX_BLOCK,
            large_cache_age: Duration::from_millis(DEFAULT_LARGE_CACHE_AGE_MS),
            huge_pages: true,
        }
    }
}

/// An environment variable [`ThreadCacheOptions::from_env`] could not parse.
///
/// ```
/// use allockit::{OptionsError, ThreadCacheOptions};
/// // SAFETY: no other thread reads or writes the environment meanwhile.
/// unsafe { std::env::set_var("ALLOCKIT_SEGMENT_CACHE", "many") };
/// let err: OptionsError = ThreadCacheOptions::from_env().unwrap_err();
/// assert_eq!((err.var, err.value.as_str()), ("ALLOCKIT_SEGMENT_CACHE", "many"));
/// # unsafe { std::env::remove_var("ALLOCKIT_SEGMENT_CACHE") };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError {
    /// The variable's name.
    pub var: &'static str,
    /// Its value.
    pub value: String,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot parse {}={:?}", self.var, self.value)
    }
}

impl std::error::Error for OptionsError {}

impl ThreadCacheOptions {
    /// The defaults, overridden by whichever of these environment variables are set:
    ///
    /// | variable | field | value |
    /// |---|---|---|
    /// | `ALLOCKIT_PURGE_DELAY_MS` | `purge_delay` | milliseconds, or `never` |
    /// | `ALLOCKIT_LAZY_PURGE` | `lazy_purge` | `0` or `1` |
    /// | `ALLOCKIT_SEGMENT_CACHE` | `segment_cache` | a count |
    /// | `ALLOCKIT_LARGE_CACHE` | `large_cache_bytes` | bytes; suffix `K`, `M` or `G` |
    /// | `ALLOCKIT_LARGE_CACHE_MAX_BLOCK` | `large_cache_max_block` | bytes, as above |
    /// | `ALLOCKIT_LARGE_CACHE_AGE_MS` | `large_cache_age` | milliseconds |
    /// | `ALLOCKIT_HUGE_PAGES` | `huge_pages` | `0` or `1` |
    ///
    /// ```
    /// use allockit::ThreadCacheOptions;
    ///
    /// // SAFETY: no other thread reads or writes the environment meanwhile.
    /// unsafe { std::env::set_var("ALLOCKIT_LARGE_CACHE", "8M") };
    /// assert_eq!(ThreadCacheOptions::from_env().unwrap().large_cache_bytes, 8 << 20);
    /// unsafe { std::env::set_var("ALLOCKIT_LARGE_CACHE", "lots") };
    /// let err = ThreadCacheOptions::from_env().unwrap_err();
    /// assert_eq!(err.to_string(), r#"cannot parse ALLOCKIT_LARGE_CACHE="lots""#);
    /// # unsafe { std::env::remove_var("ALLOCKIT_LARGE_CACHE") };
    /// ```
    pub fn from_env() -> Result<Self, OptionsError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any source of variables.
    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, OptionsError> {
        let mut o = Self::default();
        let parse = |var: &'static str, f: &dyn Fn(&str) -> Option<u64>| match get(var) {
            None => Ok(None),
            Some(value) => match f(value.trim()) {
                Some(n) => Ok(Some(n)),
                None => Err(OptionsError { var, value }),
            },
        };
        let number = |s: &str| s.parse::<u64>().ok();
        if let Some(ms) = parse("ALLOCKIT_PURGE_DELAY_MS", &|s| {
            if s == "never" {
                Some(u64::MAX)
            } else {
                number(s)
            }
        })? {
            o.purge_delay = (ms != u64::MAX).then(|| Duration::from_millis(ms));
        }
        let flag = |s: &str| number(s).filter(|&b| b <= 1);
        if let Some(b) = parse("ALLOCKIT_LAZY_PURGE", &flag)? {
            o.lazy_purge = b == 1;
        }
        if let Some(b) = parse("ALLOCKIT_HUGE_PAGES", &flag)? {
            o.huge_pages = b == 1;
        }
        if let Some(n) = parse("ALLOCKIT_SEGMENT_CACHE", &number)? {
            o.segment_cache = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = parse("ALLOCKIT_LARGE_CACHE", &bytes)? {
            o.large_cache_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = parse("ALLOCKIT_LARGE_CACHE_MAX_BLOCK", &bytes)? {
            o.large_cache_max_block = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(ms) = parse("ALLOCKIT_LARGE_CACHE_AGE_MS", &number)? {
            o.large_cache_age = Duration::from_millis(ms);
        }
        Ok(o)
    }
}

/// `123`, `64K`, `8M`, `1G` (binary multiples) as bytes.
fn bytes(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The defaults, shared by `Default` and the statics' initial values.
const DEFAULT_PURGE_DELAY_MS: u64 = 10;
/// See `DEFAULT_PURGE_DELAY_MS`.
const DEFAULT_SEGMENT_CACHE: usize = 4;
/// See `DEFAULT_PURGE_DELAY_MS`.
const DEFAULT_LARGE_CACHE_BYTES: usize = 64 << 20;
/// See `DEFAULT_PURGE_DELAY_MS`.
const DEFAULT_LARGE_CACHE_MAX_BLOCK: usize = 32 << 20;
/// See `DEFAULT_PURGE_DELAY_MS`.
const DEFAULT_LARGE_CACHE_AGE_MS: u64 = 1000;

/// `PURGE_DELAY_MS` for "never".
pub(crate) const NEVER: u64 = u64::MAX;
/// The purge delay in milliseconds, or [`NEVER`].
pub(crate) static PURGE_DELAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_PURGE_DELAY_MS);
/// `ThreadCacheOptions::lazy_purge`.
pub(crate) static LAZY_PURGE: AtomicBool = AtomicBool::new(false);
/// `ThreadCacheOptions::huge_pages`.
pub(crate) static HUGE_PAGES: AtomicBool = AtomicBool::new(true);
/// `ThreadCacheOptions::segment_cache`.
pub(crate) static SEGMENT_CACHE: AtomicUsize = AtomicUsize::new(DEFAULT_SEGMENT_CACHE);
/// `ThreadCacheOptions::large_cache_bytes`.
pub(crate) static LARGE_CACHE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_LARGE_CACHE_BYTES);
/// `ThreadCacheOptions::large_cache_max_block`.
pub(crate) static LARGE_CACHE_MAX_BLOCK: AtomicUsize =
    AtomicUsize::new(DEFAULT_LARGE_CACHE_MAX_BLOCK);
/// `ThreadCacheOptions::large_cache_age` in milliseconds.
pub(crate) static LARGE_CACHE_AGE_MS: AtomicU64 = AtomicU64::new(DEFAULT_LARGE_CACHE_AGE_MS);

/// Stores `o` in the process-wide settings.
pub(crate) fn store(o: &ThreadCacheOptions) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NEVER - 1);
    PURGE_DELAY_MS.store(o.purge_delay.map_or(NEVER, ms), Ordering::Relaxed);
    LAZY_PURGE.store(o.lazy_purge, Ordering::Relaxed);
    HUGE_PAGES.store(o.huge_pages, Ordering::Relaxed);
    SEGMENT_CACHE.store(o.segment_cache, Ordering::Relaxed);
    LARGE_CACHE_BYTES.store(o.large_cache_bytes, Ordering::Relaxed);
    LARGE_CACHE_MAX_BLOCK.store(o.large_cache_max_block, Ordering::Relaxed);
    LARGE_CACHE_AGE_MS.store(ms(o.large_cache_age), Ordering::Relaxed);
}

/// The process-wide settings.
pub(crate) fn load() -> ThreadCacheOptions {
    let delay = PURGE_DELAY_MS.load(Ordering::Relaxed);
    ThreadCacheOptions {
        purge_delay: (delay != NEVER).then(|| Duration::from_millis(delay)),
        lazy_purge: LAZY_PURGE.load(Ordering::Relaxed),
        segment_cache: SEGMENT_CACHE.load(Ordering::Relaxed),
        large_cache_bytes: LARGE_CACHE_BYTES.load(Ordering::Relaxed),
        large_cache_max_block: LARGE_CACHE_MAX_BLOCK.load(Ordering::Relaxed),
        large_cache_age: Duration::from_millis(LARGE_CACHE_AGE_MS.load(Ordering::Relaxed)),
        huge_pages: HUGE_PAGES.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_parse_and_bad_ones_are_named() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| String::from(*v))
            }
        };
        let o = ThreadCacheOptions::from_vars(vars(&[
            ("ALLOCKIT_PURGE_DELAY_MS", "never"),
            ("ALLOCKIT_LAZY_PURGE", "1"),
            ("ALLOCKIT_SEGMENT_CACHE", "9"),
            ("ALLOCKIT_LARGE_CACHE", "3G"),
            ("ALLOCKIT_LARGE_CACHE_MAX_BLOCK", "512k"),
            ("ALLOCKIT_LARGE_CACHE_AGE_MS", " 20 "),
            ("ALLOCKIT_HUGE_PAGES", "0"),
        ]))
        .unwrap();
        assert_eq!(o.purge_delay, None);
        assert!(o.lazy_purge);
        assert_eq!(o.segment_cache, 9);
        assert_eq!(o.large_cache_bytes, 3 << 30);
        assert_eq!(o.large_cache_max_block, 512 << 10);
        assert_eq!(o.large_cache_age, Duration::from_millis(20));
        assert!(!o.huge_pages);
        assert!(ThreadCacheOptions::default().huge_pages);
        let o = ThreadCacheOptions::from_vars(vars(&[("ALLOCKIT_PURGE_DELAY_MS", "0")])).unwrap();
        assert_eq!(o.purge_delay, Some(Duration::ZERO));
        for (var, value) in [
            ("ALLOCKIT_PURGE_DELAY_MS", "-1"),
            ("ALLOCKIT_LAZY_PURGE", "2"),
            ("ALLOCKIT_HUGE_PAGES", "yes"),
            ("ALLOCKIT_LARGE_CACHE", "99999999999999999999G"),
            ("ALLOCKIT_LARGE_CACHE", "M"),
            ("ALLOCKIT_LARGE_CACHE_AGE_MS", ""),
        ] {
            let err = ThreadCacheOptions::from_vars(|n| (n == var).then(|| String::from(value)))
                .unwrap_err();
            assert_eq!((err.var, err.value.as_str()), (var, value));
        }
    }
}
