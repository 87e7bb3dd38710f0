//! The allocator, and how soon it gives freed memory back.
//!
//! Events are made on source threads and freed on output threads; glibc's
//! allocator handles that pattern poorly (a third of the collector's CPU and
//! several times its memory in `levee bench collect`), mimalloc well.

use std::os::raw::c_long;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t`, which
/// libmimalloc-sys names no constant for. The test below asks mimalloc for
/// the option by its name, so it fails if an upgrade moves it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds before freed pages go back to the OS. mimalloc's default is
/// 1000; the collector frees its events at a steady rate, and in a second
/// the freed pages pile up. `levee run` on the bench's 2M-line lake path,
/// the same build, five alternating runs each: peak RSS 84-94 MiB with 100
/// against 98-139 with 1000, for 0.1 s more system CPU (of about 5 s) and
/// no loss of wall time.
const PURGE_DELAY_MS: c_long = 100;

/// The purge delay of a `levee compact` process, which does nothing else.
/// Compaction builds a segment's Arrow columns (up to 32 MiB), frees them,
/// and builds the next: with 100 ms, the freed pages went back to the OS
/// and were faulted in again (page faults were an eighth of its CPU).
/// `levee compact` of the bench's 500,000 events by day, one build with
/// this and with `MIMALLOC_PURGE_DELAY=100`, four alternating runs each
/// (machine busy): 1.69-1.86 CPU-s against 1.91-2.07 (0.34-0.42 s of it
/// system against 0.43-0.55), peak RSS 195-226 MiB against 142-153.
const COMPACT_PURGE_DELAY_MS: c_long = 1000;

/// Applies levee's allocator settings, unless the environment sets them
/// (`MIMALLOC_PURGE_DELAY`).
pub fn tune() {
    set_purge_delay(PURGE_DELAY_MS);
}

/// [`tune`], for a process that only compacts.
pub fn tune_for_compaction() {
    set_purge_delay(COMPACT_PURGE_DELAY_MS);
}

fn set_purge_delay(ms: c_long) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global options, which it reads
        // atomically; any value is valid for this one.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, ms) };
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::{CStr, c_char, c_void};

    use super::*;

    // mimalloc v3 exports this, and libmimalloc-sys declares no binding for it.
    unsafe extern "C" {
        fn mi_options_print_out(out: libmimalloc_sys::mi_output_fun, arg: *mut c_void);
    }

    /// Appends what mimalloc prints to the `String` that `arg` points at.
    unsafe extern "C" fn append(msg: *const c_char, arg: *mut c_void) {
        // SAFETY: mimalloc passes a NUL-terminated message and our `arg`.
        let (msg, out) = unsafe { (CStr::from_ptr(msg), &mut *arg.cast::<String>()) };
        out.push_str(&msg.to_string_lossy());
    }

    /// What mimalloc says one option (by its own name) is set to.
    fn option_named(name: &str) -> Option<String> {
        let mut out = String::new();
        // SAFETY: `append` matches `mi_output_fun`, and `out` outlives the call.
        unsafe { mi_options_print_out(Some(append), (&raw mut out).cast()) };
        let prefix = format!("option '{name}': ");
        out.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|v| v.trim().to_owned())
    }

    /// `tune` sets the option mimalloc itself calls `purge_delay`: if an
    /// upgrade renumbers the options, `PURGE_DELAY` names another one and
    /// the purge delay keeps its default.
    #[test]
    fn tune_sets_the_option_mimalloc_calls_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        tune();
        assert_eq!(
            option_named("purge_delay").as_deref(),
            Some(PURGE_DELAY_MS.to_string().as_str()),
            "option {PURGE_DELAY} is not mimalloc's purge_delay"
        );
    }
}
