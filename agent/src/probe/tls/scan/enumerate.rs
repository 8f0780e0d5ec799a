//! One version's suites by elimination, in as few connections as the server allows.
//!
//! Every remaining suite goes into one hello (a server that cannot take such a hello is asked
//! again in chunks of [`CHUNK`]); each accepted suite is removed and the rest offered again,
//! until the server refuses. The server's order comes out of the same hellos: the second one
//! offers the rest reversed with the first pick again at its end, so a server that follows
//! its own order picks its first suite again, and one that follows the client's takes a new
//! suite from the front; a dedicated hello is sent only when the picks leave it open.
//!
//! In TLS 1.3 the same hellos find the groups too: they carry no key share after the first,
//! so the server names its group in a HelloRetryRequest, and each hello offers only the
//! groups not seen yet. A refusal is then ambiguous (no suite left, or no group left), so
//! suites and groups are finished apart: suites with every group, then groups with the
//! accepted suites.

use std::collections::VecDeque;

use posture_policies::model::{ProbeOutcome, ProtocolVersion};

use super::{
    Attempt, CHUNK, Dialer, HelloSpec, VersionResult, commonness, groups_for, offerable, random32,
    suites, try_hello,
};
use crate::probe::tls::wire::Until;

/// The TLS 1.3 suites servers commonly enable (AES-GCM and ChaCha20-Poly1305, RFC 8446
/// §9.1): once none of these is left, the rest (CCM, integrity-only, national suites) are
/// finished without looking for groups at the same time.
const COMMON_TLS13: [u16; 3] = [0x1301, 0x1302, 0x1303];

/// Most groups looked for, as before.
const MAX_GROUPS: usize = 16;

/// What a TLS 1.3 hello is looking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looking {
    /// Suites and groups together (each answer names one of each).
    Both,
    /// Suites, with every group offered.
    Suites,
    /// Groups, with the accepted suites offered.
    Groups,
}

/// One accepted hello: the suites offered, in order, and the one the server picked.
type Pick = (Vec<u16>, u16);

/// Whether the server imposes its own order, from what it picked: `Some(true)` when a pick
/// passed over an accepted suite offered before it (a client-order server would have taken
/// that one), `Some(false)` when the picks cannot come from any one server order, `None` when
/// both fit (or neither: an erratic server).
fn order_from_picks(picks: &[Pick], accepted: &[u16]) -> Option<bool> {
    let mut client = true;
    // Server order: "pick before x" for every accepted x offered with it; a cycle rules it out.
    let mut before: Vec<(u16, u16)> = Vec::new();
    for (offered, pick) in picks {
        let first = offered.iter().find(|s| accepted.contains(s));
        if first != Some(pick) {
            client = false;
        }
        for x in offered
            .iter()
            .filter(|s| accepted.contains(s) && *s != pick)
        {
            if !before.contains(&(*pick, *x)) {
                before.push((*pick, *x));
            }
        }
    }
    // Take out suites that nothing must come before, until none is left (no cycle) or stuck.
    let mut left: Vec<u16> = accepted.to_vec();
    while let Some(i) = left
        .iter()
        .position(|s| !before.iter().any(|(a, b)| b == s && left.contains(a)))
    {
        left.remove(i);
    }
    let server = left.is_empty();
    match (client, server) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        _ => None,
    }
}

impl VersionResult {
    /// The enumeration of this version ends here: what was accepted stays; with nothing, the
    /// version is `outcome` (an error, or untestable).
    fn end(&mut self, outcome: ProbeOutcome, detail: String, code: &'static str) {
        if self.accepted.is_empty() {
            self.outcome = outcome;
        }
        self.detail = Some(detail);
        self.code = Some(code);
    }

    /// A broken server (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3: the client must abort) chose a
    /// suite that was not offered: it is not an accepted suite.
    fn not_offered(&mut self, suite: u16) {
        self.end(
            ProbeOutcome::Error,
            format!("the server chose suite 0x{suite:04x}, which was not offered"),
            "protocol",
        );
    }

    /// What a refusal before any suite was accepted says about the versions below.
    fn note_refusal(&mut self, attempt: &Attempt) {
        if self.accepted.is_empty() {
            match attempt {
                Attempt::VersionRejected => self.refused_version = true,
                Attempt::Lower(v) => self.lower = Some(*v),
                _ => {}
            }
        }
    }
}

/// Enumerate one version. `known` are suites the server accepted in another version: when it
/// refuses a hello holding any of them, the version is taken as refused (servers configure
/// one suite list for all versions). `chunks`: a first hello closed or broken is asked again
/// in chunks (else it is a refusal: the server has shown it reads long hellos).
pub(super) async fn enumerate(
    dialer: &Dialer,
    version: ProtocolVersion,
    known: &[u32],
    chunks: bool,
) -> VersionResult {
    let mut pool: Vec<&suites::SuiteInfo> = suites::for_version(version)
        .into_iter()
        .filter(|s| offerable(s))
        .collect();
    pool.sort_by_key(|s| (!known.contains(&s.suite.id), commonness(s)));
    let pool: Vec<u16> = pool
        .iter()
        .filter_map(|s| u16::try_from(s.suite.id).ok())
        .collect();
    let known_here: Vec<u16> = pool
        .iter()
        .copied()
        .filter(|s| known.contains(&u32::from(*s)))
        .collect();
    let tls13 = version == ProtocolVersion::Tls13;
    let until = if tls13 {
        Until::ServerHello
    } else {
        Until::HelloDone
    };
    let mut all_groups = groups_for(version);
    if tls13 {
        // The groups servers most often prefer first, so a server that follows the client's
        // order names them in its own likely order.
        all_groups.sort_by_key(|g| match g {
            29 => 0,
            23 => 1,
            _ => 2,
        });
    }
    let mut groups_left = all_groups.clone();
    let mut r = VersionResult::empty(version);
    let mut remaining = pool.clone();
    let mut picks: Vec<Pick> = Vec::new();
    let mut suites_done = false;
    // Groups are looked for here only in TLS 1.3.
    let mut groups_done = !tls13;
    // A hello looking for both was refused: which ran out is not known.
    let mut both_refused = false;
    let mut hellos = 0usize;
    loop {
        let accepted = r.suite_codes();
        suites_done |= remaining.is_empty();
        groups_done |= groups_left.is_empty() || r.groups.len() >= MAX_GROUPS;
        if suites_done && groups_done {
            break;
        }
        let client_order = order_from_picks(&picks, &accepted) == Some(false);
        let common_left = remaining.iter().any(|s| COMMON_TLS13.contains(s));
        let looking = if !suites_done && !groups_done && !both_refused && common_left {
            Looking::Both
        } else if !groups_done && !accepted.is_empty() && (suites_done || client_order) {
            Looking::Groups
        } else if !suites_done {
            Looking::Suites
        } else {
            break;
        };
        let offered: Vec<u16> = if looking == Looking::Groups {
            // With the client's order known, suites still open go first: a pick after them
            // shows they are refused.
            let mut reversed = accepted.clone();
            reversed.reverse();
            if suites_done {
                reversed
            } else {
                remaining
                    .iter()
                    .copied()
                    .chain(accepted.iter().copied())
                    .collect()
            }
        } else {
            let mut offered = remaining.clone();
            // The second hello: the rest reversed, the first pick again at the end.
            if accepted.len() == 1 && picks.len() == 1 {
                offered.reverse();
                offered.push(accepted[0]);
            }
            offered
        };
        let groups: &[u16] = if looking == Looking::Suites {
            &all_groups
        } else {
            &groups_left
        };
        // The first hello (and every hello looking for suites alone) carries an x25519 share,
        // so a server that cannot retry still answers; the others carry none, so the server
        // names its group.
        let share = looking == Looking::Suites || hellos == 0;
        let spec = HelloSpec {
            version,
            suites: &offered,
            groups,
            key_shares: if share && groups.contains(&29) {
                vec![(29, random32().to_vec())]
            } else {
                Vec::new()
            },
            fallback: false,
            extra: Vec::new(),
        };
        hellos += 1;
        let attempt = try_hello(dialer, &spec, until).await;
        r.note_refusal(&attempt);
        match attempt {
            Attempt::Accepted(suite, flight) => {
                if !offered.contains(&suite) {
                    r.not_offered(suite);
                    break;
                }
                let group = flight.hello.as_ref().and_then(|h| h.key_share_group);
                picks.push((offered.clone(), suite));
                if accepted.contains(&suite) {
                    if looking == Looking::Groups && !suites_done {
                        // Client order: everything offered before the pick is refused.
                        remaining.clear();
                    }
                } else {
                    remaining.retain(|s| *s != suite);
                    r.accepted.push(u32::from(suite));
                    r.flights.push(flight);
                }
                if tls13 {
                    match group {
                        Some(g) if groups_left.contains(&g) => {
                            groups_left.retain(|c| *c != g);
                            r.groups.push(g);
                        }
                        // A group not offered in this hello: no more group facts from it.
                        _ if looking == Looking::Groups => groups_done = true,
                        _ => {}
                    }
                }
            }
            Attempt::VersionRejected | Attempt::Lower(_)
                if r.accepted.is_empty() && looking != Looking::Both =>
            {
                break;
            }
            Attempt::NoSuite(_)
                if r.accepted.is_empty() && offered.iter().any(|s| known_here.contains(s)) =>
            {
                r.detail = Some("refused suites the server accepts in another version".into());
                break;
            }
            // The first hello, with every suite, went unanswered or broke the peer: perhaps it
            // is too long for this server; ask again in chunks.
            Attempt::NoSuite(None) | Attempt::Error(..)
                if chunks && hellos == 1 && !tls13 && pool.len() > CHUNK =>
            {
                return enumerate_chunked(dialer, version, known).await;
            }
            Attempt::NoSuite(_) | Attempt::VersionRejected | Attempt::Lower(_) => match looking {
                Looking::Both => both_refused = true,
                Looking::Suites => suites_done = true,
                Looking::Groups => groups_done = true,
            },
            Attempt::Error(e, code) => {
                r.end(ProbeOutcome::Error, e, code);
                break;
            }
            Attempt::Unreachable(e, code) => {
                r.end(ProbeOutcome::Untestable, e, code);
                break;
            }
        }
    }
    if !r.accepted.is_empty() {
        r.outcome = ProbeOutcome::Accepted;
        r.order = order_from_picks(&picks, &r.suite_codes());
    }
    r
}

/// The same in chunks of [`CHUNK`] suites, for a server that does not answer a hello with
/// every suite (the server's order is then asked for separately).
async fn enumerate_chunked(
    dialer: &Dialer,
    version: ProtocolVersion,
    known: &[u32],
) -> VersionResult {
    let mut pool: Vec<&suites::SuiteInfo> = suites::for_version(version)
        .into_iter()
        .filter(|s| offerable(s))
        .collect();
    pool.sort_by_key(|s| (!known.contains(&s.suite.id), commonness(s)));
    let known_here: Vec<u16> = pool
        .iter()
        .filter(|s| known.contains(&s.suite.id))
        .filter_map(|s| u16::try_from(s.suite.id).ok())
        .collect();
    let mut remaining: VecDeque<u16> = pool
        .iter()
        .filter_map(|s| u16::try_from(s.suite.id).ok())
        .collect();
    let mut offered: Vec<u16> = Vec::new();
    let mut r = VersionResult::empty(version);
    let groups = groups_for(version);
    loop {
        while offered.len() < CHUNK {
            match remaining.pop_front() {
                Some(s) => offered.push(s),
                None => break,
            }
        }
        if offered.is_empty() {
            break;
        }
        let spec = HelloSpec {
            version,
            suites: &offered,
            groups: &groups,
            key_shares: vec![(29, random32().to_vec())],
            fallback: false,
            extra: Vec::new(),
        };
        let attempt = try_hello(dialer, &spec, Until::HelloDone).await;
        r.note_refusal(&attempt);
        match attempt {
            Attempt::Accepted(suite, flight) => {
                if !offered.contains(&suite) || r.accepted.contains(&u32::from(suite)) {
                    r.not_offered(suite);
                    break;
                }
                offered.retain(|s| *s != suite);
                r.accepted.push(u32::from(suite));
                r.flights.push(flight);
            }
            Attempt::VersionRejected | Attempt::Lower(_) => break,
            Attempt::NoSuite(_)
                if r.accepted.is_empty() && offered.iter().any(|s| known_here.contains(s)) =>
            {
                r.detail = Some("refused suites the server accepts in another version".into());
                break;
            }
            Attempt::NoSuite(_) => offered.clear(),
            Attempt::Error(e, code) => {
                r.end(ProbeOutcome::Error, e, code);
                break;
            }
            Attempt::Unreachable(e, code) => {
                r.end(ProbeOutcome::Untestable, e, code);
                break;
            }
        }
    }
    if !r.accepted.is_empty() {
        r.outcome = ProbeOutcome::Accepted;
    }
    r.chunked = true;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_comes_out_of_the_picks_when_it_can() {
        let (a, b, c, x) = (1u16, 2, 3, 9);
        // A client-order server: O order, then the rest reversed with the first pick last.
        let client = [
            (vec![a, b, c, x], a),
            (vec![x, c, b, a], c),
            (vec![b, x], b),
        ];
        assert_eq!(order_from_picks(&client, &[a, c, b]), Some(false));
        // A server-order server picks its first again.
        let server = [
            (vec![a, b, c, x], a),
            (vec![x, c, b, a], a),
            (vec![b, c, x], b),
            (vec![c, x], c),
        ];
        assert_eq!(order_from_picks(&server, &[a, b, c]), Some(true));
        // One suite, or picks both orders explain: open.
        assert_eq!(order_from_picks(&[(vec![a, x], a)], &[a]), None);
        assert_eq!(
            order_from_picks(&[(vec![a, b], a), (vec![b], b)], &[a, b]),
            None
        );
    }
}
