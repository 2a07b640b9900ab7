//! Admission as a plan: from the facts the shell gathered about one keyed request
//! (its record, route, address, time, who asks, the configuration) to what the
//! shell does, and from what the key's object answered, or failed to, to the
//! response. The shell carries the steps out and decides nothing.
//!
//! The steps, in order:
//! 1. [`plan`] judges the record (status, address, route) and chooses the step:
//!    - a refusal, recorded at the key's object (exact: it counts nothing) or
//!      with the isolate's next report (leased);
//!    - ask the object exactly; or admit from the isolate's lease (leased
//!      admission, the request path only), asking exactly when the chain's
//!      credits are too few to lease this request's cost;
//!    - with `fail_open`, whether a failing object may let the request through.
//! 2. [`answered`] turns the object's exact answer into the response, and says
//!    what the isolate's fail-open memory learns from it ([`Learned`]).
//! 3. [`failed`] decides a request whose object could not answer.
//!
//! [`carry_out`] goes through these steps over the shell's [`Effects`].
//!
//! A record that says "disabled" is left to the key's object when nothing else
//! refuses the request: an admin's enabling reaches the object at once, while
//! isolates may hold the disabled record for `RECORD_CACHE_TTL`. Such a request is
//! only ever asked exactly, never admitted from a lease or opened on failure.

mod carry;

pub use carry::{admit, carry_out, Carried, Effects, Event, Leased};

use crate::config::Config;
use crate::decide::{self, Admitted};
use crate::failopen::{FailOpen, Refusal};
use crate::keystate::{Admission, Answer, Denial};
use crate::policy::RouteDecision;
use crate::problem::Problem;
use crate::record::{AdmissionMode, KeyRecord, KeyStatus};
use std::net::IpAddr;

/// Who asks for the admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The request path: leased admission and fail-open as configured.
    RequestPath,
    /// The admin API, for a `keys:manage` key: exact, and always failing closed.
    AdminApi,
}

/// What the request asks, as the shell read it before the lookup.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// What the policy requires of the route.
    pub route: RouteDecision<'a>,
    /// What an admitted request spends of the key's credits.
    pub cost: u64,
    /// The client's address (`CF-Connecting-IP`).
    pub ip: Option<IpAddr>,
    /// The request's method.
    pub method: &'a str,
    /// The canonical path.
    pub path: &'a str,
}

/// What the shell knows of one keyed request once its record is found.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The key's record.
    pub record: &'a KeyRecord,
    /// What the request asks.
    pub request: Request<'a>,
    /// Now, in Unix milliseconds.
    pub now_ms: i64,
    /// Who asks.
    pub caller: Caller,
}

impl<'a> Facts<'a> {
    /// The facts of `request` with `record`'s key, at `now_ms`, asked by `caller`.
    pub fn new(record: &'a KeyRecord, request: Request<'a>, now_ms: i64, caller: Caller) -> Self {
        Facts {
            record,
            request,
            now_ms,
            caller,
        }
    }
}

/// Where a refusal decided before the key's object is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAt {
    /// At the key's object now (it counts nothing); a failure to record is
    /// logged, and the refusal stands.
    Object,
    /// With the isolate's next report to the object (leased admission).
    Report,
}

/// What the shell does with the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Refused before the key's object.
    Refuse {
        /// The refusal answered.
        problem: Problem,
        /// Where it is recorded.
        at: RecordAt,
    },
    /// Ask the key's object, which decides exactly.
    Exact {
        /// Whether a failing object lets the request through ([`failed`]).
        fail_open: bool,
    },
    /// Admit from the isolate's lease, asking the object when no lease is
    /// usable; [`Step::Exact`] with the same `fail_open` when the chain's credits
    /// are too few to lease this request's cost.
    Leased {
        /// Whether a failing object lets the request through ([`failed`]).
        fail_open: bool,
    },
}

/// The plan of one admission: the message for the key's object, and the step.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What the object is asked (or told of a refusal), or the isolate reports.
    pub admission: Admission,
    /// What the shell does.
    pub step: Step,
}

impl Plan {
    /// Whether a failing object may let this request through ([`failed`]): only
    /// then does the isolate keep what the object's answers teach ([`Learned`]).
    pub fn fails_open(&self) -> bool {
        matches!(
            self.step,
            Step::Exact { fail_open: true } | Step::Leased { fail_open: true }
        )
    }
}

/// Plans the admission of a keyed request. `Err` only for a configuration the
/// key's limits cannot be read from (a plan no longer in `PLANS`).
pub fn plan(facts: &Facts<'_>, config: &Config) -> Result<Plan, Problem> {
    let (record, request) = (facts.record, &facts.request);
    let mut admission = Admission {
        key: record.id.clone(),
        team: record.team.clone(),
        policies: vec![],
        method: request.method.to_string(),
        // Only the outcome keeps the path, and only this much of it.
        path: crate::usage::cut_path(request.path),
        denial: None,
        cost: request.cost,
        rev: Some(record.rev),
    };
    let request_path = facts.caller == Caller::RequestPath;
    let leased = request_path && decide::admission_mode(record, config) == AdmissionMode::Leased;
    let step = match judge(record, request.route, request.ip, facts.now_ms) {
        Judged::Refused(problem) if leased => Step::Refuse {
            problem,
            at: RecordAt::Report,
        },
        Judged::Refused(problem) => {
            admission.denial = Some(Denial::of(&problem));
            Step::Refuse {
                problem,
                at: RecordAt::Object,
            }
        }
        Judged::Disabled => {
            admission.policies = decide::limits(record, config)?.to_vec();
            Step::Exact { fail_open: false }
        }
        Judged::Admissible => {
            admission.policies = decide::limits(record, config)?.to_vec();
            let fail_open =
                request_path && config.rate_limit_fail_open && decide::may_fail_open(record);
            if leased {
                Step::Leased { fail_open }
            } else {
                Step::Exact { fail_open }
            }
        }
    };
    Ok(Plan { admission, step })
}

/// How the record alone judges the request.
#[derive(Debug, Clone, PartialEq)]
enum Judged {
    /// Refused by its status, address or route.
    Refused(Problem),
    /// Admissible but for the record's "disabled", which only the key's object
    /// may overrule (it knows of an enabling at once).
    Disabled,
    /// Admissible, as far as the record says.
    Admissible,
}

/// Judges the record in the usual order (status, address, route). A disabled
/// record is judged as enabled: if nothing else refuses, the object decides;
/// if something does, the record's own answer (disabling first) is given.
fn judge(record: &KeyRecord, route: RouteDecision<'_>, ip: Option<IpAddr>, now_ms: i64) -> Judged {
    let refusal = |r: &KeyRecord| decide::after_lookup(Some(r), route, ip, now_ms).err();
    if record.status(now_ms) != KeyStatus::Disabled {
        return refusal(record).map_or(Judged::Admissible, Judged::Refused);
    }
    let enabled = KeyRecord {
        enabled: true,
        ..record.clone()
    };
    match refusal(&enabled) {
        None => Judged::Disabled,
        Some(_) => refusal(record).map_or(Judged::Disabled, Judged::Refused),
    }
}

/// What an isolate's fail-open memory learns from an answer of the key's object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// The object refused the key as revoked or disabled.
    pub refused: bool,
    /// The key spends credits, as the object said.
    pub credited: bool,
}

impl Learned {
    /// Into the isolate's memory of `key`.
    pub fn into(self, memory: &mut FailOpen, key: &str, now_ms: i64) {
        memory.saw(key, self.refused, self.credited, now_ms);
    }
}

/// The key's object's exact answer, as the response (the object's word on
/// revocation and disabling is final) and what fail-open learns from it.
pub fn answered(
    record: &KeyRecord,
    answer: Answer,
    now_ms: i64,
) -> (Result<Admitted, Problem>, Learned) {
    let learned = Learned {
        refused: matches!(answer.status, KeyStatus::Revoked | KeyStatus::Disabled),
        credited: answer.credits.is_some() || answer.exhausted.is_some(),
    };
    (decide::object_answer(record, answer, now_ms), learned)
}

/// What fail-open learns from a request admitted from the isolate's lease.
pub fn leased(admitted: &Admitted) -> Learned {
    Learned {
        refused: false,
        credited: admitted.credits.is_some(),
    }
}

/// A request whose key's object could not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Fail closed (`503 UNAVAILABLE`): the plan did not allow fail-open.
    Closed,
    /// Fail-open allowed, and the isolate's memory refused: fail closed all the
    /// same, for this reason (logged).
    Refused(&'static str),
    /// Let through on fail-open, counted in this isolate's memory. Its
    /// RateLimit fields would count this isolate only: none are sent.
    Open,
    /// Refused on fail-open: the key's limits, counted in this isolate, are spent.
    Limited(Problem),
}

/// Decides a request whose key's object could not answer: closed, unless the
/// plan allowed fail-open; then within the key's limits counted in the isolate's
/// `memory`, and never for a key it saw revoked, disabled or spending credits.
pub fn failed(memory: &mut FailOpen, plan: &Plan, now_ms: i64) -> Failure {
    if !plan.fails_open() {
        return Failure::Closed;
    }
    let a = &plan.admission;
    match memory.admit(&a.key, &a.policies, now_ms) {
        Ok(_) => Failure::Open,
        Err(Refusal::SeenRefused) => Failure::Refused("revoked or disabled"),
        Err(Refusal::SeenCredited) => Failure::Refused("spends credits"),
        Err(Refusal::Limited(v)) => Failure::Limited(decide::rate_limited(&v)),
    }
}

impl Failure {
    /// Why fail-open refused, for the log line (`None` when it admitted, or was
    /// not allowed).
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Failure::Refused(why) => Some(why),
            Failure::Limited(_) => Some("rate limited in this isolate"),
            Failure::Closed | Failure::Open => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credits::{Balance, Credits, Exhausted};
    use crate::problem::Code;
    use crate::ratelimit::Verdict;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const NOW_MS: i64 = NOW * 1000;

    fn config(admission: &str, failure: &str) -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(json!({
                "routes": [
                    {"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]},
                    {"method": "*", "path": "/internal/**", "deny": true}
                ]
            })),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "RATE_LIMITS" => Some(json!([{"name": "burst", "limit": 2, "window": "1m"}])),
            "ADMISSION" => Some(json!(admission)),
            "RATE_LIMIT_FAILURE" => Some(json!(failure)),
            _ => None,
        })
        .unwrap()
    }

    fn record() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            scopes: vec!["documents.read".into()],
            expires_at: Some(NOW + 3600),
            ip_allow: Some(vec!["203.0.113.0/24".parse().unwrap()]),
            enabled: true,
            ..Default::default()
        }
    }

    /// The facts of a GET of `path` from `ip` by `caller`, for `r` under `c`.
    fn facts<'a>(
        r: &'a KeyRecord,
        c: &'a Config,
        path: &'a str,
        ip: &str,
        caller: Caller,
    ) -> Facts<'a> {
        let request = Request {
            route: c.policy.judge("GET", path),
            cost: 1,
            ip: Some(ip.parse().unwrap()),
            method: "GET",
            path,
        };
        Facts {
            record: r,
            request,
            now_ms: NOW_MS,
            caller,
        }
    }

    /// The record in each state the plan judges.
    fn in_state(state: &str) -> KeyRecord {
        let r = record();
        match state {
            "active" => r,
            "revoked" => KeyRecord {
                revoked_at: Some(NOW - 1),
                ..r
            },
            "disabled" => KeyRecord {
                enabled: false,
                ..r
            },
            "expired" => KeyRecord {
                expires_at: Some(NOW - 1),
                ..r
            },
            "credited" => KeyRecord {
                credits: Some(Credits {
                    remaining: 5,
                    refill: None,
                    since: NOW,
                }),
                ..r
            },
            other => panic!("{other}"),
        }
    }

    /// The step for a request to `path` from `ip`, shown as a short word.
    fn step(
        state: &str,
        mode: &str,
        failure: &str,
        caller: Caller,
        path: &str,
        ip: &str,
    ) -> String {
        let c = config(mode, failure);
        let r = in_state(state);
        let facts = facts(&r, &c, path, ip, caller);
        let plan = plan(&facts, &c).unwrap();
        // A refusal recorded at the object carries its denial; nothing else does.
        assert_eq!(
            plan.admission.denial.is_some(),
            matches!(
                plan.step,
                Step::Refuse {
                    at: RecordAt::Object,
                    ..
                }
            ),
            "{state} {mode}"
        );
        // Limits go with every request the object or a lease may admit.
        assert_eq!(
            plan.admission.policies.is_empty(),
            matches!(plan.step, Step::Refuse { .. }),
            "{state} {mode}"
        );
        match plan.step {
            Step::Refuse { problem, at } => format!("{} at {at:?}", problem.code.as_str()),
            Step::Exact { fail_open } => format!("exact{}", if fail_open { " open" } else { "" }),
            Step::Leased { fail_open } => format!("leased{}", if fail_open { " open" } else { "" }),
        }
    }

    const IN: &str = "203.0.113.9";
    const OUT: &str = "198.51.100.1";

    /// Every status × mode × failure × caller, on an allowed route from an
    /// allowed address.
    #[test]
    fn every_status_mode_and_failure_gets_its_step() {
        use Caller::*;
        #[track_caller]
        fn check(state: &str, mode: &str, failure: &str, caller: Caller, expected: &str) {
            let got = step(state, mode, failure, caller, "/documents/1", IN);
            assert_eq!(got, expected, "{state} {mode} {failure} {caller:?}");
        }
        for failure in ["closed", "open"] {
            let open = |s: &str| {
                if failure == "open" {
                    format!("{s} open")
                } else {
                    s.into()
                }
            };
            check("active", "exact", failure, RequestPath, &open("exact"));
            check("active", "leased", failure, RequestPath, &open("leased"));
            // The admin API: exact, and never open.
            check("active", "exact", failure, AdminApi, "exact");
            check("active", "leased", failure, AdminApi, "exact");
            // Credits: only the object spends them, so never open.
            check("credited", "exact", failure, RequestPath, "exact");
            check("credited", "leased", failure, RequestPath, "leased");
            // A disabled record: the object decides, exactly, never open.
            for mode in ["exact", "leased"] {
                check("disabled", mode, failure, RequestPath, "exact");
                check("disabled", mode, failure, AdminApi, "exact");
            }
            // Refused by the record: at the object (exact), or reported (leased).
            for (state, code) in [("revoked", "KEY_REVOKED"), ("expired", "KEY_EXPIRED")] {
                check(
                    state,
                    "exact",
                    failure,
                    RequestPath,
                    &format!("{code} at Object"),
                );
                check(
                    state,
                    "leased",
                    failure,
                    RequestPath,
                    &format!("{code} at Report"),
                );
                check(
                    state,
                    "leased",
                    failure,
                    AdminApi,
                    &format!("{code} at Object"),
                );
            }
        }
    }

    /// Refusals by address and route, and the order of judging: the record's
    /// status first, then the address, then the route; a disabled record's
    /// "disabled" when anything else refuses.
    #[test]
    fn refusals_come_in_the_usual_order() {
        #[track_caller]
        fn check(state: &str, mode: &str, path: &str, ip: &str, expected: &str) {
            let got = step(state, mode, "open", Caller::RequestPath, path, ip);
            assert_eq!(got, expected, "{state} {mode} {path} {ip}");
        }
        check(
            "active",
            "exact",
            "/documents/1",
            OUT,
            "IP_NOT_ALLOWED at Object",
        );
        check(
            "active",
            "leased",
            "/documents/1",
            OUT,
            "IP_NOT_ALLOWED at Report",
        );
        check(
            "active",
            "exact",
            "/internal/x",
            IN,
            "ROUTE_NOT_ALLOWED at Object",
        );
        check(
            "active",
            "exact",
            "/other",
            IN,
            "ROUTE_NOT_ALLOWED at Object",
        );
        check(
            "revoked",
            "exact",
            "/internal/x",
            OUT,
            "KEY_REVOKED at Object",
        );
        check(
            "disabled",
            "exact",
            "/internal/x",
            IN,
            "KEY_DISABLED at Object",
        );
        check(
            "disabled",
            "leased",
            "/documents/1",
            OUT,
            "KEY_DISABLED at Report",
        );
        let both = |mode| {
            let c = config(mode, "closed");
            let r = KeyRecord {
                revoked_at: Some(1),
                ..in_state("disabled")
            };
            let facts = facts(&r, &c, "/documents/1", IN, Caller::RequestPath);
            plan(&facts, &c).unwrap().step
        };
        assert!(
            matches!(both("exact"), Step::Refuse { problem, .. } if problem.code == Code::KeyRevoked)
        );
    }

    #[test]
    fn the_message_carries_the_request() {
        let c = config("exact", "closed");
        let r = record();
        let long = format!("/documents/{}", "x".repeat(500));
        let facts = Facts {
            record: &r,
            request: Request {
                route: c.policy.judge("GET", &long),
                cost: 3,
                ip: Some(IN.parse().unwrap()),
                method: "GET",
                path: &long,
            },
            now_ms: NOW_MS,
            caller: Caller::RequestPath,
        };
        let p = plan(&facts, &c).unwrap();
        let a = &p.admission;
        assert_eq!(
            (a.key.as_str(), a.team.as_str(), a.cost),
            ("key_1", "acme", 3)
        );
        assert_eq!(a.path, crate::usage::cut_path(&long));
        assert_eq!(a.policies, c.rate_limits);
        // A plan that is gone is a configuration error, not "unlimited".
        let gone = KeyRecord {
            plan: Some("gone".into()),
            ..record()
        };
        let facts = Facts {
            record: &gone,
            ..facts
        };
        assert_eq!(plan(&facts, &c).unwrap_err().code, Code::Misconfigured);
    }

    fn answer(status: KeyStatus, credits: Option<u64>, exhausted: bool) -> Answer {
        Answer {
            status,
            verdict: Some(Verdict {
                admitted: true,
                policies: vec![],
                violated: vec![],
                retry_after_s: None,
            }),
            credits: credits.map(|remaining| Balance {
                remaining,
                next_refill: None,
            }),
            exhausted: exhausted.then_some(Exhausted {
                cost: 2,
                remaining: 1,
                on_lease: 0,
                next_refill: None,
                back_by: None,
            }),
            stale: false,
        }
    }

    #[test]
    fn an_answer_is_final_and_teaches_fail_open() {
        #[track_caller]
        fn check(a: Answer, code: Option<Code>, refused: bool, credited: bool) {
            let (got, learned) = answered(&record(), a, NOW_MS);
            assert_eq!(got.err().map(|p| p.code), code);
            assert_eq!(learned, Learned { refused, credited });
        }
        check(answer(KeyStatus::Active, None, false), None, false, false);
        check(answer(KeyStatus::Active, Some(4), false), None, false, true);
        check(
            answer(KeyStatus::Active, None, true),
            Some(Code::CreditsExhausted),
            false,
            true,
        );
        check(
            answer(KeyStatus::Revoked, None, false),
            Some(Code::KeyRevoked),
            true,
            false,
        );
        check(
            answer(KeyStatus::Disabled, None, false),
            Some(Code::KeyDisabled),
            true,
            false,
        );
        check(
            answer(KeyStatus::Expired, None, false),
            Some(Code::KeyExpired),
            false,
            false,
        );
        let admitted = Admitted {
            verdict: None,
            credits: Some(Balance {
                remaining: 1,
                next_refill: None,
            }),
        };
        assert!(leased(&admitted).credited);
        assert!(!leased(&Admitted::default()).credited);
    }

    #[test]
    fn a_failing_object_fails_closed_unless_the_plan_opens_it() {
        let c = config("exact", "open");
        let r = record();
        let facts = facts(&r, &c, "/documents/1", IN, Caller::RequestPath);
        let open = plan(&facts, &c).unwrap();
        let mut memory = FailOpen::default();
        // Within the key's limits (2 a minute), counted here.
        assert_eq!(failed(&mut memory, &open, NOW_MS), Failure::Open);
        assert_eq!(failed(&mut memory, &open, NOW_MS), Failure::Open);
        let third = failed(&mut memory, &open, NOW_MS);
        assert!(matches!(&third, Failure::Limited(p) if p.code == Code::RateLimited));
        assert_eq!(third.refusal(), Some("rate limited in this isolate"));
        // Seen refused or spending credits by its object: closed, and said why.
        let mut memory = FailOpen::default();
        Learned {
            refused: true,
            credited: false,
        }
        .into(&mut memory, "key_1", NOW_MS);
        let got = failed(&mut memory, &open, NOW_MS);
        assert_eq!(
            (got.clone(), got.refusal()),
            (
                Failure::Refused("revoked or disabled"),
                Some("revoked or disabled")
            )
        );
        Learned {
            refused: false,
            credited: true,
        }
        .into(&mut memory, "key_1", NOW_MS);
        assert_eq!(
            failed(&mut memory, &open, NOW_MS),
            Failure::Refused("spends credits")
        );
        Learned {
            refused: false,
            credited: false,
        }
        .into(&mut memory, "key_1", NOW_MS);
        assert_eq!(failed(&mut memory, &open, NOW_MS), Failure::Open);
        // Not opened by the plan: closed, whatever the memory.
        for closed in [
            plan(&facts, &config("exact", "closed")).unwrap(),
            plan(
                &Facts {
                    caller: Caller::AdminApi,
                    ..facts
                },
                &c,
            )
            .unwrap(),
        ] {
            let got = failed(&mut FailOpen::default(), &closed, NOW_MS);
            assert_eq!((got.clone(), got.refusal()), (Failure::Closed, None));
        }
        let leased_open = plan(&facts, &config("leased", "open")).unwrap();
        assert_eq!(
            failed(&mut FailOpen::default(), &leased_open, NOW_MS),
            Failure::Open
        );
        assert_eq!(Failure::Open.refusal(), None);
    }
}
