//! The console's page and files, embedded in the binary: no front-end
//! build, nothing to install beside `levee`.
//!
//! Each is served with an ETag (a hash of its bytes) and
//! `Cache-Control: no-cache`: the browser keeps a copy but asks each time,
//! and gets a bodiless 304 while the binary is the same, so a new levee's
//! files are never mixed with an old one's.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub(crate) struct Asset {
    /// Its name under `/assets/` (`index.html` is served at `/`).
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console, in one list.
pub(crate) const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("assets/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: JS,
        bytes: include_bytes!("assets/console.js"),
    },
    Asset {
        name: "chart.js",
        content_type: JS,
        bytes: include_bytes!("assets/chart.js"),
    },
    Asset {
        name: "pipeline.js",
        content_type: JS,
        bytes: include_bytes!("assets/pipeline.js"),
    },
    Asset {
        name: "metrics.js",
        content_type: JS,
        bytes: include_bytes!("assets/metrics.js"),
    },
    Asset {
        name: "sql.js",
        content_type: JS,
        bytes: include_bytes!("assets/sql.js"),
    },
];

/// Each asset's ETag, in [`ASSETS`]' order.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(a.bytes)))
                .unwrap_or(HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// FNV-1a, 64 bits: a file's fingerprint, not a defence against anyone.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `GET /`.
pub(super) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /assets/NAME`.
pub(super) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return super::error(StatusCode::NOT_FOUND, "no such file");
    };
    let asset = &ASSETS[i];
    let etag = ETAGS[i].clone();
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let cache = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        StatusCode::OK,
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_there_and_all_weigh_under_200_kb() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 200 * 1024, "the console weighs {total} bytes");
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{}", a.name);
            let page = std::str::from_utf8(ASSETS[0].bytes).unwrap();
            if a.name != "index.html" {
                assert!(
                    page.contains(&format!("/assets/{}", a.name)),
                    "index.html does not load {}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn a_matching_etag_gets_304_and_another_the_file() {
        let first = serve("chart.js", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CONTENT_TYPE], JS);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("chart.js", &again).status(), StatusCode::NOT_MODIFIED);
        let mut other = HeaderMap::new();
        other.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(serve("chart.js", &other).status(), StatusCode::OK);
        assert_eq!(
            serve("../Cargo.toml", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
