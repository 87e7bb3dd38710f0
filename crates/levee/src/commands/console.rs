//! `levee console`: the web console over a lake, without a pipeline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::query::SessionArgs;
use super::serve::bearer_token;
use crate::console::{self, Settings};
use crate::stderr::say;

#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// The lake, and the limits the SQL page's queries run under (as
    /// `levee query`'s).
    #[command(flatten)]
    pub session: SessionArgs,
    /// The address to serve the console on; this host only unless told
    /// otherwise.
    #[arg(long, default_value = "127.0.0.1:24280")]
    pub listen: SocketAddr,
    /// A file holding the bearer token the console's API asks for (or set
    /// LEVEE_CONSOLE_TOKEN). Without either, no token is asked for.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

pub async fn console(args: &ConsoleArgs) -> Result<ExitCode> {
    // A mistyped --lake is said, not made into a new empty lake.
    if let Err(e) = levee_query::open_lake(&args.session.lake) {
        say!("levee: {e}");
        return Ok(ExitCode::from(2));
    }
    let token = match bearer_token(args.token_file.as_deref(), "LEVEE_CONSOLE_TOKEN")? {
        Ok(token) => token,
        Err(code) => return Ok(code),
    };
    let server = console::start(Settings {
        listen: args.listen,
        token,
        lake: Some(args.session.lake.clone()),
        resolution: Duration::from_secs(10),
        options: args.session.options(),
        running: None,
    })?;
    // Said on stderr, so a script that asked for port 0 learns the port.
    say!(
        "levee: console over {} on http://{}/",
        args.session.lake,
        server.local_addr
    );
    super::run::shutdown_signal().await;
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}
