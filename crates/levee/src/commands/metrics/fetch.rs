//! A plain HTTP/1.1 GET over a TCP stream: enough for a metrics page, with
//! no HTTP client crate in the build.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A page larger than this is refused rather than held in memory.
const MAX_RESPONSE: u64 = 64 << 20;

/// The body of `url` (`http://host[:port]/path`), as UTF-8, if the answer is
/// 200. `timeout` bounds connecting, sending and reading together.
pub async fn get(url: &str, timeout: Duration) -> Result<String> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs can be read")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        bail!("no host in the URL");
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let response = tokio::time::timeout(timeout, exchange(&address, authority, path))
        .await
        .map_err(|_| anyhow::anyhow!("no complete answer within {timeout:?}"))??;
    body(&response)
}

async fn exchange(address: &str, host: &str, path: &str) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n\
         Accept: text/plain;version=0.0.4, application/openmetrics-text;q=0.5\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
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

/// The body of a whole response, checked: status 200, chunked or not.
fn body(response: &[u8]) -> Result<String> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer is not HTTP (no end of headers)")?;
    let head = std::str::from_utf8(&response[..head_end]).context("the headers are not text")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split(' ').nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/1.") || code != "200" {
        bail!("the answer is {status:?}, not 200");
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("a bad Content-Length")?);
            }
        }
    }
    let raw = &response[head_end + 4..];
    let bytes = if chunked {
        dechunk(raw)?
    } else if let Some(length) = length {
        raw.get(..length)
            .context("the answer ended before its Content-Length")?
            .to_vec()
    } else {
        raw.to_vec()
    };
    String::from_utf8(bytes).context("the page is not UTF-8")
}

/// Decodes a chunked body; a body cut short is an error.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk size line was cut")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).context("a bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).context("a bad chunk size")?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = raw.get(..size).context("a chunk was cut")?;
        out.extend_from_slice(chunk);
        raw = raw.get(size + 2..).context("a chunk was cut")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_bodies() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na 1\nextra";
        assert_eq!(body(sized).unwrap(), "a 1\n");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\na \r\n2\r\n1\n\r\n0\r\n\r\n";
        assert_eq!(body(chunked).unwrap(), "a 1\n");
    }

    #[test]
    fn bad_answers_are_errors() {
        for answer in [
            &b"HTTP/1.1 404 Not Found\r\n\r\n"[..],
            b"garbage",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n\xff\xfe",
        ] {
            assert!(
                body(answer).is_err(),
                "{:?}",
                String::from_utf8_lossy(answer)
            );
        }
    }
}
