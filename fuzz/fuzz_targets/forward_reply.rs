//! Any bytes as what a forward receiver answers the forward output on one
//! connection (a HELO, a PONG, acks), fed in pieces (the first byte picks
//! the piece size) to the item finder, each whole item read as each kind
//! of reply, as the sink does: no panic; a whole item lies within the
//! bytes; an ack's chunk id is inside its item.
#![no_main]

use levee_io::forward::{handshake, msgpack, read_ack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first % 16) + 1;
    let mut start = 0;
    let mut end = 0;
    while end < bytes.len() {
        end = (end + piece).min(bytes.len());
        loop {
            match msgpack::whole_len(&bytes[start..end]) {
                Ok(Some(len)) => {
                    assert!(len > 0 && start + len <= end);
                    let item = &bytes[start..start + len];
                    let _ = handshake::read_helo(item);
                    let _ = handshake::check_pong(item, b"salt", b"nonce", b"key");
                    if let Ok(id) = read_ack(item) {
                        assert!(id.len() < len);
                    }
                    start += len;
                }
                // The sink reads more; a reply past its cap is refused there.
                Ok(None) => break,
                // Not msgpack: the sink closes the connection.
                Err(_) => return,
            }
        }
    }
});
