//! What API clients ask for and what they get: endpoints, methods, paths,
//! statuses, body sizes and latencies.

// Writing into a Vec<u8> cannot fail, so `write!` results are ignored.
use std::io::Write as _;

use fastrand::Rng;
use levee_event::time::{NANOS_PER_SEC, UtcTime};

use super::super::pick::{Weighted, chance, lognormal};
use super::super::vocab::{CAMPAIGNS, CORPORATE_DOMAINS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Transmissions,
    SendingDomains,
    SendingDomain,
    Webhooks,
    Webhook,
    Subaccounts,
    Subaccount,
    Users,
    Metrics,
}

/// Endpoints and their share of requests, per mille: sending mail
/// dominates, dashboards poll metrics.
pub(super) const ENDPOINTS: &[(Endpoint, u32)] = &[
    (Endpoint::Transmissions, 520),
    (Endpoint::SendingDomains, 40),
    (Endpoint::SendingDomain, 60),
    (Endpoint::Webhooks, 30),
    (Endpoint::Webhook, 40),
    (Endpoint::Subaccounts, 40),
    (Endpoint::Subaccount, 60),
    (Endpoint::Users, 30),
    (Endpoint::Metrics, 180),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub(super) fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl Endpoint {
    /// A method in this endpoint's usual mix, in percent.
    pub(super) fn method(self, rng: &mut Rng) -> Method {
        let (get, post, put) = match self {
            Endpoint::Transmissions => (15, 85, 0),
            Endpoint::SendingDomains => (75, 25, 0),
            Endpoint::SendingDomain => (60, 0, 25),
            Endpoint::Webhooks => (80, 20, 0),
            Endpoint::Webhook => (55, 0, 30),
            Endpoint::Subaccounts => (85, 15, 0),
            Endpoint::Subaccount => (70, 0, 30),
            Endpoint::Users => (92, 8, 0),
            Endpoint::Metrics => (100, 0, 0),
        };
        let r = rng.u32(..100);
        if r < get {
            Method::Get
        } else if r < get + post {
            Method::Post
        } else if r < get + post + put {
            Method::Put
        } else {
            Method::Delete
        }
    }

    fn is_item(self) -> bool {
        matches!(
            self,
            Endpoint::SendingDomain | Endpoint::Webhook | Endpoint::Subaccount
        )
    }
}

/// Ids that recur in paths: customers' sending domains, webhook ids,
/// URL-encoded campaign ids.
pub(super) struct Paths {
    domains: Vec<String>,
    webhooks: Vec<String>,
    campaigns: Vec<String>,
    subaccounts: Weighted,
}

impl Paths {
    pub(super) fn new(rng: &mut Rng) -> Paths {
        let domains = CORPORATE_DOMAINS
            .iter()
            .map(|d| format!("{}{d}", ["", "mail.", "email.", "news."][rng.usize(..4)]))
            .collect();
        let webhooks = (0..40)
            .map(|_| {
                format!(
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    rng.u32(..),
                    rng.u16(..),
                    rng.u16(..0x1000),
                    0x8000 | rng.u16(..0x4000),
                    rng.u64(..1 << 48)
                )
            })
            .collect();
        let campaigns = CAMPAIGNS.iter().map(|c| url_encode(c)).collect();
        Paths {
            domains,
            webhooks,
            campaigns,
            subaccounts: Weighted::zipf(400, 0.8),
        }
    }

    /// Writes the path and query of a request.
    pub(super) fn write(
        &self,
        rng: &mut Rng,
        endpoint: Endpoint,
        method: Method,
        t: &UtcTime,
        out: &mut Vec<u8>,
    ) {
        let pick = |list: &[String], rng: &mut Rng| -> usize { rng.usize(..list.len().max(1)) };
        let _ = match endpoint {
            Endpoint::Transmissions if method == Method::Get && chance(rng, 0.7) => {
                let campaign = self.campaigns.get(pick(&self.campaigns, rng));
                write!(
                    out,
                    "/api/v1/transmissions?campaign_id={}",
                    campaign.map_or("", |c| c)
                )
            }
            Endpoint::Transmissions => write!(out, "/api/v1/transmissions"),
            Endpoint::SendingDomains => write!(out, "/api/v1/sending-domains"),
            Endpoint::SendingDomain => {
                let domain = self.domains.get(pick(&self.domains, rng));
                write!(out, "/api/v1/sending-domains/{}", domain.map_or("", |d| d))
            }
            Endpoint::Webhooks => write!(out, "/api/v1/webhooks"),
            Endpoint::Webhook => {
                let id = self.webhooks.get(pick(&self.webhooks, rng));
                write!(out, "/api/v1/webhooks/{}", id.map_or("", |d| d))
            }
            Endpoint::Subaccounts => write!(out, "/api/v1/subaccounts"),
            Endpoint::Subaccount => {
                write!(
                    out,
                    "/api/v1/subaccounts/{}",
                    1 + self.subaccounts.pick(rng)
                )
            }
            Endpoint::Users => write!(out, "/api/v1/users"),
            Endpoint::Metrics => write_metrics_query(rng, t, out),
        };
    }
}

/// `/api/v1/metrics/deliverability?from=...`: dashboards ask for the last
/// day, week or month.
fn write_metrics_query(rng: &mut Rng, t: &UtcTime, out: &mut Vec<u8>) -> std::io::Result<()> {
    let back_days = [1, 1, 7, 7, 7, 30][rng.usize(..6)];
    let now = t.to_nanos().unwrap_or(0);
    let from = UtcTime::from_nanos(now.saturating_sub(back_days * 86_400 * NANOS_PER_SEC));
    write!(
        out,
        "/api/v1/metrics/deliverability?from={:04}-{:02}-{:02}T00:00",
        from.year, from.month, from.day
    )?;
    match rng.u8(..4) {
        0 => write!(out, "&metrics=count_injected,count_bounce,count_delivered"),
        1 => write!(
            out,
            "&to={:04}-{:02}-{:02}T{:02}:00&metrics=count_sent,count_accepted,count_hard_bounce,count_soft_bounce&precision=hour",
            t.year, t.month, t.day, t.hour
        ),
        2 => write!(
            out,
            "&metrics=count_targeted,count_rendered,count_unique_confirmed_opened&domains=gmail.com,yahoo.com,hotmail.com"
        ),
        _ => Ok(()),
    }
}

/// `%XX` for every byte but unreserved ones, as clients encode query values.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Server errors, a fraction of a percent.
const SERVER_ERROR_RATE: f64 = 0.0065;
/// Client errors: bad keys, bad input, missing ids, rate limits.
const CLIENT_ERROR_RATE: f64 = 0.045;

/// The response status.
pub(super) fn status(rng: &mut Rng, endpoint: Endpoint, method: Method) -> u16 {
    let r = rng.f64();
    if r < SERVER_ERROR_RATE {
        return [500, 500, 500, 502, 502, 503, 503, 504][rng.usize(..8)];
    }
    if r < SERVER_ERROR_RATE + CLIENT_ERROR_RATE {
        let choices: &[u16] = match method {
            Method::Get if endpoint.is_item() => &[401, 401, 403, 404, 404, 404, 429, 429, 400],
            Method::Get => &[401, 401, 401, 403, 429, 429, 429, 400, 400],
            Method::Post if endpoint == Endpoint::Transmissions => {
                &[400, 400, 401, 403, 422, 422, 422, 429, 429, 429]
            }
            Method::Post => &[400, 400, 401, 403, 409, 409, 422, 422, 429],
            Method::Put => &[400, 400, 401, 403, 404, 404, 409, 422, 422],
            Method::Delete => &[401, 403, 404, 404, 404, 409],
        };
        return choices[rng.usize(..choices.len())];
    }
    match method {
        Method::Get if chance(rng, 0.01) => 304,
        Method::Get | Method::Put => 200,
        Method::Post if endpoint == Endpoint::Transmissions => 200,
        Method::Post => 201,
        Method::Delete => 204,
    }
}

/// `$body_bytes_sent`; `None` is logged as `-` (nothing sent).
pub(super) fn body_bytes(
    rng: &mut Rng,
    endpoint: Endpoint,
    method: Method,
    status: u16,
) -> Option<u32> {
    let size = |rng: &mut Rng, median: f64, lo: f64, hi: f64| {
        lognormal(rng, median, 0.7).clamp(lo, hi) as u32
    };
    Some(match status {
        204 | 304 => return None,
        401 => 41,
        403 => rng.u32(46..=60),
        404 => rng.u32(64..=96),
        400 => rng.u32(90..=220),
        409 => rng.u32(120..=180),
        422 => rng.u32(140..=420),
        429 => 89,
        500 => rng.u32(58..=72),
        502 => 157,
        503 => 197,
        504 => 167,
        _ => match (endpoint, method) {
            (Endpoint::Transmissions, Method::Post) => rng.u32(92..=110),
            (Endpoint::Transmissions, _) => size(rng, 2_500.0, 200.0, 60_000.0),
            (Endpoint::SendingDomains, Method::Get) => size(rng, 1_800.0, 300.0, 20_000.0),
            (Endpoint::Webhooks, Method::Get) => size(rng, 900.0, 200.0, 8_000.0),
            (Endpoint::Subaccounts, Method::Get) => size(rng, 3_000.0, 150.0, 40_000.0),
            (Endpoint::Users, Method::Get) => size(rng, 600.0, 150.0, 4_000.0),
            (Endpoint::Metrics, _) => size(rng, 1_200.0, 250.0, 12_000.0),
            (Endpoint::SendingDomain, _) => rng.u32(900..=1_400),
            (Endpoint::Webhook, Method::Get) => rng.u32(380..=720),
            (Endpoint::Subaccount, Method::Get) => rng.u32(150..=260),
            (Endpoint::Subaccount, _) => rng.u32(52..=60),
            _ => rng.u32(58..=200),
        },
    })
}

/// `$request_time` in seconds: slow for sending and reporting, fast for
/// rejected keys, a full proxy timeout for 504.
pub(super) fn request_time(rng: &mut Rng, endpoint: Endpoint, method: Method, status: u16) -> f64 {
    let (median, sigma) = match (endpoint, method) {
        (Endpoint::Transmissions, Method::Post) => (0.085, 0.7),
        (Endpoint::Transmissions, _) => (0.15, 0.8),
        (Endpoint::Metrics, _) => (0.45, 0.9),
        (Endpoint::SendingDomains | Endpoint::SendingDomain, Method::Post | Method::Put) => {
            (0.35, 0.6)
        }
        (Endpoint::Webhooks | Endpoint::Webhook, Method::Post | Method::Put) => (0.22, 0.6),
        (_, Method::Post | Method::Put) => (0.1, 0.5),
        (Endpoint::Subaccounts, _) => (0.06, 0.5),
        _ => (0.03, 0.5),
    };
    let seconds = match status {
        401 | 403 | 429 | 503 => lognormal(rng, 0.003, 0.5),
        304 => lognormal(rng, median * 0.3, sigma),
        400..=499 => lognormal(rng, median * 0.4, sigma),
        500 => lognormal(rng, median * 3.0, sigma) + 0.2,
        502 => lognormal(rng, 0.3, 1.2),
        504 => 60.0 + rng.f64() * 0.01,
        _ => lognormal(rng, median, sigma),
    };
    seconds.min(120.0)
}
