//! Any bytes as the answer of a server to `levee metrics export` (a page's
//! GET or a push's POST), and as a URL: never a panic; a parsed answer's
//! body is no longer than the bytes it came from; a parsed URL connects to
//! an address with a port.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The binary crate's module, std only, built here on its own.
#[path = "../../crates/levee/src/commands/metrics/http.rs"]
#[allow(dead_code)]
mod http;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = http::parse_response(data) {
        assert!(response.body.len() <= data.len());
        assert!((100..1000).contains(&response.status));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(url) = http::parse_url(text)
    {
        assert!(url.path.starts_with('/'));
        assert!(url.address.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()));
    }
});
