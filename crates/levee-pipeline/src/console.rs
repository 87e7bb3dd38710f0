//! `[console]`: the web console (pipeline graph, metrics over time, SQL
//! over the lake), served inside `levee run`.
//!
//! The pipeline only checks the section; the server lives in the binary,
//! beside the query API it shares DataFusion with. Without the section
//! there is no console.
//!
//! ```toml
//! [console]
//! listen = "127.0.0.1:24280"   # the default: this host only
//! token = "s3cret"             # /api/* asks for `Authorization: Bearer s3cret`
//! lake = "./lake"              # the default: the lake the lake outputs write
//! resolution = "10s"           # how often the graphs' history takes a point
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use levee_io::units::Interval;
use serde::Deserialize;

/// `[console]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The address to serve the console on. Default `"127.0.0.1:24280"`:
    /// this host only, since the console shows the lake and the pipeline;
    /// open it wider with a `token`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// When set, the console's API (`/api/...`) asks for
    /// `Authorization: Bearer <token>`; the page asks for it once and keeps
    /// it for the browser tab.
    #[serde(default)]
    pub token: Option<String>,
    /// The lake's root the SQL page queries. Default: the lake the config's
    /// lake outputs write, when they write one; without one the SQL page
    /// says there is no lake.
    #[serde(default)]
    pub lake: Option<String>,
    /// How often the console takes a point of the pipeline's figures for
    /// its graphs, such as `"10s"` (the default). It keeps 360 points: an
    /// hour at 10 s. From 1s to 1m.
    #[serde(default = "default_resolution")]
    pub resolution: Interval,
}

/// Beside the metrics endpoint's 24231 and the query API's 24232, far
/// enough not to meet a port either might be moved to.
fn default_listen() -> String {
    "127.0.0.1:24280".to_owned()
}

/// 360 points of 10 s are an hour: what the issue asks the graphs to show.
fn default_resolution() -> Interval {
    Interval(Duration::from_secs(10))
}

/// The finest resolution: below a second the sampling itself costs more
/// than the graphs are worth, and counters move little between points.
const FINEST: Duration = Duration::from_secs(1);

/// The coarsest: 360 points of a minute are six hours, more than the
/// console shows.
const COARSEST: Duration = Duration::from_secs(60);

impl ConsoleConfig {
    /// Checks the section; `lakes` are the roots the lake outputs write,
    /// for a `lake` not given. On error, every key at fault and why.
    pub fn build(self, lakes: &[String]) -> Result<ConsoleSettings, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let listen = self.listen.parse::<SocketAddr>().map_err(|_| {
            errors.push((
                "listen",
                format!(
                    "invalid address {:?}: write an IP address and a port, such as \"127.0.0.1:24280\"",
                    self.listen
                ),
            ))
        });
        let lake = match &self.lake {
            Some(lake) if lake.trim().is_empty() => Err((
                "lake",
                "must name the lake's root folder (leave `lake` out for none)".to_owned(),
            )),
            Some(lake) => Ok(Some(lake.clone())),
            None => {
                let mut roots = lakes.to_vec();
                roots.sort();
                roots.dedup();
                match roots.as_slice() {
                    [] => Ok(None),
                    [only] => Ok(Some(only.clone())),
                    several => Err((
                        "lake",
                        format!(
                            "the lake outputs write {} lakes ({}): name the one the SQL page queries",
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
        let resolution = self.resolution.0;
        if !(FINEST..=COARSEST).contains(&resolution) {
            errors.push((
                "resolution",
                format!("must be from 1s to 1m, not {resolution:?}"),
            ));
        }
        match (listen, lake) {
            (Ok(listen), Ok(lake)) if errors.is_empty() => Ok(ConsoleSettings {
                listen,
                token: self.token,
                lake,
                resolution,
            }),
            _ => Err(errors),
        }
    }
}

/// `[console]`, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Where to serve.
    pub listen: SocketAddr,
    /// The bearer token `/api/*` asks for, if any.
    pub token: Option<String>,
    /// The lake the SQL page queries, if any.
    pub lake: Option<String>,
    /// How often the history takes a point.
    pub resolution: Duration,
}

impl std::fmt::Debug for ConsoleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("ConsoleSettings")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .field("lake", &self.lake)
            .field("resolution", &self.resolution)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ConsoleConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_loopback_ten_seconds_and_the_outputs_lake() {
        let s = config("")
            .build(&["./lake".into(), "./lake".into()])
            .unwrap();
        assert_eq!(s.listen, "127.0.0.1:24280".parse().unwrap());
        assert_eq!(s.resolution, Duration::from_secs(10));
        assert_eq!(s.lake.as_deref(), Some("./lake"));
        assert_eq!(s.token, None);
        // No lake output: a console without the SQL page's lake.
        assert_eq!(config("").build(&[]).unwrap().lake, None);
    }

    #[test]
    fn hostile_settings_are_each_refused_at_their_key() {
        let errors =
            config("listen = \"localhost\"\ntoken = \"a b\"\nresolution = \"100ms\"\nlake = \" \"")
                .build(&[])
                .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            ["listen", "lake", "token", "resolution"],
            "{errors:?}"
        );
        for (text, key) in [
            ("token = \"\"", "token"),
            ("token = \"caf\u{e9}\"", "token"),
            ("token = \"x\\ny\"", "token"),
            ("resolution = \"2m\"", "resolution"),
            ("listen = \"127.0.0.1\"", "listen"),
        ] {
            let errors = config(text).build(&[]).unwrap_err();
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert_eq!(errors[0].0, key, "{text}");
        }
        let two = config("").build(&["./a".into(), "./b".into()]).unwrap_err();
        assert_eq!(two[0].0, "lake");
        assert!(two[0].1.contains("./a, ./b"), "{two:?}");
        assert!(toml::from_str::<ConsoleConfig>("tokn = \"x\"").is_err());
        assert!(toml::from_str::<ConsoleConfig>("resolution = 10").is_err());
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let s = config("token = \"s3cret\"").build(&[]).unwrap();
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
