//! Histograms out of a scrape: `_bucket` series grouped by their labels without `le`,
//! differences between two scrapes, and the bucket a quantile falls in. Pure.

use super::{Exposition, Labels, parse_float};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Upper bound in the metric's unit; `+Inf` for the last one.
    pub le: f64,
    /// Cumulative count of observations ≤ `le`.
    pub count: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The series' labels without `le`, sorted by name.
    pub labels: Labels,
    /// Sorted by `le`.
    pub buckets: Vec<Bucket>,
    pub sum: Option<f64>,
    pub count: Option<f64>,
}

fn key(labels: &Labels) -> Labels {
    let mut l: Labels = labels.iter().filter(|(k, _)| k != "le").cloned().collect();
    l.sort();
    l
}

/// Every series of histogram `name`, or what is wrong with a bucket's `le` label.
pub fn collect(exp: &Exposition, name: &str) -> Result<Vec<Histogram>, String> {
    let mut out: Vec<Histogram> = Vec::new();
    let slot = |out: &mut Vec<Histogram>, labels: Labels| -> usize {
        match out.iter().position(|h| h.labels == labels) {
            Some(i) => i,
            None => {
                out.push(Histogram { labels, buckets: vec![], sum: None, count: None });
                out.len() - 1
            }
        }
    };
    let (bucket, sum, count) = (format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count"));
    for s in &exp.samples {
        if s.name == bucket {
            let le = s.label("le").ok_or_else(|| format!("line {}: {bucket} without an le label", s.line))?;
            let le = parse_float(le)
                .filter(|v| !v.is_nan())
                .ok_or_else(|| format!("line {}: le=\"{le}\" is not a number", s.line))?;
            let i = slot(&mut out, key(&s.labels));
            out[i].buckets.push(Bucket { le, count: s.value });
        } else if s.name == sum {
            let i = slot(&mut out, key(&s.labels));
            out[i].sum = Some(s.value);
        } else if s.name == count {
            let i = slot(&mut out, key(&s.labels));
            out[i].count = Some(s.value);
        }
    }
    for h in &mut out {
        h.buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    }
    Ok(out)
}

/// What makes a series not a well-formed histogram, in words.
pub fn problems(h: &Histogram) -> Vec<String> {
    let mut p = Vec::new();
    let shown = super::format_labels(&h.labels);
    match h.buckets.last() {
        None => p.push(format!("{shown}: no _bucket samples")),
        Some(b) if b.le != f64::INFINITY => p.push(format!("{shown}: no le=\"+Inf\" bucket")),
        Some(b) => {
            if let Some(c) = h.count
                && c != b.count
            {
                p.push(format!("{shown}: _count is {c} but the +Inf bucket is {}", b.count));
            }
        }
    }
    if h.buckets.windows(2).any(|w| w[1].count < w[0].count) {
        p.push(format!("{shown}: bucket counts are not cumulative (a larger le has a smaller count)"));
    }
    if h.sum.is_none() {
        p.push(format!("{shown}: no _sum sample"));
    }
    if h.count.is_none() {
        p.push(format!("{shown}: no _count sample"));
    }
    p
}

/// Buckets of several series added up by `le` (the bounds they all share).
pub fn merge<'a>(series: impl IntoIterator<Item = &'a Histogram>) -> Vec<Bucket> {
    let mut merged: Option<Vec<Bucket>> = None;
    for h in series {
        merged = Some(match merged {
            None => h.buckets.clone(),
            Some(m) => m
                .into_iter()
                .filter_map(|b| {
                    h.buckets.iter().find(|x| x.le == b.le).map(|x| Bucket { le: b.le, count: b.count + x.count })
                })
                .collect(),
        });
    }
    merged.unwrap_or_default()
}

/// What happened between two scrapes. A bound missing before counts from zero; a count
/// that went down means the service restarted, so the later count is all there is.
pub fn delta(before: &[Bucket], after: &[Bucket]) -> Vec<Bucket> {
    let reset = after.iter().any(|a| before.iter().any(|b| b.le == a.le && a.count < b.count));
    after
        .iter()
        .map(|a| {
            let was = if reset { 0.0 } else { before.iter().find(|b| b.le == a.le).map_or(0.0, |b| b.count) };
            Bucket { le: a.le, count: a.count - was }
        })
        .collect()
}

/// The bucket `(lower, upper]` the `q`-quantile falls in; None without observations.
pub fn quantile_bucket(buckets: &[Bucket], q: f64) -> Option<(f64, f64)> {
    let total = buckets.last()?.count;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = 0.0;
    for b in buckets {
        if b.count >= rank {
            return Some((lower, b.le));
        }
        lower = b.le;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::parse;

    const SCRAPE: &str = r#"# TYPE d histogram
d_bucket{route="/a",le="0.005"} 90
d_bucket{route="/a",le="0.01"} 97
d_bucket{route="/a",le="+Inf"} 100
d_sum{route="/a"} 0.5
d_count{route="/a"} 100
d_bucket{le="0.005",route="/b"} 0
d_bucket{le="0.01",route="/b"} 0
d_bucket{le="+Inf",route="/b"} 10
d_sum{route="/b"} 20
d_count{route="/b"} 10
"#;

    #[test]
    fn groups_series_by_labels_without_le_in_any_order() {
        let hs = collect(&parse(SCRAPE).unwrap(), "d").unwrap();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].labels, vec![("route".to_string(), "/a".to_string())]);
        assert_eq!(hs[0].buckets.iter().map(|b| b.count).collect::<Vec<_>>(), vec![90.0, 97.0, 100.0]);
        assert!(hs.iter().all(|h| problems(h).is_empty()));
    }

    #[test]
    fn quantile_lands_in_the_right_bucket() {
        let hs = collect(&parse(SCRAPE).unwrap(), "d").unwrap();
        assert_eq!(quantile_bucket(&hs[0].buckets, 0.5), Some((0.0, 0.005)));
        assert_eq!(quantile_bucket(&hs[0].buckets, 0.95), Some((0.005, 0.01)));
        assert_eq!(quantile_bucket(&hs[0].buckets, 0.99), Some((0.01, f64::INFINITY)));
        let all = merge(&hs);
        assert_eq!(all.last().unwrap().count, 110.0);
        // 95% of 110 = 104.5 observations: beyond 97 at 10 ms.
        assert_eq!(quantile_bucket(&all, 0.95), Some((0.01, f64::INFINITY)));
        assert_eq!(quantile_bucket(&[Bucket { le: f64::INFINITY, count: 0.0 }], 0.95), None);
    }

    #[test]
    fn delta_between_scrapes_and_after_a_restart() {
        let b = |c: [f64; 2]| vec![Bucket { le: 0.1, count: c[0] }, Bucket { le: f64::INFINITY, count: c[1] }];
        assert_eq!(delta(&b([5.0, 6.0]), &b([15.0, 26.0])), b([10.0, 20.0]));
        assert_eq!(delta(&[], &b([1.0, 2.0])), b([1.0, 2.0]));
        assert_eq!(delta(&b([50.0, 60.0]), &b([1.0, 2.0])), b([1.0, 2.0]));
    }

    #[test]
    fn malformed_histograms_are_named() {
        let e = parse("d_bucket{le=\"0.1\"} 5\nd_bucket{le=\"0.2\"} 4\nd_count 4\n").unwrap();
        let p = problems(&collect(&e, "d").unwrap()[0]);
        assert!(p.iter().any(|x| x.contains("+Inf")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("cumulative")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("_sum")), "{p:?}");
        let e = parse("d_bucket{le=\"fast\"} 5\n").unwrap();
        assert!(collect(&e, "d").unwrap_err().contains("not a number"));
        let e = parse("d_bucket{le=\"+Inf\"} 5\nd_count 4\nd_sum 1\n").unwrap();
        assert!(problems(&collect(&e, "d").unwrap()[0])[0].contains("_count is 4"));
    }
}
