//! `levee serve`: the HTTP query API over a lake, without a pipeline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use levee_query::QueryOptions;

use super::query::SessionArgs;
use crate::query_api::{self, Settings};
use crate::stderr::say;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The lake, and the limits every query runs under (as `levee query`'s).
    #[command(flatten)]
    pub session: SessionArgs,
    /// The address to serve `POST /v1/query` on; this host only unless
    /// told otherwise.
    #[arg(long, default_value = "127.0.0.1:24232")]
    pub listen: SocketAddr,
    /// A file holding the bearer token requests must carry (or set
    /// LEVEE_QUERY_TOKEN). Without either, no token is asked for.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// How many queries may run at once; one more is answered 503. The
    /// memory limit holds for all of them together.
    #[arg(long, default_value_t = levee_query::DEFAULT_MAX_CONCURRENT)]
    pub max_concurrent: usize,
    /// How many threads answer queries (also each query's partitions).
    #[arg(long, default_value_t = levee_query::DEFAULT_TARGET_PARTITIONS)]
    pub threads: usize,
}

pub async fn serve(args: &ServeArgs) -> Result<ExitCode> {
    // A mistyped --lake is said, not made into a new empty lake.
    if let Err(e) = levee_query::open_lake(&args.session.lake) {
        say!("levee: {e}");
        return Ok(ExitCode::from(2));
    }
    let token = match bearer_token(args.token_file.as_deref(), "LEVEE_QUERY_TOKEN")? {
        Ok(token) => token,
        Err(code) => return Ok(code),
    };
    let threads = args.threads.max(1);
    let server = query_api::start(Settings {
        listen: args.listen,
        lake: args.session.lake.clone(),
        token,
        options: QueryOptions {
            max_concurrent: args.max_concurrent.max(1),
            target_partitions: threads,
            ..args.session.options()
        },
    })?;
    // Said on stderr, so a script that asked for port 0 learns the port.
    say!(
        "levee: serving SQL over {} on http://{}/v1/query",
        args.session.lake,
        server.local_addr
    );
    super::run::shutdown_signal().await;
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// The bearer token of `levee serve` and `levee console`: the file's
/// contents, trimmed (`--token-file`), or else the variable `env`, or none.
/// One a header cannot carry whole is said, and is exit code 2 (`Ok(Err)`).
pub(crate) fn bearer_token(
    file: Option<&Path>,
    env: &str,
) -> Result<Result<Option<String>, ExitCode>> {
    let token = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var(env).ok(),
    };
    if let Some(token) = &token
        && !levee_pipeline::http_server::valid_token(token)
    {
        say!("levee: the token must be visible ASCII characters, no spaces");
        return Ok(Err(ExitCode::from(2)));
    }
    Ok(Ok(token))
}
