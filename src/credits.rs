//! Credits, as plain data: an amount a key may spend (a trial good for 1,000 calls,
//! a plan with 50,000 a month), refilled on a calendar, spent by each admitted
//! request at its route's cost. Time is a `now` parameter (Unix seconds, UTC).
//!
//! - A refill sets `remaining` back to `amount` at 00:00 UTC of the due day: daily,
//!   or monthly on `day` (1-31; a day past the end of a month means its last day).
//!   It never adds to what is left.
//! - A request costs its route's `cost` (0: free). It is admitted only if
//!   `remaining` covers the cost; then exactly the cost is deducted. A refused
//!   request deducts nothing.

use crate::field::{unknown_fields, FieldError};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest amount accepted.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// How often credits are refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// At 00:00 UTC every day.
    Daily,
    /// At 00:00 UTC on `day` of every month (the last day of a shorter month).
    Monthly {
        /// 1 to 31.
        day: u8,
    },
}

/// A refill: what `remaining` is set back to, and when. As JSON,
/// `{"interval": "daily" | "monthly", "amount": 1000, "day": 1}` (`day` for a
/// monthly refill only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RefillJson", into = "RefillJson")]
pub struct Refill {
    /// When.
    pub interval: Interval,
    /// What `remaining` becomes.
    pub amount: u64,
}

/// A refill's JSON: flat, so that no flattened or tagged enum needs serde's
/// buffering (which costs the worker's size).
#[derive(Serialize, Deserialize)]
struct RefillJson {
    interval: Every,
    amount: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day: Option<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Every {
    Daily,
    Monthly,
}

impl From<Refill> for RefillJson {
    fn from(r: Refill) -> RefillJson {
        let (interval, day) = match r.interval {
            Interval::Daily => (Every::Daily, None),
            Interval::Monthly { day } => (Every::Monthly, Some(day)),
        };
        RefillJson {
            interval,
            amount: r.amount,
            day,
        }
    }
}

impl TryFrom<RefillJson> for Refill {
    type Error = &'static str;

    fn try_from(r: RefillJson) -> Result<Refill, &'static str> {
        let interval = match (r.interval, r.day) {
            (Every::Daily, None) => Interval::Daily,
            (Every::Monthly, Some(day)) if (1..=31).contains(&day) => Interval::Monthly { day },
            _ => return Err("a refill is daily, or monthly on a day from 1 to 31"),
        };
        Ok(Refill {
            interval,
            amount: r.amount,
        })
    }
}

/// A key's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    /// What the key may still spend.
    pub remaining: u64,
    /// The refill, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    /// When `remaining` was last set (issued, patched or refilled), Unix seconds:
    /// the first refill due after it is the next one.
    pub since: i64,
}

/// A request refused for want of credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exhausted {
    /// What is left.
    pub remaining: u64,
    /// What the request costs.
    pub cost: u64,
    /// When the next refill comes, if there is one (Unix seconds).
    pub next_refill: Option<i64>,
    /// Credits held by isolates' leases (leased admission), which may come
    /// back unspent: with them, the request could be paid for.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub on_lease: u64,
    /// When they come back at the latest (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_by: Option<i64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What is left after an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// What the key may still spend.
    pub remaining: u64,
    /// When the next refill comes, if there is one (Unix seconds).
    pub next_refill: Option<i64>,
}

/// 00:00 UTC of `date`, Unix seconds.
fn midnight(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// `day` of the month of `first` (the first of a month), or its last day.
fn day_of_month(first: NaiveDate, day: u8) -> NaiveDate {
    let next_month = first + Months::new(1);
    let last = next_month.pred_opt().unwrap_or(first).day();
    first.with_day(u32::from(day).min(last)).unwrap_or(first)
}

impl Refill {
    /// The first refill strictly after `after` (Unix seconds).
    pub fn next_after(&self, after: i64) -> i64 {
        let date = DateTime::from_timestamp(after, 0)
            .map(|t| t.date_naive())
            .unwrap_or(NaiveDate::MIN);
        match self.interval {
            Interval::Daily => midnight(date.succ_opt().unwrap_or(date)),
            Interval::Monthly { day } => {
                let first = date.with_day(1).unwrap_or(date);
                let this_month = midnight(day_of_month(first, day));
                if this_month > after {
                    this_month
                } else {
                    midnight(day_of_month(first + Months::new(1), day))
                }
            }
        }
    }
}

impl Credits {
    /// The credits at `now`: refilled (to `amount`, never added to) if a refill
    /// came due since they were last set.
    pub fn at(self, now: i64) -> Credits {
        let Some(refill) = self.refill else {
            return self;
        };
        let due = refill.next_after(self.since);
        if due > now {
            return self;
        }
        // The latest refill at or before `now`: every one between is the same.
        let mut last = due;
        if refill.interval == Interval::Daily {
            last = last.max(now - now.rem_euclid(86_400));
        }
        loop {
            let next = refill.next_after(last);
            if next > now {
                break;
            }
            last = next;
        }
        Credits {
            remaining: refill.amount,
            since: last,
            ..self
        }
    }

    /// When the next refill comes after `now`, if there is one.
    pub fn next_refill(&self, now: i64) -> Option<i64> {
        self.refill
            .map(|r| r.next_after(self.at(now).since.max(now)))
    }

    /// What is left at `now`, and when the next refill comes.
    pub fn balance(&self, now: i64) -> Balance {
        Balance {
            remaining: self.at(now).remaining,
            next_refill: self.next_refill(now),
        }
    }

    /// Spends `cost` at `now` from what is free: `remaining` less the credits
    /// `held` by leases of the current period. The credits after it, or why not
    /// (nothing spent).
    pub fn spend(self, cost: u64, now: i64, held: u64) -> Result<Credits, Exhausted> {
        let current = self.at(now);
        let free = current.remaining.saturating_sub(held);
        if free < cost {
            let could = current.remaining >= cost;
            return Err(Exhausted {
                remaining: free,
                cost,
                next_refill: current.next_refill(now),
                on_lease: if could { current.remaining - free } else { 0 },
                back_by: None,
            });
        }
        Ok(Credits {
            remaining: current.remaining - cost,
            ..current
        })
    }

    /// Parses `credits` as given at issue time or in a plan, set at `now`.
    pub fn parse(value: &Value, field: &str, now: i64) -> Result<Credits, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = value.as_object() else {
            return Err(vec![FieldError::new(
                field,
                "must be an object: {\"remaining\": 1000, \"refill\": {\"interval\": \"monthly\", \"amount\": 1000, \"day\": 1}}",
            )]);
        };
        unknown_fields(obj, field, &["remaining", "refill"], &mut errors);
        let remaining = amount(
            obj.get("remaining"),
            format!("{field}.remaining"),
            &mut errors,
        );
        let refill = match obj.get("refill") {
            None => None,
            Some(v) => parse_refill(v, &format!("{field}.refill"), &mut errors),
        };
        if errors.is_empty() {
            Ok(Credits {
                remaining,
                refill,
                since: now,
            })
        } else {
            Err(errors)
        }
    }
}

/// An admin's change of a key's credits (`PATCH {"credits": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditsChange {
    /// `null`: the key has no credits any more (unlimited in credits).
    Remove,
    /// Some of: set `remaining`, add to it, change or remove the refill.
    Update {
        /// Set to this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remaining: Option<u64>,
        /// Add this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        add: Option<u64>,
        /// The new refill, or none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refill: Option<RefillChange>,
    },
}

/// A refill changed by an admin: a new one, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefillChange {
    /// No refill any more.
    Remove,
    /// This refill.
    Set(Refill),
}

impl CreditsChange {
    /// Parses the `credits` of a `PATCH`: `null`, or an object of `remaining`
    /// (set), `add` (add to what is left; not with `remaining`) and `refill` (an
    /// object, or `null` for none).
    pub fn parse(value: &Value, field: &str) -> Result<CreditsChange, Vec<FieldError>> {
        let Some(obj) = value.as_object() else {
            if value.is_null() {
                return Ok(CreditsChange::Remove);
            }
            return Err(vec![FieldError::new(
                field,
                "must be null (no credits) or an object: {\"remaining\": 1000}, {\"add\": 500}, {\"refill\": {…} or null}",
            )]);
        };
        let mut errors = Vec::new();
        unknown_fields(obj, field, &["remaining", "add", "refill"], &mut errors);
        let remaining = obj
            .get("remaining")
            .map(|v| amount(Some(v), format!("{field}.remaining"), &mut errors));
        let add = obj
            .get("add")
            .map(|v| amount(Some(v), format!("{field}.add"), &mut errors));
        if remaining.is_some() && add.is_some() {
            errors.push(FieldError::new(
                format!("{field}.add"),
                "cannot go with remaining: set the amount, or add to it",
            ));
        }
        let refill = obj.get("refill").map(|v| {
            match parse_refill(v, &format!("{field}.refill"), &mut errors) {
                Some(r) => RefillChange::Set(r),
                None => RefillChange::Remove,
            }
        });
        if obj.is_empty() {
            errors.push(FieldError::new(
                field,
                "names nothing to change (remaining, add or refill)",
            ));
        }
        if errors.is_empty() {
            Ok(CreditsChange::Update {
                remaining,
                add,
                refill,
            })
        } else {
            Err(errors)
        }
    }

    /// Applies the change at `now` to a key's credits (`None`: it has none).
    /// What a refill due before `now` set is kept; adding never passes
    /// [`MAX_AMOUNT`]; a changed refill counts from `now`. A key without credits
    /// needs `remaining` first.
    pub fn apply(self, current: Option<Credits>, now: i64) -> Result<Option<Credits>, String> {
        let CreditsChange::Update {
            remaining,
            add,
            refill,
        } = self
        else {
            return Ok(None);
        };
        let mut c = match (current, remaining) {
            (Some(c), _) => c.at(now),
            (None, Some(_)) => Credits {
                remaining: 0,
                refill: None,
                since: now,
            },
            (None, None) => {
                return Err("this key has no credits: set credits.remaining to give it some".into())
            }
        };
        if let Some(r) = remaining {
            c.remaining = r;
            c.since = now;
        }
        if let Some(a) = add {
            c.remaining = c.remaining.saturating_add(a).min(MAX_AMOUNT);
        }
        if let Some(r) = refill {
            c.refill = match r {
                RefillChange::Remove => None,
                RefillChange::Set(r) => Some(r),
            };
            c.since = now;
        }
        Ok(Some(c))
    }
}

/// The low-credit notice of a chain (`CREDITS_LOW_PERCENT`): sent once per
/// period, when the credits fall below a percentage of what the period began
/// with: the refill's amount, or without a refill the most they held in it. A
/// period begins with a refill or with an admin's new `remaining`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowWatch {
    /// The period watched (the credits' `since`).
    pub since: i64,
    /// The most the credits held in it.
    pub high: u64,
    /// Whether this period's notice is claimed (sent, or on its way).
    pub claimed: bool,
}

impl LowWatch {
    /// Sees the credits as they stand: a new period starts the watch afresh.
    pub fn observe(&mut self, credits: &Credits) {
        if credits.since != self.since {
            *self = LowWatch {
                since: credits.since,
                high: 0,
                claimed: false,
            };
        }
        self.high = self.high.max(credits.remaining);
    }

    /// Whether the credits are now below `percent` of the period's amount and
    /// no notice was claimed for the period: then it is claimed, and the amount
    /// it is a percentage of is returned.
    pub fn claim(&mut self, credits: &Credits, percent: u8) -> Option<u64> {
        self.observe(credits);
        let base = credits.refill.map_or(self.high, |r| r.amount);
        let low = u128::from(credits.remaining) * 100 < u128::from(base) * u128::from(percent);
        (low && !self.claimed).then(|| {
            self.claimed = true;
            base
        })
    }

    /// A notice that could not be delivered: due again in its period.
    pub fn release(&mut self, since: i64) {
        if self.since == since {
            self.claimed = false;
        }
    }
}

/// A key's credits as its views show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditsView {
    /// What is left now.
    pub remaining: u64,
    /// The refill, if any.
    pub refill: Option<Refill>,
    /// When the next refill comes (RFC 3339), if there is one.
    pub next_refill_at: Option<String>,
}

impl Credits {
    /// The view at `now`.
    pub fn view(&self, now: i64) -> CreditsView {
        let c = self.at(now);
        CreditsView {
            remaining: c.remaining,
            refill: c.refill,
            next_refill_at: c.next_refill(now).map(crate::expiry::rfc3339),
        }
    }
}

/// Which keys a list keeps, by their credits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Filter {
    /// Every key.
    #[default]
    All,
    /// Keys with credits and none left.
    Exhausted,
    /// Keys with credits and fewer than this left.
    Below(u64),
}

impl Filter {
    /// Whether a key with these credits at `now` is kept.
    pub fn keeps(self, credits: Option<&Credits>, now: i64) -> bool {
        let left = credits.map(|c| c.at(now).remaining);
        match self {
            Filter::All => true,
            Filter::Exhausted => left == Some(0),
            Filter::Below(n) => left.is_some_and(|l| l < n),
        }
    }
}

/// Parses a `refill` (`null`: none), adding what is wrong to `errors`.
fn parse_refill(value: &Value, f: &str, errors: &mut Vec<FieldError>) -> Option<Refill> {
    match value {
        Value::Null => None,
        Value::Object(r) => {
            unknown_fields(r, f, &["interval", "amount", "day"], errors);
            let amount = amount(r.get("amount"), format!("{f}.amount"), errors);
            let day = match r.get("day") {
                None => None,
                Some(v) => match v.as_u64() {
                    Some(d) if (1..=31).contains(&d) => Some(d as u8),
                    _ => {
                        errors.push(FieldError::new(
                            format!("{f}.day"),
                            "must be a day of the month, 1 to 31",
                        ));
                        None
                    }
                },
            };
            let interval = match r.get("interval").and_then(Value::as_str) {
                Some("daily") if day.is_none() && !r.contains_key("day") => Some(Interval::Daily),
                Some("daily") => {
                    errors.push(FieldError::new(
                        format!("{f}.day"),
                        "applies to a monthly refill only",
                    ));
                    None
                }
                Some("monthly") => Some(Interval::Monthly {
                    day: day.unwrap_or(1),
                }),
                _ => {
                    errors.push(FieldError::new(
                        format!("{f}.interval"),
                        "must be \"daily\" or \"monthly\"",
                    ));
                    None
                }
            };
            interval.map(|interval| Refill { interval, amount })
        }
        _ => {
            errors.push(FieldError::new(
                f,
                "must be an object (or null): {\"interval\": \"daily\", \"amount\": 1000}",
            ));
            None
        }
    }
}

/// An amount from 0 to [`MAX_AMOUNT`], or 0 with an error for `f`.
fn amount(v: Option<&Value>, f: String, errors: &mut Vec<FieldError>) -> u64 {
    match v.and_then(Value::as_u64) {
        Some(n) if n <= MAX_AMOUNT => n,
        _ => {
            errors.push(FieldError::new(
                f,
                format!("must be a whole number from 0 to {MAX_AMOUNT}"),
            ));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::{parse_rfc3339, rfc3339};
    use serde_json::json;

    fn t(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    #[track_caller]
    fn check_next(interval: Interval, after: &str, expected: &str) {
        let r = Refill {
            interval,
            amount: 1,
        };
        assert_eq!(
            rfc3339(r.next_after(t(after))),
            expected,
            "{interval:?} after {after}"
        );
    }

    #[test]
    fn refill_dates() {
        use Interval::*;
        check_next(Daily, "2027-03-10T15:00:00Z", "2027-03-11T00:00:00Z");
        check_next(Daily, "2027-03-10T00:00:00Z", "2027-03-11T00:00:00Z");
        check_next(Daily, "2027-12-31T23:59:59Z", "2028-01-01T00:00:00Z");
        check_next(
            Monthly { day: 1 },
            "2027-03-10T15:00:00Z",
            "2027-04-01T00:00:00Z",
        );
        check_next(
            Monthly { day: 15 },
            "2027-03-10T15:00:00Z",
            "2027-03-15T00:00:00Z",
        );
        check_next(
            Monthly { day: 15 },
            "2027-03-15T00:00:00Z",
            "2027-04-15T00:00:00Z",
        );
        // Day 31: the last day of shorter months, February of leap years too.
        check_next(
            Monthly { day: 31 },
            "2027-02-01T00:00:00Z",
            "2027-02-28T00:00:00Z",
        );
        check_next(
            Monthly { day: 31 },
            "2028-02-01T00:00:00Z",
            "2028-02-29T00:00:00Z",
        );
        check_next(
            Monthly { day: 30 },
            "2028-02-29T00:00:00Z",
            "2028-03-30T00:00:00Z",
        );
        check_next(
            Monthly { day: 31 },
            "2027-04-30T00:00:00Z",
            "2027-05-31T00:00:00Z",
        );
        check_next(
            Monthly { day: 31 },
            "2027-12-31T00:00:00Z",
            "2028-01-31T00:00:00Z",
        );
        check_next(
            Monthly { day: 29 },
            "2100-02-01T00:00:00Z",
            "2100-02-28T00:00:00Z",
        );
    }

    fn credits(remaining: u64, refill: Option<Refill>, since: &str) -> Credits {
        Credits {
            remaining,
            refill,
            since: t(since),
        }
    }

    #[test]
    fn spending_and_refilling() {
        let daily = Some(Refill {
            interval: Interval::Daily,
            amount: 5,
        });
        let c = credits(5, daily, "2027-03-10T12:00:00Z");
        let now = t("2027-03-10T13:00:00Z");
        let c = c.spend(1, now, 0).unwrap().spend(2, now, 0).unwrap();
        assert_eq!(c.remaining, 2);
        // Cost 0 is free, even at 0.
        assert_eq!(c.spend(0, now, 0).unwrap().remaining, 2);
        // Not enough: nothing is spent, and the next refill is said.
        let e = c.spend(3, now, 0).unwrap_err();
        assert_eq!((e.remaining, e.cost), (2, 3));
        assert_eq!(
            e.next_refill.map(rfc3339).as_deref(),
            Some("2027-03-11T00:00:00Z")
        );
        let c = c.spend(2, now, 0).unwrap();
        assert_eq!(c.spend(0, now, 0).map(|c| c.remaining), Ok(0));
        assert!(c.spend(1, now, 0).is_err());
        // At the refill: back to the amount, never added to.
        let next_day = t("2027-03-11T00:00:00Z");
        let after = c.at(next_day);
        assert_eq!(
            (after.remaining, rfc3339(after.since)),
            (5, "2027-03-11T00:00:00Z".into())
        );
        let c = credits(4, daily, "2027-03-10T12:00:00Z");
        assert_eq!(c.at(t("2027-03-14T09:00:00Z")).remaining, 5, "not 4 + 5");
        assert_eq!(
            rfc3339(c.at(t("2027-03-14T09:00:00Z")).since),
            "2027-03-14T00:00:00Z"
        );
        // A monthly refill: the credits count from the refill's own date, also when
        // `now` falls exactly on the next one.
        let monthly = Some(Refill {
            interval: Interval::Monthly { day: 15 },
            amount: 9,
        });
        let c = credits(1, monthly, "2027-01-10T00:00:00Z");
        for (now, since) in [
            ("2027-03-20T10:00:00Z", "2027-03-15T00:00:00Z"),
            ("2027-03-15T00:00:00Z", "2027-03-15T00:00:00Z"),
            ("2027-03-14T23:59:59Z", "2027-02-15T00:00:00Z"),
        ] {
            let at = c.at(t(now));
            assert_eq!(
                (at.remaining, rfc3339(at.since)),
                (9, since.to_string()),
                "{now}"
            );
        }
        // Without a refill, spent is spent; no next refill.
        let once = credits(1, None, "2027-03-10T12:00:00Z");
        let e = once
            .spend(1, now, 0)
            .unwrap()
            .spend(1, t("2030-01-01T00:00:00Z"), 0)
            .unwrap_err();
        assert_eq!(e.next_refill, None);
    }

    #[test]
    fn parsing_names_every_bad_field() {
        let now = t("2027-03-10T12:00:00Z");
        let ok = Credits::parse(
            &json!({"remaining": 1000, "refill": {"interval": "monthly", "amount": 1000, "day": 31}}),
            "credits",
            now,
        )
        .unwrap();
        assert_eq!(ok.refill.unwrap().interval, Interval::Monthly { day: 31 });
        assert_eq!(ok.since, now);
        let daily = Credits::parse(
            &json!({"remaining": 5, "refill": {"interval": "daily", "amount": 5}}),
            "credits",
            now,
        );
        assert_eq!(daily.unwrap().refill.unwrap().interval, Interval::Daily);
        let monthly = Credits::parse(
            &json!({"remaining": 5, "refill": {"interval": "monthly", "amount": 5}}),
            "credits",
            now,
        );
        assert_eq!(
            monthly.unwrap().refill.unwrap().interval,
            Interval::Monthly { day: 1 }
        );
        #[track_caller]
        fn check(v: Value, fields: &[&str]) {
            let errors = Credits::parse(&v, "credits", 0).expect_err("refused");
            let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{v}");
        }
        check(json!(5), &["credits"]);
        check(json!({}), &["credits.remaining"]);
        check(json!({"remaining": -1}), &["credits.remaining"]);
        check(json!({"remaining": 1, "left": 2}), &["credits.left"]);
        check(
            json!({"remaining": 1, "refill": {"interval": "weekly", "amount": "x", "day": 40}}),
            &[
                "credits.refill.amount",
                "credits.refill.day",
                "credits.refill.interval",
            ],
        );
        check(
            json!({"remaining": 1, "refill": {"interval": "daily", "amount": 1, "day": 2}}),
            &["credits.refill.day"],
        );
        check(json!({"remaining": 1, "refill": 7}), &["credits.refill"]);
        check(json!({"remaining": MAX_AMOUNT + 1}), &["credits.remaining"]);
        assert!(Credits::parse(&json!({"remaining": MAX_AMOUNT}), "credits", 0).is_ok());
        // A daily refill with a bad day: both faults are said.
        check(
            json!({"remaining": 1, "refill": {"interval": "daily", "amount": 1, "day": 40}}),
            &["credits.refill.day", "credits.refill.day"],
        );
    }

    #[test]
    fn credits_travel_as_json() {
        let c = Credits {
            remaining: 3,
            refill: Some(Refill {
                interval: Interval::Monthly { day: 31 },
                amount: 10,
            }),
            since: 1,
        };
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(
            v,
            json!({"remaining": 3, "refill": {"interval": "monthly", "day": 31, "amount": 10}, "since": 1})
        );
        assert_eq!(serde_json::from_value::<Credits>(v).unwrap(), c);
        // What the stored form refuses: a day out of range, a daily refill with a
        // day, a monthly one without.
        for bad in [
            json!({"interval": "monthly", "day": 0, "amount": 1}),
            json!({"interval": "monthly", "day": 32, "amount": 1}),
            json!({"interval": "monthly", "amount": 1}),
            json!({"interval": "daily", "day": 1, "amount": 1}),
            json!({"interval": "weekly", "amount": 1}),
        ] {
            assert!(
                serde_json::from_value::<Refill>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let daily = json!({"interval": "daily", "amount": 4});
        let r: Refill = serde_json::from_value(daily.clone()).unwrap();
        assert_eq!(serde_json::to_value(r).unwrap(), daily);
    }
    #[test]
    fn changes_set_add_and_refill_never_lose_a_refill() {
        let now = t("2027-03-10T12:00:00Z");
        let daily = Refill {
            interval: Interval::Daily,
            amount: 100,
        };
        let c = Some(credits(7, Some(daily), "2027-03-09T12:00:00Z"));
        let change = |v: Value| CreditsChange::parse(&v, "credits").unwrap();
        // A refill came due at 00:00: adding counts from what it set.
        let added = change(json!({"add": 5})).apply(c, now).unwrap().unwrap();
        assert_eq!(added.remaining, 105);
        assert_eq!(rfc3339(added.since), "2027-03-10T00:00:00Z");
        let set = change(json!({"remaining": 3}))
            .apply(c, now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (set.remaining, set.since, set.refill),
            (3, now, Some(daily))
        );
        // Removing the refill keeps what is left; a new refill counts from now.
        let no_refill = change(json!({"refill": null}))
            .apply(c, now)
            .unwrap()
            .unwrap();
        assert_eq!((no_refill.remaining, no_refill.refill), (100, None));
        let monthly = change(json!({"refill": {"interval": "monthly", "amount": 9, "day": 10}}))
            .apply(c, now)
            .unwrap()
            .unwrap();
        assert_eq!(monthly.remaining, 100);
        assert_eq!(
            monthly.next_refill(now).map(rfc3339).as_deref(),
            Some("2027-04-10T00:00:00Z")
        );
        // Never past the largest amount.
        let full = Some(credits(MAX_AMOUNT - 1, None, "2027-03-09T12:00:00Z"));
        let capped = change(json!({"add": 5})).apply(full, now).unwrap().unwrap();
        assert_eq!(capped.remaining, MAX_AMOUNT);
        // A key without credits: set first; removing is always possible.
        assert!(change(json!({"add": 5})).apply(None, now).is_err());
        assert!(change(json!({"refill": null})).apply(None, now).is_err());
        let given = change(json!({"remaining": 4})).apply(None, now).unwrap();
        assert_eq!(given.map(|c| c.remaining), Some(4));
        assert_eq!(CreditsChange::Remove.apply(c, now), Ok(None));
    }

    #[test]
    fn patches_name_every_bad_field() {
        assert_eq!(
            CreditsChange::parse(&json!(null), "credits"),
            Ok(CreditsChange::Remove)
        );
        #[track_caller]
        fn check(v: Value, fields: &[&str]) {
            let errors = CreditsChange::parse(&v, "credits").expect_err("refused");
            let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{v}");
        }
        check(json!(5), &["credits"]);
        check(json!({}), &["credits"]);
        check(json!({"remaining": 1, "add": 2}), &["credits.add"]);
        check(
            json!({"add": -2, "extra": 1}),
            &["credits.extra", "credits.add"],
        );
        check(
            json!({"refill": {"interval": "hourly", "amount": 1}}),
            &["credits.refill.interval"],
        );
        let c = CreditsChange::parse(&json!({"add": 2, "refill": null}), "credits").unwrap();
        let wire = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<CreditsChange>(&wire).unwrap(), c);
    }

    #[test]
    fn views_and_filters() {
        let now = t("2027-03-10T12:00:00Z");
        let daily = Some(Refill {
            interval: Interval::Daily,
            amount: 5,
        });
        let v = credits(0, daily, "2027-03-10T06:00:00Z").view(now);
        assert_eq!(v.remaining, 0);
        assert_eq!(v.next_refill_at.as_deref(), Some("2027-03-11T00:00:00Z"));
        // Refilled since it was set: the view shows the refill.
        let v = credits(0, daily, "2027-03-09T06:00:00Z").view(now);
        assert_eq!(v.remaining, 5);
        let none = credits(0, None, "2027-03-09T06:00:00Z");
        assert_eq!(none.view(now).next_refill_at, None);
        let three = credits(3, None, "2027-03-09T06:00:00Z");
        for (filter, c, kept) in [
            (Filter::All, None, true),
            (Filter::Exhausted, None, false),
            (Filter::Exhausted, Some(none), true),
            (Filter::Exhausted, Some(three), false),
            (Filter::Below(4), Some(three), true),
            (Filter::Below(3), Some(three), false),
            (Filter::Below(4), None, false),
        ] {
            assert_eq!(filter.keeps(c.as_ref(), now), kept, "{filter:?} {c:?}");
        }
    }

    #[test]
    fn a_low_credit_notice_is_due_once_per_period() {
        let set = "2027-03-10T06:00:00Z";
        let mut w = LowWatch::default();
        // Without a refill: a percentage of the most the period held.
        let steps = [
            (10, None, set, 50, None),
            (5, None, set, 50, None),
            (4, None, set, 50, Some(10)),
            (3, None, set, 50, None),
            (0, None, set, 50, None),
            // An admin's new amount is a new period, watched afresh.
            (8, None, "2027-03-10T07:00:00Z", 50, None),
            (4, None, "2027-03-10T07:00:00Z", 50, None),
            (3, None, "2027-03-10T07:00:00Z", 50, Some(8)),
        ];
        for (remaining, refill, since, percent, due) in steps {
            let c = credits(remaining, refill, since);
            assert_eq!(w.claim(&c, percent), due, "{remaining} since {since}");
        }
        // With a refill: a percentage of its amount, again after each refill.
        let daily = Some(Refill {
            interval: Interval::Daily,
            amount: 100,
        });
        let mut w = LowWatch::default();
        assert_eq!(
            w.claim(&credits(10, daily, set), 10),
            None,
            "10 is not below 10%"
        );
        assert_eq!(w.claim(&credits(9, daily, set), 10), Some(100));
        assert_eq!(w.claim(&credits(1, daily, set), 10), None);
        let next_day = "2027-03-11T00:00:00Z";
        assert_eq!(w.claim(&credits(100, daily, next_day), 10), None);
        assert_eq!(w.claim(&credits(0, daily, next_day), 10), Some(100));
        // A notice that could not be delivered is due again, in its period only.
        w.release(t(set));
        assert_eq!(w.claim(&credits(0, daily, next_day), 10), None);
        w.release(t(next_day));
        assert_eq!(w.claim(&credits(0, daily, next_day), 10), Some(100));
        // Adding raises what the period held.
        let mut w = LowWatch::default();
        w.observe(&credits(10, None, set));
        w.observe(&credits(30, None, set));
        assert_eq!(w.claim(&credits(14, None, set), 50), Some(30));
        // Nothing given, nothing low.
        let mut w = LowWatch::default();
        assert_eq!(w.claim(&credits(0, None, set), 99), None);
    }

    #[test]
    fn credits_on_lease_are_not_spent_again() {
        let now = t("2027-03-10T12:00:00Z");
        let c = credits(5, None, "2027-03-10T06:00:00Z");
        assert_eq!(c.spend(2, now, 3).map(|c| c.remaining), Ok(3), "2 free");
        let e = c.spend(3, now, 3).unwrap_err();
        assert_eq!(
            (e.remaining, e.on_lease, e.cost),
            (2, 3, 3),
            "may come back"
        );
        let e = c.spend(6, now, 3).unwrap_err();
        assert_eq!((e.remaining, e.on_lease), (2, 0), "not even with them back");
        assert_eq!(c.spend(1, now, 9).unwrap_err().remaining, 0);
        // On the wire, nothing on lease is left out.
        let json = serde_json::to_value(e).unwrap();
        assert!(json.get("on_lease").is_none() && json.get("back_by").is_none());
        let held = Exhausted {
            on_lease: 3,
            back_by: Some(9),
            ..e
        };
        let text = serde_json::to_string(&held).unwrap();
        assert!(text.contains(r#""on_lease":3"#), "{text}");
        assert_eq!(serde_json::from_str::<Exhausted>(&text).unwrap(), held);
    }
}
