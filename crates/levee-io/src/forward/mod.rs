//! The Fluentd Forward Protocol's parts that both of levee's ends use: the
//! `forward` source (a server, `sources/forward/`) and the `forward` sink
//! (a client, `sinks/forward/`).

pub mod handshake;
pub mod msgpack;
pub mod sample;

use msgpack::{Item, Reader, write_str};

/// Writes the server's answer to a message's `chunk` option,
/// `{"ack": chunk}`.
pub fn write_ack(chunk: &str, out: &mut Vec<u8>) {
    out.push(0x81);
    write_str(b"ack", out);
    write_str(chunk.as_bytes(), out);
}

/// Reads a server's answer `{"ack": chunk}` (one whole msgpack item),
/// returning the chunk id; `Err` says what came instead.
pub fn read_ack(reply: &[u8]) -> Result<&[u8], String> {
    let mut r = Reader::new(reply);
    if r.item() == Ok(Item::Map(1))
        && r.item() == Ok(Item::Str(b"ack"))
        && let Ok(Item::Str(id) | Item::Bin(id)) = r.item()
        && r.is_empty()
    {
        return Ok(id);
    }
    if matches!(Reader::new(reply).item(), Ok(Item::Array(2))) {
        return Err("the server sent HELO: it wants a shared_key".into());
    }
    Err("a reply that is not {\"ack\": chunk}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_written_reads_back_and_anything_else_is_refused() {
        let mut out = Vec::new();
        write_ack("Y2h1bmsK", &mut out);
        assert_eq!(read_ack(&out), Ok(&b"Y2h1bmsK"[..]));
        for bytes in [
            &b""[..],
            b"\x81\xa3ack",
            b"\x81\xa3ack\x01",
            b"\x81\xa3acK\xa1x",
            b"\x82\xa3ack\xa1x\xa1y\xa1z",
            b"\x81\xa3ack\xa1x\xc0",
            b"\x92\xa4HELO\x80",
        ] {
            assert!(read_ack(bytes).is_err(), "{bytes:02x?}");
        }
    }

    proptest::proptest! {
        /// Whatever a server sends, reading it as a reply never panics,
        /// and a whole item lies within the bytes.
        #[test]
        fn any_reply_bytes_neither_panic_nor_overrun(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)
        ) {
            if let Ok(Some(len)) = msgpack::whole_len(&bytes) {
                proptest::prop_assert!(len > 0 && len <= bytes.len());
                let item = &bytes[..len];
                let _ = handshake::read_helo(item);
                let _ = handshake::check_pong(item, b"salt", b"nonce", b"key");
                if let Ok(id) = read_ack(item) {
                    proptest::prop_assert!(id.len() < len);
                }
            }
        }
    }
}
