//! `levee demo`: the whole flow on a week of generated traffic, in a
//! scratch folder, with nothing installed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use levee_generate::{Dataset, GenerateOptions};
use levee_lake::compact::{CompactOptions, HourSelection, compact_table};
use levee_lake::{Lake, catalog};
use levee_query::LakeSession;

use super::generate::write_lines;
use super::run::run_pipeline;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The scratch folder; made anew on every run.
    #[arg(long, default_value = "./levee-demo")]
    pub dir: PathBuf,
    /// nginx access log lines to generate.
    #[arg(long, default_value_t = 100_000)]
    pub nginx_lines: u64,
    /// Email events to generate.
    #[arg(long, default_value_t = 200_000)]
    pub event_lines: u64,
    /// The same seed gives the same traffic and the same answers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The first day of the demo's traffic; it spans `DAYS` days.
const START: &str = "2018-09-01";
const DAYS: u32 = 8;
const DATABASE: &str = "glue-data-lake-usw2-prd";

/// Marks a folder as the demo's own, so a re-run may wipe it.
const MARKER: &str = ".levee-demo";

/// The demo's pipeline: the user's own (nginx log -> API call type -> lake)
/// beside the email events, and parse failures kept in a file. Its hours
/// are 20 to 50 KiB of Parquet, so its tables are compacted a file a day
/// (`partition_by = "day"`), which queries read faster than 24 small ones.
const CONFIG: &str = r#"
data_dir = "{dir}/data"

[sources.nginx]
type = "tail"
paths = ["{dir}/logs/access.log"]
tag = "nginx.access"
parser = { type = "nginx", format = "combined_request_time" }

[sources.events]
type = "tail"
paths = ["{dir}/logs/events.ndjson"]
tag = "events.sparkpost"
parser = { type = "json", time_key = "timestamp" }

[[filters]]
match = "nginx.**"
type = "record"
set = { api_call = "${method|lower}_${path|segment(2)}", status_class = "${status|status_class}" }
retag = "firehose_parsed.nginx"

[outputs.api_calls]
match = "firehose_parsed.**"
type = "lake"
lake = "{dir}/lake"
database = "{database}"
table = "api_calls"
partition_by = "day"

[outputs.eventlog]
match = "events.**"
type = "lake"
lake = "{dir}/lake"
database = "{database}"
table = "eventlog"
partition_by = "day"

[outputs.errors]
match = "@ERROR"
type = "file"
path = "{dir}/data/errors.ndjson"
"#;

/// One of the user's questions, as they typed it for Athena, with the
/// table and the days left open so that the console's "try this" list can
/// ask it of whatever lake it serves.
pub(crate) struct Question {
    /// What it asks, in words.
    pub title: &'static str,
    /// The lake table it was written for.
    pub table: &'static str,
    /// The columns it needs: a table of another name that has them will do.
    pub columns: &'static [&'static str],
    /// The SQL, with `{table}`, `{first_day}`, `{jump_first}` and `{jump_last}`.
    sql: &'static str,
}

/// The days a question's filters name: the table's first, and the three
/// around its middle, where the generator puts the bounce spike.
pub(crate) struct Days<'a> {
    pub first: &'a str,
    pub jump_first: &'a str,
    pub jump_last: &'a str,
}

impl Question {
    /// The question's SQL over `table` (a SQL name, quoted as needed).
    pub(crate) fn sql(&self, table: &str, days: &Days) -> String {
        self.sql
            .replace("{table}", table)
            .replace("{first_day}", days.first)
            .replace("{jump_first}", days.jump_first)
            .replace("{jump_last}", days.jump_last)
    }
}

/// The questions the demo asks, as a user would type them.
pub(crate) const QUESTIONS: [Question; 3] = [
    Question {
        title: "DNS-failure bounces (class 21) per day, by mailbox provider",
        table: "eventlog",
        columns: &["bounce_class", "routing_domain"],
        sql: r#"select dt, count_if(routing_domain = 'gmail.com') as google, count_if(routing_domain = 'yahoo.com') as yahoo, count_if(routing_domain = 'hotmail.com') as hotmail
from {table}
where bounce_class = 21 and dt >= '{first_day}'
group by 1 order by 1"#,
    },
    Question {
        title: "Why? The top ten raw reasons of class-21 bounces around the jump",
        table: "eventlog",
        columns: &["bounce_class", "raw_reason"],
        sql: r#"select raw_reason, count(*) as bounces
from {table}
where bounce_class = 21 and dt between '{jump_first}' and '{jump_last}'
group by 1 order by 2 desc, 1 limit 10"#,
    },
    Question {
        title: "API calls by type, with server errors and mean response time",
        table: "api_calls",
        columns: &["api_call", "status", "request_time"],
        sql: r#"select api_call, count(*) as calls, count_if(status >= 500) as errors_5xx, round(avg(request_time), 4) as avg_seconds
from {table}
group by 1 order by 2 desc, 1 limit 10"#,
    },
];

/// The demo's days: `DAYS` from `START`, the spike on day `DAYS / 2`
/// (levee-generate's), so the jump is the 4th to the 6th.
const DEMO_DAYS: Days<'static> = Days {
    first: START,
    jump_first: "2018-09-04",
    jump_last: "2018-09-06",
};

pub async fn demo(args: &DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let dir = prepare(&args.dir)?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;

    println!("levee demo in {}", dir.display());
    let make = |dataset, lines| {
        GenerateOptions::builder(dataset)
            .lines(lines)
            .start(START)
            .days(DAYS)
            .seed(args.seed)
            .build()
    };
    let access_log = logs.join("access.log");
    let events_log = logs.join("events.ndjson");
    let jobs = [
        (make(Dataset::Nginx, args.nginx_lines)?, access_log.clone()),
        (make(Dataset::Events, args.event_lines)?, events_log.clone()),
    ];
    for (options, path) in jobs {
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let lines = write_lines(&options, file)?;
        println!(
            "  generated {lines} {} lines, {DAYS} days from {START}: {}",
            options.dataset(),
            path.display()
        );
    }

    let dir_text = toml_escape(&dir.to_string_lossy());
    let config = CONFIG
        .replace("{dir}", &dir_text)
        .replace("{database}", DATABASE);
    let config_path = dir.join("levee.toml");
    std::fs::write(&config_path, &config)?;
    let pipeline = levee_pipeline::config::build(&config, &config_path.display().to_string())?;
    let t = Instant::now();
    let report = run_pipeline(pipeline, true).await?;
    let delivered: u64 = report.outputs.iter().map(|(_, m)| m.events.get()).sum();
    println!(
        "  delivered {delivered} events into the lake in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    for (name, m) in &report.outputs {
        println!(
            "    output {name}: {} events in {} batches",
            m.events.get(),
            m.batches.get()
        );
    }
    if let Some((name, error)) = report.source_errors.first() {
        bail!("source {name} failed: {error}");
    }

    let lake_dir = dir.join("lake");
    let lake = Lake::open(&lake_dir.to_string_lossy())?;
    let t = Instant::now();
    for table in catalog::list_tables(&lake).await? {
        let options = CompactOptions {
            hours: HourSelection::Pending,
            ..CompactOptions::default()
        };
        let report = compact_table(&lake, &table, &options).await?;
        println!("  compacted {table}: {}", super::compact::summary(&report));
    }
    println!("  compaction took {:.2} s", t.elapsed().as_secs_f64());

    let session = LakeSession::open(&lake).await?;
    for question in &QUESTIONS {
        let table = format!("\"{DATABASE}\".{}_parquet", question.table);
        let sql = question.sql(&table, &DEMO_DAYS);
        println!("\n-- {}\n{sql};", question.title);
        let result = session.sql(&sql).await?;
        println!(
            "{}",
            levee_query::format_table(&result.schema, &result.batches)?
        );
        println!("{}", result.stats);
    }

    let raw = file_size(&access_log) + file_size(&events_log);
    let json = tree_size(&lake_dir, ".ndjson.zst");
    let parquet = tree_size(&lake_dir, ".parquet");
    println!(
        "\nsizes: raw logs {}, JSON chunks (zstd) {}, Parquet {}",
        human(raw),
        human(json),
        human(parquet)
    );
    println!("whole demo: {:.2} s", started.elapsed().as_secs_f64());
    let lake_text = lake_dir.display();
    println!(
        "\nThe lake is at {lake_text} (tables: levee tables --lake {lake_text}). Ask it anything:\n  \
         levee query --lake {lake_text} \"select type, count(*) from \\\"{DATABASE}\\\".eventlog_parquet group by 1 order by 2 desc\"\n\
         The pipeline that filled it is {}; run it again with: levee run -c {} --exit-on-eof",
        config_path.display(),
        config_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes the scratch folder, wiping an earlier demo's but nothing else.
fn prepare(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let is_empty = std::fs::read_dir(dir)?.next().is_none();
        if !is_demo && !is_empty {
            bail!(
                "{} exists and is not a levee demo folder; choose another with --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by `levee demo`; removed by the next run\n",
    )?;
    Ok(std::fs::canonicalize(dir)?)
}

fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes of every file under `dir` whose name ends with `suffix`.
fn tree_size(dir: &Path, suffix: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                tree_size(&path, suffix)
            } else if path.to_string_lossy().ends_with(suffix) {
                file_size(&path)
            } else {
                0
            }
        })
        .sum()
}

fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
