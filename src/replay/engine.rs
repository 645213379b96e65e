//! The replay engine: client threads, each a current-thread runtime running one task per
//! connection, claim request indices from one shared counter, wait for their due time (open
//! model), send, classify and record into the thread's own recorder. One aggregator on the
//! calling thread merges what the workers send over a channel, closes timeline seconds, draws
//! progress and watches for a stop.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use super::pacer::{Pacer, Staged};
use super::tokens::{NO_KEY, Tokens};
use super::transport::{Target, Transport};
use crate::model::{Deserved, ErrorKind, Judgement, LimitKey, Outcome, RateLimit, Segment, StatusSets};
use crate::stats::limits::{GLOBAL, NO_SUBJECT, subject_of};
use crate::stats::recorder::{Exchange, Recorder};
use crate::stats::timeline::{Point, Second, Seconds};
use crate::token::classes::TokenClass;

/// How often workers hand closed seconds to the aggregator.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Timeline seconds stay open this long for late worker data.
const CLOSE_AFTER_SECONDS: u32 = 2;
/// How far ahead of its intended time a scheduled request may leave (one timer tick).
const TIMER_SLACK: Duration = Duration::from_millis(1);
/// How long client threads get to start before the first request is due.
const STARTUP: Duration = Duration::from_millis(50);
/// Marks "not stopped" in [`Shared::stop_at_us`].
const NOT_STOPPED: u64 = u64::MAX;

/// What to run: the prepared target, tokens and load.
pub struct Plan {
    pub target: Arc<Target>,
    pub tokens: Tokens,
    /// `Some` for the open model.
    pub pacer: Option<Arc<Staged>>,
    pub statuses: StatusSets,
    pub concurrency: usize,
    pub threads: usize,
    /// Time bound (the closed model's duration; the open model's schedule length).
    pub duration: Duration,
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub grace: Duration,
    /// Answers sent within this band centred on a time-bound token's boundary are `boundary`.
    pub boundary_guard: Duration,
    /// Reason-aware judging, when the target states its reasons.
    pub reasons: Option<Arc<crate::model::ReasonMap>>,
    /// The identity provider's key schedule: its clock starts with the run; a rotating one
    /// decides at send time whether a token's key is retired.
    pub rotation: Option<Arc<crate::token::rotation::Schedule>>,
    /// This process's share of a run spread over several: request `i` here is global request
    /// `segment.global(i)`, due at the whole schedule's time for it.
    pub segment: Segment,
    /// The common wall-clock start of every segment; a process that comes up after it joins at
    /// once, and the requests due before it joined are counted as not sent.
    pub start_at: Option<SystemTime>,
    /// The rate limit the target declares: answers are then counted per subject and second.
    pub rate_limit: Option<RateLimit>,
    /// Honour `Retry-After`: the closed model pauses that connection; the open model keeps its
    /// schedule and records how much too soon a limited caller's next request left.
    pub respect_retry_after: bool,
    /// Several endpoints, one picked per request by weight (`target` is unused then).
    pub routes: Option<Arc<super::routes::Routes>>,
    /// Revocations during the run (`load.revoke`).
    pub revoker: Option<Arc<super::revoke::Revoker>>,
    /// Every token's answer, by its index (`jwtstorm diff`).
    pub answers: Option<Arc<crate::stats::diff::AnswerLog>>,
}

/// Limited callers told to wait, at most this many at once (open model, `respect_retry_after`).
const MAX_TOLD_TO_WAIT: usize = 100_000;

/// What the aggregator shows each second.
#[derive(Debug, Clone)]
pub struct Live {
    pub elapsed: Duration,
    /// Everything so far; its latency is corrected, at 2 significant digits.
    pub so_far: Second,
    /// Responses completed in the last whole second.
    pub rate: f64,
    pub stopping: bool,
}

/// A finished run, before it is turned into results.
#[derive(Debug)]
pub struct Finished {
    pub recorder: Recorder,
    pub timeline: Vec<Point>,
    /// Requests the load model scheduled before the run ended (after warmup).
    pub scheduled: u64,
    /// Requests scheduled during the warmup.
    pub warmup_scheduled: u64,
    pub started: SystemTime,
    pub elapsed: Duration,
    /// The window the figures are over: the open model's schedule (up to a stop), or the
    /// closed model's whole run.
    pub window: Duration,
    pub interrupted: bool,
    /// Why the run was stopped early by a failing check (abort on fail).
    pub aborted: Option<String>,
    /// The batch ran out and requests started over from its beginning.
    pub wrapped: bool,
    pub threads: usize,
    pub connections_opened: u64,
    /// A client thread that could not start its runtime or panicked: what was measured is
    /// kept, but the run must fail (internal error), never pass.
    pub worker_failure: Option<String>,
    /// Distinct tokens the run had (a stream: those handed out).
    pub distinct: u64,
    /// What the streaming token source did, when there was one.
    pub stream: Option<super::stream::StreamStats>,
    /// How long after the common start (`start_at`) this process began sending.
    pub joined_late: Duration,
    /// Requests (this segment's, open model) due before it joined: never sent, counted among
    /// the not sent.
    pub missed: u64,
    /// What each revocation did (`None`: the run ended before it).
    pub revocations: Vec<Option<crate::stats::revocations::Fired>>,
}

struct Shared {
    next: AtomicU64,
    start: Instant,
    start_unix: f64,
    /// Elapsed microseconds at which the run was told to stop.
    stop_at_us: AtomicU64,
    connections: AtomicU64,
    /// Open model, `respect_retry_after`: when each limited caller was told it may send again.
    told_to_wait: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
    told_count: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn stopped_at(&self) -> Option<Duration> {
        match self.stop_at_us.load(Ordering::Relaxed) {
            NOT_STOPPED => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

enum Msg {
    Seconds(Vec<(u32, Second)>),
    Done(Box<Recorder>),
    /// The worker could not run at all.
    Failed(String),
}

/// Runs the plan until its bounds or `interrupt`, calling `tick` about once a second.
pub fn execute<T: Transport + Send + Sync>(
    plan: Plan,
    transport: T,
    interrupt: &AtomicBool,
    mut tick: impl FnMut(&Live) -> Option<String>,
) -> Finished {
    let plan = Arc::new(plan);
    let transport = Arc::new(transport);
    // The run starts a moment from now, once every client thread has its runtime, so the first
    // requests are not late by the cost of starting threads; or at the common start.
    let (started, start, joined_late) = start_of(plan.start_at, SystemTime::now(), Instant::now());
    // Requests due before this process joined a common start already under way: never sent.
    let missed = match &plan.pacer {
        Some(p) if !joined_late.is_zero() => {
            let due = p.due_before(joined_late.min(plan.duration));
            plan.segment
                .share_below(plan.requests.map_or(due, |r| due.min(r)))
        }
        _ => 0,
    };
    let shared = Arc::new(Shared {
        next: AtomicU64::new(missed),
        start,
        start_unix: started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        stop_at_us: AtomicU64::new(NOT_STOPPED),
        connections: AtomicU64::new(0),
        told_to_wait: Default::default(),
        told_count: Default::default(),
    });
    if let Some(r) = &plan.rotation {
        r.clock().start(shared.start);
    }
    let threads = plan.threads.clamp(1, plan.concurrency.max(1));
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut handles = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for w in 0..threads {
        let conns = plan.concurrency / threads + usize::from(w < plan.concurrency % threads);
        let (plan, transport, worker_shared, tx) =
            (plan.clone(), transport.clone(), shared.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("jwtstorm-worker-{w}"))
            .spawn(move || {
                let run =
                    std::panic::AssertUnwindSafe(|| worker(conns, &plan, &*transport, &worker_shared, &tx));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let what = panic_text(&*panic);
                    let _ = tx.send(Msg::Failed(format!("client thread {w} panicked: {what}")));
                    let _ = tx.send(Msg::Done(Box::default()));
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                failures.push(format!("could not start client thread {w}: {e}"));
                shared.stop_at_us.store(0, Ordering::Relaxed);
                break;
            }
        }
    }
    drop(tx);
    let threads = handles.len();

    let mut merged = Recorder::default();
    let mut seconds = Seconds::default();
    let mut timeline = Vec::new();
    let mut live = Live {
        elapsed: Duration::ZERO,
        so_far: Second::default(),
        rate: 0.0,
        stopping: false,
    };
    let mut last_tick = Instant::now();
    let mut done = 0;
    let mut aborted = None;
    while done < threads {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Msg::Seconds(batch)) => {
                for (_, s) in &batch {
                    live.so_far.merge(s);
                }
                seconds.merge(batch);
            }
            Ok(Msg::Done(rec)) => {
                merged.merge(&rec);
                done += 1;
            }
            Ok(Msg::Failed(why)) => {
                // Always followed by the thread's `Done` (with what it recorded, or nothing).
                failures.push(why);
                // The run cannot be trusted any more: stop every other thread now.
                if shared.stopped_at().is_none() {
                    let at = shared.start.elapsed().as_micros() as u64;
                    shared.stop_at_us.store(at, Ordering::Relaxed);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if interrupt.load(Ordering::Relaxed) && shared.stopped_at().is_none() {
            let at = shared.start.elapsed().as_micros() as u64;
            shared.stop_at_us.store(at, Ordering::Relaxed);
            live.stopping = true;
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            let now_sec = shared.start.elapsed().as_secs() as u32;
            timeline.extend(seconds.close(Some(now_sec.saturating_sub(CLOSE_AFTER_SECONDS))));
            // The last whole second every worker has reported (they flush every 200 ms).
            let back = if shared.start.elapsed().subsec_millis() >= 300 {
                1
            } else {
                2
            };
            live.rate = now_sec
                .checked_sub(back)
                .and_then(|prev| seconds.open.get(&prev))
                .map_or(0.0, |s| s.outcomes.total() as f64);
            last_tick = Instant::now();
            live.elapsed = shared.start.elapsed();
            if let Some(why) = tick(&live)
                && shared.stopped_at().is_none()
            {
                let at = shared.start.elapsed().as_micros() as u64;
                shared.stop_at_us.store(at, Ordering::Relaxed);
                live.stopping = true;
                aborted = Some(why);
            }
        }
    }
    for h in handles {
        // A panic was caught in the thread and reported as `Failed`.
        let _ = h.join();
    }
    timeline.extend(seconds.close(None));
    let elapsed = shared.start.elapsed();
    let stop = shared.stopped_at();
    let (scheduled_all, warmup_scheduled) = match &plan.pacer {
        Some(p) => {
            let end = stop.unwrap_or(plan.duration).min(plan.duration);
            // The whole schedule's count, then this segment's share of it.
            let cap = |n: u64| plan.segment.share_below(plan.requests.map_or(n, |r| n.min(r)));
            // A request may leave up to TIMER_SLACK before its time, so one due just after a
            // stop can have left just before it: it was scheduled, since it was sent.
            let all = cap(p.due_before(end)).max(merged.main.sent + merged.warmup.sent);
            let warm = cap(p.due_before(plan.warmup.min(end)));
            (all, warm)
        }
        // The closed model schedules exactly what it sends.
        None => (merged.main.sent + merged.warmup.sent, merged.warmup.sent),
    };
    // Requests due but never sent (open model): the stop came while they waited for a connection.
    let main_scheduled = scheduled_all - warmup_scheduled.min(scheduled_all);
    merged.main.not_sent = main_scheduled.saturating_sub(merged.main.sent);
    merged.warmup.not_sent = warmup_scheduled.saturating_sub(merged.warmup.sent);
    let (stream, distinct) = match &plan.tokens {
        Tokens::Stream(st) => {
            st.stop();
            if let Some(why) = st.failure() {
                aborted.get_or_insert(format!("the token stream stopped: {why}"));
            }
            (Some(st.stats()), st.distinct())
        }
        Tokens::Store { selector, .. } => (None, selector.len()),
    };
    if let Some(why) = plan.revoker.as_ref().and_then(|r| r.error()) {
        aborted.get_or_insert(why);
    }
    Finished {
        revocations: plan.revoker.as_ref().map_or_else(Vec::new, |r| r.fired()),
        stream,
        distinct,
        scheduled: main_scheduled,
        warmup_scheduled,
        recorder: merged,
        timeline,
        started,
        elapsed,
        window: match &plan.pacer {
            Some(_) => stop.unwrap_or(plan.duration).min(plan.duration).min(elapsed),
            None => elapsed,
        },
        interrupted: stop.is_some() && aborted.is_none() && failures.is_empty(),
        aborted,
        wrapped: plan.tokens.wrapped(),
        threads,
        connections_opened: shared.connections.load(Ordering::Relaxed),
        worker_failure: (!failures.is_empty()).then(|| failures.join("; ")),
        joined_late,
        missed,
    }
}

/// The run's start: (wall-clock, monotonic, how late this process joins it). Without a common
/// start, [`STARTUP`] from now; with one ahead, that moment; with one already past, the past
/// moment, joined STARTUP from now (requests due before then are skipped, counted as not sent).
fn start_of(at: Option<SystemTime>, now: SystemTime, mono: Instant) -> (SystemTime, Instant, Duration) {
    let own = (now + STARTUP, mono + STARTUP, Duration::ZERO);
    let Some(at) = at else { return own };
    match at.duration_since(now) {
        // Nearer than STARTUP: the first requests may leave a little late, none is skipped.
        Ok(ahead) => (at, mono + ahead, Duration::ZERO),
        Err(_) => {
            let behind = now.duration_since(at).unwrap_or(Duration::ZERO);
            match mono.checked_sub(behind) {
                Some(start) => (at, start, behind + STARTUP),
                // A monotonic clock younger than the delay: start now, as without a common start.
                None => own,
            }
        }
    }
}

fn worker<T: Transport + Send + Sync>(
    conns: usize,
    plan: &Arc<Plan>,
    transport: &T,
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<Msg>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Msg::Failed(format!(
                "a client thread could not start its runtime: {e}"
            )));
            let _ = tx.send(Msg::Done(Box::default()));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let state = Rc::new(WorkerState {
            recorder: RefCell::new(Recorder::default()),
            seconds: RefCell::new(Seconds::default()),
            in_flight: [Cell::new(0), Cell::new(0)],
        });
        let transport = Rc::new(transport.fork());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conns {
            set.spawn_local(connection(
                plan.clone(),
                shared.clone(),
                state.clone(),
                transport.clone(),
            ));
        }
        // The hard bound: the schedule, then one request's timeout (its connect included), then
        // the grace period.
        let hard_deadline = shared.start + plan.duration + plan.timeout + plan.grace;
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                joined = set.join_next() => {
                    match joined {
                        None => break,
                        Some(Err(e)) if e.is_panic() => {
                            let what = panic_text(&*e.into_panic());
                            let _ = tx.send(Msg::Failed(format!("a connection task panicked: {what}")));
                        }
                        Some(_) => {}
                    }
                }
                _ = flush.tick() => {
                    let now_sec = shared.start.elapsed().as_secs() as u32;
                    let closed = state.seconds.borrow_mut().take_before(Some(now_sec));
                    if !closed.is_empty() {
                        let _ = tx.send(Msg::Seconds(closed));
                    }
                    let past_grace = shared
                        .stopped_at()
                        .is_some_and(|at| shared.start.elapsed() >= at + plan.grace);
                    if past_grace || Instant::now() >= hard_deadline {
                        set.abort_all();
                        while set.join_next().await.is_some() {}
                        let mut r = state.recorder.borrow_mut();
                        r.main.aborted += state.in_flight[0].get();
                        r.warmup.aborted += state.in_flight[1].get();
                        break;
                    }
                }
            }
        }
        let rest = state.seconds.borrow_mut().take_before(None);
        if !rest.is_empty() {
            let _ = tx.send(Msg::Seconds(rest));
        }
        let rec = std::mem::take(&mut *state.recorder.borrow_mut());
        let _ = tx.send(Msg::Done(Box::new(rec)));
    });
}

struct WorkerState {
    recorder: RefCell<Recorder>,
    seconds: RefCell<Seconds>,
    /// Requests in flight: measured, warmup.
    in_flight: [Cell<u64>; 2],
}

/// One connection's loop: claim, wait, send, classify, record.
async fn connection<T: Transport + Send + Sync>(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    state: Rc<WorkerState>,
    transport: Rc<T>,
) {
    let mut conn: Option<T::Conn> = None;
    let start = shared.start;
    let deadline = start + plan.duration;
    // Consecutive failed connects of this connection, for the back-off.
    let mut connect_failures: u32 = 0;
    tokio::time::sleep_until(start.into()).await;
    loop {
        if shared.stopped_at().is_some() {
            break;
        }
        if connect_failures > 0 {
            let pause = connect_backoff(connect_failures);
            let wake = (Instant::now() + pause).min(deadline);
            tokio::time::sleep_until(wake.into()).await;
            if Instant::now() >= deadline || shared.stopped_at().is_some() {
                break;
            }
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        // This segment's i-th request is the whole run's request g.
        let g = plan.segment.global(i);
        if plan.requests.is_some_and(|n| g >= n) {
            break;
        }
        // Beyond the schedule: no token is taken (the batch would look used up when it is not).
        let due = plan.pacer.as_ref().map(|p| p.due(g));
        if due == Some(None) {
            break;
        }
        // The token first (a stream may make the request wait for one), then its time.
        let Some((mut picked, token_wait)) = plan.tokens.pick(i).await else {
            // The stream failed; the session reports why.
            break;
        };
        let token_ready = Instant::now();
        // Whether this connection was idle, waiting for the request's time (or its token): its
        // lag is then jwtstorm's own lateness (timer, CPU, minting), not a busy target's
        // back-pressure.
        let mut waited = !token_wait.is_zero();
        let intended = match &plan.pacer {
            Some(_) => match due.flatten() {
                Some(due) => {
                    let at = start + due;
                    // The timer wheel fires on whole milliseconds after the deadline; aiming
                    // one tick early centres the actual send on the intended time.
                    let wake = at.checked_sub(TIMER_SLACK).unwrap_or(at);
                    if wake > Instant::now() {
                        waited = true;
                        tokio::time::sleep_until(wake.into()).await;
                    }
                    if shared.stopped_at().is_some_and(|s| due >= s) {
                        break;
                    }
                    // Nothing leaves after the schedule has ended: a request still waiting for
                    // a connection then is counted as cancelled (never sent), not sent late.
                    if Instant::now() >= deadline {
                        break;
                    }
                    at
                }
                None => break,
            },
            None => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
        };
        // The closed model has no schedule: a request is intended when it leaves.
        let begin = if plan.pacer.is_some() {
            Instant::now()
        } else {
            intended
        };
        let warmup = intended.duration_since(start) < plan.warmup;
        // A revocation may replace the token with a revoked one, or find it revoked.
        let mut revoked_by = None;
        if let Some(r) = &plan.revoker {
            match r.on_request(g, begin.saturating_duration_since(start), &picked) {
                super::revoke::Verdict::Unchanged => {}
                super::revoke::Verdict::IsRevoked(e) => {
                    picked.class = TokenClass::Revoked;
                    picked.expect = crate::token::classes::Expect::Reject;
                    revoked_by = Some(e);
                }
                super::revoke::Verdict::Replay(p, e) => {
                    picked = p;
                    revoked_by = Some(e);
                }
            }
        }
        let (mut class, expect, reused) = (picked.class, picked.expect, picked.reused);
        // A valid token whose key was retired before it left must now be rejected.
        let retired = match &plan.rotation {
            Some(r) if !r.is_fixed() && picked.key != NO_KEY && class == TokenClass::Valid => {
                r.is_retired(picked.key as usize, begin.saturating_duration_since(start))
            }
            _ => false,
        };
        if retired {
            class = TokenClass::RetiredKey;
        }
        let lag = plan
            .pacer
            .as_ref()
            .map(|_| begin.saturating_duration_since(intended));
        {
            let mut rec = state.recorder.borrow_mut();
            rec.sent(lag, waited, reused, warmup);
            // Mint-bound: the token was ready only after the request was due.
            let late_by = match &plan.pacer {
                Some(_) => token_ready.saturating_duration_since(intended),
                None => token_wait,
            };
            if !token_wait.is_zero() && !late_by.is_zero() {
                rec.mint_bound(late_by, warmup);
                state
                    .seconds
                    .borrow_mut()
                    .mint_bound(begin.duration_since(start).as_secs() as u32);
            }
        }
        state
            .seconds
            .borrow_mut()
            .sent(begin.duration_since(start).as_secs() as u32);
        let now_unix = shared.start_unix + begin.duration_since(start).as_secs_f64();
        let mut deserved = if retired {
            Deserved::Reject
        } else {
            expect.deserved_at(now_unix.floor() as i64)
        };
        // Several endpoints: this request's, and what a good token deserves there.
        let route = plan.routes.as_ref().map(|r| r.pick(g));
        if let (Some(routes), Some(r)) = (&plan.routes, route) {
            deserved = routes.deserved(r, class, deserved);
        }
        let target = match (&plan.routes, route) {
            (Some(routes), Some(r)) => &routes.routes[r].target,
            _ => &plan.target,
        };
        let near_boundary = !retired && expect.near_boundary(now_unix, plan.boundary_guard.as_secs_f64());

        // Whose budget the request spends, for a token a correct verifier lets in (a limiter
        // counts verified tokens).
        let open_respect = plan.respect_retry_after && plan.pacer.is_some();
        let identity =
            ((plan.rate_limit.is_some() || open_respect) && deserved == Deserved::Accept).then(|| match plan
                .rate_limit
                .map_or(LimitKey::Sub, |l| l.key)
            {
                LimitKey::Global => GLOBAL.to_string(),
                LimitKey::Sub => subject_of(&picked.value).unwrap_or_else(|| NO_SUBJECT.to_string()),
            });
        if open_respect
            && let Some(id) = &identity
            && shared.told_count.load(Ordering::Relaxed) > 0
        {
            let until = {
                let mut told = shared.told_to_wait.lock().unwrap_or_else(|p| p.into_inner());
                let until = told.remove(id);
                shared.told_count.store(told.len(), Ordering::Relaxed);
                until
            };
            if let Some(until) = until {
                state
                    .recorder
                    .borrow_mut()
                    .limits
                    .next_after_limit(until.saturating_duration_since(begin));
            }
        }

        let flight = &state.in_flight[usize::from(warmup)];
        flight.set(flight.get() + 1);
        let result = exchange(
            &plan,
            target,
            &*transport,
            &shared,
            &mut conn,
            picked.value.clone(),
            deserved,
            class,
            &state,
        )
        .await;
        flight.set(flight.get() - 1);
        let end = Instant::now();

        let (outcome, status, error, body, stated, retry_after) = match result {
            Ok(reply) => (
                plan.statuses.outcome(reply.status),
                Some(reply.status),
                None,
                reply.body,
                reply.reason,
                reply.retry_after,
            ),
            Err(kind) => (Outcome::TransportError, None, Some(kind), None, None, None),
        };
        connect_failures = match error {
            Some(k) if k.is_connect() => connect_failures.saturating_add(1),
            _ => 0,
        };
        let mut verdict = Judgement::judge_near(outcome, deserved, near_boundary);
        // Reason-aware judging: a rejection for another reason than the class's.
        let reason = match (&plan.reasons, outcome) {
            (Some(map), Outcome::Rejected | Outcome::Forbidden) => stated
                .or_else(|| body.as_deref().and_then(|b| map.from_body(b)))
                .map(|r| map.canonical(&r)),
            _ => None,
        };
        if verdict == Judgement::CorrectReject
            && let Some(r) = &reason
            && r != class.reason()
        {
            verdict = Judgement::RejectedOtherReason;
        }
        if let Some(log) = &plan.answers {
            log.record(picked.index, outcome, status, reason.as_deref());
        }
        let ex = Exchange {
            class,
            outcome,
            verdict,
            status,
            error,
            // A request that left early is measured from when it left, so the corrected
            // figure is never below the target's own response time.
            corrected: end.duration_since(intended.min(begin)),
            uncorrected: end.duration_since(begin),
            warmup,
        };
        {
            let mut rec = state.recorder.borrow_mut();
            rec.record(&ex);
            if picked.key != NO_KEY {
                let at = begin.saturating_duration_since(start).as_micros() as u64;
                rec.key_answer(picked.key as usize, class, outcome, at);
            }
            if let Some(r) = &reason {
                rec.reason(&ex, r);
            }
            if outcome == Outcome::Limited && !warmup {
                rec.limits.limited(retry_after);
            }
            if let Some(e) = revoked_by
                && !warmup
            {
                let at = begin.saturating_duration_since(start).as_micros() as u64;
                rec.revocations.answer(usize::from(e), at, outcome);
            }
            if let Some(r) = route {
                rec.endpoint(r, &ex);
            }
            if plan.rate_limit.is_some()
                && let Some(id) = &identity
            {
                rec.limits
                    .answer(id, begin.duration_since(start).as_secs() as u32, outcome);
            }
            if rec.wants_sample(&ex) {
                let text = match (&body, error) {
                    (Some(b), _) => b.clone(),
                    (None, Some(k)) => k.name().as_bytes().to_vec(),
                    (None, None) => Vec::new(),
                };
                rec.keep_sample(&ex, &text, picked.index, &picked.value);
            }
        }
        state.seconds.borrow_mut().completed(
            end.duration_since(start).as_secs() as u32,
            outcome,
            ex.verdict,
            ex.corrected.as_micros() as u64,
        );
        if outcome == Outcome::Limited
            && plan.respect_retry_after
            && let Some(wait) = retry_after
        {
            if plan.pacer.is_some() {
                if let Some(id) = identity {
                    let mut told = shared.told_to_wait.lock().unwrap_or_else(|p| p.into_inner());
                    if told.len() < MAX_TOLD_TO_WAIT || told.contains_key(&id) {
                        told.insert(id, end + wait);
                    }
                    shared.told_count.store(told.len(), Ordering::Relaxed);
                }
            } else {
                // The closed model: this connection pauses as told, never past the run's end.
                let until = (Instant::now() + wait).min(deadline);
                let pause = until.saturating_duration_since(Instant::now());
                if !pause.is_zero() {
                    tokio::time::sleep_until(until.into()).await;
                    state.recorder.borrow_mut().limits.waited(pause);
                }
            }
        }
    }
}

/// A panic's message, for the report of a failed run.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an unknown panic".into())
}

/// How long a connection waits before its next attempt after `failures` connects in a row
/// failed: 10 ms, doubling, at most one second. A refused port is then tried about once a
/// second per connection instead of as fast as the kernel answers.
pub fn connect_backoff(failures: u32) -> Duration {
    const FIRST: Duration = Duration::from_millis(10);
    const CAP: Duration = Duration::from_secs(1);
    if failures == 0 {
        return Duration::ZERO;
    }
    FIRST.saturating_mul(1u32 << (failures - 1).min(20)).min(CAP)
}

/// Connects if needed, sends one request and reads its response.
#[allow(clippy::too_many_arguments)]
async fn exchange<T: Transport + Send + Sync>(
    plan: &Plan,
    target: &super::transport::Target,
    transport: &T,
    shared: &Shared,
    conn: &mut Option<T::Conn>,
    token: bytes::Bytes,
    deserved: Deserved,
    class: crate::token::classes::TokenClass,
    state: &WorkerState,
) -> Result<super::transport::Reply, ErrorKind> {
    let mut req = target.request(token)?;
    let keep = |status: u16| {
        let outcome = plan.statuses.outcome(status);
        let probe = Exchange {
            class,
            outcome,
            verdict: Judgement::judge(outcome, deserved),
            status: Some(status),
            error: None,
            corrected: Duration::ZERO,
            uncorrected: Duration::ZERO,
            warmup: false,
        };
        // A reason in a JSON body needs the body of every rejection.
        (outcome.is_refusal() && plan.reasons.as_ref().is_some_and(|r| r.json_field.is_some()))
            || state.recorder.borrow().wants_sample(&probe)
    };
    // The whole exchange, connect included, lasts at most the request timeout.
    let give_up = Instant::now() + plan.timeout;
    // One retry, only for a request that never left a connection the server had closed.
    for attempt in 0..2 {
        if conn.is_none() {
            let left = give_up.saturating_duration_since(Instant::now());
            let c = match tokio::time::timeout(plan.connect_timeout.min(left), transport.connect()).await {
                Err(_) => return Err(ErrorKind::ConnectTimeout),
                Ok(r) => r?,
            };
            shared.connections.fetch_add(1, Ordering::Relaxed);
            *conn = Some(c);
        }
        let c = conn.as_mut().expect("connected above");
        let left = give_up.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, transport.send(c, req, &keep)).await {
            Err(_) => {
                *conn = None;
                return Err(ErrorKind::Timeout);
            }
            Ok(Err(f)) => {
                if f.connection_lost {
                    *conn = None;
                }
                match f.unsent {
                    Some(r) if attempt == 0 => req = r,
                    _ => return Err(f.kind),
                }
            }
            Ok(Ok(reply)) => {
                if reply.truncated {
                    *conn = None;
                }
                return Ok(reply);
            }
        }
    }
    Err(ErrorKind::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_common_start_ahead_is_waited_for_and_one_past_is_joined_late() {
        let (now, mono) = (SystemTime::now(), Instant::now());
        let (wall, start, late) = start_of(None, now, mono);
        assert_eq!(
            (wall, start, late),
            (now + STARTUP, mono + STARTUP, Duration::ZERO)
        );
        let ahead = now + Duration::from_secs(30);
        assert_eq!(
            start_of(Some(ahead), now, mono),
            (ahead, mono + Duration::from_secs(30), Duration::ZERO)
        );
        // Nearer than the start-up time: nothing is skipped.
        let near = now + Duration::from_millis(10);
        assert_eq!(start_of(Some(near), now, mono).2, Duration::ZERO);
        let past = now - Duration::from_millis(2);
        if let Some(m) = mono.checked_sub(Duration::from_millis(2)) {
            assert_eq!(
                start_of(Some(past), now, mono),
                (past, m, Duration::from_millis(2) + STARTUP)
            );
        }
    }
}
