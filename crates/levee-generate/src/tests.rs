use std::collections::HashMap;

use levee_event::Value;
use levee_event::time::{NANOS_PER_SEC, days_from_civil, parse_date};

use super::reasons::{self, CLASSES, DELAY_CLASSES, DNS_FAILURE, SPIKE_REASON};
use super::vocab;
use super::*;

const START_DATE: &str = "2018-09-01";

fn start() -> i64 {
    parse_date(START_DATE).unwrap() * DAY_NANOS
}

fn opts(dataset: Dataset, lines: u64, days: u32, seed: u64) -> GenerateOptions {
    GenerateOptions {
        dataset,
        lines,
        start: start(),
        days,
        seed,
    }
}

/// Every line with the time `next_line` returned for it.
fn generate(opts: GenerateOptions) -> Vec<(i64, String)> {
    let mut generator = Generator::new(opts);
    let mut out = Vec::new();
    let mut lines = Vec::new();
    while let Some(time) = generator.next_line(&mut out) {
        assert_eq!(out.last(), Some(&b'\n'), "every line ends with a newline");
        let text = std::str::from_utf8(&out[..out.len() - 1]).unwrap();
        assert!(!text.contains('\n'), "one line per call: {text}");
        lines.push((time, text.to_owned()));
        out.clear();
    }
    lines
}

fn bytes_of(opts: GenerateOptions) -> Vec<u8> {
    let mut generator = Generator::new(opts);
    let mut out = Vec::new();
    while generator.next_line(&mut out).is_some() {}
    out
}

#[test]
fn same_options_give_the_same_bytes() {
    for dataset in [Dataset::Nginx, Dataset::Events] {
        let a = bytes_of(opts(dataset, 5_000, 3, 7));
        let b = bytes_of(opts(dataset, 5_000, 3, 7));
        assert!(!a.is_empty());
        assert_eq!(a, b, "{dataset}");
        let other_seed = bytes_of(opts(dataset, 5_000, 3, 8));
        assert_ne!(a, other_seed, "{dataset}: another seed gives other lines");
    }
}

#[test]
fn makes_exactly_the_lines_asked_for() {
    for dataset in [Dataset::Nginx, Dataset::Events] {
        for lines in [0, 1, 2, 999] {
            let mut generator = Generator::new(opts(dataset, lines, 2, 1));
            assert_eq!(generator.remaining(), lines);
            let mut out = Vec::new();
            let mut n = 0;
            while generator.next_line(&mut out).is_some() {
                n += 1;
            }
            assert_eq!(n, lines);
            assert_eq!(generator.remaining(), 0);
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count() as u64, lines);
            assert_eq!(generator.next_line(&mut out), None, "stays done");
        }
    }
}

#[test]
fn times_increase_within_the_span_and_follow_the_day() {
    let days = 4;
    for dataset in [Dataset::Nginx, Dataset::Events] {
        let lines = generate(opts(dataset, 40_000, days, 3));
        let end = start() + i64::from(days) * DAY_NANOS;
        let mut per_day = vec![0u32; days as usize];
        let (mut afternoon, mut night) = (0u32, 0u32);
        for pair in lines.windows(2) {
            assert!(pair[0].0 <= pair[1].0, "{dataset}: time went back");
        }
        for &(time, _) in &lines {
            assert!(
                (start()..=end).contains(&time),
                "{dataset}: {time} outside the span"
            );
            per_day[((time - start()) / DAY_NANOS) as usize] += 1;
            match (time - start()).rem_euclid(DAY_NANOS) / (3600 * NANOS_PER_SEC) {
                13..=20 => afternoon += 1,
                1..=8 => night += 1,
                _ => {}
            }
        }
        for n in per_day {
            assert!(
                (9_000..=11_000).contains(&n),
                "{dataset}: {n} lines in a day, expected ~10000"
            );
        }
        assert!(
            afternoon > 2 * night,
            "{dataset}: afternoon {afternoon} vs night {night}"
        );
    }
}

#[test]
fn times_stay_in_an_unaligned_span_and_zero_days_is_one() {
    let start = start() + 123_456_789;
    for dataset in [Dataset::Nginx, Dataset::Events] {
        let lines = generate(GenerateOptions {
            dataset,
            lines: 3_000,
            start,
            days: 0,
            seed: 5,
        });
        assert_eq!(lines.len(), 3_000);
        assert!(
            lines
                .iter()
                .all(|&(t, _)| t >= start && t <= start + DAY_NANOS)
        );
        let last = lines.last().unwrap().0;
        assert!(
            last > start + DAY_NANOS / 2,
            "spread over a day, last at {last}"
        );
    }
}

/// One nginx line, split strictly on its quotes.
#[derive(Debug)]
struct Access<'a> {
    addr: &'a str,
    user: &'a str,
    time: i64,
    request: &'a str,
    status: u16,
    bytes: Option<u64>,
    referer: &'a str,
    agent: &'a str,
    request_time: f64,
}

/// `$remote_addr - $remote_user [$time_local] "$request" $status
/// $body_bytes_sent "$http_referer" "$http_user_agent" $request_time`
fn parse_access(line: &str) -> Result<Access<'_>, String> {
    let parts: Vec<&str> = line.split('"').collect();
    let [head, request, middle, referer, gap, agent, tail] = parts[..] else {
        return Err(format!("{} quoted parts", parts.len()));
    };
    let (addr, rest) = head.split_once(" - ").ok_or("no ' - '")?;
    let addr_ok = addr.parse::<std::net::IpAddr>().is_ok();
    let (user, rest) = rest.split_once(" [").ok_or("no ' ['")?;
    let time_text = rest.strip_suffix("] ").ok_or("no '] '")?;
    let time = parse_time_local(time_text).ok_or_else(|| format!("bad time {time_text}"))?;
    let mut fields = middle.split(' ');
    let (Some(""), Some(status), Some(bytes), Some(""), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(format!("bad status and bytes {middle:?}"));
    };
    let status: u16 = status.parse().map_err(|_| "status")?;
    let bytes = match bytes {
        "-" => None,
        b => Some(b.parse().map_err(|_| "bytes")?),
    };
    if gap != " " {
        return Err("referer and agent not one space apart".into());
    }
    let rt_text = tail
        .strip_prefix(' ')
        .ok_or("no space before request_time")?;
    let (whole, millis) = rt_text
        .split_once('.')
        .ok_or("request_time without point")?;
    if millis.len() != 3
        || !whole
            .bytes()
            .chain(millis.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!("request_time {rt_text}"));
    }
    if !addr_ok || user.is_empty() || user.contains(' ') || referer.is_empty() || agent.is_empty() {
        return Err("empty or bad field".into());
    }
    Ok(Access {
        addr,
        user,
        time,
        request,
        status,
        bytes,
        referer,
        agent,
        request_time: rt_text.parse().map_err(|_| "request_time")?,
    })
}

/// `10/Oct/2000:13:55:36 +0000`
fn parse_time_local(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(':')?;
    let zone = rest.strip_suffix(" +0000")?;
    let d: Vec<&str> = date.split('/').collect();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let name = *d.get(1)?;
    let month = months.iter().position(|m| *m == name)? as u32 + 1;
    let (day, year): (u32, i64) = (d.first()?.parse().ok()?, d.get(2)?.parse().ok()?);
    let hms: Vec<i64> = zone
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms[..] else { return None };
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    Some(secs * NANOS_PER_SEC)
}

/// A normal request line: method, path, protocol.
fn request_parts(request: &str) -> Option<(&str, &str, &str)> {
    let mut it = request.split(' ');
    let (method, path, proto) = (it.next()?, it.next()?, it.next()?);
    it.next().is_none().then_some((method, path, proto))
}

#[test]
fn nginx_lines_parse_and_look_like_an_email_api() {
    let lines = generate(opts(Dataset::Nginx, 20_000, 2, 11));
    let mut methods: HashMap<&str, u32> = HashMap::new();
    let (mut s2xx, mut s4xx, mut s5xx, mut v6, mut dash_bytes, mut odd) = (0, 0, 0, 0, 0, 0);
    for (time, line) in &lines {
        let a = parse_access(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(
            a.time, *time,
            "the returned time is the logged time: {line}"
        );
        match request_parts(a.request) {
            Some((method, path, proto)) if path.starts_with("/api/v1/") => {
                assert!(["GET", "POST", "PUT", "DELETE"].contains(&method), "{line}");
                assert!(proto == "HTTP/1.1" || proto == "HTTP/2.0", "{line}");
                *methods.entry(method).or_default() += 1;
            }
            _ => odd += 1,
        }
        match a.status {
            200..=299 | 304 => s2xx += 1,
            400..=499 => s4xx += 1,
            500..=599 => s5xx += 1,
            other => panic!("status {other}: {line}"),
        }
        assert!(a.request_time >= 0.0 && a.request_time <= 120.0, "{line}");
        if a.status == 204 || a.status == 304 {
            assert_eq!(a.bytes, None, "{line}");
        }
        dash_bytes += u32::from(a.bytes.is_none());
        v6 += u32::from(a.addr.contains(':'));
        assert!(
            a.user == "-" || vocab::API_USERS.contains(&a.user),
            "{line}"
        );
        assert!(
            a.referer == "-" || a.referer.starts_with("https://"),
            "{line}"
        );
        assert!(!a.agent.contains('"'));
    }
    let n = lines.len() as f64;
    let share = |k: u32| f64::from(k) / n;
    assert!(share(s2xx) > 0.85, "2xx {s2xx}");
    assert!((0.01..0.10).contains(&share(s4xx)), "4xx {s4xx}");
    assert!((0.0005..0.01).contains(&share(s5xx)), "5xx {s5xx}");
    let method = |m: &str| share(methods.get(m).copied().unwrap_or(0));
    assert!((0.30..0.60).contains(&method("POST")), "{methods:?}");
    assert!((0.35..0.65).contains(&method("GET")), "{methods:?}");
    assert!((0.01..0.06).contains(&method("PUT")), "{methods:?}");
    assert!((0.002..0.03).contains(&method("DELETE")), "{methods:?}");
    assert!((0.05..0.25).contains(&share(v6)), "IPv6 clients {v6}");
    assert!(dash_bytes > 0, "some bodies are `-`");
    assert!(odd < 10, "odd lines are rare: {odd}");
}

#[test]
fn nginx_has_rare_odd_lines_that_still_parse() {
    let lines = generate(opts(Dataset::Nginx, 200_000, 2, 4));
    let odd: Vec<Access> = lines
        .iter()
        .map(|(_, l)| parse_access(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|a| !a.request.contains(" /api/v1/"))
        .collect();
    // About one in 20,000: ten expected.
    assert!((3..=25).contains(&odd.len()), "{} odd lines", odd.len());
    for a in &odd {
        let tls = a.request.starts_with("\\x16\\x03");
        let scanner = a.request.starts_with("GET /") && a.status == 404;
        let empty = a.request.is_empty() && a.status == 400;
        assert!(tls && a.status == 400 || scanner || empty, "{a:?}");
    }
}

/// Every top-level field of an event, in the order lines write them.
const FIELD_ORDER: &[&str] = &[
    "type",
    "event_id",
    "timestamp",
    "message_id",
    "transmission_id",
    "customer_id",
    "subaccount_id",
    "campaign_id",
    "friendly_from",
    "rcpt_to",
    "routing_domain",
    "sending_ip",
    "ip_pool",
    "num_retries",
    "queue_time",
    "msg_size",
    "tags",
    "geo_ip",
    "user_agent",
    "bounce_class",
    "raw_reason",
    "reason",
];

fn record(line: &str) -> levee_event::Record {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Map(record)) => *record,
        other => panic!("not a JSON object ({other:?}): {line}"),
    }
}

fn text<'a>(r: &'a levee_event::Record, key: &str) -> &'a str {
    r.get(key).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn events_are_json_objects_with_fields_in_order() {
    let lines = generate(opts(Dataset::Events, 20_000, 3, 12));
    let mut types: HashMap<String, u32> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    let (mut no_campaign, mut no_subaccount) = (0, 0);
    for (time, line) in &lines {
        let r = record(line);
        let kind = text(&r, "type").to_owned();
        let stamp = text(&r, "timestamp");
        let expected = levee_event::time::UtcTime::from_nanos(*time).rfc3339_millis();
        assert_eq!(stamp, expected, "timestamp is the event time");
        assert_eq!(time % 1_000_000, 0, "event times are whole milliseconds");
        let positions: Vec<usize> = r
            .keys()
            .map(|k| {
                FIELD_ORDER
                    .iter()
                    .position(|f| f == k)
                    .unwrap_or_else(|| panic!("field {k}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "field order: {line}"
        );
        for key in [
            "event_id",
            "message_id",
            "transmission_id",
            "friendly_from",
            "rcpt_to",
            "routing_domain",
        ] {
            assert!(!text(&r, key).is_empty(), "{key}: {line}");
        }
        assert!(
            ids.insert(text(&r, "event_id").to_owned()),
            "event ids are unique"
        );
        assert!(text(&r, "rcpt_to").ends_with(&format!("@{}", text(&r, "routing_domain"))));
        assert!(r.get("customer_id").and_then(Value::as_i64).is_some());
        no_campaign += u32::from(!r.contains_key("campaign_id"));
        no_subaccount += u32::from(!r.contains_key("subaccount_id"));
        let reader = kind == "open" || kind == "click";
        assert_eq!(r.contains_key("geo_ip"), reader, "{line}");
        assert_eq!(r.contains_key("user_agent"), reader, "{line}");
        if let Some(Value::Map(geo)) = r.get("geo_ip") {
            assert!(
                matches!(geo.get("latitude"), Some(Value::Float(_))),
                "{line}"
            );
            assert!(!text(geo, "city").is_empty());
        }
        if kind == "bounce" {
            let class = r.get("bounce_class").and_then(Value::as_i64).unwrap();
            assert!(reasons::class(class as u16).is_some(), "{line}");
            let (raw, reason) = (text(&r, "raw_reason"), text(&r, "reason"));
            assert!(!raw.is_empty() && !reason.is_empty(), "{line}");
            assert!(
                !reason.contains(text(&r, "rcpt_to")),
                "address redacted: {line}"
            );
            assert!(
                !reason.contains(text(&r, "sending_ip")),
                "IP redacted: {line}"
            );
        }
        if kind == "delay" {
            assert!(
                text(&r, "raw_reason").starts_with('4'),
                "delays are temporary: {line}"
            );
            assert!(r.get("num_retries").and_then(Value::as_i64).unwrap() >= 1);
        }
        *types.entry(kind).or_default() += 1;
    }
    let share = |t: &str| f64::from(types.get(t).copied().unwrap_or(0)) / lines.len() as f64;
    assert!((0.25..0.35).contains(&share("injection")), "{types:?}");
    assert!((0.40..0.50).contains(&share("delivery")), "{types:?}");
    assert!((0.07..0.13).contains(&share("open")), "{types:?}");
    assert!((0.04..0.08).contains(&share("bounce")), "{types:?}");
    assert!(share("click") > 0.02 && share("delay") > 0.015, "{types:?}");
    assert!(types.len() >= 10, "rare types show up too: {types:?}");
    assert!(
        (0.1..0.3).contains(&(f64::from(no_campaign) / 20_000.0)),
        "campaign_id missing {no_campaign}"
    );
    assert!(
        (0.25..0.55).contains(&(f64::from(no_subaccount) / 20_000.0)),
        "subaccount_id missing {no_subaccount}"
    );
}

#[test]
fn events_of_one_message_share_its_ids() {
    let lines = generate(opts(Dataset::Events, 5_000, 1, 2));
    let mut seen: HashMap<String, (String, String, String)> = HashMap::new();
    let mut repeats = 0;
    for (_, line) in &lines {
        let r = record(line);
        let ids = (
            text(&r, "transmission_id").to_owned(),
            text(&r, "rcpt_to").to_owned(),
            r.get("customer_id")
                .map(Value::to_string)
                .unwrap_or_default(),
        );
        if let Some(before) = seen.insert(text(&r, "message_id").to_owned(), ids.clone()) {
            assert_eq!(before, ids, "{line}");
            repeats += 1;
        }
    }
    assert!(repeats > 500, "messages recur across events: {repeats}");
}

#[test]
fn routing_domains_are_skewed_to_the_big_providers() {
    let lines = generate(opts(Dataset::Events, 20_000, 2, 9));
    let mut count: HashMap<String, u32> = HashMap::new();
    for (_, line) in &lines {
        *count
            .entry(text(&record(line), "routing_domain").to_owned())
            .or_default() += 1;
    }
    let get = |d: &str| count.get(d).copied().unwrap_or(0);
    let (gmail, yahoo, hotmail) = (get("gmail.com"), get("yahoo.com"), get("hotmail.com"));
    assert!(
        gmail > yahoo && yahoo > hotmail,
        "{gmail} {yahoo} {hotmail}"
    );
    let rest_max = count
        .iter()
        .filter(|(d, _)| !["gmail.com", "yahoo.com", "hotmail.com"].contains(&d.as_str()))
        .map(|(_, &n)| n)
        .max()
        .unwrap();
    assert!(
        hotmail > rest_max,
        "hotmail {hotmail} vs the next {rest_max}"
    );
    assert!(count.len() > 40, "a long tail of domains: {}", count.len());
}

#[test]
fn dns_failures_spike_on_the_middle_day() {
    let days = 9;
    let lines = generate(opts(Dataset::Events, 45_000, days, 21));
    let mut dns = vec![0u32; days as usize];
    let mut hotmail_dns = vec![0u32; days as usize];
    let mut spike_reasons: HashMap<String, u32> = HashMap::new();
    for (time, line) in &lines {
        let r = record(line);
        if text(&r, "type") != "bounce"
            || r.get("bounce_class").and_then(Value::as_i64) != Some(i64::from(DNS_FAILURE))
        {
            continue;
        }
        let day = ((time - start()) / DAY_NANOS) as usize;
        dns[day] += 1;
        if text(&r, "routing_domain") == "hotmail.com" {
            hotmail_dns[day] += 1;
            if day == days as usize / 2 {
                *spike_reasons
                    .entry(text(&r, "raw_reason").to_owned())
                    .or_default() += 1;
            }
        }
    }
    let median = |v: &[u32]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let middle = days as usize / 2;
    assert!(
        dns[middle] * 2 > median(&dns) * 3,
        "class 21 per day: {dns:?}"
    );
    assert!(
        hotmail_dns[middle] > 5 * median(&hotmail_dns).max(1),
        "hotmail: {hotmail_dns:?}"
    );
    let top = spike_reasons
        .iter()
        .max_by_key(|&(_, &n)| n)
        .map(|(r, _)| r.as_str());
    assert_eq!(top, Some(SPIKE_REASON), "{spike_reasons:?}");
}

#[test]
fn word_lists_need_no_escaping_in_nginx_lines() {
    let raw = [
        vocab::API_AGENTS,
        vocab::BROWSER_AGENTS,
        vocab::APP_PAGES,
        vocab::SCANNER_AGENTS,
        vocab::SCANNER_PATHS,
        vocab::API_USERS,
        vocab::CORPORATE_DOMAINS,
    ];
    for list in raw {
        for word in list {
            assert!(!word.is_empty() && word.is_ascii(), "{word}");
            assert!(!word.contains(['"', '\\']), "{word}");
        }
    }
    for path in vocab::SCANNER_PATHS {
        assert!(!path.contains(' '), "{path}");
    }
}

#[test]
fn every_delay_class_has_a_temporary_reply() {
    for &(code, _) in DELAY_CLASSES {
        let class = reasons::class(code).unwrap();
        assert!(
            class
                .reasons
                .iter()
                .any(|r| r.domain.is_empty() && r.text.starts_with('4')),
            "class {code}"
        );
    }
    for class in CLASSES {
        assert!(
            !class.reasons.is_empty() && class.weight > 0,
            "class {}",
            class.code
        );
    }
}

#[test]
fn dataset_names_round_trip() {
    for dataset in [Dataset::Nginx, Dataset::Events] {
        assert_eq!(dataset.name().parse::<Dataset>().unwrap(), dataset);
    }
    assert!("apache".parse::<Dataset>().is_err());
}

#[test]
fn options_builder_refuses_zero_days_and_bad_dates() {
    let built = GenerateOptions::builder(Dataset::Nginx).days(0).build();
    assert_eq!(built.unwrap_err(), OptionsError::NoDays);
    for bad in ["2018-13-01", "yesterday", ""] {
        let err = GenerateOptions::builder(Dataset::Events)
            .start(bad)
            .build()
            .unwrap_err();
        assert_eq!(err, OptionsError::Start(bad.to_owned()));
        assert_eq!(
            err.to_string(),
            format!("start must be a date such as 2018-09-01, not {bad:?}")
        );
    }
    let options = GenerateOptions::builder(Dataset::Events)
        .lines(12)
        .start(START_DATE)
        .days(3)
        .seed(9)
        .build()
        .unwrap();
    assert_eq!((options.start, options.days, options.seed), (start(), 3, 9));
    assert_eq!((options.dataset(), options.lines()), (Dataset::Events, 12));
}

#[test]
fn options_start_by_default_days_before_today() {
    let options = GenerateOptions::builder(Dataset::Nginx)
        .days(3)
        .build()
        .unwrap();
    assert_eq!(options.start, (today() - 3) * DAY_NANOS);
    assert_eq!(options.start.rem_euclid(DAY_NANOS), 0);
}
