//! nginx access log lines of an email-sending API: `combined` plus
//! ` $request_time`.
//!
//! A fixed population of clients (mostly API libraries on cloud hosts, some
//! browsers of the web app, a few IPv6) call the API's endpoints with
//! plausible methods, statuses, body sizes and latencies. About one line in
//! 20,000 is the kind of junk every public nginx sees: a TLS handshake on the
//! plain HTTP port, an empty request, a vulnerability scanner.

mod request;

// Writing into a Vec<u8> cannot fail, so `write!` results are ignored.
use std::io::Write as _;

use fastrand::Rng;
use levee_event::time::UtcTime;

use super::pick::{Weighted, chance};
use super::vocab::{
    API_AGENTS, API_USERS, APP_PAGES, BROWSER_AGENTS, CLOUD_V4_PREFIXES, SCANNER_AGENTS,
    SCANNER_PATHS, V6_PREFIXES,
};
use request::{Endpoint, Paths};

/// How many distinct clients call the API.
const CLIENTS: usize = 600;

/// One line in this many is odd.
const ODD_EVERY: u32 = 20_000;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Raw first bytes of TLS ClientHellos, as nginx escapes them in `$request`.
const TLS_HELLOS: &[&str] = &[
    "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03",
    "\\x16\\x03\\x01\\x00\\xF4\\x01\\x00\\x00\\xF0\\x03\\x03",
];

struct Client {
    addr: Box<[u8]>,
    user: &'static str,
    agent: &'static str,
    browser: bool,
    http2: bool,
}

/// The nginx dataset's state.
pub(super) struct Nginx {
    clients: Vec<Client>,
    client_pick: Weighted,
    endpoints: Weighted,
    paths: Paths,
}

impl Nginx {
    pub(super) fn new(rng: &mut Rng) -> Nginx {
        let agent_pick = Weighted::zipf(API_AGENTS.len(), 1.0);
        let clients = (0..CLIENTS)
            .map(|_| {
                let browser = chance(rng, 0.08);
                let agent = if browser {
                    BROWSER_AGENTS[rng.usize(..BROWSER_AGENTS.len())]
                } else {
                    API_AGENTS
                        .get(agent_pick.pick(rng))
                        .copied()
                        .unwrap_or("curl/8.5.0")
                };
                let v6 = chance(rng, 0.12);
                let mut addr = Vec::new();
                write_addr(rng, v6, &mut addr);
                Client {
                    addr: addr.into_boxed_slice(),
                    user: if !browser && chance(rng, 0.03) {
                        API_USERS[rng.usize(..API_USERS.len())]
                    } else {
                        "-"
                    },
                    agent,
                    browser,
                    http2: browser || agent.starts_with("Go-http-client/2"),
                }
            })
            .collect();
        Nginx {
            clients,
            client_pick: Weighted::zipf(CLIENTS, 1.0),
            endpoints: Weighted::new(request::ENDPOINTS.iter().map(|&(_, w)| w)),
            paths: Paths::new(rng),
        }
    }

    /// Writes one access log line (without the newline) at `time`.
    pub(super) fn write_line(&mut self, rng: &mut Rng, time: i64, out: &mut Vec<u8>) {
        let t = UtcTime::from_nanos(time);
        if rng.u32(..ODD_EVERY) == 0 {
            write_odd_line(rng, &t, out);
            return;
        }
        let Some(client) = self.clients.get(self.client_pick.pick(rng)) else {
            return;
        };
        let endpoint = request::ENDPOINTS
            .get(self.endpoints.pick(rng))
            .map_or(Endpoint::Transmissions, |e| e.0);
        let method = endpoint.method(rng);
        out.extend_from_slice(&client.addr);
        write_rest_of_prefix(out, client.user, &t);
        let _ = write!(out, "\"{} ", method.name());
        self.paths.write(rng, endpoint, method, &t, out);
        let proto = if client.http2 { "HTTP/2.0" } else { "HTTP/1.1" };
        let status = request::status(rng, endpoint, method);
        let referer = if client.browser {
            APP_PAGES[rng.usize(..APP_PAGES.len())]
        } else {
            "-"
        };
        let _ = write!(out, " {proto}\" {status} ");
        match request::body_bytes(rng, endpoint, method, status) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push(b'-'),
        }
        let seconds = request::request_time(rng, endpoint, method, status);
        let _ = write!(out, " \"{referer}\" \"{}\" {seconds:.3}", client.agent);
    }
}

/// ` - $remote_user [$time_local] `, after `$remote_addr`.
fn write_rest_of_prefix(out: &mut Vec<u8>, user: &str, t: &UtcTime) {
    let month = MONTHS[(t.month as usize).clamp(1, 12) - 1];
    let _ = write!(
        out,
        " - {user} [{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000] ",
        t.day, t.year, t.hour, t.minute, t.second
    );
}

fn write_odd_line(rng: &mut Rng, t: &UtcTime, out: &mut Vec<u8>) {
    // Junk comes from anywhere, not from the API's clients.
    write_addr(rng, false, out);
    write_rest_of_prefix(out, "-", t);
    let _ = match rng.u8(..3) {
        0 => write!(
            out,
            "\"{}\" 400 157 \"-\" \"-\" 0.000",
            TLS_HELLOS[rng.usize(..TLS_HELLOS.len())]
        ),
        1 => write!(out, "\"\" 400 0 \"-\" \"-\" 0.000"),
        _ => write!(
            out,
            "\"GET {} HTTP/1.1\" 404 {} \"-\" \"{}\" {:.3}",
            SCANNER_PATHS[rng.usize(..SCANNER_PATHS.len())],
            rng.u32(146..=180),
            SCANNER_AGENTS[rng.usize(..SCANNER_AGENTS.len())],
            0.001 + rng.f64() * 0.004,
        ),
    };
}

/// A client address: IPv4 in cloud providers' space, or IPv6.
fn write_addr(rng: &mut Rng, v6: bool, out: &mut Vec<u8>) {
    let _ = if v6 {
        let prefix = V6_PREFIXES[rng.usize(..V6_PREFIXES.len())];
        let g: [u16; 6] = std::array::from_fn(|_| rng.u16(..));
        write!(
            out,
            "{prefix}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            g[0], g[1], g[2], g[3], g[4], g[5]
        )
    } else {
        let first = CLOUD_V4_PREFIXES[rng.usize(..CLOUD_V4_PREFIXES.len())];
        write!(
            out,
            "{first}.{}.{}.{}",
            rng.u8(..),
            rng.u8(..),
            rng.u8(1..255)
        )
    };
}
