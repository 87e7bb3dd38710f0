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
//!
//! Both sides live here: the forward source is the server ([`helo`],
//! [`pong`]), the forward sink the client ([`read_helo`], [`ping`],
//! [`check_pong`]), so the two always agree on the digests.

use ring::digest::{SHA512, digest};

use super::msgpack::{Item, Reader, write_str};
use crate::sources::forward::decode::Ping;

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

/// What a client needs of a server's `HELO`.
#[derive(Debug, PartialEq, Eq)]
pub struct Helo {
    /// The nonce the client's digest covers.
    pub nonce: Vec<u8>,
    /// Whether the server asks for a user name and password (its `auth`
    /// salt is not empty): not offered by levee, so refused.
    pub wants_user: bool,
}

/// A string or binary item, or why not.
fn bytes<'a>(r: &mut Reader<'a>, what: &str) -> Result<&'a [u8], String> {
    match r.item() {
        Ok(Item::Str(b) | Item::Bin(b)) => Ok(b),
        _ => Err(format!("{what} is not a string")),
    }
}

/// Reads a server's `HELO` (one whole msgpack item).
pub fn read_helo(frame: &[u8]) -> Result<Helo, String> {
    let mut r = Reader::new(frame);
    if r.item() != Ok(Item::Array(2)) || bytes(&mut r, "HELO")? != b"HELO" {
        return Err("the server did not open with HELO (does it have a shared_key?)".into());
    }
    let Ok(Item::Map(n)) = r.item() else {
        return Err("HELO's options are not a map".into());
    };
    let mut helo = Helo {
        nonce: Vec::new(),
        wants_user: false,
    };
    for _ in 0..n {
        let key = bytes(&mut r, "a HELO option's name")?;
        match key {
            b"nonce" => helo.nonce = bytes(&mut r, "HELO's nonce")?.to_vec(),
            b"auth" => helo.wants_user = !bytes(&mut r, "HELO's auth")?.is_empty(),
            _ => {
                // keepalive, or an option of a later version: skipped.
                let len = super::msgpack::whole_len(&frame[r.pos()..])
                    .ok()
                    .flatten()
                    .ok_or("HELO is cut short")?;
                r = Reader::at(frame, r.pos() + len);
            }
        }
    }
    if helo.nonce.is_empty() {
        return Err("HELO has no nonce".into());
    }
    Ok(helo)
}

/// The client's `PING` for a server's nonce, with the salt it chose.
pub fn ping(hostname: &str, salt: &[u8], nonce: &[u8], shared_key: &[u8], out: &mut Vec<u8>) {
    out.push(0x96);
    write_str(b"PING", out);
    write_str(hostname.as_bytes(), out);
    write_str(salt, out);
    let digest = hex_sha512(&[salt, hostname.as_bytes(), nonce, shared_key]);
    write_str(digest.as_bytes(), out);
    // No user authentication: an empty user and password.
    write_str(b"", out);
    write_str(b"", out);
}

/// Checks a server's `PONG`: accepted, and its digest proves it holds
/// the key too. `Err` with why not.
pub fn check_pong(
    frame: &[u8],
    salt: &[u8],
    nonce: &[u8],
    shared_key: &[u8],
) -> Result<(), String> {
    let mut r = Reader::new(frame);
    if r.item() != Ok(Item::Array(5)) || bytes(&mut r, "PONG")? != b"PONG" {
        return Err("the server did not answer PING with PONG".into());
    }
    let accepted = r.item() == Ok(Item::Bool(true));
    let reason = bytes(&mut r, "PONG's reason")?;
    if !accepted {
        return Err(format!(
            "the server refused the handshake: {}",
            String::from_utf8_lossy(reason)
        ));
    }
    let hostname = bytes(&mut r, "PONG's hostname")?;
    let proof = bytes(&mut r, "PONG's digest")?;
    let want = hex_sha512(&[salt, hostname, nonce, shared_key]);
    if !proof.eq_ignore_ascii_case(want.as_bytes()) {
        return Err(
            "the server's PONG digest is wrong: it does not hold the same shared_key".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::forward::decode::{self, Frame};

    #[test]
    fn a_client_and_the_server_agree_on_both_digests() {
        let nonce = nonce().unwrap();
        let mut helo_bytes = Vec::new();
        helo(&nonce, &mut helo_bytes);
        let got = read_helo(&helo_bytes).unwrap();
        assert_eq!(got.nonce, nonce);
        assert!(!got.wants_user);

        let mut ping_bytes = Vec::new();
        ping("client", b"salt", &got.nonce, b"key", &mut ping_bytes);
        let Ok(Frame::Ping(p)) = decode::frame(&ping_bytes) else {
            panic!("the source reads our PING");
        };
        let mut pong_bytes = Vec::new();
        assert_eq!(pong(&p, &nonce, b"key", "server", &mut pong_bytes), Ok(()));
        assert_eq!(check_pong(&pong_bytes, b"salt", &nonce, b"key"), Ok(()));
        // A server without the key cannot prove it has it.
        assert!(check_pong(&pong_bytes, b"salt", &nonce, b"other").is_err());

        // The wrong key: the server refuses, and the client says why.
        let mut ping_bytes = Vec::new();
        ping("client", b"salt", &got.nonce, b"wrong", &mut ping_bytes);
        let Ok(Frame::Ping(p)) = decode::frame(&ping_bytes) else {
            panic!("a PING");
        };
        let mut pong_bytes = Vec::new();
        assert!(pong(&p, &nonce, b"key", "server", &mut pong_bytes).is_err());
        let why = check_pong(&pong_bytes, b"salt", &nonce, b"wrong").unwrap_err();
        assert!(why.contains("shared_key mismatch"), "{why}");
    }

    #[test]
    fn hostile_helos_and_pongs_are_refused_not_trusted() {
        for bytes in [
            &b""[..],
            b"\x92\xa4HELO",
            b"\x92\xa4HELX\x80",
            b"\x92\xa4HELO\x81\xa5nonce\xc0",
            b"\x92\xa4HELO\x81\xa9keepalive\xc3",
            b"\x92\xa4HELO\x81\xa9keepalive\xdd\xff\xff\xff\xff",
            b"\xc1",
        ] {
            assert!(read_helo(bytes).is_err(), "{bytes:02x?}");
        }
        for bytes in [
            &b""[..],
            b"\x95\xa4PONG\xc3\xa0\xa0",
            b"\x95\xa4PONG\xc3\xa0\xa1s\xa2ab",
            b"\x95\xa4PONG\xc0\xa0\xa1s\xa0",
        ] {
            assert!(check_pong(bytes, b"s", b"n", b"k").is_err(), "{bytes:02x?}");
        }
    }

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
