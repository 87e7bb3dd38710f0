//! `[query_api]`: SQL over the lake by HTTP, served inside `levee run`.
//!
//! The pipeline only checks the section; the server (DataFusion) lives in
//! the binary, which the collector crates never build. Without the
//! section there is no server.
//!
//! ```toml
//! [query_api]
//! listen = "127.0.0.1:24232"   # the default: this host only
//! lake = "./lake"              # the default: the lake the lake outputs write
//! token = "s3cret"             # clients send `Authorization: Bearer s3cret`
//! timeout = "30s"
//! memory_limit = "512MiB"
//! max_concurrent = 2
//! threads = 2
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use levee_io::units::{Interval, Size};
use serde::Deserialize;

/// `[query_api]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryApiConfig {
    /// The address to serve `POST /v1/query` on. Default
    /// `"127.0.0.1:24232"`: this host only, since the lake may hold what
    /// others should not read; open it wider with a `token`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The lake's root to query, as a lake output's `lake`. Default: the
    /// lake the config's lake outputs write, when they write one.
    #[serde(default)]
    pub lake: Option<String>,
    /// When set, a request must carry `Authorization: Bearer <token>`,
    /// else it is answered 401.
    #[serde(default)]
    pub token: Option<String>,
    /// How long one query may run, such as `"30s"`. Default `"30s"`.
    #[serde(default = "default_timeout")]
    pub timeout: Interval,
    /// How much memory the queries running at once may hold together,
    /// such as `"512MiB"`. Default `"512MiB"`.
    #[serde(default = "default_memory_limit")]
    pub memory_limit: Size,
    /// How many queries may run at once; one more is answered 503.
    /// Default 2.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// How many threads answer queries, each at most one query partition
    /// at a time, at a lower priority than the collector's. Default 2.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

/// Beside the metrics endpoint's 24231.
fn default_listen() -> String {
    "127.0.0.1:24232".to_owned()
}

fn default_timeout() -> Interval {
    Interval(Duration::from_secs(30))
}

fn default_memory_limit() -> Size {
    Size(512 * 1024 * 1024)
}

fn default_max_concurrent() -> usize {
    2
}

fn default_threads() -> usize {
    2
}

/// The most threads or concurrent queries a setting may ask for: more is
/// a typo, not a plan, on the hosts levee runs on.
const MOST: usize = 256;

impl QueryApiConfig {
    /// Checks the section; `lakes` are the roots the lake outputs write,
    /// for a `lake` not given. On error, every key at fault and why (one
    /// mistake does not hide the next).
    pub fn build(self, lakes: &[String]) -> Result<QueryApiSettings, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let listen = self.listen.parse::<SocketAddr>().map_err(|_| {
            errors.push((
                "listen",
                format!(
                    "invalid address {:?}: write an IP address and a port, such as \"127.0.0.1:24232\"",
                    self.listen
                ),
            ))
        });
        let lake = match &self.lake {
            Some(lake) if lake.trim().is_empty() => {
                Err(("lake", "must name the lake's root folder".to_owned()))
            }
            Some(lake) => Ok(lake.clone()),
            None => {
                let mut roots = lakes.to_vec();
                roots.sort();
                roots.dedup();
                match roots.as_slice() {
                    [only] => Ok(only.clone()),
                    [] => Err((
                        "lake",
                        "no lake output writes a lake here: name the lake to query".to_owned(),
                    )),
                    several => Err((
                        "lake",
                        format!(
                            "the lake outputs write {} lakes ({}): name the one to query",
                            several.len(),
                            several.join(", ")
                        ),
                    )),
                }
            }
        }
        .map_err(|e| errors.push(e));
        if let Some(token) = &self.token
            && !crate::http_server::valid_token(token)
        {
            errors.push((
                "token",
                "must be a token of visible ASCII characters, no spaces".into(),
            ));
        }
        if self.timeout.0.is_zero() {
            errors.push(("timeout", "must be more than 0".into()));
        }
        if self.memory_limit.0 < 1024 * 1024 {
            errors.push((
                "memory_limit",
                format!(
                    "must be at least 1MiB, not {} bytes: no query runs in less",
                    self.memory_limit.0
                ),
            ));
        }
        for (key, n) in [
            ("max_concurrent", self.max_concurrent),
            ("threads", self.threads),
        ] {
            if !(1..=MOST).contains(&n) {
                errors.push((key, format!("must be 1 to {MOST}, not {n}")));
            }
        }
        match (listen, lake) {
            (Ok(listen), Ok(lake)) if errors.is_empty() => Ok(QueryApiSettings {
                listen,
                lake,
                token: self.token,
                timeout: self.timeout.0,
                memory_limit: self.memory_limit.as_usize(),
                max_concurrent: self.max_concurrent,
                threads: self.threads,
            }),
            _ => Err(errors),
        }
    }
}

/// `[query_api]`, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct QueryApiSettings {
    /// Where to serve.
    pub listen: SocketAddr,
    /// The lake's root.
    pub lake: String,
    /// The bearer token requests must carry, if any.
    pub token: Option<String>,
    /// How long one query may run.
    pub timeout: Duration,
    /// Bytes the running queries may hold together.
    pub memory_limit: usize,
    /// Queries at once.
    pub max_concurrent: usize,
    /// Threads answering queries.
    pub threads: usize,
}

impl std::fmt::Debug for QueryApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("QueryApiSettings")
            .field("listen", &self.listen)
            .field("lake", &self.lake)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .field("timeout", &self.timeout)
            .field("memory_limit", &self.memory_limit)
            .field("max_concurrent", &self.max_concurrent)
            .field("threads", &self.threads)
            .finish()
    }
}
