//! `[compaction]`: compacting the lake outputs' tables inside `levee run`.
//!
//! The pipeline only checks the section and says which tables its lake
//! outputs write ([`LakeTarget`]); the compaction itself (arrow, parquet)
//! lives in `levee-lake`, which the collector crates never build, and the
//! binary runs it on a thread of its own at a lower priority, so that it
//! never holds back ingestion.
//!
//! ```toml
//! [compaction]
//! schedule = "5 * * * *"   # cron, UTC: five past every hour
//! grace = "15m"            # how long replaced Parquet files stay
//! ```

use std::time::Duration;

use levee_io::units::Interval;
use serde::Deserialize;

use crate::cron::Cron;

/// `[compaction]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactionConfig {
    /// When to compact, as a cron expression in UTC (`minute hour
    /// day-of-month month day-of-week`). Each run compacts every complete
    /// hour (one that has ended) not compacted yet, or whose chunks changed
    /// since. Default `"5 * * * *"`: five past every hour, once the lake
    /// output has sealed the last hour's chunks (a minute after its end).
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// How long a replaced Parquet file stays, for the queries that listed
    /// it, before a later run deletes it. Default `"15m"`.
    #[serde(default = "default_grace")]
    pub grace: Interval,
    /// The compaction thread's nice value, 0 (as the collector) to 19 (the
    /// lowest priority). Default 10.
    #[serde(default = "default_nice")]
    pub nice: i32,
}

fn default_schedule() -> String {
    "5 * * * *".to_owned()
}

fn default_grace() -> Interval {
    Interval(Duration::from_secs(15 * 60))
}

fn default_nice() -> i32 {
    10
}

impl CompactionConfig {
    /// Checks the section; on error, the key at fault and why.
    pub fn build(self) -> Result<CompactionSettings, (&'static str, String)> {
        let schedule = Cron::parse(&self.schedule).map_err(|e| ("schedule", e.to_string()))?;
        if !(0..=19).contains(&self.nice) {
            return Err(("nice", format!("must be 0 to 19, not {}", self.nice)));
        }
        Ok(CompactionSettings {
            schedule,
            grace: self.grace.0,
            nice: self.nice,
        })
    }
}

/// `[compaction]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionSettings {
    /// When to run.
    pub schedule: Cron,
    /// How long replaced Parquet files stay.
    pub grace: Duration,
    /// 0 to 19.
    pub nice: i32,
}

/// A table a lake output writes: what scheduled compaction compacts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LakeTarget {
    /// The lake's root, as the output names it.
    pub lake: String,
    /// How to reach it, if it is on S3.
    pub s3: levee_io::sinks::lake::S3Options,
    /// The database.
    pub database: String,
    /// The table.
    pub table: String,
}
