//! The alert state machine, without I/O: from status changes and due reminders to what owners
//! are told. An alert is open while its check's status is one owners must act on (fail, or
//! warn when the finding carries a deadline, a certificate's `not_after`); owners hear once
//! when it opens (a regression when it passed or warned before), again on reminders (for a
//! deadline at 30, 14, 7 and 1 days before it, otherwise weekly) unless acknowledged, and once
//! when it closes.

use posture_policies::model::{Finding, Severity};

use crate::store::notify::{AlertState, EventRow};

const DAY_MS: i64 = 86_400_000;

/// Why owners are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It started failing (first seen failing, or after being untestable).
    Failing,
    /// It passed (or warned) before and fails now.
    Regression,
    /// Still failing: a reminder.
    Reminder,
    /// Fixed.
    Resolved,
}

impl Reason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Failing => "failing",
            Reason::Regression => "regression",
            Reason::Reminder => "reminder",
            Reason::Resolved => "resolved",
        }
    }
}

/// One thing to tell the owners of a target.
#[derive(Debug, Clone)]
pub struct Item {
    /// Why.
    pub reason: Reason,
    /// The organisation.
    pub organisation: String,
    /// The scoring domain.
    pub domain: String,
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
    /// The status before (for a regression).
    pub from: Option<String>,
    /// The latest finding.
    pub finding: Finding,
    /// When the episode began (acknowledgement links name it), Unix ms.
    pub since: i64,
}

/// The reminder schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Days before a deadline to remind at.
    pub before_deadline: Vec<i64>,
    /// How often to remind of a failure without a deadline, ms.
    pub every: i64,
    /// Findings below this severity are not alerted.
    pub min_severity: Severity,
}

/// The deadline a finding carries: its evidence's `not_after` (a certificate's expiry), Unix ms.
pub fn deadline(f: &Finding) -> Option<i64> {
    let t = f.evidence.get("not_after")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Whether `status` of `finding` is one owners must act on.
pub fn opens(status: &str, finding: &Finding) -> bool {
    status == "fail" || (status == "warn" && deadline(finding).is_some())
}

/// When to remind next after `now`: the next of the days before the deadline still ahead, or
/// `every` from now without a deadline.
pub fn next_reminder(now: i64, finding: &Finding, schedule: &Schedule) -> Option<i64> {
    match deadline(finding) {
        Some(d) => schedule
            .before_deadline
            .iter()
            .map(|days| d - days * DAY_MS)
            .filter(|t| *t > now)
            .min(),
        None => Some(now + schedule.every),
    }
}

/// What one status change means: the state after it (none: nothing to keep) and what to tell.
pub fn on_event(
    e: &EventRow,
    finding: &Finding,
    current: Option<&AlertState>,
    now: i64,
    schedule: &Schedule,
) -> (Option<AlertState>, Option<Item>) {
    if finding.severity < schedule.min_severity || matches!(e.to.as_str(), "untestable" | "error") {
        // Too minor to alert, or unknown now: nothing changes.
        return (None, None);
    }
    let open = current.is_some_and(|s| s.state == "open");
    let item = |reason| Item {
        reason,
        organisation: e.organisation.clone(),
        domain: e.domain.clone(),
        target: e.target.clone(),
        check: e.check.clone(),
        from: e.from.clone(),
        finding: finding.clone(),
        since: e.at,
    };
    match (opens(&e.to, finding), open, current) {
        (true, false, _) => {
            let regression = matches!(e.from.as_deref(), Some("pass" | "warn" | "not_applicable"));
            let reason = if regression {
                Reason::Regression
            } else {
                Reason::Failing
            };
            let state = AlertState {
                target: e.target.clone(),
                check: e.check.clone(),
                organisation: e.organisation.clone(),
                domain: e.domain.clone(),
                state: "open".into(),
                since: e.at,
                last_sent: now,
                next_reminder: next_reminder(now, finding, schedule),
                reminders: 0,
                acked_at: None,
            };
            (Some(state), Some(item(reason)))
        }
        // Still open with another status (a deadline's warn becoming fail): not told again
        // now, but an acknowledgement no longer holds.
        (true, true, Some(s)) => {
            let mut s = s.clone();
            if e.from.as_deref() != Some(e.to.as_str()) {
                s.acked_at = None;
            }
            (Some(s), None)
        }
        (false, true, Some(s)) => {
            let mut s = s.clone();
            s.state = "closed".into();
            s.last_sent = now;
            s.next_reminder = None;
            let mut told = item(Reason::Resolved);
            told.since = s.since;
            (Some(s), Some(told))
        }
        _ => (None, None),
    }
}

/// A due reminder: the state after it and what to tell (none when the finding no longer
/// opens the alert; the next status change will close it).
pub fn on_reminder(
    s: &AlertState,
    finding: &Finding,
    now: i64,
    schedule: &Schedule,
) -> (AlertState, Option<Item>) {
    let mut after = s.clone();
    after.next_reminder = next_reminder(now, finding, schedule);
    if !opens(finding.status.as_str(), finding) {
        return (after, None);
    }
    after.reminders += 1;
    after.last_sent = now;
    let item = Item {
        reason: Reason::Reminder,
        organisation: s.organisation.clone(),
        domain: s.domain.clone(),
        target: s.target.clone(),
        check: s.check.clone(),
        from: None,
        finding: finding.clone(),
        since: s.since,
    };
    (after, Some(item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_policies::model::Status;

    fn finding(status: Status, not_after: Option<&str>) -> Finding {
        let mut f: Finding = serde_json::from_value(serde_json::json!({
            "schema": "posture/v1", "check": "TLS-CERT-EXPIRING",
            "target": {"type": "endpoint", "host": "www.b.test", "port": 443, "service": "https"},
            "domain": "b.test", "status": status.as_str(), "severity": "high", "title": "t",
            "message": "m", "remediation": "r", "standards": ["NHS-WEB"],
            "observed_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        if let Some(t) = not_after {
            f.evidence.insert("not_after".into(), t.into());
        }
        f
    }

    fn event(from: Option<&str>, to: &str, at: i64) -> EventRow {
        EventRow {
            id: 1,
            target: "endpoint:https:www.b.test:443:".into(),
            check: "TLS-CERT-EXPIRING".into(),
            organisation: "RX2".into(),
            domain: "b.test".into(),
            from: from.map(str::to_owned),
            to: to.into(),
            at,
        }
    }

    fn schedule() -> Schedule {
        Schedule {
            before_deadline: vec![30, 14, 7, 1],
            every: 7 * DAY_MS,
            min_severity: Severity::Medium,
        }
    }

    #[test]
    fn a_failure_is_told_once_then_reminded_then_resolved_once() {
        let now = 1_000 * DAY_MS;
        let f = finding(Status::Fail, None);
        let (state, item) = on_event(
            &event(Some("pass"), "fail", now),
            &f,
            None,
            now,
            &schedule(),
        );
        let state = state.unwrap_or_else(|| panic!("opened"));
        assert_eq!(item.map(|i| i.reason), Some(Reason::Regression));
        assert_eq!(state.next_reminder, Some(now + 7 * DAY_MS));
        // The same failure seen again: nothing more.
        let (_, again) = on_event(
            &event(Some("fail"), "fail", now + 1),
            &f,
            Some(&state),
            now + 1,
            &schedule(),
        );
        assert!(again.is_none());
        // A week on: a reminder, the next a week later.
        let (after, told) = on_reminder(&state, &f, now + 7 * DAY_MS, &schedule());
        assert_eq!(told.map(|i| i.reason), Some(Reason::Reminder));
        assert_eq!(
            (after.reminders, after.next_reminder),
            (1, Some(now + 14 * DAY_MS))
        );
        // Fixed: told once, closed.
        let fixed = finding(Status::Pass, None);
        let (closed, told) = on_event(
            &event(Some("fail"), "pass", now + 8 * DAY_MS),
            &fixed,
            Some(&after),
            now + 8 * DAY_MS,
            &schedule(),
        );
        assert_eq!(
            told.map(|i| (i.reason, i.since)),
            Some((Reason::Resolved, now))
        );
        let closed = closed.unwrap_or_else(|| panic!("closed"));
        assert_eq!(
            (closed.state.as_str(), closed.next_reminder),
            ("closed", None)
        );
        let (_, nothing) = on_event(
            &event(Some("pass"), "pass", now + 9 * DAY_MS),
            &fixed,
            Some(&closed),
            now + 9 * DAY_MS,
            &schedule(),
        );
        assert!(nothing.is_none());
    }

    #[test]
    fn a_certificate_is_reminded_at_days_before_its_expiry() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .map_or(0, |t| t.timestamp_millis());
        // Expires in 10 days: it fails (under 14); reminders at 7 and 1 days before.
        let f = finding(Status::Fail, Some("2026-12-11T00:00:00Z"));
        let (state, item) = on_event(&event(None, "fail", now), &f, None, now, &schedule());
        assert_eq!(item.map(|i| i.reason), Some(Reason::Failing));
        let state = state.unwrap_or_else(|| panic!("opened"));
        assert_eq!(state.next_reminder, Some(now + 3 * DAY_MS));
        let (after, _) = on_reminder(&state, &f, now + 3 * DAY_MS, &schedule());
        assert_eq!(after.next_reminder, Some(now + 9 * DAY_MS));
        let (last, _) = on_reminder(&after, &f, now + 9 * DAY_MS, &schedule());
        assert_eq!(last.next_reminder, None, "no threshold left before expiry");
        // A warning with a deadline opens an alert too; one without does not.
        let warn = finding(Status::Warn, Some("2026-12-25T00:00:00Z"));
        assert!(
            on_event(
                &event(Some("pass"), "warn", now),
                &warn,
                None,
                now,
                &schedule()
            )
            .1
            .is_some()
        );
        let plain_warn = finding(Status::Warn, None);
        assert!(
            on_event(
                &event(Some("pass"), "warn", now),
                &plain_warn,
                None,
                now,
                &schedule()
            )
            .1
            .is_none()
        );
    }

    #[test]
    fn minor_and_unknown_outcomes_are_not_alerted() {
        let mut low = finding(Status::Fail, None);
        low.severity = Severity::Low;
        assert_eq!(
            on_event(&event(None, "fail", 0), &low, None, 0, &schedule())
                .1
                .map(|i| i.reason),
            None
        );
        let f = finding(Status::Untestable, None);
        assert!(
            on_event(
                &event(Some("fail"), "untestable", 0),
                &f,
                None,
                0,
                &schedule()
            )
            .1
            .is_none()
        );
    }
}
