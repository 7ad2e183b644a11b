//! A strict parser of the Prometheus text format (0.0.4), written for
//! these tests: every sample belongs to a family declared by `# TYPE`
//! before it, a family's lines are contiguous, no sample repeats, names,
//! labels and values are well formed, and every histogram's buckets are
//! cumulative with `+Inf` equal to `_count`.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole scrape.
#[derive(Debug)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// Family name → type.
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    /// Samples named `name` whose labels include `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The one sample `name{labels}`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        assert_eq!(found.len(), 1, "exactly one {name}{labels:?}: {found:?}");
        found[0].value
    }

    /// The sum over every sample `name{labels…}`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }
}

/// Parses `text` or says which line is wrong and why.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut seen = BTreeSet::new();
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default().to_string();
            let rest = parts.next().unwrap_or_default();
            match keyword {
                "HELP" => {
                    check_name(&name).map_err(|e| at(&e))?;
                    if !helps.insert(name.clone()) {
                        return Err(at("second HELP"));
                    }
                }
                "TYPE" => {
                    check_name(&name).map_err(|e| at(&e))?;
                    let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !kinds.contains(&rest) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.clone(), rest.to_string()).is_some() {
                        return Err(at("second TYPE"));
                    }
                }
                _ => continue,
            }
            switch_family(&mut current, &mut finished, &name).map_err(|e| at(&e))?;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(|e| at(&e))?;
        let family = family_of(&sample.name, &types).ok_or_else(|| at("no TYPE before it"))?;
        switch_family(&mut current, &mut finished, &family).map_err(|e| at(&e))?;
        if !seen.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(at("duplicate sample"));
        }
        samples.push(sample);
    }
    let scrape = Scrape { samples, types };
    check_histograms(&scrape)?;
    Ok(scrape)
}

/// The family a sample belongs to: its own name, or for a histogram's
/// `_bucket`, `_sum` and `_count` the histogram's.
fn family_of(name: &str, types: &BTreeMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_string());
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            ) {
                return Some(base.to_string());
            }
        }
    }
    None
}

fn switch_family(
    current: &mut Option<String>,
    finished: &mut BTreeSet<String>,
    family: &str,
) -> Result<(), String> {
    if current.as_deref() == Some(family) {
        return Ok(());
    }
    if finished.contains(family) {
        return Err(format!("family {family} is split"));
    }
    if let Some(done) = current.take() {
        finished.insert(done);
    }
    *current = Some(family.to_string());
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value after the name")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = parse_labels(inner, &mut labels)?;
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = parse_value(fields.next().unwrap_or_default())?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `a="x",b="y"}` and returns what follows the `}`.
fn parse_labels<'a>(
    mut text: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        if let Some(rest) = text.strip_prefix('}') {
            return Ok(rest);
        }
        let (name, rest) = text.split_once("=\"").ok_or("label without =\"")?;
        let name_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("bad escape in a label value".into()),
                },
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        text = &rest[end + 1..];
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}")),
    }
}

/// Buckets ascend and are cumulative; `+Inf` equals `_count`.
fn check_histograms(scrape: &Scrape) -> Result<(), String> {
    for (family, kind) in &scrape.types {
        if kind != "histogram" {
            continue;
        }
        let bucket_name = format!("{family}_bucket");
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in scrape.samples.iter().filter(|s| s.name == bucket_name) {
            let mut labels = sample.labels.clone();
            let le = labels
                .remove("le")
                .ok_or(format!("{bucket_name} without le"))?;
            series
                .entry(labels)
                .or_default()
                .push((parse_value(&le)?, sample.value));
        }
        for (labels, buckets) in series {
            let ascending = buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
            if !ascending {
                return Err(format!("{family}{labels:?}: buckets not cumulative"));
            }
            let last = buckets.last().expect("one bucket at least");
            let count = scrape
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .ok_or(format!("{family}{labels:?} without _count"))?;
            if last.0 != f64::INFINITY || last.1 != count.value {
                return Err(format!("{family}{labels:?}: +Inf bucket is not _count"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_parser_refuses_what_prometheus_refuses() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 3\n";
    assert_eq!(
        parse(good).expect("good").value("a_total", &[("x", "1\"")]),
        3.0
    );
    let bad = [
        "a_total 3\n",
        "# TYPE a counter\na{x=1} 3\n",
        "# TYPE a counter\na 3\na 4\n",
        "# TYPE a counter\n# TYPE b counter\nb 1\na 3\n",
        "# TYPE a counter\na three\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n",
    ];
    for text in bad {
        assert!(parse(text).is_err(), "accepted {text:?}");
    }
}
