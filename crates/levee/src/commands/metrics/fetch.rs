//! HTTP/1.1 over a TCP stream: the GET of a metrics page and the POST of a
//! push, one request per connection, with no HTTP client crate in the build.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{Url, parse_response};

/// An answer larger than this is refused rather than held in memory.
const MAX_RESPONSE: u64 = 64 << 20;

/// The body of `url` (`http://host[:port]/path`), as UTF-8, if the answer is
/// 200. `timeout` bounds connecting, sending and reading together.
pub async fn get(url: &str, timeout: Duration) -> Result<String> {
    let url = super::http::parse_url(url)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n\
         Accept: text/plain;version=0.0.4, application/openmetrics-text;q=0.5\r\n\
         Connection: close\r\n\r\n",
        path = url.path,
        host = url.authority,
    );
    let response = within(timeout, exchange(&url, request.into_bytes())).await?;
    let response = parse_response(&response)?;
    if response.status != 200 {
        bail!("the answer is {:?}, not 200", response.status_line);
    }
    String::from_utf8(response.body).context("the page is not UTF-8")
}

/// POSTs `body` to `url`; an answer other than 2xx is an error.
pub async fn post(url: &Url, content_type: &str, body: &[u8], timeout: Duration) -> Result<()> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n",
        path = url.path,
        host = url.authority,
        length = body.len(),
    )
    .into_bytes();
    request.extend_from_slice(body);
    let response = within(timeout, exchange(url, request)).await?;
    let response = parse_response(&response)?;
    if !(200..300).contains(&response.status) {
        bail!(
            "the answer is {:?}: {}",
            response.status_line,
            String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).trim()
        );
    }
    Ok(())
}

async fn within<T>(timeout: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| anyhow::anyhow!("no complete answer within {timeout:?}"))?
}

/// Sends `request` on a new connection to `url` and reads the answer until
/// the server closes.
async fn exchange(url: &Url, request: Vec<u8>) -> Result<Vec<u8>> {
    if url.tls {
        bail!("https:// is not supported yet");
    }
    let stream = TcpStream::connect(&url.address)
        .await
        .with_context(|| format!("connecting to {}", url.address))?;
    talk(stream, &request).await
}

async fn talk(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &[u8]) -> Result<Vec<u8>> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut response = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut response)
        .await?;
    if response.len() as u64 > MAX_RESPONSE {
        bail!("the answer is larger than {MAX_RESPONSE} bytes");
    }
    Ok(response)
}
