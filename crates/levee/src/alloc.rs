//! The allocator, and how soon it gives freed memory back.
//!
//! Events are made on source threads and freed on output threads; glibc's
//! allocator handles that pattern poorly (a third of the collector's CPU and
//! several times its memory in `levee bench collect`), mimalloc well.

use std::os::raw::c_long;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t`, which
/// libmimalloc-sys names no constant for. The test below fails if a
/// mimalloc upgrade moves it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds before freed pages go back to the OS. mimalloc's default is
/// 1000; the collector frees its events at a steady rate, and in a second
/// the freed pages pile up. `levee run` on the bench's 2M-line lake path,
/// the same build, five alternating runs each: peak RSS 84-94 MiB with 100
/// against 98-139 with 1000, for 0.1 s more system CPU (of about 5 s) and
/// no loss of wall time.
const PURGE_DELAY_MS: c_long = 100;

/// Applies levee's allocator settings, unless the environment sets them
/// (`MIMALLOC_PURGE_DELAY`).
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global options, which it reads
        // atomically; any value is valid for this one.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads a global option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        // mimalloc v3's documented default for the purge delay, then ours.
        assert!(
            get() == 1000 || get() == PURGE_DELAY_MS,
            "option {PURGE_DELAY} is {}: not the purge delay",
            get()
        );
        tune();
        assert_eq!(get(), PURGE_DELAY_MS);
    }
}
