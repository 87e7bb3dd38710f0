//! Who sends and who receives: customers, recipients and sending IPs.

use std::fmt::Write as _;

use fastrand::Rng;

use super::super::pick::{Weighted, chance, mix};
use super::super::vocab::{
    CORPORATE_DOMAINS, FIRST_NAMES, FROM_LOCAL_PARTS, GMAIL_PROXY_AGENT, LAST_NAMES, MAIL_AGENTS,
    MAILBOX_PROVIDERS,
};

/// How many customers send; a few of them send most of the mail.
const CUSTOMERS: usize = 80;

/// How many distinct people receive mail.
const POPULATION: u64 = 400_000;

/// Share of recipients at the corporate tail, in millionths.
const CORPORATE_SHARE: f64 = 173_000.0;

/// A customer of the sending service.
pub(super) struct Customer {
    pub(super) id: u32,
    pub(super) from: String,
    pub(super) subaccounts: u32,
    pub(super) pool: u8,
}

/// Customers in popularity order, with distinct ids.
pub(super) fn customers(rng: &mut Rng) -> Vec<Customer> {
    let mut ids: Vec<u32> = (0..CUSTOMERS as u32)
        .map(|i| 10_000 + i * 4_999 + rng.u32(..4_000))
        .collect();
    // Popularity does not follow signup order.
    rng.shuffle(&mut ids);
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            let domain = CORPORATE_DOMAINS
                .get(i % CORPORATE_DOMAINS.len())
                .copied()
                .unwrap_or("example.com");
            let sub = ["", "mail.", "email.", "news."]
                [(i / CORPORATE_DOMAINS.len() + rng.usize(..2)) % 4];
            let local = FROM_LOCAL_PARTS
                .get(rng.usize(..FROM_LOCAL_PARTS.len()))
                .copied()
                .unwrap_or("news");
            Customer {
                id,
                from: format!("{local}@{sub}{domain}"),
                subaccounts: 1 + rng.u32(..40),
                pool: [0, 0, 1, 1, 2][rng.usize(..5)],
            }
        })
        .collect()
}

/// Recipients: a fixed population, each with a stable address and domain.
pub(super) struct Recipients {
    key: u64,
    domains: Vec<&'static str>,
    weights: Vec<u32>,
    pick: Weighted,
}

impl Recipients {
    pub(super) fn new(key: u64) -> Recipients {
        let mut domains = Vec::new();
        let mut weights = Vec::new();
        for &(domain, per_mille) in MAILBOX_PROVIDERS {
            domains.push(domain);
            weights.push(per_mille * 1000);
        }
        // The corporate tail: many domains, each small.
        let raw: Vec<f64> = (0..CORPORATE_DOMAINS.len())
            .map(|r| 1.0 / ((r + 1) as f64).powf(0.4))
            .collect();
        let sum: f64 = raw.iter().sum();
        for (&domain, w) in CORPORATE_DOMAINS.iter().zip(raw) {
            domains.push(domain);
            weights.push(((w / sum) * CORPORATE_SHARE).max(1.0) as u32);
        }
        Recipients {
            key,
            pick: Weighted::new(weights.iter().copied()),
            domains,
            weights,
        }
    }

    /// A recipient, by number.
    pub(super) fn pick(&self, rng: &mut Rng) -> u64 {
        rng.u64(..POPULATION)
    }

    /// The recipient's domain: always the same for the same recipient.
    pub(super) fn domain_of(&self, recipient: u64) -> u16 {
        let mut own = Rng::with_seed(mix(recipient ^ self.key));
        self.pick.pick(&mut own) as u16
    }

    /// The index of a domain in the table (0 if unknown).
    pub(super) fn domain_index(&self, name: &str) -> u16 {
        self.domains.iter().position(|&d| d == name).unwrap_or(0) as u16
    }

    /// The domain at `index`.
    pub(super) fn domain_name(&self, index: u16) -> &'static str {
        self.domains
            .get(usize::from(index))
            .copied()
            .unwrap_or("example.com")
    }

    /// The share of recipients at `name`, from 0.0 to 1.0.
    pub(super) fn share_of(&self, name: &str) -> f64 {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let w = self
            .domains
            .iter()
            .position(|&d| d == name)
            .and_then(|i| self.weights.get(i));
        w.map_or(0.0, |&w| f64::from(w) / total.max(1) as f64)
    }

    /// Appends `local@domain` for the recipient: a name-based local part as
    /// people pick them, or sometimes `user123`.
    pub(super) fn write_address(&self, recipient: u64, domain: &str, s: &mut String) {
        let h = mix(recipient ^ self.key ^ 0x10ca1);
        let first = FIRST_NAMES[(h >> 8) as usize % FIRST_NAMES.len()];
        let last = LAST_NAMES[(h >> 20) as usize % LAST_NAMES.len()];
        let digits = (h >> 40) % 100;
        let year = 1950 + (h >> 48) % 56;
        // Writing into a String cannot fail.
        let _ = match h % 9 {
            0 | 1 => write!(s, "{first}.{last}"),
            2 => write!(s, "{first}{last}{digits}"),
            3 => write!(s, "{}{last}", &first[..1]),
            4 => write!(s, "{first}_{last}"),
            5 => write!(s, "{first}{year}"),
            6 => write!(s, "user{}", (h >> 24) % 100_000),
            7 => write!(s, "{last}.{first}{digits}"),
            _ => write!(s, "{first}{}{digits}", &last[..1]),
        };
        s.push('@');
        s.push_str(domain);
    }
}

/// Sending IPs, by IP pool.
pub(super) struct SendingIps {
    pools: Vec<(&'static str, Vec<String>)>,
}

impl SendingIps {
    pub(super) fn new(rng: &mut Rng) -> SendingIps {
        let mut pool = |prefix: &str, n: usize| -> Vec<String> {
            let first = rng.u8(2..200);
            (0..n)
                .map(|i| format!("{prefix}.{}", usize::from(first) + i * 3))
                .collect()
        };
        SendingIps {
            pools: vec![
                ("default", pool("192.174.81", 8)),
                ("shared", pool("192.174.82", 16)),
                ("dedicated-1", pool("147.253.213", 4)),
            ],
        }
    }

    pub(super) fn pool_name(&self, pool: u8) -> &'static str {
        self.pools.get(usize::from(pool)).map_or("default", |p| p.0)
    }

    /// The `n`th IP of a pool, wrapping around.
    pub(super) fn ip(&self, pool: u8, n: u8) -> &str {
        match self.pools.get(usize::from(pool)) {
            Some((_, ips)) if !ips.is_empty() => &ips[usize::from(n) % ips.len()],
            _ => "192.174.81.2",
        }
    }
}

/// The mail client of a reader: Gmail users' opens mostly come through
/// Google's image proxy.
pub(super) fn mail_agent(own: &mut Rng, domain: &str) -> &'static str {
    if domain == "gmail.com" && chance(own, 0.7) {
        return GMAIL_PROXY_AGENT;
    }
    MAIL_AGENTS
        .get(own.usize(..MAIL_AGENTS.len()))
        .copied()
        .unwrap_or(GMAIL_PROXY_AGENT)
}
