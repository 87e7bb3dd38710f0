//! The forward protocol's `shared_key` handshake.
//!
//! With a `shared_key`, the server speaks first: `["HELO", {"nonce": n,
//! "auth": "", "keepalive": true}]`. The client answers `["PING",
//! hostname, salt, hex(sha512(salt + hostname + n + key)), user, pass]`;
//! a right digest gets `["PONG", true, "", server_hostname,
//! hex(sha512(salt + server_hostname + n + key))]`, so the client knows the
//! server holds the key too, and a wrong one `["PONG", false, reason, "",
//! ""]` and a closed connection. User authentication (the `auth` salt,
//! user names and passwords) is not offered: `auth` is empty.

use ring::digest::{SHA512, digest};

use super::decode::Ping;
use super::server::write_str;

/// Bytes of a HELO's nonce.
pub(crate) const NONCE_BYTES: usize = 16;

/// A fresh nonce from the system's secure random source; `None` if it
/// failed (the connection is then refused: a predictable nonce would let a
/// recorded PING be replayed).
pub(crate) fn nonce() -> Option<[u8; NONCE_BYTES]> {
    use ring::rand::SecureRandom;
    let mut nonce = [0u8; NONCE_BYTES];
    ring::rand::SystemRandom::new().fill(&mut nonce).ok()?;
    Some(nonce)
}

/// The server's `HELO`.
pub(crate) fn helo(nonce: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x92]);
    write_str(b"HELO", out);
    out.push(0x83);
    write_str(b"nonce", out);
    out.push(0xc4);
    out.push(nonce.len() as u8);
    out.extend_from_slice(nonce);
    write_str(b"auth", out);
    write_str(b"", out);
    write_str(b"keepalive", out);
    out.push(0xc3);
}

/// Lowercase hex SHA-512 of the parts, one after the other.
fn hex_sha512(parts: &[&[u8]]) -> String {
    let whole: Vec<u8> = parts.concat();
    let sum = digest(&SHA512, &whole);
    let mut hex = String::with_capacity(128);
    for b in sum.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Checks a client's PING against the key and writes the `PONG`; `Err`
/// with the reason when the client is refused.
pub(crate) fn pong(
    ping: &Ping<'_>,
    nonce: &[u8],
    shared_key: &[u8],
    self_hostname: &str,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let want = hex_sha512(&[ping.salt, ping.hostname, nonce, shared_key]);
    // Not a secret comparison that matters: the digest is salted with a
    // fresh nonce, so timing tells nothing reusable.
    let ok = ping.digest.eq_ignore_ascii_case(want.as_bytes());
    out.push(0x95);
    write_str(b"PONG", out);
    if ok {
        out.push(0xc3);
        write_str(b"", out);
        write_str(self_hostname.as_bytes(), out);
        let proof = hex_sha512(&[ping.salt, self_hostname.as_bytes(), nonce, shared_key]);
        write_str(proof.as_bytes(), out);
        Ok(())
    } else {
        let reason = "shared_key mismatch";
        out.push(0xc2);
        write_str(reason.as_bytes(), out);
        write_str(b"", out);
        write_str(b"", out);
        Err(format!(
            "{reason} from client {:?}",
            String::from_utf8_lossy(ping.hostname)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::forward::decode::{self, Frame};

    #[test]
    fn the_digests_are_fluentds() {
        // sha512("salt" + "client" + "nonce" + "key"), as Ruby's
        // Digest::SHA512.hexdigest computes it for Fluentd.
        let want = hex_sha512(&[b"saltclientnoncekey"]);
        assert_eq!(want, hex_sha512(&[b"salt", b"client", b"nonce", b"key"]));
        assert_eq!(want.len(), 128);
        let ping = Ping {
            hostname: b"client",
            salt: b"salt",
            digest: want.as_bytes(),
            username: b"",
            password: b"",
        };
        let mut out = Vec::new();
        assert_eq!(pong(&ping, b"nonce", b"key", "server", &mut out), Ok(()));
        // A PONG reads as a 5-element frame starting "PONG".
        let len = decode::Scanner::new().scan(&out, 1024).unwrap();
        assert_eq!(len, Some(out.len()));
        let proof = hex_sha512(&[b"salt", b"server", b"nonce", b"key"]);
        assert!(out.ends_with(proof.as_bytes()));

        let mut out = Vec::new();
        let wrong = Ping {
            digest: b"00",
            ..ping
        };
        assert!(pong(&wrong, b"nonce", b"key", "server", &mut out).is_err());
        assert_eq!(out[..7], [0x95, 0xa4, b'P', b'O', b'N', b'G', 0xc2]);
    }

    #[test]
    fn a_helo_is_a_frame_with_its_nonce() {
        let nonce = nonce().unwrap();
        assert_ne!(nonce, [0; NONCE_BYTES]);
        let mut out = Vec::new();
        helo(&nonce, &mut out);
        assert_eq!(decode::Scanner::new().scan(&out, 1024), Ok(Some(out.len())));
        // Not events: a HELO has 2 elements and a map where entries go.
        assert!(!matches!(decode::frame(&out), Ok(Frame::Ping(_))));
        assert!(out.windows(NONCE_BYTES).any(|w| w == nonce));
    }
}
