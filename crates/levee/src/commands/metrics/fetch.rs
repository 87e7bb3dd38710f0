//! HTTP/1.1 over a TCP stream, or TLS (rustls) for `https://`: the GET of a
//! metrics page and the POST of a push, one request per connection, with no
//! HTTP client crate in the build.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::http::{Url, parse_response};

/// An answer larger than this is refused rather than held in memory.
const MAX_RESPONSE: u64 = 64 << 20;

/// The body of `url` (`http://host[:port]/path`), as UTF-8, if the answer is
/// 200. `timeout` bounds connecting, sending and reading together.
pub async fn get(url: &str, timeout: Duration) -> Result<String> {
    get_with_token(url, timeout, None).await
}

/// [`get`], with `Authorization: Bearer TOKEN` when a token is given (one
/// line of visible text: the caller checks it).
pub async fn get_with_token(url: &str, timeout: Duration, token: Option<&str>) -> Result<String> {
    let url = super::http::parse_url(url)?;
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n\
         Accept: text/plain;version=0.0.4, application/openmetrics-text;q=0.5\r\n\
         {authorization}Connection: close\r\n\r\n",
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

/// Sends `body` to `url` with `method` (POST, PUT); an answer other than
/// 2xx is an error.
pub async fn send(
    method: &str,
    url: &Url,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<()> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
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

/// Sends `request` on a new connection to `url` (TLS for `https://`) and
/// reads the answer until the server closes.
async fn exchange(url: &Url, request: Vec<u8>) -> Result<Vec<u8>> {
    let stream = TcpStream::connect(&url.address)
        .await
        .with_context(|| format!("connecting to {}", url.address))?;
    if !url.tls {
        return Ok(talk(stream, &request).await?.0);
    }
    let name = ServerName::try_from(url.host.clone())
        .with_context(|| format!("{:?} is not a name TLS can check", url.host))?;
    let stream = tls_connector()?
        .connect(name, stream)
        .await
        .with_context(|| format!("TLS with {}", url.host))?;
    let (response, cut) = talk(stream, &request).await?;
    // Without TLS's close_notify, an answer that gave no length may have
    // been cut by anyone on the way: only a framed one is taken.
    if cut && !parse_response(&response).is_ok_and(|r| r.framed) {
        bail!("the connection ended without TLS close_notify, before a length-framed answer");
    }
    Ok(response)
}

/// The answer to `request` and whether the TLS stream ended without
/// close_notify (so the answer's end is only as good as its framing).
async fn talk(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &[u8],
) -> Result<(Vec<u8>, bool)> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut response = Vec::new();
    let cut = match (&mut stream)
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut response)
        .await
    {
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => true,
        Err(e) => return Err(e.into()),
    };
    if response.len() as u64 > MAX_RESPONSE {
        bail!("the answer is larger than {MAX_RESPONSE} bytes");
    }
    Ok((response, cut))
}

/// One TLS client for the process: the system's trusted roots (or those
/// of `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), ring's algorithms.
fn tls_connector() -> Result<TlsConnector> {
    static CONNECTOR: OnceLock<Result<TlsConnector, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                return Err(format!(
                    "no trusted root certificate found (the system's, or SSL_CERT_FILE's) {why}"
                ));
            }
            // rustls now marks ring's provider deprecated for its lack of
            // post-quantum key exchange; the provider that has it
            // (aws-lc-rs) needs cmake and a long C build, too much for
            // pushing metrics.
            #[allow(deprecated)]
            let provider = rustls::crypto::ring::default_provider();
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(TlsConnector::from(Arc::new(config)))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}
