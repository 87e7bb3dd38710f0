//! The `stdin` source: lines from standard input, until it closes.

use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::SourceContext;
use super::lines::{LineDecoder, now_nanos};
use crate::SourceError;

/// `type = "stdin"`: read lines from standard input.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {}

pub(crate) async fn run(
    _config: StdinConfig,
    mut decoder: LineDecoder,
    mut ctx: SourceContext,
) -> Result<(), SourceError> {
    let mut stdin = tokio::io::stdin();
    let mut lines = decoder.line_buffer();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // A multiline record waits for more lines until its deadline.
        let deadline = lines.record_deadline();
        let idle = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            read = stdin.read(&mut buf) => read.map_err(|e| SourceError::Io { path: "<stdin>".into(), error: e })?,
            _ = ctx.shutdown.changed() => {
                lines.flush_record(&mut decoder);
                break;
            }
            _ = idle => {
                lines.flush_if_idle(&mut decoder);
                if !ctx.send(decoder.take()).await {
                    return Ok(());
                }
                continue;
            }
        };
        if n == 0 {
            lines.finish(&mut decoder, now_nanos());
            break;
        }
        decoder.metrics().bytes.inc_by(n as u64);
        lines.feed(&buf[..n], &mut decoder, now_nanos());
        while let Some(batch) = decoder.take_full() {
            if !ctx.send(batch).await {
                return Ok(());
            }
        }
        // A pipe that trickles still delivers promptly.
        if !ctx.send(decoder.take()).await {
            return Ok(());
        }
    }
    ctx.send(decoder.take()).await;
    Ok(())
}
