//! Leased admission in the isolate (`ADMISSION = "leased"`): each key's
//! [`Holder`] lives in this isolate's memory; requests are admitted from its
//! leases, and the key's Durable Object is called only when no lease is usable
//! (the request waits) or in the background (`ctx.waitUntil`): renewals before a
//! lease runs out, and a final report once the key goes idle.

use super::authority;
use super::runtime;
use super::Ctx;
use crate::config::Config;
use crate::decide::{self, Admitted};
use crate::keystate::Admission;
use crate::lease::{Holder, LeaseRequest, Local};
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use crate::usage::Outcome;
use std::cell::RefCell;
use std::collections::BTreeMap;
use worker::{Context, Env};

/// How a request of leased admission ended here.
type Leased = crate::admission::Leased<worker::Error>;

/// Most keys whose holders one isolate keeps; past it, settled ones are dropped.
const MAX_HOLDERS: usize = 10_000;

/// How long a background report may keep waiting for a key to go idle: well
/// within what the runtime allows a `waitUntil` after the response.
const REPORT_WITHIN_MS: i64 = 20_000;

thread_local! {
    static HOLDERS: RefCell<BTreeMap<String, Holder>> = const { RefCell::new(BTreeMap::new()) };
    /// This isolate's name in the objects' books.
    static NAME: String = {
        let mut b = [0u8; 12];
        runtime::fill_random(&mut b);
        format!("isolate_{}", hex::encode(b))
    };
}

fn with<T>(key: &str, f: impl FnOnce(&mut Holder) -> T) -> T {
    HOLDERS.with(|all| {
        let mut all = all.borrow_mut();
        if !all.contains_key(key) && all.len() >= MAX_HOLDERS {
            all.retain(|_, h| !h.settled() || h.asking);
        }
        f(all.entry(key.to_string()).or_default())
    })
}

/// The holder's name in the key's object: this isolate's, and the key's (each
/// key of a chain has a holder of its own here, numbering its own calls).
fn name(key: &str) -> String {
    NAME.with(|n| format!("{n}:{key}"))
}

/// What one request needs to be decided and reported.
pub(crate) struct Request<'a> {
    pub env: &'a Env,
    pub config: &'static Config,
    pub wctx: &'a Context,
    pub record: &'a KeyRecord,
    pub admission: &'a Admission,
}

impl Request<'_> {
    fn outcome(&self, now_ms: i64, refused: Option<&Problem>) -> Outcome {
        Outcome {
            at_ms: now_ms,
            method: self.admission.method.clone(),
            path: self.admission.path.clone(),
            status: refused.map(Problem::status),
            code: refused.map(|p| p.code),
        }
    }

    /// Keeps the outcome for the next report, and makes sure one will be sent.
    fn note(&self, now_ms: i64, refused: Option<&Problem>) {
        let outcome = self.outcome(now_ms, refused);
        let due = with(&self.record.id, |h| {
            h.record(outcome);
            !std::mem::replace(&mut h.report_due, true)
        });
        if due {
            spawn(self.wctx, self.background(), Task::ReportWhenIdle);
        }
    }

    fn background(&self) -> Background {
        Background {
            env: self.env.clone(),
            config: self.config,
            key: self.record.id.clone(),
            team: self.record.team.clone(),
            authority: self.record.chain().to_string(),
            region: crate::decide::region(self.record, self.config).map(str::to_string),
            policies: self.admission.policies.clone(),
            rev: self.record.rev,
        }
    }
}

/// A refusal decided before the object (scope, address, expiry): in leased mode
/// it is reported with the next call, and costs the object nothing now.
pub(crate) fn refused(r: &Request<'_>, now_ms: i64, problem: &Problem) {
    r.note(now_ms, Some(problem));
}

/// Decides a request of an active, authorized key: from a lease when one is
/// usable, else after asking the key's object for one.
pub(crate) async fn admit(r: &Request<'_>, ctx: &Ctx) -> Leased {
    let (ttl, now) = (r.config.lease_ttl_ms, ctx.now_ms);
    if let Some(decided) = decide_locally(r, now, ttl) {
        return decided;
    }
    let a = r.admission;
    let mut request = with(&a.key, |h| {
        h.request(&a.key, &name(&a.key), &a.policies, now, ttl, false)
    });
    (request.team, request.cost, request.rev) = (a.team.clone(), a.cost, a.rev);
    let object = authority::object(r.record, r.config);
    let answer =
        match authority::lease(r.env, object, &request, r.config.authority_timeout_ms).await {
            Ok(answer) => answer,
            Err(e) => {
                with(&a.key, |h| h.failed(request));
                return Leased::Unreachable(e);
            }
        };
    with(&a.key, |h| h.apply(&answer));
    if let Some(p) = decide::status_refusal(r.record, answer.status) {
        r.note(now, Some(&p));
        return Leased::Refused(p);
    }
    match decide_locally(r, now, ttl) {
        Some(decided) => decided,
        None if answer.exact => Leased::AskExactly,
        None => Leased::Refused(Problem::new(
            Code::Unavailable,
            "the key authority granted no quota",
        )),
    }
}

/// A decision from the holder alone, if it can make one.
fn decide_locally(r: &Request<'_>, now: i64, ttl: u32) -> Option<Leased> {
    match with(&r.record.id, |h| h.admit(now, ttl, r.admission.cost)) {
        Local::Admitted {
            verdict,
            credits,
            renew,
        } => {
            r.note(now, None);
            if renew {
                spawn(r.wctx, r.background(), Task::Renew);
            }
            Some(Leased::Admitted(Admitted { verdict, credits }))
        }
        Local::Limited(v) => {
            let p = decide::rate_limited(&v);
            r.note(now, Some(&p));
            Some(Leased::Refused(p))
        }
        Local::Ask => None,
    }
}

/// Drops this isolate's leases of a key (the admin API revoked or disabled it
/// here: it takes effect in this isolate at once).
pub(crate) fn drop_key(id: &str) {
    HOLDERS.with(|all| {
        if let Some(h) = all.borrow_mut().get_mut(id) {
            h.drop_leases();
        }
    });
}

/// What a background task needs, owned.
struct Background {
    env: Env,
    config: &'static Config,
    key: String,
    team: String,
    authority: String,
    region: Option<String>,
    policies: Vec<crate::ratelimit::LimitPolicy>,
    /// The revision of the record the isolate judges on.
    rev: u64,
}

/// What a background task does.
#[derive(Clone, Copy)]
enum Task {
    /// Renew the lease before it runs out: the request that asked does not wait.
    Renew,
    /// Report and give back the leases once the key is idle.
    ReportWhenIdle,
}

/// Runs `task` after the response (`ctx.waitUntil`). One future type for both
/// tasks, boxed: each distinct future given to the runtime costs the wasm a copy
/// of the promise glue.
fn spawn(wctx: &Context, b: Background, task: Task) {
    let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = Box::pin(async move {
        match task {
            Task::Renew => b.call(false).await,
            Task::ReportWhenIdle => report_when_idle(&b).await,
        }
    });
    wctx.wait_until(fut);
}

impl Background {
    /// One call to the object with the holder's returns and report.
    #[inline(never)]
    async fn call(&self, closing: bool) {
        let now = runtime::now_ms();
        let ttl = self.config.lease_ttl_ms;
        let mut request: LeaseRequest = with(&self.key, |h| {
            h.request(
                &self.key,
                &name(&self.key),
                &self.policies,
                now,
                ttl,
                closing,
            )
        });
        (request.team, request.rev) = (self.team.clone(), Some(self.rev));
        let timeout = self.config.authority_timeout_ms;
        let object = (self.authority.as_str(), self.region.as_deref());
        match authority::lease(&self.env, object, &request, timeout).await {
            Ok(answer) => with(&self.key, |h| h.apply(&answer)),
            Err(e) => {
                runtime::log(serde_json::json!({
                    "event": "lease_call_failed",
                    "key_id": self.key,
                    "error": e.to_string(),
                }));
                with(&self.key, |h| h.failed(request));
            }
        }
    }
}

/// Gives back what the isolate holds as soon as it is of no more use: a lease
/// at its deadline (or spent), so that its unused quota is free again at once,
/// and everything once the key has been idle for half a `LEASE_TTL`, with the
/// last report. While the key is busy, renewals carry the reports.
async fn report_when_idle(b: &Background) {
    let ttl = b.config.lease_ttl_ms;
    let started = runtime::now_ms();
    loop {
        let now = runtime::now_ms();
        let half = now + i64::from(ttl) / 2;
        let wake = with(&b.key, |h| h.next_deadline()).map_or(half, |d| d.clamp(now, half));
        sleep_ms((wake - now).max(10)).await;
        let now = runtime::now_ms();
        let (settled, idle, asking, returnable) = with(&b.key, |h| {
            (h.settled(), h.idle(now, ttl), h.asking, h.returnable(now))
        });
        if settled {
            break;
        }
        if !asking && (idle || returnable) {
            b.call(idle).await;
            if with(&b.key, |h| h.settled()) {
                break;
            }
        }
        if runtime::now_ms() - started > REPORT_WITHIN_MS {
            break;
        }
    }
    // A busy key's renewals carry its reports, and its next request schedules
    // this again; an idle key left unsettled has lost its report.
    let now = runtime::now_ms();
    let lost = with(&b.key, |h| {
        h.report_due = false;
        !h.settled() && h.idle(now, ttl) && !h.asking
    });
    if lost {
        runtime::log(serde_json::json!({
            "event": "lease_report_pending",
            "key_id": b.key,
        }));
    }
}

async fn sleep_ms(ms: i64) {
    worker::Delay::from(std::time::Duration::from_millis(ms as u64)).await;
}
