//! `levee serve`: the HTTP query API over a lake, without a pipeline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use levee_query::QueryOptions;

use crate::query_api::{self, Settings};
use crate::stderr::say;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The lake's root folder.
    #[arg(long, default_value = "./lake")]
    pub lake: String,
    /// The address to serve `POST /v1/query` on; this host only unless
    /// told otherwise.
    #[arg(long, default_value = "127.0.0.1:24232")]
    pub listen: SocketAddr,
    /// A file holding the bearer token requests must carry (or set
    /// LEVEE_QUERY_TOKEN). Without either, no token is asked for.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// How many threads answer queries (also each query's partitions).
    #[arg(long, default_value_t = levee_query::DEFAULT_TARGET_PARTITIONS)]
    pub threads: usize,
}

/// The limits every query runs under, as flags (`levee query` has them too).
#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// The longest a query may run, such as `30s` or `5m`.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// The most memory queries may hold at once, such as `512MiB` or `2GiB`.
    #[arg(long, value_parser = parse_size, default_value = "512MiB")]
    pub memory_limit: usize,
    /// How many queries may run at once; one more is refused.
    #[arg(long, default_value_t = levee_query::DEFAULT_MAX_CONCURRENT)]
    pub max_concurrent: usize,
}

impl LimitArgs {
    /// The options, with `threads` partitions per query.
    pub fn options(&self, threads: usize) -> QueryOptions {
        QueryOptions {
            timeout: self.timeout,
            memory_limit: self.memory_limit,
            max_concurrent: self.max_concurrent,
            target_partitions: threads,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text.trim()).map_err(|e| format!("{e}; write e.g. 30s or 5m"))?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

fn parse_size(text: &str) -> Result<usize, String> {
    let n = levee_io::units::parse_size(text).map_err(|e| format!("{e}; write e.g. 512MiB"))?;
    if n < 1024 * 1024 {
        return Err("must be at least 1MiB: no query runs in less".into());
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub async fn serve(args: &ServeArgs) -> Result<ExitCode> {
    // A mistyped --lake is said, not made into a new empty lake.
    if let Err(e) = levee_query::open_lake(&args.lake) {
        say!("levee: {e}");
        return Ok(ExitCode::from(2));
    }
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("LEVEE_QUERY_TOKEN").ok(),
    };
    if let Some(token) = &token
        && (token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()))
    {
        say!("levee: the token must be visible ASCII characters, no spaces");
        return Ok(ExitCode::from(2));
    }
    let threads = args.threads.max(1);
    let server = query_api::start(Settings {
        listen: args.listen,
        lake: args.lake.clone(),
        token,
        options: args.limits.options(threads),
    })?;
    // Said on stderr, so a script that asked for port 0 learns the port.
    say!(
        "levee: serving SQL over {} on http://{}/v1/query",
        args.lake,
        server.local_addr
    );
    super::run::shutdown_signal().await;
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}
