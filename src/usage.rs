//! What a key's owner sees of its use: its usage figures and its last request
//! outcomes, as the key's Durable Object keeps them and isolates report them.

use serde::{Deserialize, Serialize};

/// Outcomes kept per key, newest last.
pub const OUTCOMES_KEPT: usize = 50;
/// Longest path kept in an outcome (longer ones are cut, marked with `…`).
pub const OUTCOME_PATH_LEN: usize = 256;

/// One request as the key's owner sees it when troubleshooting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The method.
    pub method: String,
    /// The canonical path, without the query.
    pub path: String,
    /// The status keyward answered with; `None` for a request forwarded to the
    /// origin (whose own status is the origin's business).
    pub status: Option<u16>,
    /// The problem code of a refusal; `None` when forwarded, or when a newer
    /// release's code that this one does not know (the status still says
    /// refused).
    #[serde(default, deserialize_with = "crate::problem::known_code")]
    pub code: Option<crate::problem::Code>,
}

/// Usage figures of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Unix seconds of the last request that was let through.
    pub last_used_at: Option<i64>,
    /// Requests let through.
    pub requests: u64,
    /// Requests refused after the key was recognised.
    pub denied: u64,
    /// Requests let through today (UTC), from the usage series when asked; not
    /// stored with the figures.
    #[serde(default)]
    pub today: u64,
}

/// Hourly buckets kept: the last day.
pub const HOURS_KEPT: usize = 24;
/// Daily buckets kept: the last 30 days.
pub const DAYS_KEPT: usize = 30;
const HOUR_S: i64 = 3_600;
const DAY_S: i64 = 86_400;

/// What a request came to, as the usage series counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Let through.
    Admitted,
    /// Refused by a rate limit or for want of credits.
    Limited,
    /// Refused otherwise (revoked, disabled, expired, scope, address).
    Refused,
}

impl Kind {
    /// The kind of a request that keyward answered with `status` and `code`
    /// (both `None`: let through). A refusal whose code this release does not
    /// know (a newer release's) is still a refusal.
    pub fn of(status: Option<u16>, code: Option<crate::problem::Code>) -> Kind {
        use crate::problem::Code;
        match (status, code) {
            (None, None) => Kind::Admitted,
            (_, Some(Code::RateLimited | Code::CreditsExhausted)) => Kind::Limited,
            _ => Kind::Refused,
        }
    }
}

/// The requests of one hour or one day, by what they came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Its first second (Unix seconds, UTC).
    pub start: i64,
    /// Let through.
    pub admitted: u64,
    /// Refused by a rate limit or for want of credits.
    pub limited: u64,
    /// Refused otherwise.
    pub refused: u64,
}

impl Bucket {
    fn add(&mut self, kind: Kind, n: u64) {
        let count = match kind {
            Kind::Admitted => &mut self.admitted,
            Kind::Limited => &mut self.limited,
            Kind::Refused => &mut self.refused,
        };
        *count = count.saturating_add(n);
    }
}

/// A key's requests per hour over the last day and per day over the last 30
/// days, by outcome. Bounded: at most [`HOURS_KEPT`] + [`DAYS_KEPT`] buckets,
/// oldest first; written with the usage figures, never once per request. Kept
/// and sent in a compact text form ([`Series::encode`]) rather than with serde's
/// derives, which cost the worker's size more than this is worth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    /// Hourly buckets.
    pub hours: Vec<Bucket>,
    /// Daily buckets.
    pub days: Vec<Bucket>,
}

impl Series {
    /// Counts `n` requests of `kind` at `at_ms` (a report may come late: its
    /// bucket is found or put in its place; one older than those kept is dropped).
    pub fn add(&mut self, at_ms: i64, kind: Kind, n: u64) {
        if n == 0 {
            return;
        }
        let at = at_ms.div_euclid(1000);
        add_to(
            &mut self.hours,
            at - at.rem_euclid(HOUR_S),
            HOURS_KEPT,
            kind,
            n,
        );
        add_to(
            &mut self.days,
            at - at.rem_euclid(DAY_S),
            DAYS_KEPT,
            kind,
            n,
        );
    }

    /// The requests of the day (UTC) that holds `now_ms`.
    pub fn today(&self, now_ms: i64) -> Bucket {
        let now = now_ms.div_euclid(1000);
        bucket_at(&self.days, now - now.rem_euclid(DAY_S))
    }

    /// The compact form: `hours|days`, each bucket `start,admitted,limited,refused`
    /// and the buckets separated by `;`.
    pub fn encode(&self) -> String {
        let part = |b: &[Bucket]| {
            b.iter()
                .map(|b| format!("{},{},{},{}", b.start, b.admitted, b.limited, b.refused))
                .collect::<Vec<_>>()
                .join(";")
        };
        format!("{}|{}", part(&self.hours), part(&self.days))
    }

    /// Reads [`Series::encode`]'s form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Series> {
        let part = |p: &str, kept: usize| -> Option<Vec<Bucket>> {
            let buckets = p
                .split(';')
                .filter(|b| !b.is_empty())
                .map(|b| {
                    let mut n = b.split(',');
                    let mut next = || n.next()?.parse::<i64>().ok();
                    let bucket = Bucket {
                        start: next()?,
                        admitted: u64::try_from(next()?).ok()?,
                        limited: u64::try_from(next()?).ok()?,
                        refused: u64::try_from(next()?).ok()?,
                    };
                    Some(bucket)
                })
                .collect::<Option<Vec<_>>>()?;
            (buckets.len() <= kept).then_some(buckets)
        };
        let (hours, days) = s.split_once('|')?;
        Some(Series {
            hours: part(hours, HOURS_KEPT)?,
            days: part(days, DAYS_KEPT)?,
        })
    }

    /// The series as of `now_ms`: every hour of the last day and every day of the
    /// last 30 (zeros where nothing happened), oldest first, the current ones last.
    pub fn window(&self, now_ms: i64) -> Series {
        let now = now_ms.div_euclid(1000);
        Series {
            hours: dense(
                &self.hours,
                now - now.rem_euclid(HOUR_S),
                HOUR_S,
                HOURS_KEPT,
            ),
            days: dense(&self.days, now - now.rem_euclid(DAY_S), DAY_S, DAYS_KEPT),
        }
    }
}

fn add_to(buckets: &mut Vec<Bucket>, start: i64, kept: usize, kind: Kind, n: u64) {
    let at = buckets.partition_point(|b| b.start < start);
    match buckets.get_mut(at) {
        Some(b) if b.start == start => b.add(kind, n),
        _ => {
            let mut b = Bucket {
                start,
                ..Bucket::default()
            };
            b.add(kind, n);
            buckets.insert(at, b);
        }
    }
    let excess = buckets.len().saturating_sub(kept);
    buckets.drain(..excess);
}

fn dense(buckets: &[Bucket], current: i64, step: i64, kept: usize) -> Vec<Bucket> {
    (0..kept as i64)
        .rev()
        .map(|back| bucket_at(buckets, current - back * step))
        .collect()
}

/// The bucket that starts at `start`, or an empty one.
fn bucket_at(buckets: &[Bucket], start: i64) -> Bucket {
    buckets
        .iter()
        .find(|b| b.start == start)
        .copied()
        .unwrap_or(Bucket {
            start,
            ..Bucket::default()
        })
}

/// `path`, cut to [`OUTCOME_PATH_LEN`] bytes (on a character boundary) and marked
/// with `…` when longer. Cutting a cut path changes nothing.
pub fn cut_path(path: &str) -> String {
    if path.len() <= OUTCOME_PATH_LEN {
        return path.to_string();
    }
    let mut end = OUTCOME_PATH_LEN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Code;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;
    /// 2027-01-15T08:00:00Z, on an hour.
    const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % H;

    fn totals(buckets: &[Bucket]) -> (u64, u64, u64) {
        buckets.iter().fold((0, 0, 0), |(a, l, r), b| {
            (a + b.admitted, l + b.limited, r + b.refused)
        })
    }

    #[test]
    fn outcomes_are_counted_by_kind() {
        assert_eq!(Kind::of(None, None), Kind::Admitted);
        assert_eq!(Kind::of(Some(429), Some(Code::RateLimited)), Kind::Limited);
        assert_eq!(
            Kind::of(Some(402), Some(Code::CreditsExhausted)),
            Kind::Limited
        );
        assert_eq!(Kind::of(Some(401), Some(Code::KeyDisabled)), Kind::Refused);
        assert_eq!(
            Kind::of(Some(403), Some(Code::InsufficientScope)),
            Kind::Refused
        );
        // A newer release's code, read as none: still refused.
        assert_eq!(Kind::of(Some(403), None), Kind::Refused);
    }

    #[test]
    fn requests_fall_into_their_hour_and_day() {
        let mut s = Series::default();
        s.add(T0 + 5, Kind::Admitted, 1);
        s.add(T0 + H - 1, Kind::Admitted, 2);
        s.add(T0 + H, Kind::Limited, 1);
        s.add(T0 + 2 * H + 10, Kind::Refused, 4);
        s.add(T0 + 3 * H, Kind::Admitted, 0);
        assert_eq!(s.hours.len(), 3);
        assert_eq!((s.hours[0].start, s.hours[0].admitted), (T0 / 1000, 3));
        assert_eq!(totals(&s.hours), (3, 1, 4));
        assert_eq!(totals(&s.days), (3, 1, 4));
        // A late report finds its bucket, or takes its place among them.
        s.add(T0 + 30, Kind::Refused, 1);
        let mut late = s.clone();
        late.add(T0 - H, Kind::Admitted, 7);
        assert_eq!(late.hours[0].start, (T0 - H) / 1000);
        assert!(late.hours.windows(2).all(|w| w[0].start < w[1].start));
        assert_eq!(totals(&late.hours), (10, 1, 5));
    }

    #[test]
    fn the_series_stays_bounded_and_its_window_is_dense() {
        let mut s = Series::default();
        for hour in 0..100 {
            s.add(T0 + hour * H, Kind::Admitted, 1);
        }
        assert_eq!(s.hours.len(), HOURS_KEPT);
        assert_eq!(s.hours[0].start, (T0 + 76 * H) / 1000);
        for day in 0..40 {
            s.add(T0 + day * D, Kind::Refused, 1);
        }
        assert_eq!(s.days.len(), DAYS_KEPT);
        // A report older than everything kept is dropped, not kept in its place.
        let before = s.clone();
        s.add(T0 - 400 * D, Kind::Admitted, 1);
        assert_eq!(s.days, before.days);

        // The window: the last 24 hours and 30 days, zeros filled, current last.
        let mut s = Series::default();
        s.add(T0, Kind::Admitted, 2);
        s.add(T0 - 30 * H, Kind::Limited, 5);
        let now = T0 + 90_000;
        let w = s.window(now);
        assert_eq!((w.hours.len(), w.days.len()), (HOURS_KEPT, DAYS_KEPT));
        assert_eq!(w.hours.last().unwrap().start, T0 / 1000);
        assert_eq!(w.hours[0].start, (T0 - 23 * H) / 1000);
        assert_eq!(
            totals(&w.hours),
            (2, 0, 0),
            "30 hours ago is out of the day"
        );
        assert_eq!(totals(&w.days), (2, 5, 0));
        assert_eq!(
            (s.today(now).admitted, s.today(now).start),
            (2, (T0 - T0 % D) / 1000)
        );
        assert_eq!(s.today(now + D).admitted, 0);
        // Much later, nothing is left in the window.
        assert_eq!(totals(&s.window(now + 60 * D).days), (0, 0, 0));
        assert_eq!(Series::decode(&s.encode()), Some(s.clone()));
        assert_eq!(
            Series::decode(&Series::default().encode()),
            Some(Series::default())
        );
        for bad in ["", "1,2,3", "1,2,3,4", "1,2,3,x|", "1,2,3,-4|", "a|b"] {
            assert_eq!(Series::decode(bad), None, "{bad:?}");
        }
    }
}
