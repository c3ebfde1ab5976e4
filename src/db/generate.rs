//! Row generators for the `seed` step: deterministic (a fixed seed per step, so two runs
//! seed the same rows) and fast enough to feed COPY a million rows in a second or two.
//! Pure: values come out as [`Cell`]s, which the writer formats per dialect.

use serde::Deserialize;
use serde_json::Value;

/// How one column's values are made.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Gen {
    /// A random version-4 UUID.
    Uuid,
    /// An integer in `[low, high]`.
    Int([i64; 2]),
    /// One of these values, uniformly.
    Choice(Vec<Value>),
    /// A time in `[from, to)`, both RFC 3339 (`2025-01-01T00:00:00Z`).
    Timestamp([String; 2]),
    /// A value of an earlier seeded column, `table.column`, uniformly: a reference to a parent.
    Ref(String),
    /// Text with `{n}` replaced by the row number (from 1).
    Format(String),
    /// The same value in every row.
    Value(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(i64),
    Text(String),
    /// Microseconds since the Unix epoch, UTC.
    Time(i64),
    Null,
}

/// splitmix64: tiny, fast, and good enough to spread test rows.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: &str) -> Rng {
        // FNV-1a of the seed text, so each step gets its own stable stream.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64 }
    }
}

/// A generator with its inputs resolved (parsed times, the parent's values).
pub enum Ready<'a> {
    Uuid,
    Int(i64, i64),
    Choice(Vec<Cell>),
    Time(i64, i64),
    Ref(&'a [Cell]),
    Format(&'a str),
    Value(Cell),
}

impl Gen {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Gen::Int([lo, hi]) if lo > hi => Err(format!("int range [{lo}, {hi}] is empty")),
            Gen::Choice(v) if v.is_empty() => Err("choice needs at least one value".into()),
            Gen::Timestamp([a, b]) => {
                let (a, b) = (parse_rfc3339(a)?, parse_rfc3339(b)?);
                if a >= b {
                    Err("timestamp range is empty: the first time must be before the second".into())
                } else {
                    Ok(())
                }
            }
            Gen::Ref(r) if r.split_once('.').is_none() => Err(format!("ref {r:?}: expected \"table.column\"")),
            _ => Ok(()),
        }
    }

    /// Resolve against the parents seeded so far (`lookup("customers.id")`).
    pub fn ready<'a>(&'a self, lookup: &dyn Fn(&str) -> Option<&'a [Cell]>) -> Result<Ready<'a>, String> {
        Ok(match self {
            Gen::Uuid => Ready::Uuid,
            Gen::Int([lo, hi]) => Ready::Int(*lo, *hi),
            Gen::Choice(v) => Ready::Choice(v.iter().map(cell).collect()),
            Gen::Timestamp([a, b]) => Ready::Time(parse_rfc3339(a)?, parse_rfc3339(b)?),
            Gen::Ref(r) => Ready::Ref(
                lookup(r)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("ref {r:?}: no earlier seed step seeded that column"))?,
            ),
            Gen::Format(f) => Ready::Format(f),
            Gen::Value(v) => Ready::Value(cell(v)),
        })
    }
}

fn cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Number(n) if n.is_i64() => Cell::Int(n.as_i64().unwrap_or_default()),
        Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

impl Ready<'_> {
    /// The value for row `n` (counting from 1).
    pub fn make(&self, n: u64, rng: &mut Rng) -> Cell {
        match self {
            Ready::Uuid => Cell::Text(uuid_v4(rng)),
            Ready::Int(lo, hi) => Cell::Int(lo + rng.below((hi - lo) as u64 + 1) as i64),
            Ready::Choice(v) => v[rng.below(v.len() as u64) as usize].clone(),
            Ready::Time(a, b) => Cell::Time(a + rng.below((b - a) as u64) as i64),
            Ready::Ref(v) => v[rng.below(v.len() as u64) as usize].clone(),
            Ready::Format(f) => Cell::Text(f.replace("{n}", &n.to_string())),
            Ready::Value(c) => c.clone(),
        }
    }
}

pub fn uuid_v4(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    let bytes = ((u128::from(a) << 64 | u128::from(b)) & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{bytes:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `2025-01-01T00:00:00Z`, `2025-01-01T00:00:00.5+02:00` → microseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not an RFC 3339 time like \"2025-01-01T00:00:00Z\"");
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i64>().ok()).ok_or_else(bad);
    if s.len() < 20 || !matches!(s.as_bytes()[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        let six: String = format!("{digits:0<6}").chars().take(6).collect();
        micros = six.parse().map_err(|_| bad())?;
        rest = &frac[digits.len()..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().map_err(|_| bad())? * 3600 + o[4..6].parse::<i64>().map_err(|_| bad())? * 60)
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Ok(secs * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, UTC, without a zone: the writer adds what its dialect wants.
pub fn format_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:06}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        let t = parse_rfc3339("2025-03-04T05:06:07.25Z").unwrap();
        assert_eq!(format_micros(t), "2025-03-04 05:06:07.250000");
        assert_eq!(parse_rfc3339("2025-03-04T07:06:07.25+02:00"), Ok(t));
        assert_eq!(format_micros(parse_rfc3339("2024-02-29T23:59:59Z").unwrap()), "2024-02-29 23:59:59.000000");
        assert!(parse_rfc3339("2025-13-01T00:00:00Z").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn values_stay_in_range_and_repeat_per_seed() {
        let mut a = Rng::new("seed-invoices");
        let mut b = Rng::new("seed-invoices");
        let g = Ready::Int(10, 12);
        let xs: Vec<Cell> = (1..=1000).map(|n| g.make(n, &mut a)).collect();
        let ys: Vec<Cell> = (1..=1000).map(|n| g.make(n, &mut b)).collect();
        assert_eq!(xs, ys);
        for v in [10, 11, 12] {
            assert!(xs.contains(&Cell::Int(v)), "{v} never drawn");
        }
        assert!(xs.iter().all(|c| matches!(c, Cell::Int(10..=12))));
    }

    #[test]
    fn uuids_are_version_4() {
        let mut r = Rng::new("x");
        let u = uuid_v4(&mut r);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, uuid_v4(&mut r));
    }

    #[test]
    fn refs_need_a_seeded_parent() {
        let parents = vec![Cell::Text("p1".into()), Cell::Text("p2".into())];
        let g = Gen::Ref("customers.id".into());
        let lookup = |k: &str| (k == "customers.id").then_some(parents.as_slice());
        let ready = g.ready(&lookup).unwrap();
        let mut r = Rng::new("x");
        assert!(matches!(ready.make(1, &mut r), Cell::Text(t) if t == "p1" || t == "p2"));
        let none = |_: &str| None;
        assert!(Gen::Ref("orders.id".into()).ready(&none).is_err());
        assert!(Gen::Ref("nodot".into()).validate().is_err());
        assert_eq!(Ready::Format("c{n}@x").make(7, &mut r), Cell::Text("c7@x".into()));
    }
}
