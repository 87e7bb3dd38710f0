//! The records `levee bench forward` and the decoder's criterion bench send:
//! what a Fluent Bit agent tailing an API server's nginx log forwards.

use levee_event::{Record, Value};

use super::msgpack;

/// The record as Fluent Bit's `nginx` parser makes it from the line (its
/// nine fields, all text), with the request time and a request id an API's
/// log adds: about 225 bytes of msgpack an entry, as the issue measured.
pub fn write_fluent_bit_record(parsed: &Record, n: u64, out: &mut Vec<u8>) {
    let text = |name: &str| match parsed.get(name) {
        Some(Value::Null) | None => "-".to_owned(),
        Some(value) => value.to_string(),
    };
    let path = match parsed.get("query").and_then(Value::as_str) {
        Some(query) => format!("{}?{query}", text("path")),
        None => text("path"),
    };
    let fields = [
        ("remote", text("remote_addr")),
        ("host", "-".to_owned()),
        ("user", text("remote_user")),
        ("method", text("method")),
        ("path", path),
        ("code", text("status")),
        ("size", text("body_bytes_sent")),
        ("referer", text("http_referer")),
        ("agent", text("http_user_agent")),
        ("request_time", text("request_time")),
        ("request_id", format!("{:016x}", mix(n))),
    ];
    msgpack::write_map_header(fields.len(), out);
    for (name, value) in &fields {
        msgpack::write_str(name.as_bytes(), out);
        msgpack::write_str(value.as_bytes(), out);
    }
}

/// splitmix64's finaliser: a request id that looks random and is the same
/// on every run.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
