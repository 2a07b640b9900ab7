//! Carrying an admission [`Plan`] out, over the effects the shell provides
//! ([`Effects`]: the key's object, the isolate's lease and fail-open memory, the
//! log). Every branch of the request path's admission is here, and none in the
//! shell: which refusal is recorded where, when the lease falls back to asking
//! exactly, what an unreachable object means, and what fail-open learns.

use super::{answered, failed, leased, plan, Caller, Facts, Failure, Learned, Plan, RecordAt};
use super::{Request, Step};
use crate::config::Config;
use crate::decide::Admitted;
use crate::failopen::FailOpen;
use crate::keystate::{Admission, Answer};
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;

/// How a request of leased admission ended in the isolate's holder.
#[derive(Debug)]
pub enum Leased<E> {
    /// Admitted from a lease.
    Admitted(Admitted),
    /// Refused: by a lease's exhausted window, or by the key's object.
    Refused(Problem),
    /// The chain's credits are too few to lease this request's cost: it is to
    /// be asked exactly.
    AskExactly,
    /// The key's object could not be reached.
    Unreachable(E),
}

/// Something worth a log line, with the error that caused it.
#[derive(Debug, PartialEq)]
pub enum Event<'a, E> {
    /// A refusal could not be recorded at the key's object; it stands.
    NotRecorded(&'a E),
    /// The key's object could not answer and the plan allowed fail-open: what
    /// the isolate's memory refused, or `None` when it let the request through.
    FailOpen(&'a E, Option<&'static str>),
}

/// What the shell does for the core: each method one effect, deciding nothing.
#[allow(async_fn_in_trait)] // Called from one thread: no `Send` bound wanted.
pub trait Effects {
    /// The runtime's error from a call to the key's object.
    type Error;
    /// Tells the key's object of a refusal decided before it (it counts
    /// nothing); its answer says whether the record was out of date.
    async fn record(&mut self, admission: &Admission) -> Result<Answer, Self::Error>;
    /// Keeps a refusal for the isolate's next report (leased admission).
    fn report(&mut self, record: &KeyRecord, admission: &Admission, refused: &Problem);
    /// Admits from the isolate's lease, asking the object for one when none is
    /// usable.
    async fn lease(&mut self, record: &KeyRecord, admission: &Admission) -> Leased<Self::Error>;
    /// Asks the key's object, which decides exactly.
    async fn ask(&mut self, admission: &Admission) -> Result<Answer, Self::Error>;
    /// The key's record as its team directory holds it now, kept in the
    /// isolate's cache in place of `record`.
    async fn fresh(&mut self, record: &KeyRecord) -> Result<KeyRecord, Problem>;
    /// Works on the isolate's fail-open memory.
    fn memory<T>(&mut self, f: impl FnOnce(&mut FailOpen) -> T) -> T;
    /// The fail-closed problem for an object that could not answer.
    fn unavailable(&mut self, e: Self::Error) -> Problem;
    /// Writes a log line.
    fn log(&mut self, event: Event<'_, Self::Error>);
}

/// How carrying a plan out ended.
#[derive(Debug)]
pub enum Carried {
    /// Admitted, or refused.
    Done(Result<Admitted, Problem>),
    /// The key's object knows a newer revision of the record than the plan was
    /// made on: nothing was counted, spent or recorded.
    Stale,
}

/// Admits a keyed request: plans it on `record` ([`plan`]) and carries the
/// plan out ([`carry_out`]); when the key's object knows a newer revision of
/// the record (an isolate's cached copy, or a KV copy still on its way), once
/// more on the team directory's. The record the request was admitted on, for
/// what the origin receives.
pub async fn admit<F: Effects>(
    mut record: KeyRecord,
    request: Request<'_>,
    now_ms: i64,
    caller: Caller,
    config: &Config,
    fx: &mut F,
) -> Result<(KeyRecord, Admitted), Problem> {
    for round in 0..2 {
        let plan = plan(&Facts::new(&record, request, now_ms, caller), config)?;
        match carry_out(&plan, &record, now_ms, fx).await {
            Carried::Done(done) => return done.map(|admitted| (record, admitted)),
            Carried::Stale if round == 0 => record = fx.fresh(&record).await?,
            Carried::Stale => {}
        }
    }
    Err(Problem::new(
        Code::Unavailable,
        "this key changed while the request was judged; try again",
    ))
}

/// Carries `plan` out for `record` at `now_ms`: the refusal recorded where the
/// plan says, the lease tried first when it says so, the object asked exactly
/// otherwise (or when the lease says to), and a failing object decided by
/// [`failed`].
pub async fn carry_out<F: Effects>(
    plan: &Plan,
    record: &KeyRecord,
    now_ms: i64,
    fx: &mut F,
) -> Carried {
    let admission = &plan.admission;
    match &plan.step {
        Step::Refuse { problem, at } => {
            match at {
                RecordAt::Report => fx.report(record, admission, problem),
                RecordAt::Object => match fx.record(admission).await {
                    Ok(answer) if answer.stale => return Carried::Stale,
                    Ok(_) => {}
                    Err(e) => fx.log(Event::NotRecorded(&e)),
                },
            }
            return Carried::Done(Err(problem.clone()));
        }
        Step::Leased { .. } => match fx.lease(record, admission).await {
            Leased::Admitted(admitted) => {
                learn(fx, plan, leased(&admitted), now_ms);
                return Carried::Done(Ok(admitted));
            }
            Leased::Refused(problem) => return Carried::Done(Err(problem)),
            Leased::Unreachable(e) => return Carried::Done(unreachable(fx, plan, e, now_ms)),
            Leased::AskExactly => {}
        },
        Step::Exact { .. } => {}
    }
    Carried::Done(match fx.ask(admission).await {
        Ok(answer) if answer.stale => return Carried::Stale,
        Ok(answer) => {
            let (admitted, learned) = answered(record, answer, now_ms);
            learn(fx, plan, learned, now_ms);
            admitted
        }
        Err(e) => unreachable(fx, plan, e, now_ms),
    })
}

/// Keeps what an answer says for a later failure of the object, when the plan
/// may fail open.
fn learn<F: Effects>(fx: &mut F, plan: &Plan, learned: Learned, now_ms: i64) {
    if plan.fails_open() {
        fx.memory(|m| learned.into(m, &plan.admission.key, now_ms));
    }
}

/// The key's object could not answer: [`failed`] decides, and a decision of
/// fail-open's is logged.
fn unreachable<F: Effects>(
    fx: &mut F,
    plan: &Plan,
    e: F::Error,
    now_ms: i64,
) -> Result<Admitted, Problem> {
    let failure = fx.memory(|m| failed(m, plan, now_ms));
    if failure != Failure::Closed {
        fx.log(Event::FailOpen(&e, failure.refusal()));
    }
    match failure {
        Failure::Open => Ok(Admitted::default()),
        Failure::Limited(p) => Err(p),
        Failure::Closed | Failure::Refused(_) => Err(fx.unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credits::{Balance, Exhausted};
    use crate::problem::Code;
    use crate::ratelimit::LimitPolicy;
    use crate::record::KeyStatus;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    const NOW_MS: i64 = 1_800_000_000_000;

    /// Polls a future whose effects are all ready at once.
    fn run<T>(f: impl Future<Output = T>) -> T {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the fake effects never wait"),
        }
    }

    /// Effects that write down what they were asked, in order.
    struct Fake {
        journal: Vec<String>,
        recorded: Result<Answer, &'static str>,
        lease: Option<Leased<&'static str>>,
        asked: Option<Result<Answer, &'static str>>,
        fresher: Option<KeyRecord>,
        /// Every ask after the first answers stale too.
        stale_always: bool,
        memory: FailOpen,
    }

    impl Effects for Fake {
        type Error = &'static str;
        async fn record(&mut self, a: &Admission) -> Result<Answer, &'static str> {
            self.journal.push(format!(
                "record {:?}",
                a.denial.as_ref().and_then(|d| d.code)
            ));
            self.recorded.clone()
        }
        fn report(&mut self, _: &KeyRecord, _: &Admission, refused: &Problem) {
            self.journal.push(format!("report {:?}", refused.code));
        }
        async fn fresh(&mut self, record: &KeyRecord) -> Result<KeyRecord, Problem> {
            self.journal.push(format!("fresh {}", record.id));
            let gone = || Problem::new(Code::InvalidKey, "gone");
            self.fresher.take().ok_or_else(gone)
        }
        async fn lease(&mut self, _: &KeyRecord, _: &Admission) -> Leased<&'static str> {
            self.journal.push("lease".into());
            self.lease.take().expect("the lease asked once")
        }
        async fn ask(&mut self, _: &Admission) -> Result<Answer, &'static str> {
            self.journal.push("ask".into());
            if self.stale_always && self.asked.is_none() {
                return Ok(stale());
            }
            self.asked.take().expect("the object asked once")
        }
        fn memory<T>(&mut self, f: impl FnOnce(&mut FailOpen) -> T) -> T {
            f(&mut self.memory)
        }
        fn unavailable(&mut self, e: &'static str) -> Problem {
            self.journal.push(format!("unavailable {e}"));
            Problem::new(Code::Unavailable, e)
        }
        fn log(&mut self, event: Event<'_, &'static str>) {
            self.journal.push(match event {
                Event::NotRecorded(e) => format!("log not recorded: {e}"),
                Event::FailOpen(e, refused) => format!("log fail-open: {e}, {refused:?}"),
            });
        }
    }

    fn fake() -> Fake {
        Fake {
            journal: vec![],
            recorded: Ok(answer(KeyStatus::Active)),
            lease: None,
            asked: None,
            fresher: None,
            stale_always: false,
            memory: FailOpen::default(),
        }
    }

    fn plan(step: Step) -> Plan {
        Plan {
            admission: Admission {
                key: "key_1".into(),
                team: "acme".into(),
                policies: vec![LimitPolicy {
                    name: "burst".into(),
                    limit: 1,
                    window_s: 60,
                }],
                method: "GET".into(),
                path: "/documents/1".into(),
                denial: None,
                cost: 1,
                rev: None,
            },
            step,
        }
    }

    fn answer(status: KeyStatus) -> Answer {
        Answer {
            status,
            verdict: None,
            credits: None,
            exhausted: None,
            stale: false,
        }
    }

    fn credited() -> Answer {
        Answer {
            credits: Some(Balance {
                remaining: 4,
                next_refill: None,
            }),
            ..answer(KeyStatus::Active)
        }
    }

    fn refused(code: Code) -> Problem {
        Problem::new(code, "refused")
    }

    /// Carries `plan` out with `fx`, for a plan made on the record the object
    /// knows.
    fn go(plan: &Plan, fx: &mut Fake) -> Result<Admitted, Problem> {
        match run(carry_out(plan, &KeyRecord::default(), NOW_MS, fx)) {
            Carried::Done(done) => done,
            Carried::Stale => panic!("stale"),
        }
    }

    /// What came of a request: `admitted`, or the refusal's code.
    fn ended(r: &Result<Admitted, Problem>) -> String {
        match r {
            Ok(_) => "admitted".into(),
            Err(p) => p.code.as_str().to_string(),
        }
    }

    #[track_caller]
    fn check(plan: &Plan, fx: &mut Fake, expected: &str, journal: &[&str]) {
        let got = go(plan, fx);
        assert_eq!(ended(&got), expected);
        assert_eq!(fx.journal, journal);
    }

    #[test]
    fn a_refusal_is_recorded_where_the_plan_says_and_stands() {
        let at_object = |at| {
            let mut p = plan(Step::Refuse {
                problem: refused(Code::InsufficientScope),
                at,
            });
            p.admission.denial = Some(crate::keystate::Denial::of(&refused(
                Code::InsufficientScope,
            )));
            p
        };
        let p = at_object(RecordAt::Object);
        check(
            &p,
            &mut fake(),
            "INSUFFICIENT_SCOPE",
            &["record Some(InsufficientScope)"],
        );
        let mut fx = Fake {
            recorded: Err("down"),
            ..fake()
        };
        check(
            &p,
            &mut fx,
            "INSUFFICIENT_SCOPE",
            &["record Some(InsufficientScope)", "log not recorded: down"],
        );
        let p = at_object(RecordAt::Report);
        check(
            &p,
            &mut fake(),
            "INSUFFICIENT_SCOPE",
            &["report InsufficientScope"],
        );
    }

    #[test]
    fn exact_admission_is_the_objects_answer() {
        for fail_open in [false, true] {
            let p = plan(Step::Exact { fail_open });
            let mut fx = Fake {
                asked: Some(Ok(answer(KeyStatus::Active))),
                ..fake()
            };
            check(&p, &mut fx, "admitted", &["ask"]);
            for (status, code) in [
                (KeyStatus::Revoked, "KEY_REVOKED"),
                (KeyStatus::Disabled, "KEY_DISABLED"),
                (KeyStatus::Expired, "KEY_EXPIRED"),
            ] {
                let mut fx = Fake {
                    asked: Some(Ok(answer(status))),
                    ..fake()
                };
                check(&p, &mut fx, code, &["ask"]);
            }
            let mut fx = Fake {
                asked: Some(Ok(Answer {
                    exhausted: Some(Exhausted {
                        cost: 2,
                        remaining: 1,
                        next_refill: None,
                        on_lease: 0,
                        back_by: None,
                    }),
                    ..answer(KeyStatus::Active)
                })),
                ..fake()
            };
            check(&p, &mut fx, "CREDITS_EXHAUSTED", &["ask"]);
        }
    }

    #[test]
    fn an_unreachable_object_fails_closed_unless_the_plan_fails_open() {
        let closed = plan(Step::Exact { fail_open: false });
        let mut fx = Fake {
            asked: Some(Err("down")),
            ..fake()
        };
        check(
            &closed,
            &mut fx,
            "UNAVAILABLE",
            &["ask", "unavailable down"],
        );

        let open = plan(Step::Exact { fail_open: true });
        let mut fx = Fake {
            asked: Some(Err("down")),
            ..fake()
        };
        check(
            &open,
            &mut fx,
            "admitted",
            &["ask", "log fail-open: down, None"],
        );
        // The isolate counted that request: the key's one request a minute is spent.
        fx.asked = Some(Err("down"));
        fx.journal.clear();
        check(
            &open,
            &mut fx,
            "RATE_LIMITED",
            &[
                "ask",
                "log fail-open: down, Some(\"rate limited in this isolate\")",
            ],
        );
    }

    #[test]
    fn fail_open_remembers_what_the_object_said_and_only_when_it_may_fail_open() {
        for (said, first, remembered) in [
            (
                answer(KeyStatus::Revoked),
                "KEY_REVOKED",
                Some("revoked or disabled"),
            ),
            (
                answer(KeyStatus::Disabled),
                "KEY_DISABLED",
                Some("revoked or disabled"),
            ),
            (credited(), "admitted", Some("spends credits")),
            (answer(KeyStatus::Active), "admitted", None),
        ] {
            let open = plan(Step::Exact { fail_open: true });
            let mut fx = Fake {
                asked: Some(Ok(said.clone())),
                ..fake()
            };
            let answered = go(&open, &mut fx);
            assert_eq!(ended(&answered), first);
            fx.asked = Some(Err("down"));
            let got = go(&open, &mut fx);
            let log = format!("log fail-open: down, {remembered:?}");
            assert!(fx.journal.contains(&log), "{said:?}: {:?}", fx.journal);
            assert_eq!(got.is_ok(), remembered.is_none(), "{said:?}");
            if remembered.is_some() {
                assert_eq!(got.unwrap_err().code, Code::Unavailable);
            }

            // A plan that may not fail open keeps nothing.
            let closed = plan(Step::Exact { fail_open: false });
            let mut fx = Fake {
                asked: Some(Ok(said.clone())),
                ..fake()
            };
            let answered = go(&closed, &mut fx);
            assert_eq!(ended(&answered), first);
            fx.asked = Some(Err("down"));
            let got = go(&open, &mut fx);
            assert_eq!(ended(&got), "admitted");
            assert_eq!(fx.journal.last().unwrap(), "log fail-open: down, None");
        }
    }

    #[test]
    fn leased_admission_asks_the_lease_then_falls_back_as_it_says() {
        let p = plan(Step::Leased { fail_open: false });
        let lease = |l| Fake {
            lease: Some(l),
            ..fake()
        };
        let admitted = Admitted::default();
        check(
            &p,
            &mut lease(Leased::Admitted(admitted)),
            "admitted",
            &["lease"],
        );
        check(
            &p,
            &mut lease(Leased::Refused(refused(Code::RateLimited))),
            "RATE_LIMITED",
            &["lease"],
        );
        check(
            &p,
            &mut lease(Leased::Unreachable("down")),
            "UNAVAILABLE",
            &["lease", "unavailable down"],
        );
        let mut fx = Fake {
            asked: Some(Ok(answer(KeyStatus::Active))),
            ..lease(Leased::AskExactly)
        };
        check(&p, &mut fx, "admitted", &["lease", "ask"]);
        let mut fx = Fake {
            asked: Some(Err("down")),
            ..lease(Leased::AskExactly)
        };
        check(
            &p,
            &mut fx,
            "UNAVAILABLE",
            &["lease", "ask", "unavailable down"],
        );

        let open = plan(Step::Leased { fail_open: true });
        check(
            &open,
            &mut lease(Leased::Unreachable("down")),
            "admitted",
            &["lease", "log fail-open: down, None"],
        );
        // A lease that spent credits is remembered: fail-open refuses the key.
        let mut fx = lease(Leased::Admitted(Admitted {
            verdict: None,
            credits: Some(Balance {
                remaining: 3,
                next_refill: None,
            }),
        }));
        let got = go(&open, &mut fx);
        assert_eq!(ended(&got), "admitted");
        fx.lease = Some(Leased::Unreachable("down"));
        fx.journal.clear();
        check(
            &open,
            &mut fx,
            "UNAVAILABLE",
            &[
                "lease",
                "log fail-open: down, Some(\"spends credits\")",
                "unavailable down",
            ],
        );
    }

    /// A config whose routes need `documents.read`, and admits exactly.
    fn config() -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(serde_json::json!({"routes": [
                {"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]}
            ]})),
            "ORIGIN_URL" => Some(serde_json::json!("http://127.0.0.1:1")),
            _ => None,
        })
        .unwrap()
    }

    fn key(scopes: &[&str], rev: u64) -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            enabled: true,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            rev,
            ..KeyRecord::default()
        }
    }

    fn stale() -> Answer {
        Answer {
            stale: true,
            ..answer(KeyStatus::Active)
        }
    }

    /// Admits a GET of a document with `record` under `config()`.
    fn admit_one(record: KeyRecord, fx: &mut Fake) -> Result<(KeyRecord, Admitted), Problem> {
        let c = config();
        let request = Request {
            route: c.policy.judge("GET", "/documents/1"),
            cost: 1,
            ip: None,
            method: "GET",
            path: "/documents/1",
        };
        run(admit(record, request, NOW_MS, Caller::RequestPath, &c, fx))
    }

    /// A request judged on an older copy of the record than the key's object
    /// knows is judged again on the team directory's: a scope removed refuses
    /// it, a scope added admits it, and the origin is told of the fresh record.
    #[test]
    fn a_stale_record_is_judged_again_on_the_directorys() {
        // Admitted on a cached copy that still holds the scope; the directory's
        // no longer does: refused, and recorded at the object.
        let mut fx = Fake {
            asked: Some(Ok(stale())),
            fresher: Some(key(&[], 2)),
            ..fake()
        };
        let got = admit_one(key(&["documents.read"], 1), &mut fx);
        assert_eq!(got.unwrap_err().code, Code::InsufficientScope);
        assert_eq!(
            fx.journal,
            ["ask", "fresh key_1", "record Some(InsufficientScope)"]
        );

        // Refused on a cached copy without the scope; the directory's has it.
        let mut fx = Fake {
            recorded: Ok(stale()),
            fresher: Some(key(&["documents.read"], 2)),
            asked: Some(Ok(answer(KeyStatus::Active))),
            ..fake()
        };
        let (record, _) = admit_one(key(&[], 1), &mut fx).unwrap();
        assert_eq!((record.rev, record.scopes.len()), (2, 1));
        assert_eq!(
            fx.journal,
            ["record Some(InsufficientScope)", "fresh key_1", "ask"]
        );

        // Not stale: the directory is never asked.
        let mut fx = Fake {
            asked: Some(Ok(answer(KeyStatus::Active))),
            ..fake()
        };
        assert!(admit_one(key(&["documents.read"], 1), &mut fx).is_ok());
        assert_eq!(fx.journal, ["ask"]);
    }

    /// Judged again once only; a record gone from the directory is an
    /// unknown key.
    #[test]
    fn a_record_stale_twice_or_gone_is_refused() {
        let mut fx = Fake {
            asked: Some(Ok(stale())),
            fresher: Some(key(&["documents.read"], 2)),
            stale_always: true,
            ..fake()
        };
        let got = admit_one(key(&["documents.read"], 1), &mut fx);
        assert_eq!(got.unwrap_err().code, Code::Unavailable);
        assert_eq!(fx.journal, ["ask", "fresh key_1", "ask"]);

        let mut fx = Fake {
            asked: Some(Ok(stale())),
            ..fake()
        };
        let got = admit_one(key(&["documents.read"], 1), &mut fx);
        assert_eq!(got.unwrap_err().code, Code::InvalidKey);
        assert_eq!(fx.journal, ["ask", "fresh key_1"]);
    }
}
