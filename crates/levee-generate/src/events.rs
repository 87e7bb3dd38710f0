//! SparkPost-like email events, one JSON object per line.
//!
//! Messages have a life: an injection puts a message in a pool, a delivery or
//! bounce later takes it out, opens and clicks come back to delivered ones,
//! so events of one message share its ids, recipient and customer. Not every
//! message's injection is in the stream (it may predate the span), so some
//! events start from a fresh message. On the middle day, DNS failures at one
//! mailbox provider jump tenfold: the demo's bounce spike.

mod people;

// Writing into a Vec<u8> cannot fail, so `write!` results are ignored.
use std::io::Write as _;

use fastrand::Rng;
use levee_event::time::UtcTime;

use super::json_str;
use super::pick::{Weighted, chance, lognormal, mix};
use super::reasons::{self, DNS_FAILURE, SPIKE_REASON};
use super::vocab::{CAMPAIGNS, CITIES, TAGS};
use people::{Customer, Recipients, SendingIps};

/// Event types and their share of events, per mille.
const TYPES: &[(Type, u32)] = &[
    (Type::Injection, 300),
    (Type::Delivery, 450),
    (Type::Open, 100),
    (Type::Click, 40),
    (Type::Bounce, 60),
    (Type::Delay, 30),
    (Type::SpamComplaint, 3),
    (Type::OutOfBand, 6),
    (Type::PolicyRejection, 5),
    (Type::GenerationFailure, 2),
    (Type::ListUnsubscribe, 4),
];

/// The mailbox provider whose DNS fails on the spike day.
const SPIKE_DOMAIN: &str = "hotmail.com";

/// How much more often that provider's DNS fails on the spike day.
const SPIKE_FACTOR: f64 = 10.0;

/// Messages waiting for their outcome, and delivered ones that may be
/// opened; bounded so memory stays flat however many lines are made.
const INJECTED_CAP: usize = 512;
const DELIVERED_CAP: usize = 1024;

/// Transmissions in flight at once; events of a transmission share its id.
const TRANSMISSION_SLOTS: usize = 48;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Injection,
    Delivery,
    Open,
    Click,
    Bounce,
    Delay,
    SpamComplaint,
    OutOfBand,
    PolicyRejection,
    GenerationFailure,
    ListUnsubscribe,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Injection => "injection",
            Type::Delivery => "delivery",
            Type::Open => "open",
            Type::Click => "click",
            Type::Bounce => "bounce",
            Type::Delay => "delay",
            Type::SpamComplaint => "spam_complaint",
            Type::OutOfBand => "out_of_band",
            Type::PolicyRejection => "policy_rejection",
            Type::GenerationFailure => "generation_failure",
            Type::ListUnsubscribe => "list_unsubscribe",
        }
    }
}

/// Tags on a transmission: `None` when the field is absent.
type Tags = Option<([u8; 3], u8)>;

#[derive(Clone, Copy)]
struct Transmission {
    id: u64,
    customer: u16,
    subaccount: Option<u32>,
    campaign: Option<u8>,
    tags: Tags,
    pool: u8,
    base_size: u32,
}

#[derive(Clone, Copy)]
struct Message {
    seq: u64,
    tx: Transmission,
    recipient: u64,
    domain: u16,
    size: u32,
    ip: u8,
    retries: u8,
}

/// Why a bounce-like event happened.
struct Outcome {
    class: u16,
    reason: &'static str,
}

/// The events dataset's state.
pub(super) struct Events {
    customers: Vec<Customer>,
    customer_pick: Weighted,
    recipients: Recipients,
    ips: SendingIps,
    types: Weighted,
    classes: Weighted,
    delay_classes: Weighted,
    cities: Weighted,
    transmissions: Vec<Transmission>,
    injected: Vec<Message>,
    delivered: Vec<Message>,
    delivered_next: usize,
    next_event_id: u64,
    next_message: u64,
    next_transmission_id: u64,
    id_key: u64,
    spike_day: u32,
    spike_chance: f64,
    scratch: String,
}

impl Events {
    pub(super) fn new(rng: &mut Rng, seed: u64, days: u32) -> Events {
        let customers = people::customers(rng);
        let customer_pick = Weighted::zipf(customers.len(), 1.1);
        let recipients = Recipients::new(mix(seed ^ 0x5eed));
        let types = Weighted::new(TYPES.iter().map(|&(_, w)| w));
        let classes = Weighted::new(reasons::CLASSES.iter().map(|c| c.weight));
        // Outside the spike a hotmail DNS failure is one event in
        // P(bounce) * P(class 21) * P(hotmail); the spike adds nine more.
        let bounce_share = 60.0 / 1000.0;
        let class_total: u32 = reasons::CLASSES.iter().map(|c| c.weight).sum();
        let dns_share = reasons::class(DNS_FAILURE).map_or(0.0, |c| f64::from(c.weight))
            / f64::from(class_total.max(1));
        let base = bounce_share * dns_share * recipients.share_of(SPIKE_DOMAIN);
        let mut events = Events {
            ips: SendingIps::new(rng),
            customer_pick,
            recipients,
            types,
            classes,
            delay_classes: Weighted::new(reasons::DELAY_CLASSES.iter().map(|&(_, w)| w)),
            cities: Weighted::new(CITIES.iter().map(|c| c.5)),
            transmissions: Vec::with_capacity(TRANSMISSION_SLOTS),
            injected: Vec::with_capacity(INJECTED_CAP),
            delivered: Vec::with_capacity(DELIVERED_CAP),
            delivered_next: 0,
            next_event_id: 40_000_000_000_000_000 + rng.u64(..10_000_000_000_000_000),
            next_message: 0,
            next_transmission_id: 60_000_000_000_000_000 + rng.u64(..10_000_000_000_000_000),
            id_key: rng.u64(..),
            spike_day: days / 2,
            spike_chance: base * (SPIKE_FACTOR - 1.0),
            scratch: String::with_capacity(512),
            customers,
        };
        for _ in 0..TRANSMISSION_SLOTS {
            let tx = events.new_transmission(rng);
            events.transmissions.push(tx);
        }
        events
    }

    /// Writes one event (without the newline) at `time`, on day `day` of
    /// the span.
    pub(super) fn write_line(&mut self, rng: &mut Rng, time: i64, day: u32, out: &mut Vec<u8>) {
        if day == self.spike_day && chance(rng, self.spike_chance) {
            let mut msg = self.new_message(rng);
            msg.domain = self.recipients.domain_index(SPIKE_DOMAIN);
            let outcome = Outcome {
                class: DNS_FAILURE,
                reason: SPIKE_REASON,
            };
            self.write_event(rng, Type::Bounce, &msg, Some(outcome), time, out);
            return;
        }
        let kind = TYPES
            .get(self.types.pick(rng))
            .map_or(Type::Delivery, |t| t.0);
        let (msg, outcome) = match kind {
            Type::Injection => {
                let msg = self.new_message(rng);
                self.remember_injected(rng, msg);
                (msg, None)
            }
            Type::Delivery => {
                let msg = self.take_injected(rng);
                self.remember_delivered(msg);
                (msg, None)
            }
            Type::Delay => {
                let msg = self.delay_injected(rng);
                let class = self.pick_delay_class(rng);
                (msg, Some(self.outcome(rng, class, &msg, true)))
            }
            Type::Bounce => {
                let msg = self.take_injected(rng);
                let class = self.pick_class(rng);
                (msg, Some(self.outcome(rng, class, &msg, false)))
            }
            Type::OutOfBand => {
                let msg = self.delivered_message(rng);
                let class = self.pick_class(rng);
                (msg, Some(self.outcome(rng, class, &msg, false)))
            }
            Type::PolicyRejection | Type::GenerationFailure => {
                let msg = self.take_injected(rng);
                let texts = if kind == Type::PolicyRejection {
                    reasons::POLICY_REJECTIONS
                } else {
                    reasons::GENERATION_FAILURES
                };
                let reason = texts.get(rng.usize(..texts.len())).copied().unwrap_or("");
                (msg, Some(Outcome { class: 25, reason }))
            }
            Type::Open | Type::Click | Type::SpamComplaint | Type::ListUnsubscribe => {
                (self.delivered_message(rng), None)
            }
        };
        self.write_event(rng, kind, &msg, outcome, time, out);
    }

    fn new_transmission(&mut self, rng: &mut Rng) -> Transmission {
        // Ids only grow, so they never repeat.
        self.next_transmission_id += 1 + rng.u64(..50_000);
        let customer = self.customer_pick.pick(rng);
        let c = self.customers.get(customer);
        let tags = if chance(rng, 0.15) {
            None
        } else {
            let n = [0u8, 0, 0, 1, 1, 1, 1, 2, 2, 3][rng.usize(..10)];
            // Distinct tags: a random start and a stride coprime to the list.
            let first = rng.usize(..TAGS.len());
            let stride = 1 + rng.usize(..3) * 2;
            let at = |k: usize| ((first + k * stride) % TAGS.len()) as u8;
            Some(([at(0), at(1), at(2)], n))
        };
        Transmission {
            id: self.next_transmission_id,
            customer: customer as u16,
            subaccount: match c {
                Some(c) if chance(rng, 0.6) => Some(rng.u32(1..=c.subaccounts)),
                _ => None,
            },
            campaign: chance(rng, 0.8).then(|| rng.u8(..CAMPAIGNS.len() as u8)),
            tags,
            pool: c.map_or(0, |c| c.pool),
            base_size: lognormal(rng, 24_000.0, 0.8).clamp(1_500.0, 4_000_000.0) as u32,
        }
    }

    fn new_message(&mut self, rng: &mut Rng) -> Message {
        let slot = rng.usize(..TRANSMISSION_SLOTS);
        // Transmissions end and new ones start.
        if chance(rng, 0.02) {
            let tx = self.new_transmission(rng);
            if let Some(s) = self.transmissions.get_mut(slot) {
                *s = tx;
            }
        }
        let tx = self
            .transmissions
            .get(slot)
            .copied()
            .unwrap_or_else(|| self.new_transmission(rng));
        let recipient = self.recipients.pick(rng);
        self.next_message += 1;
        Message {
            seq: self.next_message,
            tx,
            recipient,
            domain: self.recipients.domain_of(recipient),
            size: tx.base_size + rng.u32(..400),
            ip: rng.u8(..),
            retries: u8::from(chance(rng, 0.05)) * rng.u8(1..4),
        }
    }

    fn remember_injected(&mut self, rng: &mut Rng, msg: Message) {
        if self.injected.len() < INJECTED_CAP {
            self.injected.push(msg);
        } else {
            // A message that never hears back; its outcome is outside the sample.
            let i = rng.usize(..INJECTED_CAP);
            self.injected[i] = msg;
        }
    }

    /// A message whose injection we saw, if any, else a fresh one.
    fn take_injected(&mut self, rng: &mut Rng) -> Message {
        if !self.injected.is_empty() && chance(rng, 0.6) {
            let i = rng.usize(..self.injected.len());
            return self.injected.swap_remove(i);
        }
        self.new_message(rng)
    }

    /// A waiting message that is retried once more.
    fn delay_injected(&mut self, rng: &mut Rng) -> Message {
        if !self.injected.is_empty() && chance(rng, 0.6) {
            let i = rng.usize(..self.injected.len());
            if let Some(msg) = self.injected.get_mut(i) {
                msg.retries = msg.retries.saturating_add(1);
                return *msg;
            }
        }
        let mut msg = self.new_message(rng);
        msg.retries = msg.retries.saturating_add(1);
        msg
    }

    fn remember_delivered(&mut self, msg: Message) {
        if self.delivered.len() < DELIVERED_CAP {
            self.delivered.push(msg);
        } else {
            self.delivered[self.delivered_next] = msg;
            self.delivered_next = (self.delivered_next + 1) % DELIVERED_CAP;
        }
    }

    fn delivered_message(&mut self, rng: &mut Rng) -> Message {
        if !self.delivered.is_empty() && chance(rng, 0.8) {
            return self.delivered[rng.usize(..self.delivered.len())];
        }
        self.new_message(rng)
    }

    fn pick_class(&self, rng: &mut Rng) -> u16 {
        reasons::CLASSES
            .get(self.classes.pick(rng))
            .map_or(40, |c| c.code)
    }

    fn pick_delay_class(&self, rng: &mut Rng) -> u16 {
        reasons::DELAY_CLASSES
            .get(self.delay_classes.pick(rng))
            .map_or(20, |c| c.0)
    }

    /// A reply of `class` that the recipient's provider would give; only
    /// temporary (4xx) ones for a delay.
    fn outcome(&self, rng: &mut Rng, class: u16, msg: &Message, temporary: bool) -> Outcome {
        let domain = self.recipients.domain_name(msg.domain);
        let all = reasons::class(class).map_or(&[][..], |c| c.reasons);
        let fits = |r: &&reasons::Reason| !temporary || r.text.starts_with('4');
        let specific = all
            .iter()
            .filter(fits)
            .filter(|r| r.domain == domain)
            .count();
        let generic = all
            .iter()
            .filter(fits)
            .filter(|r| r.domain.is_empty())
            .count();
        // Providers mostly answer in their own words.
        let own = specific > 0 && (generic == 0 || chance(rng, 0.75));
        let n = if own { specific } else { generic };
        let reason = all
            .iter()
            .filter(fits)
            .filter(|r| {
                if own {
                    r.domain == domain
                } else {
                    r.domain.is_empty()
                }
            })
            .nth(rng.usize(..n.max(1)))
            .map_or("550 5.0.0 Message rejected", |r| r.text);
        Outcome { class, reason }
    }

    fn write_event(
        &mut self,
        rng: &mut Rng,
        kind: Type,
        msg: &Message,
        outcome: Option<Outcome>,
        time: i64,
        out: &mut Vec<u8>,
    ) {
        let t = UtcTime::from_nanos(time);
        self.next_event_id += 1 + rng.u64(..1000);
        let _ = write!(
            out,
            "{{\"type\":\"{}\",\"event_id\":\"{}\",\"timestamp\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\
             \"message_id\":\"{:04x}{:016x}\",\"transmission_id\":\"{}\"",
            kind.name(),
            self.next_event_id,
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            t.nanos / 1_000_000,
            self.id_key & 0xffff,
            mix(msg.seq ^ self.id_key),
            msg.tx.id,
        );
        let customer = self.customers.get(usize::from(msg.tx.customer));
        let _ = write!(out, ",\"customer_id\":{}", customer.map_or(0, |c| c.id));
        if let Some(sub) = msg.tx.subaccount {
            let _ = write!(out, ",\"subaccount_id\":{sub}");
        }
        if let Some(campaign) = msg.tx.campaign.and_then(|c| CAMPAIGNS.get(usize::from(c))) {
            out.extend_from_slice(b",\"campaign_id\":");
            json_str(out, campaign);
        }
        out.extend_from_slice(b",\"friendly_from\":");
        json_str(out, customer.map_or("", |c| c.from.as_str()));
        let domain = self.recipients.domain_name(msg.domain);
        self.scratch.clear();
        self.recipients
            .write_address(msg.recipient, domain, &mut self.scratch);
        out.extend_from_slice(b",\"rcpt_to\":");
        json_str(out, &self.scratch);
        out.extend_from_slice(b",\"routing_domain\":");
        json_str(out, domain);
        let sent = matches!(
            kind,
            Type::Delivery | Type::Delay | Type::Bounce | Type::OutOfBand
        );
        if sent {
            out.extend_from_slice(b",\"sending_ip\":");
            json_str(out, self.ips.ip(msg.tx.pool, msg.ip));
        }
        let pooled = matches!(kind, Type::Injection | Type::PolicyRejection);
        if sent || pooled {
            out.extend_from_slice(b",\"ip_pool\":");
            json_str(out, self.ips.pool_name(msg.tx.pool));
        }
        if matches!(kind, Type::Delivery | Type::Delay) {
            let _ = write!(out, ",\"num_retries\":{}", msg.retries);
        }
        if matches!(kind, Type::Delivery | Type::Delay | Type::Bounce) {
            // Each retry waits minutes; a first attempt takes about a second.
            let retry_wait = f64::from(msg.retries) * (300_000.0 + 600_000.0 * rng.f64());
            let queue_ms = lognormal(rng, 900.0, 1.0) + retry_wait;
            let _ = write!(out, ",\"queue_time\":{}", queue_ms as u64);
        }
        if matches!(
            kind,
            Type::Injection | Type::Delivery | Type::Delay | Type::Bounce
        ) {
            let _ = write!(out, ",\"msg_size\":{}", msg.size);
        }
        if let Some((tags, n)) = msg.tx.tags {
            out.extend_from_slice(b",\"tags\":[");
            for (i, &tag) in tags.iter().take(usize::from(n)).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, TAGS.get(usize::from(tag)).copied().unwrap_or(""));
            }
            out.push(b']');
        }
        if matches!(kind, Type::Open | Type::Click) {
            self.write_reader(msg, domain, out);
        }
        if let Some(o) = outcome {
            let _ = write!(out, ",\"bounce_class\":{}", o.class);
            let ip = self.ips.ip(msg.tx.pool, msg.ip);
            for (key, redact) in [(&b",\"raw_reason\":"[..], false), (b",\"reason\":", true)] {
                self.scratch.clear();
                fill_reason(
                    &mut self.scratch,
                    o.reason,
                    &self.recipients,
                    msg,
                    domain,
                    ip,
                    redact,
                );
                out.extend_from_slice(key);
                json_str(out, &self.scratch);
            }
        }
        out.push(b'}');
    }

    /// `geo_ip` and `user_agent` of whoever opened or clicked: the same
    /// city and mail client for the same recipient.
    fn write_reader(&self, msg: &Message, domain: &str, out: &mut Vec<u8>) {
        let mut own = Rng::with_seed(mix(msg.recipient ^ 0x9e0));
        if let Some(&(country, region, city, lat, lon, _)) = CITIES.get(self.cities.pick(&mut own))
        {
            out.extend_from_slice(b",\"geo_ip\":{\"country\":");
            json_str(out, country);
            out.extend_from_slice(b",\"region\":");
            json_str(out, region);
            out.extend_from_slice(b",\"city\":");
            json_str(out, city);
            let _ = write!(out, ",\"latitude\":{lat:.4},\"longitude\":{lon:.4}}}");
        }
        out.extend_from_slice(b",\"user_agent\":");
        json_str(out, people::mail_agent(&mut own, domain));
    }
}

/// Expands a reply template; with `redact`, addresses and IPs are hidden
/// as in `reason`.
fn fill_reason(
    s: &mut String,
    template: &str,
    recipients: &Recipients,
    msg: &Message,
    domain: &str,
    ip: &str,
    redact: bool,
) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        s.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('}') else {
            s.push_str(after);
            return;
        };
        match &after[..=close] {
            "{rcpt}" if redact => s.push_str("...@..."),
            "{rcpt}" => recipients.write_address(msg.recipient, domain, s),
            "{ip}" if redact => s.push_str("a.b.c.d"),
            "{ip}" => s.push_str(ip),
            "{domain}" => s.push_str(domain),
            other => s.push_str(other),
        }
        rest = &after[close + 1..];
    }
    s.push_str(rest);
}
