//! The `blackhole` sink: takes everything, writes nothing.

use serde::Deserialize;

/// `type = "blackhole"`: discard events (they are still counted as sent).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {}
