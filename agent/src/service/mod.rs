//! `posture-agent run`: the agent as a service. It scans its targets on a schedule, writes
//! each observation to the on-disk spool the moment its target finishes, and uploads the spool
//! to the collector in batches, removing what the collector has acknowledged. Nothing leaves
//! the spool unacknowledged: a collector that is down, a network that fails, a process that is
//! killed, all end with the spool uploaded later (the collector drops what it already has, by
//! observation id and batch key).
//!
//! `posture-agent status` reads the same state directory.

mod held;
pub mod metrics;
mod policy;
pub mod spool;
mod status;
pub mod uplink;

use policy::LocalPolicy;
pub use status::status;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::commands::settings::{Settings, load_config};
use crate::config::{CollectorConfig, Config, ConfigError};
use crate::error::{Error, Result};
use held::Held;
use spool::{Spool, Spooled};
use uplink::{Beat, Uplink, UplinkError, say};

/// Observations judged locally at a time during a round.
const JUDGE_BATCH: usize = 256;

/// How long SIGTERM waits for the upload in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// Longest wait between upload attempts while the collector is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// `run --config FILE`. SIGHUP reads the configuration again (its targets file too); a
/// configuration that no longer checks is said, and the one in use is kept.
pub fn run(args: &RunArgs) -> Result<()> {
    let mut config = load_config(&args.config)?;
    check_service(args, &config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    loop {
        let ended = runtime.block_on(run_with(args, &config))?;
        if ended == Ended::Stopped {
            break;
        }
        match load_config(&args.config).and_then(|c| check_service(args, &c).map(|()| c)) {
            Ok(new) => {
                config = new;
                say("SIGHUP: the configuration was read again");
            }
            Err(e) => say(&format!(
                "ERROR: SIGHUP: {e}; the configuration in use is kept"
            )),
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// What `run` needs beyond a configuration that checks: a [collector] whose key it has or
/// can get, and targets.
fn check_service(args: &RunArgs, config: &Config) -> Result<()> {
    let collector = config.collector.as_ref().ok_or_else(|| ConfigError {
        path: args.config.clone(),
        key: "collector".into(),
        message: "missing: `run` sends what it finds to a collector; add [collector] with url and key_file".into(),
    })?;
    collector.check_files(&args.config)?;
    let settings = Settings::resolve(&args.scan_args(), config)?;
    groups(&settings, config)?;
    Ok(())
}

/// A group of targets scanned on its own interval.
#[derive(Debug, Clone)]
struct Group {
    name: String,
    plan: crate::runner::Plan,
    interval: Duration,
    /// Roles given to its domains instead of the configuration's (empty: those).
    roles: Vec<posture_policies::model::DomainRole>,
}

/// The `default` group (`targets` and `targets_file`) and each `[[group]]`.
fn groups(settings: &Settings, config: &Config) -> Result<Vec<Group>> {
    let mut out = Vec::new();
    if !settings.targets.is_empty() {
        out.push(Group {
            name: "default".into(),
            plan: crate::commands::scan::plan(&settings.targets)?,
            interval: config.schedule.interval,
            roles: Vec::new(),
        });
    }
    for g in &config.groups {
        out.push(Group {
            name: g.name.clone(),
            plan: crate::commands::scan::plan(&g.targets)?,
            interval: g.interval.unwrap_or(config.schedule.interval),
            roles: g.roles.clone(),
        });
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "nothing to scan: give `targets`, `targets_file` or a [[group]]".into(),
        ));
    }
    Ok(out)
}

/// `due`, or the end of the quiet hours (in `tz`) it falls in.
fn after_quiet<Tz: chrono::TimeZone>(
    due: DateTime<Utc>,
    quiet: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
    tz: &Tz,
) -> DateTime<Utc> {
    let Some((from, to)) = quiet else {
        return due;
    };
    let local = due.with_timezone(tz);
    let t = local.time();
    let inside = if from < to {
        t >= from && t < to
    } else {
        t >= from || t < to
    };
    if !inside {
        return due;
    }
    let mut day = local.date_naive();
    if from > to && t >= from {
        day = day.succ_opt().unwrap_or(day);
    }
    tz.from_local_datetime(&day.and_time(to))
        .earliest()
        .map_or(due, |end| end.with_timezone(&Utc))
}

/// How a run of the service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// SIGTERM, SIGINT, or `--once` done.
    Stopped,
    /// SIGHUP: read the configuration again and go on.
    Reload,
}

async fn run_with(args: &RunArgs, config: &Config) -> Result<Ended> {
    let collector = config
        .collector
        .clone()
        .ok_or_else(|| Error::Usage("no [collector]".into()))?;
    let settings = Settings::resolve(&args.scan_args(), config)?;
    let groups = groups(&settings, config)?;
    let options = settings.run_options()?;
    let spool = Spool::open(&config.spool.dir, config.spool.max_bytes)
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let uplink = Uplink::new(&collector).map_err(|e| Error::Unavailable(e.to_string()))?;
    let metrics = metrics::AgentMetrics::new().map_err(Error::Unavailable)?;
    let spool = Arc::new(Mutex::new(spool));
    let serving = CancellationToken::new();
    if let Some(addr) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Unavailable(format!("metrics.listen {addr}: {e}")))?;
        let shown = listener.local_addr().map_or(addr, |a| a);
        say(&format!("metrics on http://{shown}/metrics"));
        tokio::spawn(metrics::serve(
            listener,
            metrics.clone(),
            spool.clone(),
            serving.clone(),
        ));
    }
    let _serving = serving.drop_guard();
    let service = Service {
        policy: Mutex::new(LocalPolicy::load(&config.spool.dir)?),
        metrics,
        spool,
        held: Mutex::new(Held::default()),
        work: Arc::new(Notify::new()),
        scans_done: std::sync::atomic::AtomicBool::new(false),
        config: config.clone(),
        collector,
    };
    service.run(groups, options, uplink, args.once).await
}

struct Service {
    /// The policy set rounds are judged with locally: the collector's once pulled (kept in
    /// the state directory across restarts), the built-in one before.
    policy: Mutex<LocalPolicy>,
    metrics: metrics::AgentMetrics,
    spool: Arc<Mutex<Spool>>,
    /// What the spool could not take (its disk full): held in memory, uploaded from there.
    held: Mutex<Held>,
    work: Arc<Notify>,
    /// This process has finished its rounds (`--once`: the upload loop ends with the spool).
    scans_done: std::sync::atomic::AtomicBool,
    config: Config,
    collector: CollectorConfig,
}

impl Service {
    async fn run(
        self,
        groups: Vec<Group>,
        options: crate::runner::RunOptions,
        uplink: Uplink,
        once: bool,
    ) -> Result<Ended> {
        let stop = CancellationToken::new();
        let signals = stop.clone();
        let reload = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hup = reload.clone();
        let watcher = tokio::spawn(async move {
            if signalled().await == Ended::Reload {
                hup.store(true, std::sync::atomic::Ordering::SeqCst);
                say("SIGHUP: reading the configuration again");
            } else {
                say(
                    "stopping: the scans in flight are dropped (what finished is spooled), the upload in flight finishes",
                );
            }
            signals.cancel();
        });
        let sender = Arc::new(self);
        let uploads = {
            let s = sender.clone();
            let stop = stop.clone();
            tokio::spawn(async move { s.upload_loop(uplink, stop, once).await })
        };
        // --once scans each group now, one after another; the service resumes the schedule
        // it kept, the group due first going first, none starting in the quiet hours.
        let mut once_left: Vec<usize> = (0..groups.len()).rev().collect();
        while !stop.is_cancelled() {
            let (i, due) = if once {
                match once_left.pop() {
                    Some(i) => (i, Utc::now()),
                    None => {
                        // The upload loop ends when the spool is empty (or on SIGTERM).
                        sender
                            .scans_done
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                        sender.work.notify_one();
                        break;
                    }
                }
            } else {
                let (i, due) = sender.next_due(&groups)?;
                (
                    i,
                    after_quiet(due, sender.config.schedule.quiet_hours, &chrono::Local),
                )
            };
            let wait = (due - Utc::now()).to_std().unwrap_or_default();
            if !wait.is_zero() {
                say(&format!(
                    "next round of scans ({}) at {}",
                    groups[i].name,
                    due.to_rfc3339()
                ));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => break,
                }
            }
            sender.round(&groups[i], options.clone(), &stop).await?;
            sender.note_next(&groups)?;
        }
        let uploaded = match uploads.await {
            Ok(r) => r,
            Err(e) => Err(Error::Unavailable(format!("the upload task failed: {e}"))),
        };
        watcher.abort();
        uploaded?;
        Ok(if reload.load(std::sync::atomic::Ordering::SeqCst) {
            Ended::Reload
        } else {
            Ended::Stopped
        })
    }

    fn spool(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write what is held in memory to the spool, then `item`. A spool that refuses the write
    /// (its disk full) does not stop the service: the observation is held in memory, up to
    /// the spool's cap, and uploaded from there until the spool takes writes again.
    fn keep(&self, item: Option<Spooled>) {
        let now = Utc::now().timestamp_millis();
        let cap = self.config.spool.max_bytes;
        let mut held = self.held();
        let writes = held.len() > 0 || item.is_some();
        let mut spool = self.spool();
        let written = held.flush(&mut spool, now).and_then(|d| match &item {
            Some(i) => spool.push(&i.id, &i.body, now).map(|e| d + e),
            None => Ok(d),
        });
        drop(spool);
        let dropped = match written {
            Ok(dropped) => {
                if writes && held.failing.take().is_some() {
                    say("the spool takes writes again: the observations held in memory are in it");
                }
                dropped
            }
            Err(e) => {
                let Some(item) = item else {
                    return;
                };
                if held.failing.is_none() {
                    say(&format!(
                        "ERROR: the spool cannot be written ({e}); observations are held in memory (up to {} MiB) and uploaded from there until it can",
                        cap / (1024 * 1024)
                    ));
                }
                held.failing = Some(e.to_string());
                held.hold(item, cap)
            }
        };
        if dropped > 0 {
            say(&format!(
                "WARNING: the spool is full ({} MiB): dropped the {dropped} oldest observation(s)",
                cap / (1024 * 1024)
            ));
        }
    }

    /// Set a state value; one that cannot be written (the disk full) is said, not fatal.
    fn remember(&self, values: &[(&str, &str)]) {
        let mut spool = self.spool();
        for (key, value) in values {
            if let Err(e) = spool.set_state(key, value) {
                say(&format!("WARNING: keeping {key}: {e}"));
                return;
            }
        }
    }

    /// The group due first, and when: as kept in the state (a restart resumes the schedule),
    /// else now.
    fn next_due(&self, groups: &[Group]) -> Result<(usize, DateTime<Utc>)> {
        let mut first: Option<(usize, DateTime<Utc>)> = None;
        for (i, g) in groups.iter().enumerate() {
            let kept = self
                .spool()
                .state(&format!("next_scan.{}", g.name))
                .map_err(unavailable)?;
            let due = kept
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
            if first.is_none_or(|(_, f)| due < f) {
                first = Some((i, due));
            }
        }
        Ok(first.unwrap_or((0, Utc::now())))
    }

    /// Keep the soonest next round as `next_scan`, for `status`.
    fn note_next(&self, groups: &[Group]) -> Result<()> {
        let (i, due) = self.next_due(groups)?;
        let due = after_quiet(due, self.config.schedule.quiet_hours, &chrono::Local);
        self.remember(&[(
            "next_scan",
            &format!("{} ({})", due.to_rfc3339(), groups[i].name),
        )]);
        Ok(())
    }

    /// One round: every target scanned, each observation spooled as it finishes.
    async fn round(
        &self,
        group: &Group,
        options: crate::runner::RunOptions,
        stop: &CancellationToken,
    ) -> Result<()> {
        let started = Utc::now();
        say(&format!(
            "scanning {} target(s) ({})",
            group.plan.asked().len(),
            group.name
        ));
        let mut options = options;
        // Each observation is streamed to the spool; the runner keeps none (a round of
        // thousands of domains stays small).
        options.keep = false;
        if !group.roles.is_empty() {
            options.roles.clone_from(&group.roles);
        }
        let mut run = crate::runner::start(group.plan.clone(), options, stop.child_token());
        let mut spooled = 0;
        let mut made = Vec::new();
        let mut judged = (0, 0);
        while let Some(mut o) = run.next().await {
            let id = o
                .scan
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            o.scan.id = Some(id.clone());
            let body = serde_json::to_vec(&o).map_err(|e| Error::Unavailable(e.to_string()))?;
            self.keep(Some(Spooled { seq: 0, id, body }));
            spooled += 1;
            self.metrics.scanned(&o);
            self.work.notify_one();
            made.push(o);
            // Judged here in batches, so a big round does not hold every observation.
            if made.len() >= JUDGE_BATCH {
                let (f, failing) = self.judge_locally(std::mem::take(&mut made));
                judged = (judged.0 + f, judged.1 + failing);
            }
        }
        let (f, failing) = self.judge_locally(made);
        let judged = (judged.0 + f, judged.1 + failing);
        let _ = run.finish().await;
        let interval = chrono::Duration::from_std(group.interval).unwrap_or_default();
        // A group scanned more often than the fleet's jitter starts within a quarter of its
        // own interval.
        let jitter = self.config.schedule.jitter.min(group.interval / 4);
        let jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(0);
        let jitter = if jitter_ms == 0 {
            0
        } else {
            rand::random::<u64>() % jitter_ms
        };
        let next =
            started + interval + chrono::Duration::milliseconds(i64::try_from(jitter).unwrap_or(0));
        self.remember(&[
            ("last_scan", &Utc::now().to_rfc3339()),
            (&format!("next_scan.{}", group.name), &next.to_rfc3339()),
        ]);
        self.metrics.round();
        say(&format!(
            "round finished ({}): {spooled} observation(s) spooled; judged here with policy set {}: {} finding(s), {} failing",
            group.name,
            self.local_policy().set.digest(),
            judged.0,
            judged.1
        ));
        Ok(())
    }

    /// Upload the spool, oldest first, until stopped (`once`: until the scans are done and
    /// the spool is empty). Failures back off exponentially with jitter, honouring
    /// Retry-After; a batch the collector refuses for good is split until the one observation
    /// it refuses is found and set aside.
    async fn upload_loop(
        self: Arc<Self>,
        mut uplink: Uplink,
        stop: CancellationToken,
        once: bool,
    ) -> Result<()> {
        let mut backoff = Duration::from_secs(1);
        let mut batch = self.collector.batch;
        let mut last_beat: Option<tokio::time::Instant> = None;
        loop {
            if last_beat.is_none_or(|t| t.elapsed() >= self.config.schedule.heartbeat) {
                last_beat = Some(tokio::time::Instant::now());
                let beat = self.beat()?;
                if let Err(e) = uplink.heartbeat(&beat).await {
                    self.note_error(&e);
                }
                self.refresh_policy(&uplink).await;
            }
            let (items, from_memory) = self.next_batch(batch)?;
            if items.is_empty() {
                if once && self.scans_done.load(std::sync::atomic::Ordering::SeqCst) {
                    say("the spool is empty: done");
                    return Ok(());
                }
                tokio::select! {
                    () = self.work.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = stop.cancelled() => return Ok(()),
                }
                continue;
            }
            let (key, lines) = batch_body(&items, from_memory);
            let sent = tokio::select! {
                r = uplink.upload(&key, &lines) => r,
                () = stop.cancelled() => {
                    // SIGTERM: the upload in flight gets a little while to finish.
                    match tokio::time::timeout(DRAIN, uplink.upload(&key, &lines)).await {
                        Ok(r) => r,
                        Err(_) => return Ok(()),
                    }
                }
            };
            self.metrics.upload(match &sent {
                Ok(_) => "ok",
                Err(UplinkError::Rejected { .. }) => "rejected",
                Err(_) => "failed",
            });
            match sent {
                Ok(ack) => {
                    if let Err(e) = self.acknowledge(&items, from_memory) {
                        // Sent again later, and recognised by the collector as what it has.
                        say(&format!("WARNING: {e}; the batch will be sent again"));
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = stop.cancelled() => return Ok(()),
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                    self.remember(&[
                        ("last_upload", &Utc::now().to_rfc3339()),
                        ("last_error", ""),
                    ]);
                    say(&format!(
                        "uploaded {} observation(s): {} new, {} the collector had",
                        items.len(),
                        ack.accepted,
                        ack.duplicates
                    ));
                    backoff = Duration::from_secs(1);
                    batch = self.collector.batch;
                    if stop.is_cancelled() {
                        return Ok(());
                    }
                }
                Err(UplinkError::Rejected { status, message }) if items.len() == 1 => {
                    say(&format!(
                        "ERROR: the collector refused observation {} ({status}: {message}); it is set aside in the spool's rejected table",
                        items[0].id
                    ));
                    if from_memory {
                        self.held().forget(&[&items[0].id]);
                    } else {
                        self.spool()
                            .reject(
                                &items[0],
                                &format!("{status}: {message}"),
                                Utc::now().timestamp_millis(),
                            )
                            .map_err(unavailable)?;
                    }
                }
                Err(UplinkError::Rejected { .. }) => batch = (items.len() / 2).max(1),
                Err(e) => {
                    self.note_error(&e);
                    if once && matches!(e, UplinkError::Refused(_)) {
                        return Err(Error::Unavailable(format!(
                            "{e}; the observations stay in the spool"
                        )));
                    }
                    let wait = match &e {
                        UplinkError::Later { after: Some(a), .. } => *a,
                        _ => backoff + Duration::from_millis(rand::random::<u64>() % 1000),
                    };
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => return Ok(()),
                    }
                }
            }
        }
    }

    /// The next `n` observations to upload, and whether they are held in memory: what the
    /// spool could not take goes first (memory is what a stop would lose), after one more try
    /// to write it to the spool.
    fn next_batch(&self, n: usize) -> Result<(Vec<Spooled>, bool)> {
        self.keep(None);
        let held = self.held().first(n);
        if !held.is_empty() {
            return Ok((held, true));
        }
        Ok((self.spool().oldest(n).map_err(unavailable)?, false))
    }

    /// The collector has `items`: forget them (from the spool, or from memory).
    fn acknowledge(&self, items: &[Spooled], from_memory: bool) -> Result<(), spool::SpoolError> {
        if from_memory {
            let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
            self.held().forget(&ids);
            return Ok(());
        }
        let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
        self.spool().acknowledge(&seqs)
    }

    /// Pull the collector's policy set when it changed (ETag), and keep it.
    async fn refresh_policy(&self, uplink: &Uplink) {
        let etag = self.local_policy().etag.clone();
        match uplink.policy(etag.as_deref()).await {
            Ok(None) => {}
            Ok(Some((tag, digest, files))) => {
                match posture_policies::PolicySet::from_files(files.clone()) {
                    Ok(set) if set.digest() == digest => {
                        let kept = LocalPolicy {
                            etag: Some(tag),
                            files,
                            set: Arc::new(set),
                        };
                        if let Err(e) = kept.save(&self.config.spool.dir) {
                            say(&format!("WARNING: keeping the policy set: {e}"));
                        }
                        say(&format!(
                            "policy set {digest} from the collector ({} standards): rounds are judged with it here too",
                            kept.set.standards().len()
                        ));
                        *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = kept;
                    }
                    Ok(set) => say(&format!(
                        "WARNING: the collector's policy set has digest {digest} but its files make {}; the one in use is kept",
                        set.digest()
                    )),
                    Err(e) => say(&format!(
                        "WARNING: the collector's policy set does not load here ({e}); the one in use is kept"
                    )),
                }
            }
            Err(e) => self.note_error(&e),
        }
    }

    fn local_policy(&self) -> LocalPolicy {
        self.policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Judge a round's observations with the local policy set (what the collector will find):
    /// (findings, failing).
    fn judge_locally(
        &self,
        observations: Vec<posture_policies::model::Observation>,
    ) -> (usize, usize) {
        if observations.is_empty() {
            return (0, 0);
        }
        let policy = self.local_policy();
        let set = posture_policies::model::ObservationSet {
            schema: posture_policies::model::Schema,
            organisation: self.config.organisation.clone(),
            observations,
        };
        let findings = policy.set.evaluate_set(&set, None, None);
        let failing = findings
            .iter()
            .filter(|f| f.status == posture_policies::model::Status::Fail)
            .count();
        self.metrics.judged(findings.len(), failing);
        (findings.len(), failing)
    }

    fn beat(&self) -> Result<Beat> {
        // Held first: `keep` takes the two locks in this order.
        let held = self.held().len() as u64;
        let spool = self.spool();
        Ok(Beat {
            version: env!("CARGO_PKG_VERSION"),
            last_scan: spool.state("last_scan").map_err(unavailable)?,
            spool_depth: spool.depth().map_err(unavailable)?.observations + held,
            last_error: spool
                .state("last_error")
                .map_err(unavailable)?
                .filter(|e| !e.is_empty()),
        })
    }

    /// Say and keep the last error (what `status` shows).
    fn note_error(&self, e: &UplinkError) {
        let text = e.to_string();
        let loud = matches!(e, UplinkError::Refused(_));
        say(&format!(
            "{}{text}; observations stay in the spool",
            if loud { "ERROR: " } else { "" }
        ));
        let _ = self.spool().set_state("last_error", &text);
    }
}

/// A batch's idempotency key and its body (one JSON line per observation). The same
/// observations make the same key, so a batch sent again after a failure (or after a restart)
/// is recognised as the one the collector may have stored.
fn batch_body(items: &[Spooled], from_memory: bool) -> (String, Vec<u8>) {
    let mut lines = Vec::new();
    for i in items {
        lines.extend_from_slice(&i.body);
        lines.push(b'\n');
    }
    let key = match (items.first(), items.last()) {
        (Some(first), _) if from_memory => format!("held-{}-{}", first.id, items.len()),
        (Some(first), Some(last)) => format!("{}-{}-{}", first.seq, last.seq, items.len()),
        _ => String::new(),
    };
    (key, lines)
}

fn unavailable(e: spool::SpoolError) -> Error {
    Error::Unavailable(e.to_string())
}

/// SIGTERM or SIGINT (stop), or SIGHUP (reload).
async fn signalled() -> Ended {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => Ended::Stopped,
        _ = tokio::signal::ctrl_c() => Ended::Stopped,
        _ = hup.recv() => Ended::Reload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn rounds_due_in_the_quiet_hours_wait_for_their_end() {
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let day = Some((hm(8, 0), hm(18, 0)));
        // A window over midnight.
        let night = Some((hm(22, 0), hm(6, 0)));
        // (due, quiet hours, when the round starts)
        let cases = [
            ("2026-12-01T09:30:00Z", day, "2026-12-01T18:00:00Z"),
            ("2026-12-01T07:59:00Z", day, "2026-12-01T07:59:00Z"),
            ("2026-12-01T18:00:00Z", day, "2026-12-01T18:00:00Z"),
            ("2026-12-01T23:00:00Z", night, "2026-12-02T06:00:00Z"),
            ("2026-12-02T05:00:00Z", night, "2026-12-02T06:00:00Z"),
            ("2026-12-02T12:00:00Z", night, "2026-12-02T12:00:00Z"),
            ("2026-12-02T12:00:00Z", None, "2026-12-02T12:00:00Z"),
        ];
        for (due, quiet, starts) in cases {
            assert_eq!(
                after_quiet(at(due), quiet, &Utc),
                at(starts),
                "{due} {quiet:?}"
            );
        }
    }
}
