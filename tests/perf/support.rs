//! Reading the metrics routes, and a strict parser of the Prometheus text format.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::common::TestApp;

/// Every field of one aggregate in `/metrics/performance` (SPEC §7).
pub const STAT_FIELDS: [&str; 10] = [
    "count",
    "avg_ms",
    "median_ms",
    "p95_ms",
    "p99_ms",
    "min_ms",
    "max_ms",
    "total_ms",
    "last_ms",
    "last_at",
];

/// `GET /metrics/performance`, asserting a 200 JSON answer.
pub async fn performance(app: &TestApp) -> Value {
    let response = app.get("/metrics/performance").await;
    assert_eq!(response.status(), 200, "GET /metrics/performance");
    response.json().await.expect("performance json")
}

/// `GET /metrics`, asserting a 200 and parsing every line.
pub async fn metrics(app: &TestApp) -> Exposition {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200, "GET /metrics");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "content type {content_type}"
    );
    Exposition::parse(&response.text().await.expect("metrics text"))
}

/// `PUT /metrics/performance/config` with `body`.
pub async fn put_config(app: &TestApp, body: &str) -> reqwest::Response {
    app.client
        .put(app.url("/metrics/performance/config"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("put config")
}

/// Asserts that an aggregate has every field of SPEC §7 with a sensible value.
pub fn assert_stat(stat: &Value, what: &str) {
    for field in STAT_FIELDS {
        assert!(stat.get(field).is_some(), "{what} has no {field}: {stat}");
    }
    let count = stat["count"].as_u64().expect("count is an integer");
    assert!(count > 0, "{what}: count {count}");
    let ms = |f: &str| {
        stat[f]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}.{f} is a number: {stat}"))
    };
    let (min, max) = (ms("min_ms"), ms("max_ms"));
    assert!(min >= 0.0 && min <= max, "{what}: min {min} max {max}");
    for f in ["avg_ms", "median_ms", "p95_ms", "p99_ms", "last_ms"] {
        let v = ms(f);
        assert!(
            v >= min - 1e-9 && v <= max + 1e-9,
            "{what}.{f} = {v} outside [{min}, {max}]"
        );
    }
    assert!(ms("median_ms") <= ms("p95_ms") && ms("p95_ms") <= ms("p99_ms"));
    assert!(
        (ms("total_ms") - ms("avg_ms") * count as f64).abs() <= 0.001 * count as f64,
        "{what}: total is not avg × count: {stat}"
    );
    let last_at = stat["last_at"].as_str().expect("last_at is a string");
    assert!(
        last_at.len() >= 20 && last_at.ends_with('Z') && last_at.as_bytes()[10] == b'T',
        "{what}.last_at is not RFC 3339 UTC: {last_at}"
    );
}

/// One sample line.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition. Parsing panics, naming the line, on anything that is not valid
/// text format 0.0.4; the histogram rules are checked too.
#[derive(Debug)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: HashMap<String, String>,
}

impl Exposition {
    pub fn parse(text: &str) -> Self {
        assert!(
            text.ends_with('\n'),
            "the exposition must end with a newline"
        );
        let mut samples = Vec::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps: HashSet<String> = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let at = || format!("line {}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let keyword = parts.next().unwrap_or_default();
                let name = parts.next().unwrap_or_default();
                let tail = parts.next().unwrap_or_default();
                assert!(valid_metric_name(name), "bad metric name, {}", at());
                match keyword {
                    "HELP" => {
                        assert!(!tail.is_empty(), "empty help, {}", at());
                        assert!(helps.insert(name.to_owned()), "second HELP, {}", at());
                    }
                    "TYPE" => {
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&tail),
                            "bad type, {}",
                            at()
                        );
                        assert!(
                            !samples
                                .iter()
                                .any(|s: &Sample| family_of(&s.name, &types) == name),
                            "TYPE after samples, {}",
                            at()
                        );
                        assert!(
                            types.insert(name.to_owned(), tail.to_owned()).is_none(),
                            "second TYPE, {}",
                            at()
                        );
                    }
                    _ => panic!("unknown comment keyword, {}", at()),
                }
                continue;
            }
            assert!(!line.starts_with('#'), "bad comment, {}", at());
            let sample = parse_sample(line).unwrap_or_else(|e| panic!("{e}, {}", at()));
            let family = family_of(&sample.name, &types);
            assert!(
                types.contains_key(&family),
                "sample without a TYPE, {}",
                at()
            );
            samples.push(sample);
        }
        let exposition = Self { samples, types };
        exposition.check_histograms();
        exposition
    }

    /// Every histogram series: `le` ascending and ending with `+Inf`, cumulative counts,
    /// `+Inf` equal to `_count`, and a `_sum`.
    fn check_histograms(&self) {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket"))
            {
                let mut labels = s.labels.clone();
                let le = labels.remove("le").expect("a bucket without le");
                let le = parse_value(&le).expect("le is a number");
                series.entry(labels).or_default().push((le, s.value));
            }
            for (labels, buckets) in &series {
                assert!(
                    buckets.windows(2).all(|w| w[0].0 < w[1].0),
                    "{family}{labels:?}: le not ascending"
                );
                assert!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{family}{labels:?}: buckets not cumulative: {buckets:?}"
                );
                let (last_le, last) = *buckets.last().expect("buckets");
                assert!(last_le.is_infinite(), "{family}{labels:?}: no +Inf bucket");
                let count = self
                    .value(&format!("{family}_count"), labels)
                    .unwrap_or_else(|| panic!("{family}{labels:?}: no _count"));
                assert_eq!(last, count, "{family}{labels:?}: +Inf is not _count");
                assert!(
                    self.value(&format!("{family}_sum"), labels).is_some(),
                    "{family}{labels:?}: no _sum"
                );
            }
        }
    }

    /// The value of the sample with exactly these labels.
    pub fn value(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && &s.labels == labels)
            .map(|s| s.value)
    }

    /// The value of the sample with exactly `labels` given as pairs.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.value(name, &labels)
    }

    /// Every sample of `name`.
    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn family_of(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
            {
                return base.to_owned();
            }
        }
    }
    name.to_owned()
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(raw: &str) -> Option<f64> {
    match raw {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => raw.parse().ok(),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let chars: Vec<char> = line.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let word = |mut i: usize| {
        let start = i;
        while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            i += 1;
        }
        (chars[start..i].iter().collect::<String>(), i)
    };
    let (name, mut i) = word(0);
    if !valid_metric_name(&name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    if at(i) == Some('{') {
        i += 1;
        while at(i) != Some('}') {
            let (label, next) = word(i);
            i = next;
            if !valid_label_name(&label) {
                return Err(format!("bad label name {label:?}"));
            }
            if at(i) != Some('=') || at(i + 1) != Some('"') {
                return Err(format!("label {label} is not followed by =\""));
            }
            i += 2;
            let mut value = String::new();
            loop {
                let c = at(i).ok_or("unterminated label value")?;
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let escaped = at(i);
                        i += 1;
                        match escaped {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => return Err(format!("bad escape {other:?}")),
                        }
                    }
                    c => value.push(c),
                }
            }
            if labels.insert(label.clone(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            match at(i) {
                Some(',') => i += 1,
                Some('}') => {}
                _ => return Err("expected , or } after a label".into()),
            }
        }
        i += 1;
    }
    if at(i) != Some(' ') {
        return Err("no space before the value".into());
    }
    let rest: String = chars[i + 1..].iter().collect();
    let mut parts = rest.split(' ');
    let value = parts.next().unwrap_or_default();
    let value = parse_value(value).ok_or_else(|| format!("bad value {value:?}"))?;
    if let Some(timestamp) = parts.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("bad timestamp {timestamp:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\\\"\"} 1\n";
    assert_eq!(Exposition::parse(ok).samples[0].labels["k"], "v\"");
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na{k=v} 1\n",
        "# TYPE a counter\na{k=\"v\"}1\n",
        "# TYPE a counter\na 1 2 3\n",
        "# TYPE a counter\na one\n",
        "# TYPE a counter\n1a 1\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| Exposition::parse(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
}
