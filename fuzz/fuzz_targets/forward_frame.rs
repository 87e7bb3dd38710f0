//! Any bytes as what a forward client sends on a connection, fed to the
//! frame scanner in pieces (the first byte picks the piece size), each
//! whole frame read and its entries decoded, as the forward source does:
//! no panic; a whole frame is never longer than the bytes or the limit;
//! a refused frame ends the connection, so nothing after it is read.
#![no_main]

use levee_io::sources::forward::decode::{self, Frame, Limits, Scanner};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_frame_bytes: 64 * 1024,
    max_decompressed_bytes: 256 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first % 16) + 1;
    let mut scanner = Scanner::new();
    let mut start = 0;
    let mut end = 0;
    while end < bytes.len() {
        end = (end + piece).min(bytes.len());
        loop {
            match scanner.scan(&bytes[start..end], LIMITS.max_frame_bytes) {
                Ok(Some(len)) => {
                    assert!(len > 0 && start + len <= end && len <= LIMITS.max_frame_bytes);
                    let frame = &bytes[start..start + len];
                    start += len;
                    match decode::frame(frame) {
                        Ok(Frame::Events(events)) => {
                            let Ok(entries) = events.entries(&LIMITS) else {
                                return;
                            };
                            for entry in entries {
                                if entry.is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(Frame::Ping(_)) => {}
                        Err(_) => return,
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
