//! Scan accounting: what a query read, and what Athena would have charged.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::source_as_provider;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use levee_lake::{Partition, PartitionBy, TableRef};

use crate::json_source::LakeJsonSource;
use crate::json_table::JsonChunks;
use crate::whole::WholeTable;
use object_store::path::Path;

/// What one query read. Printed after every answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanStats {
    /// Rows in the answer.
    pub rows: usize,
    /// From the statement's arrival to its last batch.
    pub elapsed: Duration,
    /// Distinct data files the scans opened, after partition pruning.
    pub files_read: usize,
    /// Data files in the tables the query names, pruned or not.
    pub files_in_tables: usize,
    /// Bytes read from storage: Parquet's own `bytes_scanned` metric (footers,
    /// pages actually fetched), and for JSON the compressed size of each chunk
    /// read, as Athena counts them. A JSON scan cut short by `LIMIT` is counted
    /// whole.
    pub bytes_scanned: u64,
    /// Distinct hours (per table) the scans read.
    pub partitions_read: usize,
    /// Hours (per table) in the tables the query names.
    pub partitions_total: usize,
    /// JSON chunks the query could not read whole, and what it skipped of
    /// each: the answer leaves those rows out.
    pub damaged_files: Vec<DamagedFile>,
    /// Of the files, hours and bytes read, those of JSON chunks.
    pub json: CopyScan,
    /// Of the files, hours and bytes read, those of Parquet files.
    pub parquet: CopyScan,
    /// Whether the query names a whole table (`<table>`, read from both
    /// copies): the summary then says how much came from each.
    pub whole: bool,
}

/// A JSON chunk a query read only part of (or none of), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedFile {
    /// Its key in the lake.
    pub file: String,
    /// What was wrong, and what was read or skipped.
    pub problem: String,
}

/// What a query read from one copy of the tables it names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyScan {
    /// Distinct data files opened.
    pub files: usize,
    /// Distinct hours (per table) they lie in.
    pub partitions: usize,
    /// Bytes read, counted as [`ScanStats::bytes_scanned`] counts them.
    pub bytes: u64,
}

impl CopyScan {
    fn describe(&self, copy: &str) -> String {
        let hours = if self.partitions == 1 {
            "hour"
        } else {
            "hours"
        };
        format!(
            "{} {copy} from {} {hours}",
            ByteSize(self.bytes),
            self.partitions
        )
    }
}

/// Athena's list price, in dollars per TiB scanned.
const USD_PER_TIB: f64 = 5.0;
/// Athena bills whole MiB, and at least this many per query.
const MIN_BILLED_MIB: u64 = 10;
const MIB: u64 = 1 << 20;
const MIB_PER_TIB: f64 = (1u64 << 20) as f64;

impl ScanStats {
    /// Athena's price for this scan: $5 per TB scanned, rounded up to whole
    /// megabytes, 10 MB minimum per query. AWS's TB and MB here are binary
    /// (2^40 and 2^20 bytes).
    pub fn cost_usd(&self) -> f64 {
        self.billed_mib() as f64 * USD_PER_TIB / MIB_PER_TIB
    }

    /// Whether the 10 MB minimum, not the bytes, set the price.
    pub fn minimum_applies(&self) -> bool {
        self.bytes_scanned.div_ceil(MIB) < MIN_BILLED_MIB
    }

    fn billed_mib(&self) -> u64 {
        self.bytes_scanned.div_ceil(MIB).max(MIN_BILLED_MIB)
    }
}

impl fmt::Display for ScanStats {
    /// `12 rows in 0.084 s; read 3 of 168 files (3 of 168 partitions), scanned
    /// 1.2 MiB; Athena would charge $0.00005 (10 MB minimum)`, then, if
    /// the query met damaged chunks, a warning naming each. A query on a
    /// whole table says, after the bytes, how many came from each copy:
    /// `scanned 1.2 MiB (1.0 MiB of Parquet from 2 hours, 200 KiB of JSON from 1 hour)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = if self.rows == 1 { "row" } else { "rows" };
        write!(
            f,
            "{} {rows} in {:.3} s; read {} of {} files ({} of {} partitions), scanned {}{}; Athena would charge ${}",
            self.rows,
            self.elapsed.as_secs_f64(),
            self.files_read,
            self.files_in_tables,
            self.partitions_read,
            self.partitions_total,
            ByteSize(self.bytes_scanned),
            if self.whole {
                format!(
                    " ({}, {})",
                    self.parquet.describe("of Parquet"),
                    self.json.describe("of JSON")
                )
            } else {
                String::new()
            },
            format_usd(self.cost_usd()),
        )?;
        if self.minimum_applies() {
            write!(f, " ({MIN_BILLED_MIB} MB minimum)")?;
        }
        // The answer is short of these rows: say so where the cost is said.
        if !self.damaged_files.is_empty() {
            write!(
                f,
                "\nwarning: {} damaged files, their unreadable rows skipped:",
                self.damaged_files.len()
            )?;
            for d in &self.damaged_files {
                write!(f, "\n  {}: {}", d.file, d.problem)?;
            }
        }
        Ok(())
    }
}

/// Cents for dollar amounts, five decimals below a dollar: Athena's minimum
/// is $0.00005, and rounding it to $0.00 would hide that scans cost anything.
fn format_usd(usd: f64) -> String {
    if usd >= 1.0 {
        format!("{usd:.2}")
    } else {
        format!("{usd:.5}")
    }
}

/// One copy of a table that a query names: its folder and the endings of
/// the data files it reads there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ScannedTable {
    pub root: Path,
    pub extensions: Vec<String>,
}

impl ScannedTable {
    fn of(listings: &[&ListingTable]) -> Vec<ScannedTable> {
        let mut out: Vec<ScannedTable> = Vec::new();
        for listing in listings {
            let ext = &listing.options().file_extension;
            for url in listing.table_paths() {
                match out.iter_mut().find(|t| &t.root == url.prefix()) {
                    Some(t) if !t.extensions.contains(ext) => t.extensions.push(ext.clone()),
                    Some(_) => {}
                    None => out.push(ScannedTable {
                        root: url.prefix().clone(),
                        extensions: vec![ext.clone()],
                    }),
                }
            }
        }
        out
    }
}

/// The lake tables a logical plan reads, subqueries included; each once.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    /// The copies it names (`_json`, `_parquet`).
    pub copies: Vec<ScannedTable>,
    /// The whole tables it names.
    pub wholes: Vec<(TableRef, PartitionBy)>,
}

/// The lake tables a logical plan reads, subqueries included; each once.
pub(crate) fn scanned_tables(plan: &LogicalPlan) -> Result<Scanned, DataFusionError> {
    let mut found = Vec::new();
    let mut wholes = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            if let Some(whole) = provider.downcast_ref::<WholeTable>() {
                if !wholes.iter().any(|(t, _)| t == whole.table()) {
                    wholes.push((whole.table().clone(), whole.partition_by()));
                }
                return Ok(TreeNodeRecursion::Continue);
            }
            let listings: Vec<&ListingTable> =
                if let Some(listing) = provider.downcast_ref::<ListingTable>() {
                    vec![listing]
                } else if let Some(json) = provider.downcast_ref::<JsonChunks>() {
                    json.parts()
                } else {
                    Vec::new()
                };
            for t in ScannedTable::of(&listings) {
                if !found.contains(&t) {
                    found.push(t);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(Scanned {
        copies: found,
        wholes,
    })
}

/// What the file scans of an executed physical plan read, by copy. The
/// copies' files and hours are told apart by their folders, so the totals
/// are the sums.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlanScan {
    pub json: CopyScan,
    pub parquet: CopyScan,
    pub damaged: Vec<DamagedFile>,
}

/// Reads the scans' file lists and metrics; call it after the plan has run.
pub(crate) fn plan_scan(plan: &Arc<dyn ExecutionPlan>) -> Result<PlanScan, DataFusionError> {
    let mut files = [HashSet::new(), HashSet::new()];
    let mut partitions = [HashSet::new(), HashSet::new()];
    let mut bytes = [0u64; 2];
    let mut damaged = Vec::new();
    plan.apply(|node| {
        let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if let Some(json) = config.file_source().downcast_ref::<LakeJsonSource>() {
            damaged.extend(json.damage().files());
        }
        let is_parquet = config.file_source().file_type() == "parquet";
        let copy = usize::from(is_parquet);
        let mut json_files = HashSet::new();
        for file in config.file_groups.iter().flat_map(|g| g.iter()) {
            let location = &file.object_meta.location;
            files[copy].insert(location.clone());
            if let Some(p) = Partition::unit_from_path(location) {
                partitions[copy].insert((table_of(location), p));
            }
            if !is_parquet && json_files.insert(location.clone()) {
                bytes[copy] += file.object_meta.size;
            }
        }
        if is_parquet {
            let scanned = exec
                .metrics()
                .and_then(|m| m.sum_by_name("bytes_scanned"))
                .map_or(0, |v| v.as_usize());
            bytes[copy] += scanned as u64;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    // Openers finish in any order; the list reads best by key.
    damaged.sort_by(|a, b| (&a.file, &a.problem).cmp(&(&b.file, &b.problem)));
    damaged.dedup();
    let copy = |i: usize| CopyScan {
        files: files[i].len(),
        partitions: partitions[i].len(),
        bytes: bytes[i],
    };
    Ok(PlanScan {
        json: copy(0),
        parquet: copy(1),
        damaged,
    })
}

/// The part of a data file's key before its `dt=` folder: the table's copy.
fn table_of(location: &Path) -> String {
    let key = location.as_ref();
    match key.find("/dt=") {
        Some(i) => key[..i].to_owned(),
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(bytes: u64) -> ScanStats {
        ScanStats {
            rows: 12,
            elapsed: Duration::from_millis(84),
            files_read: 3,
            files_in_tables: 168,
            bytes_scanned: bytes,
            partitions_read: 3,
            partitions_total: 168,
            ..ScanStats::default()
        }
    }

    #[test]
    fn damaged_files_are_named_under_the_accounting() {
        let mut s = stats(0);
        s.damaged_files.push(DamagedFile {
            file: "db/t/json/dt=2018-09-01/hour=08/00-w-00000009.ndjson.zst".into(),
            problem: "zstd: incomplete frame; read the 0 rows before the damage".into(),
        });
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("(10 MB minimum)"), "{text}");
        assert_eq!(
            lines[1],
            "warning: 1 damaged files, their unreadable rows skipped:"
        );
        assert_eq!(
            lines[2],
            "  db/t/json/dt=2018-09-01/hour=08/00-w-00000009.ndjson.zst: zstd: incomplete frame; \
             read the 0 rows before the damage"
        );
    }

    #[test]
    fn small_scans_pay_athenas_ten_megabyte_minimum() {
        let s = stats(1_258_291);
        assert!(s.minimum_applies());
        assert!((s.cost_usd() - 10.0 * 5.0 / (1u64 << 20) as f64).abs() < 1e-12);
        assert_eq!(
            s.to_string(),
            "12 rows in 0.084 s; read 3 of 168 files (3 of 168 partitions), scanned 1.2 MiB; \
             Athena would charge $0.00005 (10 MB minimum)"
        );
    }

    #[test]
    fn large_scans_pay_per_started_megabyte() {
        // One TiB and one byte: billed as 2^20 + 1 MiB.
        let s = stats((1u64 << 40) + 1);
        assert!(!s.minimum_applies());
        let expected = ((1u64 << 20) + 1) as f64 * 5.0 / (1u64 << 20) as f64;
        assert!((s.cost_usd() - expected).abs() < 1e-9);
        assert!(s.to_string().ends_with("Athena would charge $5.00"), "{s}");
    }

    #[test]
    fn the_minimum_is_marked_only_when_it_raises_the_price() {
        // 9 MiB and a byte is billed as 10 whole MiB anyway.
        assert!(!stats(9 * MIB + 1).minimum_applies());
        assert!(stats(9 * MIB).minimum_applies());
        assert_eq!(stats(9 * MIB + 1).cost_usd(), stats(0).cost_usd());
    }

    #[test]
    fn a_whole_table_says_how_much_came_from_each_copy() {
        let mut s = stats(3_000);
        assert!(!s.to_string().contains("of Parquet"), "{s}");
        s.whole = true;
        s.parquet = CopyScan {
            files: 2,
            partitions: 2,
            bytes: 2_000,
        };
        s.json = CopyScan {
            files: 1,
            partitions: 1,
            bytes: 1_000,
        };
        assert!(
            s.to_string().contains(
                "scanned 2.9 KiB (2.0 KiB of Parquet from 2 hours, 1000 B of JSON from 1 hour);"
            ),
            "{s}"
        );
    }

    #[test]
    fn one_row_is_singular() {
        let mut s = stats(0);
        s.rows = 1;
        assert!(s.to_string().starts_with("1 row in"), "{s}");
    }

    #[test]
    fn partitions_are_told_apart_by_table() {
        let a = Path::from("db/t/json/dt=2024-01-01/hour=05/00-w-1.ndjson.zst");
        let b = Path::from("db/u/json/dt=2024-01-01/hour=05/00-w-1.ndjson.zst");
        assert_eq!(table_of(&a), "db/t/json");
        assert_ne!(table_of(&a), table_of(&b));
    }
}
