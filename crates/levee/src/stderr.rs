//! Messages to stderr that never take levee down.
//!
//! `eprintln!` panics when stderr is gone (a supervisor closed the pipe,
//! `levee run 2>&1 | head` ended), and so does tracing's fallback when its
//! writer fails: a pipeline must not die, or stop delivering, because
//! nobody reads its messages. A line that cannot be written is dropped.

use std::io::{self, Write};

/// Writes one line to stderr, dropping it if stderr is gone.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stderr::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The function behind [`say!`].
pub fn line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// stderr as a log writer that reports success whatever happens.
pub struct Quiet;

impl Write for Quiet {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}
