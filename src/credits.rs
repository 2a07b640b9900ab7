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

use crate::field::FieldError;
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest amount accepted.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// How often credits are refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "interval")]
pub enum Interval {
    /// At 00:00 UTC every day.
    Daily,
    /// At 00:00 UTC on `day` of every month (the last day of a shorter month).
    Monthly {
        /// 1 to 31.
        day: u8,
    },
}

/// A refill: what `remaining` is set back to, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refill {
    /// When.
    #[serde(flatten)]
    pub interval: Interval,
    /// What `remaining` becomes.
    pub amount: u64,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    /// What is left.
    pub remaining: u64,
    /// What the request costs.
    pub cost: u64,
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

    /// Spends `cost` at `now`: the credits after it, or why not (nothing spent).
    pub fn spend(self, cost: u64, now: i64) -> Result<Credits, Exhausted> {
        let current = self.at(now);
        if current.remaining < cost {
            return Err(Exhausted {
                remaining: current.remaining,
                cost,
                next_refill: current.next_refill(now),
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
        for k in obj
            .keys()
            .filter(|k| !matches!(k.as_str(), "remaining" | "refill"))
        {
            errors.push(FieldError::new(
                format!("{field}.{k}"),
                "is not a known field (expected: remaining, refill)",
            ));
        }
        let amount = |v: Option<&Value>, f: String, errors: &mut Vec<FieldError>| match v
            .and_then(Value::as_u64)
        {
            Some(n) if n <= MAX_AMOUNT => n,
            _ => {
                errors.push(FieldError::new(
                    f,
                    format!("must be a whole number from 0 to {MAX_AMOUNT}"),
                ));
                0
            }
        };
        let remaining = amount(
            obj.get("remaining"),
            format!("{field}.remaining"),
            &mut errors,
        );
        let refill = match obj.get("refill") {
            None | Some(Value::Null) => None,
            Some(Value::Object(r)) => {
                let f = format!("{field}.refill");
                for k in r
                    .keys()
                    .filter(|k| !matches!(k.as_str(), "interval" | "amount" | "day"))
                {
                    errors.push(FieldError::new(
                        format!("{f}.{k}"),
                        "is not a known field (expected: interval, amount, day)",
                    ));
                }
                let amount = amount(r.get("amount"), format!("{f}.amount"), &mut errors);
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
                    Some("daily") if day.is_none() && !r.contains_key("day") => {
                        Some(Interval::Daily)
                    }
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
            Some(_) => {
                errors.push(FieldError::new(
                    format!("{field}.refill"),
                    "must be an object (or null): {\"interval\": \"daily\", \"amount\": 1000}",
                ));
                None
            }
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
        let c = c.spend(1, now).unwrap().spend(2, now).unwrap();
        assert_eq!(c.remaining, 2);
        // Cost 0 is free, even at 0.
        assert_eq!(c.spend(0, now).unwrap().remaining, 2);
        // Not enough: nothing is spent, and the next refill is said.
        let e = c.spend(3, now).unwrap_err();
        assert_eq!((e.remaining, e.cost), (2, 3));
        assert_eq!(
            e.next_refill.map(rfc3339).as_deref(),
            Some("2027-03-11T00:00:00Z")
        );
        let c = c.spend(2, now).unwrap();
        assert_eq!(c.spend(0, now).map(|c| c.remaining), Ok(0));
        assert!(c.spend(1, now).is_err());
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
        // Without a refill, spent is spent; no next refill.
        let once = credits(1, None, "2027-03-10T12:00:00Z");
        let e = once
            .spend(1, now)
            .unwrap()
            .spend(1, t("2030-01-01T00:00:00Z"))
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
    }
}
