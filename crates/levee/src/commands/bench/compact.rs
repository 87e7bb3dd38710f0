//! `levee bench compact`: how fast compaction turns JSON chunks into
//! Parquet, against DuckDB on the same events, in one run.
//!
//! The events are levee-generate's SparkPost-like email events (nested
//! objects, lists, a field or two that come and go). They are written
//! twice: as a lake table's zstd JSON chunks, as the lake output writes
//! them (the event time leading each record as `time`, a chunk per minute
//! of event time or per 64 MiB of JSON, 4 MiB zstd frames at level 1), and
//! as one plain NDJSON file of the same lines. Then, run after run, the
//! contenders take turns:
//!
//! - `levee compact` of the whole table, as a child process, from a table
//!   with no Parquet and no catalog;
//! - DuckDB's `COPY (SELECT * FROM read_json_auto(...)) TO ... (FORMAT
//!   parquet, COMPRESSION zstd)` on the NDJSON file, through the duckdb
//!   module of a Python (its own threads and memory settings: the defaults);
//! - with `--against`, another levee binary's `levee compact`.
//!
//! Each row gives records/s, CPU seconds, peak RSS (of the child, from
//! wait4; Python's own start-up is in DuckDB's) and the output's bytes
//! per record, for the run with the median wall time.
//!
//! The table is partitioned by day unless `--partition-by hour` says
//! otherwise, as the issue says a table whose hours are small should be:
//! at 2,000,000 events over a week, an hour is about 12,000 events, 5.6 MiB
//! of JSON and 0.4 MiB of Parquet, far below the files engines read well,
//! while a day is about 290,000 events in one file of about 9 MiB.
//! Hourly, levee writes 168 files (and 168 manifests) where DuckDB's COPY
//! writes one: their creation, and the dictionaries and footers of small
//! files, are most of what set it behind (see the README's Performance).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use levee_event::time::{NANOS_PER_SEC, UtcTime};
use levee_generate::{Dataset, GenerateOptions, Generator};
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::properties::{
    ParquetLayout, PartitionBy, TableProperties, TimeField, write_properties,
};
use levee_lake::{Lake, Partition, TableRef};
use object_store::{ObjectStoreExt, PutPayload};

use super::stages::run_collector;
use super::{Sample, fresh_dir, mib};

#[derive(clap::Args)]
pub struct CompactBenchArgs {
    /// SparkPost-like events to generate.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Spread the events over this many hours of event time, from
    /// 2018-09-01T00 (168: a week). `--hours 1` puts them all in one hour:
    /// what compaction's memory budget is measured on.
    #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u32).range(1..=24 * 366))]
    pub hours: u32,
    /// The table's `partition_by`: `day` (the default) writes a Parquet
    /// unit per day (7 for a week), `hour` one per hour (168). See the
    /// module's docs for why day.
    #[arg(long, default_value = "day", value_parser = parse_partition_by)]
    pub partition_by: PartitionBy,
    /// Scratch folder for the lake, the NDJSON and the outputs; made anew.
    #[arg(long, default_value = "./levee-bench")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub turns: super::Turns,
    /// The Python whose `duckdb` module runs DuckDB's side (default:
    /// $LEVEE_PYTHON, else `python3`).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Leave DuckDB out.
    #[arg(long)]
    pub no_duckdb: bool,
    /// Keep the scratch folder afterwards (it holds the events twice).
    #[arg(long)]
    pub keep: bool,
}

/// Where the events go, as the lake output names them.
const DATABASE: &str = "bench";
const TABLE: &str = "events";
const TIME_FIELD: &str = "time";

/// This benchmark's events: a week from 2018-09-01, also as one NDJSON file.
const LAYOUT: Layout = Layout {
    database: DATABASE,
    table: TABLE,
    start: "2018-09-01",
    ndjson: true,
};

/// Where [`generate`] puts the events, and from when.
pub(super) struct Layout {
    pub database: &'static str,
    pub table: &'static str,
    /// The first day of event time, `YYYY-MM-DD`.
    pub start: &'static str,
    /// Also write the events as one plain NDJSON file.
    pub ndjson: bool,
}

/// The lake output's defaults: a chunk is sealed at this much JSON...
const CHUNK_MAX_BYTES: usize = 64 << 20;
/// ... and compressed as zstd frames of this much JSON, at this level.
const FRAME_BYTES: usize = 4 << 20;
const ZSTD_LEVEL: i32 = 1;

const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// DuckDB's side: prints the rows the COPY wrote.
const DUCKDB_SCRIPT: &str = r#"
import sys, duckdb
src, dst = sys.argv[1], sys.argv[2]
q = lambda s: "'" + s.replace("'", "''") + "'"
con = duckdb.connect()
rows = con.execute(
    f"COPY (SELECT * FROM read_json_auto({q(src)})) TO {q(dst)} (FORMAT parquet, COMPRESSION zstd)"
).fetchone()[0]
print(rows)
"#;

/// One run of one contender: the sample and what it wrote.
#[derive(Clone, Copy)]
struct Run {
    sample: Sample,
    output_bytes: u64,
}

struct Contender {
    name: String,
    runs: Vec<Run>,
}

impl Contender {
    fn new(name: String) -> Contender {
        Contender {
            name,
            runs: Vec::new(),
        }
    }

    /// The run with the median wall time.
    fn median(&self) -> Run {
        let mut by_wall = self.runs.clone();
        by_wall.sort_by_key(|r| r.sample.wall);
        by_wall[by_wall.len() / 2]
    }
}

/// What was generated.
pub(super) struct Input {
    pub lake: PathBuf,
    pub ndjson: PathBuf,
    pub events: u64,
    pub ndjson_bytes: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
}

pub async fn bench(args: &CompactBenchArgs) -> Result<ExitCode> {
    let this = std::env::current_exe().context("finding the levee binary")?;
    let against = args.turns.against()?;
    let duckdb = if args.no_duckdb {
        None
    } else {
        let python = args
            .python
            .clone()
            .or_else(|| std::env::var_os("LEVEE_PYTHON").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("python3"));
        Some(DuckDb::find(python)?)
    };
    let dir = fresh_dir(&args.dir)?;
    let input = generate(&dir, args.events, args.hours, &LAYOUT).await?;
    // Every contender's compaction reads the layout from the table's properties.
    let lake = Lake::open(&input.lake.to_string_lossy())?;
    let properties =
        TableProperties::new(TimeField::new(TIME_FIELD)?).with_parquet(ParquetLayout {
            partition_by: args.partition_by,
            ..ParquetLayout::default()
        });
    write_properties(&lake, &TableRef::new(DATABASE, TABLE)?, &properties).await?;

    let mut levee = Contender::new("levee compact".to_owned());
    let mut other = against
        .as_ref()
        .map(|exe| Contender::new(format!("{}: levee compact", exe.display())));
    let mut duck = duckdb.as_ref().map(|d| {
        Contender::new(format!(
            "DuckDB {} (Python module): COPY ... zstd",
            d.version
        ))
    });
    for run in 0..args.turns.runs() {
        // The order turns by one each run, so that no contender always
        // runs right after the same other one.
        let count = 1 + usize::from(other.is_some()) + usize::from(duck.is_some());
        for turn in 0..count {
            match (run + turn) % count {
                0 => levee.runs.push(compact_run(&this, &dir, &input, run)?),
                1 if other.is_some() => {
                    if let (Some(exe), Some(other)) = (&against, &mut other) {
                        other.runs.push(compact_run(exe, &dir, &input, run)?);
                    }
                }
                _ => {
                    if let (Some(d), Some(duck)) = (&duckdb, &mut duck) {
                        duck.runs.push(d.run(&dir, &input, run)?);
                    }
                }
            }
        }
    }
    let all: Vec<&Contender> = [Some(&levee), other.as_ref(), duck.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    print_table(&all, &input, args.turns.runs());
    println!(
        "levee's Parquet: partition_by = \"{}\"",
        match args.partition_by {
            PartitionBy::Hour => "hour",
            PartitionBy::Day => "day",
        }
    );
    if let Some(other) = &other {
        print_ratios("this build against the other", &levee, other);
    }
    if let Some(duck) = &duck {
        print_ratios("levee against DuckDB", &levee, duck);
    }
    if !args.keep {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the events as the lake's chunks, and as one NDJSON file if the
/// layout asks for it.
pub(super) async fn generate(
    dir: &Path,
    events: u64,
    hours: u32,
    layout: &Layout,
) -> Result<Input> {
    let t = Instant::now();
    let days = hours.div_ceil(24).max(1);
    let options = GenerateOptions::builder(Dataset::Events)
        .lines(events)
        .start(layout.start)
        .days(days)
        .build()?;
    let start = levee_event::time::parse_date(layout.start).context("the start date")?
        * 24
        * NANOS_PER_HOUR;
    let span = i64::from(days) * 24 * NANOS_PER_HOUR;
    let target = i64::from(hours) * NANOS_PER_HOUR;

    let lake_dir = dir.join("lake");
    std::fs::create_dir_all(&lake_dir)?;
    let lake = Lake::open(&lake_dir.to_string_lossy())?;
    let table = TableRef::new(layout.database, layout.table)?;
    let time_field = TimeField::new(TIME_FIELD)?;
    write_properties(&lake, &table, &TableProperties::new(time_field)).await?;

    let ndjson_path = dir.join("events.ndjson");
    let mut ndjson = match layout.ndjson {
        true => Some(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&ndjson_path)?,
        )),
        false => None,
    };
    let mut generator = Generator::new(options);
    let mut line = Vec::with_capacity(4096);
    let mut chunk = ChunkBuf::default();
    let mut input = Input {
        lake: lake_dir.clone(),
        ndjson: ndjson_path.clone(),
        events: 0,
        ndjson_bytes: 0,
        chunks: 0,
        chunk_bytes: 0,
    };
    while let Some(time) = {
        line.clear();
        generator.next_line(&mut line)
    } {
        // The generator's week, squeezed into `hours` (the identity for a week).
        let offset = i128::from(time - start) * i128::from(target) / i128::from(span);
        let time = start + i64::try_from(offset).unwrap_or(0).min(target - 1);
        let minute = time.div_euclid(NANOS_PER_MINUTE);
        if chunk.minute != Some(minute) || chunk.text.len() >= CHUNK_MAX_BYTES {
            chunk.seal(&lake, &table, &mut input).await?;
            chunk.minute = Some(minute);
        }
        // As the lake output leads each record with its event time.
        let text = &mut chunk.text;
        let at = text.len();
        text.extend_from_slice(b"{\"");
        text.extend_from_slice(TIME_FIELD.as_bytes());
        text.extend_from_slice(b"\":\"");
        text.extend_from_slice(UtcTime::from_nanos(time).rfc3339_millis().as_bytes());
        text.extend_from_slice(b"\",");
        text.extend_from_slice(line.get(1..).unwrap_or_default());
        if let Some(ndjson) = &mut ndjson {
            ndjson.write_all(&text[at..])?;
        }
        input.ndjson_bytes += (text.len() - at) as u64;
        input.events += 1;
    }
    chunk.seal(&lake, &table, &mut input).await?;
    if let Some(ndjson) = &mut ndjson {
        ndjson.flush()?;
    }
    println!(
        "generated {} events ({:.1} MiB of NDJSON, {:.0} bytes each) over {hours} hours in {:.1} s: {} zstd chunks ({:.1} MiB){}",
        input.events,
        mib(input.ndjson_bytes),
        input.ndjson_bytes as f64 / input.events.max(1) as f64,
        t.elapsed().as_secs_f64(),
        input.chunks,
        mib(input.chunk_bytes),
        match layout.ndjson {
            true => format!(" and {}", ndjson_path.display()),
            false => String::new(),
        },
    );
    Ok(input)
}

/// The chunk being filled: one minute of event time.
#[derive(Default)]
struct ChunkBuf {
    minute: Option<i64>,
    text: Vec<u8>,
    seq: u64,
}

impl ChunkBuf {
    async fn seal(&mut self, lake: &Lake, table: &TableRef, input: &mut Input) -> Result<()> {
        let Some(minute) = self.minute else {
            return Ok(());
        };
        if self.text.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        for frame in self.text.chunks(FRAME_BYTES) {
            body.extend_from_slice(&zstd::bulk::compress(frame, ZSTD_LEVEL)?);
        }
        let (partition, minute) = Partition::of_time(minute * NANOS_PER_MINUTE);
        let key = table.json_chunk(&partition, minute, "bench", self.seq, ZSTD_CHUNK_EXT);
        input.chunks += 1;
        input.chunk_bytes += body.len() as u64;
        lake.store.put(&key, PutPayload::from(body)).await?;
        self.seq += 1;
        self.text.clear();
        Ok(())
    }
}

fn parse_partition_by(text: &str) -> Result<PartitionBy, String> {
    PartitionBy::parse(text).ok_or_else(|| format!("`{text}`: `hour` or `day`"))
}

/// One `levee compact` of the whole table by `exe`, from no Parquet and no
/// catalog; checks that every event is in the Parquet.
fn compact_run(exe: &Path, dir: &Path, input: &Input, run: usize) -> Result<Run> {
    let table_dir = input.lake.join(DATABASE).join(TABLE);
    for leftover in [
        "parquet",
        "_levee/manifests",
        "_levee/schema.json",
        "_levee/retired",
    ] {
        let path = table_dir.join(leftover);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else if path.exists() {
            std::fs::remove_file(&path)?;
        }
    }
    let run_log = dir.join(format!("run-{run}-levee.log"));
    let sample = run_collector(
        Command::new(exe)
            .args(["compact", "--grace", "0s", "--table"])
            .arg(format!("{DATABASE}.{TABLE}"))
            .arg("--lake")
            .arg(&input.lake)
            .env("LEVEE_LOG", "warn"),
        &run_log,
        input.events,
        input.ndjson_bytes,
    )?;
    let (rows, bytes) = parquet_of(&table_dir.join("parquet"))?;
    if rows != input.events {
        bail!(
            "{}: the Parquet holds {rows} rows, not {}",
            exe.display(),
            input.events
        );
    }
    Ok(Run {
        sample,
        output_bytes: bytes,
    })
}

/// Rows and bytes of every Parquet file under `dir`, from their footers.
fn parquet_of(dir: &Path) -> Result<(u64, u64)> {
    let (mut rows, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            let (r, b) = parquet_of(&path)?;
            rows += r;
            bytes += b;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            let file = std::fs::File::open(&path)?;
            bytes += file.metadata()?.len();
            let reader = parquet::file::serialized_reader::SerializedFileReader::new(file)
                .with_context(|| format!("reading {}", path.display()))?;
            use parquet::file::reader::FileReader;
            rows += u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
        }
    }
    Ok((rows, bytes))
}

/// DuckDB through a Python's `duckdb` module.
struct DuckDb {
    python: PathBuf,
    version: String,
}

impl DuckDb {
    fn find(python: PathBuf) -> Result<DuckDb> {
        let out = Command::new(&python)
            .args(["-c", "import duckdb; print(duckdb.__version__)"])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "{} has no duckdb module (install it, point --python at one, or pass --no-duckdb): {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(DuckDb {
            python,
            version: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
    }

    fn run(&self, dir: &Path, input: &Input, run: usize) -> Result<Run> {
        let out = dir.join("duckdb.parquet");
        if out.exists() {
            std::fs::remove_file(&out)?;
        }
        let run_log = dir.join(format!("run-{run}-duckdb.log"));
        let sample = run_collector(
            Command::new(&self.python)
                .args(["-c", DUCKDB_SCRIPT])
                .arg(&input.ndjson)
                .arg(&out),
            &run_log,
            input.events,
            input.ndjson_bytes,
        )?;
        let said = std::fs::read_to_string(&run_log)?;
        let rows: u64 = said
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("DuckDB said: {said}"))?;
        if rows != input.events {
            bail!("DuckDB wrote {rows} rows, not {}", input.events);
        }
        Ok(Run {
            sample,
            output_bytes: std::fs::metadata(&out)?.len(),
        })
    }
}

fn records_per_sec(r: &Run) -> f64 {
    r.sample.lines as f64 / r.sample.wall.as_secs_f64()
}

fn bytes_per_record(r: &Run) -> f64 {
    r.output_bytes as f64 / r.sample.lines.max(1) as f64
}

fn print_table(contenders: &[&Contender], input: &Input, runs: usize) {
    println!(
        "\n{} events, {:.1} MiB of NDJSON ({} chunks, {:.1} MiB of zstd JSON in the lake)",
        input.events,
        mib(input.ndjson_bytes),
        input.chunks,
        mib(input.chunk_bytes)
    );
    let range = if runs > 1 {
        format!(" | records/s, {runs} runs | peak RSS MiB, {runs} runs")
    } else {
        String::new()
    };
    let range_rule = if runs > 1 { "---|---|" } else { "" };
    println!(
        "\n| contender | records/s | NDJSON MiB/s | wall s | CPU s | peak RSS MiB | output MiB | bytes/record{range} |\n|---|---:|---:|---:|---:|---:|---:|---:|{range_rule}"
    );
    for c in contenders {
        let m = c.median();
        let spread = if runs > 1 {
            let fold = |it: &mut dyn Iterator<Item = f64>| {
                it.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)))
            };
            let (lo, hi) = fold(&mut c.runs.iter().map(records_per_sec));
            let (rlo, rhi) = fold(&mut c.runs.iter().filter_map(|r| r.sample.peak_rss).map(mib));
            format!(" | {lo:.0}-{hi:.0} | {rlo:.0}-{rhi:.0}")
        } else {
            String::new()
        };
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {} | {:.1} | {:.1}{spread} |",
            c.name,
            records_per_sec(&m),
            mib(m.sample.bytes) / m.sample.wall.as_secs_f64(),
            m.sample.wall.as_secs_f64(),
            m.sample.cpu.as_secs_f64(),
            m.sample
                .peak_rss
                .map_or("n/a".to_owned(), |b| format!("{:.0}", mib(b))),
            mib(m.output_bytes),
            bytes_per_record(&m),
        );
    }
    if runs > 1 {
        println!("\n(each row is the run with the median wall time)");
    }
}

fn print_ratios(label: &str, this: &Contender, other: &Contender) {
    let (a, b) = (this.median(), other.median());
    let rss = |r: &Run| r.sample.peak_rss.map_or(f64::NAN, mib);
    println!(
        "\n{label}: {:.2}x the records/s, {:.2}x the CPU seconds, peak RSS {:.0} against {:.0} MiB, {:.1} against {:.1} bytes/record",
        records_per_sec(&a) / records_per_sec(&b),
        a.sample.cpu.as_secs_f64() / b.sample.cpu.as_secs_f64(),
        rss(&a),
        rss(&b),
        bytes_per_record(&a),
        bytes_per_record(&b),
    );
}
