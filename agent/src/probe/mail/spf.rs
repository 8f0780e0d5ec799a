//! SPF records (RFC 7208), parsed to the letter of the ABNF in §12, with the position of the
//! first error. Pure: evaluation with DNS (lookup counting across includes) builds on this.

use std::net::{Ipv4Addr, Ipv6Addr};

/// `+`, `-`, `~`, `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+` pass (the default).
    Pass,
    /// `-` fail.
    Fail,
    /// `~` softfail.
    SoftFail,
    /// `?` neutral.
    Neutral,
}

impl Qualifier {
    /// The character.
    pub fn symbol(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:domain`.
    Include(String),
    /// `a[:domain][/cidr4][//cidr6]`.
    A {
        /// The domain-spec, when given.
        domain: Option<String>,
        /// IPv4 prefix length.
        cidr4: Option<u8>,
        /// IPv6 prefix length.
        cidr6: Option<u8>,
    },
    /// `mx[:domain][/cidr4][//cidr6]`.
    Mx {
        /// The domain-spec, when given.
        domain: Option<String>,
        /// IPv4 prefix length.
        cidr4: Option<u8>,
        /// IPv6 prefix length.
        cidr6: Option<u8>,
    },
    /// `ptr[:domain]` (deprecated, §5.5).
    Ptr(Option<String>),
    /// `ip4:network[/len]`.
    Ip4(Ipv4Addr, u8),
    /// `ip6:network[/len]`.
    Ip6(Ipv6Addr, u8),
    /// `exists:domain`.
    Exists(String),
}

impl Mechanism {
    /// Whether it costs a DNS lookup in the §4.6.4 count.
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

/// A term: a directive or a modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A qualified mechanism.
    Directive(Qualifier, Mechanism),
    /// `redirect=domain`.
    Redirect(String),
    /// `exp=domain`.
    Exp(String),
    /// Any other `name=value`, ignored by evaluation (§6).
    Unknown(String, String),
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    /// The terms in order.
    pub terms: Vec<Term>,
}

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct SpfError {
    /// What is wrong.
    pub message: String,
    /// Byte offset into the record.
    pub position: usize,
}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, SpfError> {
    Err(SpfError {
        message: message.into(),
        position,
    })
}

/// Whether a TXT string is an SPF record at all (§4.5: "v=spf1" followed by a space or the end).
pub fn is_spf(txt: &str) -> bool {
    let lower = txt.get(..6).map(str::to_ascii_lowercase);
    lower.as_deref() == Some("v=spf1") && txt[6..].chars().next().is_none_or(|c| c == ' ')
}

/// Parse a record (the TXT strings already concatenated, §3.3).
pub fn parse(record: &str) -> Result<SpfRecord, SpfError> {
    if !is_spf(record) {
        return err(0, "does not start with \"v=spf1\"");
    }
    if !record.is_ascii() {
        let at = record
            .char_indices()
            .find(|(_, c)| !c.is_ascii())
            .map_or(0, |(i, _)| i);
        return err(at, "non-ASCII character");
    }
    let mut terms = Vec::new();
    let mut redirect_seen = false;
    let mut exp_seen = false;
    let bytes = record.as_bytes();
    let mut at = 6;
    while at < bytes.len() {
        if bytes[at] != b' ' {
            return err(at, "terms must be separated by spaces");
        }
        while at < bytes.len() && bytes[at] == b' ' {
            at += 1;
        }
        if at == bytes.len() {
            break;
        }
        let end = record[at..].find(' ').map_or(bytes.len(), |i| at + i);
        let term = parse_term(&record[at..end], at)?;
        match &term {
            Term::Redirect(_) if redirect_seen => return err(at, "redirect given twice"),
            Term::Exp(_) if exp_seen => return err(at, "exp given twice"),
            Term::Redirect(_) => redirect_seen = true,
            Term::Exp(_) => exp_seen = true,
            _ => {}
        }
        terms.push(term);
        at = end;
    }
    Ok(SpfRecord { terms })
}

fn parse_term(text: &str, at: usize) -> Result<Term, SpfError> {
    // A modifier is name "=" ...; a name starts with a letter.
    if let Some(eq) = text.find('=') {
        let name = &text[..eq];
        let before_colon = text.find(':').is_none_or(|c| c > eq);
        if before_colon
            && !name.is_empty()
            && name.as_bytes()[0].is_ascii_alphabetic()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            let value = &text[eq + 1..];
            return match name.to_ascii_lowercase().as_str() {
                "redirect" => Ok(Term::Redirect(domain_spec(value, at + eq + 1, false)?)),
                // The exp= value is a domain-spec like any other; c, r and t belong to the
                // explanation text found there, not to the name (§6.2, §7.1).
                "exp" => Ok(Term::Exp(domain_spec(value, at + eq + 1, false)?)),
                _ => {
                    macro_string(value, at + eq + 1, false)?;
                    Ok(Term::Unknown(name.to_owned(), value.to_owned()))
                }
            };
        }
    }
    let (qualifier, body, offset) = match text.as_bytes()[0] {
        b'+' => (Qualifier::Pass, &text[1..], 1),
        b'-' => (Qualifier::Fail, &text[1..], 1),
        b'~' => (Qualifier::SoftFail, &text[1..], 1),
        b'?' => (Qualifier::Neutral, &text[1..], 1),
        _ => (Qualifier::Pass, text, 0),
    };
    let term_at = at;
    let at = at + offset;
    let name_end = body.find([':', '/']).unwrap_or(body.len());
    let name = body[..name_end].to_ascii_lowercase();
    let rest = &body[name_end..];
    let arg = rest.strip_prefix(':');
    let mechanism = match name.as_str() {
        "all" => {
            if !rest.is_empty() {
                return err(at + name_end, "all takes no argument");
            }
            Mechanism::All
        }
        "include" | "exists" => {
            let Some(d) = arg else {
                return err(at + name_end, format!("{name} needs \":domain\""));
            };
            let d = domain_spec(d, at + name_end + 1, false)?;
            if name == "include" {
                Mechanism::Include(d)
            } else {
                Mechanism::Exists(d)
            }
        }
        "a" | "mx" => {
            let (domain, cidr_text, cidr_at) = match arg {
                Some(a) => {
                    // ':' and '/' may appear inside a domain-spec (§7.1): the dual-cidr-length
                    // is only what ends the argument.
                    let split = a.len() - cidr_suffix(a).len();
                    (
                        Some(domain_spec(&a[..split], at + name_end + 1, false)?),
                        &a[split..],
                        at + name_end + 1 + split,
                    )
                }
                None => (None, rest, at + name_end),
            };
            let (cidr4, cidr6) = dual_cidr(cidr_text, cidr_at)?;
            if name == "a" {
                Mechanism::A {
                    domain,
                    cidr4,
                    cidr6,
                }
            } else {
                Mechanism::Mx {
                    domain,
                    cidr4,
                    cidr6,
                }
            }
        }
        "ptr" => {
            if !rest.is_empty() && arg.is_none() {
                return err(at + name_end, "ptr takes only \":domain\"");
            }
            Mechanism::Ptr(
                arg.map(|d| domain_spec(d, at + name_end + 1, false))
                    .transpose()?,
            )
        }
        "ip4" => {
            let (ip, len) = network(arg, "ip4", "IPv4", 32, at + name_end)?;
            Mechanism::Ip4(ip, len)
        }
        "ip6" => {
            let (ip, len) = network(arg, "ip6", "IPv6", 128, at + name_end)?;
            Mechanism::Ip6(ip, len)
        }
        "" => return err(term_at, "empty mechanism"),
        other => return err(term_at, format!("unknown mechanism {other:?}")),
    };
    Ok(Term::Directive(qualifier, mechanism))
}

/// The dual-cidr-length that ends `arg` (`/24`, `//64`, `/24//64`), or "".
fn cidr_suffix(arg: &str) -> &str {
    let digits_before = |end: usize| {
        end - arg[..end]
            .bytes()
            .rev()
            .take_while(u8::is_ascii_digit)
            .count()
    };
    let mut start = arg.len();
    let d6 = digits_before(start);
    if d6 < start && arg[..d6].ends_with("//") {
        start = d6 - 2;
    }
    let d4 = digits_before(start);
    if d4 < start && arg[..d4].ends_with('/') && !arg[..d4].ends_with("//") {
        start = d4 - 1;
    }
    &arg[start..]
}

/// `/n` and `//n` after a domain (RFC 7208 dual-cidr-length).
fn dual_cidr(text: &str, at: usize) -> Result<(Option<u8>, Option<u8>), SpfError> {
    if text.is_empty() {
        return Ok((None, None));
    }
    if let Some(v6) = text.strip_prefix("//") {
        return Ok((None, cidr(Some(v6), 128, at + 2)?));
    }
    let Some(rest) = text.strip_prefix('/') else {
        return err(at, format!("unexpected {text:?}"));
    };
    match rest.split_once("//") {
        Some((v4, v6)) => Ok((
            cidr(Some(v4), 32, at + 1)?,
            cidr(Some(v6), 128, at + 3 + v4.len())?,
        )),
        None => Ok((cidr(Some(rest), 32, at + 1)?, None)),
    }
}

/// The `:address[/len]` of an ip4 or ip6 mechanism whose name ends at `at`; the prefix length
/// is `max` when not given.
fn network<A: std::str::FromStr>(
    arg: Option<&str>,
    name: &str,
    family: &str,
    max: u8,
    at: usize,
) -> Result<(A, u8), SpfError> {
    let Some(a) = arg else {
        return err(at, format!("{name} needs \":address\""));
    };
    let (addr, len) = a.split_once('/').map_or((a, None), |(x, l)| (x, Some(l)));
    let ip = addr.parse::<A>().map_err(|_| SpfError {
        message: format!("{addr:?} is not an {family} address"),
        position: at + 1,
    })?;
    Ok((ip, cidr(len, max, at + 1 + addr.len() + 1)?.unwrap_or(max)))
}

fn cidr(text: Option<&str>, max: u8, at: usize) -> Result<Option<u8>, SpfError> {
    let Some(t) = text else { return Ok(None) };
    // No leading zeros (ABNF: "0" / %x31-39 0*2DIGIT).
    let ok = !t.is_empty()
        && t.len() <= 3
        && t.bytes().all(|b| b.is_ascii_digit())
        && (t == "0" || !t.starts_with('0'));
    match t.parse::<u8>() {
        Ok(n) if ok && n <= max => Ok(Some(n)),
        _ => err(at, format!("{t:?} is not a prefix length from 0 to {max}")),
    }
}

/// A domain-spec: a macro-string ending in a top label or a macro (§7.1, §12).
fn domain_spec(text: &str, at: usize, exp: bool) -> Result<String, SpfError> {
    if text.is_empty() {
        return err(at, "empty domain");
    }
    macro_string(text, at, exp)?;
    // domain-end: a macro expansion, or "." toplabel ["."].
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    // Without macros the name is final: an empty label or one over 63 octets makes it no
    // domain name at all (RFC 1035 §2.3.4), a defect of the record, not a DNS failure.
    if !text.contains('%') {
        let mut offset = 0;
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return err(
                    at + offset,
                    format!(
                        "{text:?} is not a domain name: a label is empty or longer than 63 octets"
                    ),
                );
            }
            offset += label.len() + 1;
        }
    }
    if !trimmed.ends_with('}') {
        let top = trimmed.rsplit('.').next().unwrap_or_default();
        let label_ok = !top.is_empty()
            && top.len() <= 63
            && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !top.starts_with('-')
            && !top.ends_with('-')
            && (top.bytes().any(|b| b.is_ascii_alphabetic()) || top.contains('-'));
        if !trimmed.contains('.') || !label_ok {
            return err(at, format!("{text:?} is not a domain name"));
        }
    }
    Ok(text.to_owned())
}

/// Check a macro-string (§7.1): literals %x21-24 / %x26-7E, and %{...}, %%, %_, %-.
fn macro_string(text: &str, at: usize, exp: bool) -> Result<(), SpfError> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => match b.get(i + 1) {
                Some(b'%' | b'_' | b'-') => i += 2,
                Some(b'{') => {
                    let Some(close) = text[i..].find('}') else {
                        return err(at + i, "unterminated macro");
                    };
                    let inner = &text[i + 2..i + close];
                    let mut chars = inner.chars();
                    let letter = chars.next().map(|c| c.to_ascii_lowercase());
                    let allowed = if exp { "slodiphcrtv" } else { "slodiphv" };
                    if !letter.is_some_and(|l| allowed.contains(l)) {
                        return err(at + i + 2, format!("bad macro letter in %{{{inner}}}"));
                    }
                    let rest: String = chars.collect();
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let mut tail = &rest[digits.len()..];
                    if let Some(t) = tail.strip_prefix(['r', 'R']) {
                        tail = t;
                    }
                    if digits == "0" || tail.chars().any(|c| !".-+,/_=".contains(c)) {
                        return err(at + i + 2, format!("bad macro transformer in %{{{inner}}}"));
                    }
                    i += close + 1;
                }
                _ => return err(at + i, "a '%' must start a macro (%{...}, %%, %_ or %-)"),
            },
            0x21..=0x7e => i += 1,
            c => return err(at + i, format!("character {c:#04x} not allowed")),
        }
    }
    Ok(())
}

impl SpfRecord {
    /// DNS-querying terms in this record alone (§4.6.4), with `redirect` unless an `all`
    /// makes it ignored (§6.1).
    pub fn lookup_terms(&self) -> usize {
        self.terms
            .iter()
            .filter(|t| {
                matches!(t, Term::Directive(_, m) if m.queries_dns())
                    || (matches!(t, Term::Redirect(_)) && self.all().is_none())
            })
            .count()
    }

    /// The qualifier of the `all` mechanism, if any.
    pub fn all(&self) -> Option<Qualifier> {
        self.terms.iter().find_map(|t| match t {
            Term::Directive(q, Mechanism::All) => Some(*q),
            _ => None,
        })
    }

    /// Whether `ptr` is used.
    pub fn uses_ptr(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t, Term::Directive(_, Mechanism::Ptr(_))))
    }

    /// The `redirect` target, unless the record has an `all`, which makes receivers ignore
    /// it (§6.1).
    pub fn redirect(&self) -> Option<&str> {
        if self.all().is_some() {
            return None;
        }
        self.terms.iter().find_map(|t| match t {
            Term::Redirect(d) => Some(d.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `(record, Ok(lookup terms) | Err(position))`: the RFC 7208 syntax verdict for each, with
    /// the byte where the first error is.
    const CORPUS: &[(&str, Result<usize, usize>)] = &[
        ("v=spf1 -all", Ok(0)),
        ("v=spf1", Ok(0)),
        ("V=SPF1 -ALL", Ok(0)),
        ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all", Ok(0)),
        ("v=spf1 a mx -all", Ok(2)),
        (
            "v=spf1 a:mail.example.org/28//64 mx:example.org/24 ~all",
            Ok(2),
        ),
        ("v=spf1 a//64 -all", Ok(1)),
        (
            "v=spf1 include:_spf.google.com include:spf.protection.outlook.com -all",
            Ok(2),
        ),
        ("v=spf1 redirect=_spf.example.org", Ok(1)),
        ("v=spf1 exists:%{i}._spf.example.org -all", Ok(1)),
        ("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", Ok(1)),
        ("v=spf1 ptr -all", Ok(1)),
        ("v=spf1 ptr:example.org ?all", Ok(1)),
        ("v=spf1 mx exp=explain._spf.%{d} -all", Ok(1)),
        ("v=spf1 foo=bar -all", Ok(0)),
        ("v=spf1  ip4:192.0.2.1   -all  ", Ok(0)),
        ("v=spf1 +all", Ok(0)),
        ("v=spf1 include:example.org.", Ok(1)),
        ("v=spf1 a:example.org/0 -all", Ok(1)),
        ("v=spf1 ip6:::1 -all", Ok(0)),
        ("v=spf10 -all", Err(0)),
        ("spf1 -all", Err(0)),
        ("v=spf1 -alll", Err(7)),
        ("v=spf1 inclde:example.org -all", Err(7)),
        ("v=spf1 include -all", Err(14)),
        ("v=spf1 include: -all", Err(15)),
        ("v=spf1 ip4:192.0.2.300 -all", Err(11)),
        ("v=spf1 ip4:192.0.2.0/33 -all", Err(21)),
        ("v=spf1 ip4:192.0.2.0/024 -all", Err(21)),
        ("v=spf1 ip6:2001:db8::/129 -all", Err(22)),
        ("v=spf1 ip6:192.0.2.1 -all", Err(11)),
        ("v=spf1 a/33 -all", Err(9)),
        ("v=spf1 redirect=a.example redirect=b.example", Err(26)),
        ("v=spf1 exp=a.example exp=b.example -all", Err(21)),
        ("v=spf1 include:%{z}.example.org -all", Err(17)),
        ("v=spf1 include:%{d0}.example.org -all", Err(17)),
        ("v=spf1 include:50% -all", Err(17)),
        ("v=spf1 include:example -all", Err(15)),
        ("v=spf1 all:example.org", Err(10)),
        ("v=spf1 -all\u{e9}", Err(11)),
        ("v=spf1 exists -all", Err(13)),
        // '/' may be part of a domain-spec (§7.1), so this is a bad domain, not a bad prefix.
        ("v=spf1 mx:example.org/24//xx -all", Err(10)),
        ("v=spf1 a:foo:bar/baz.example.com -all", Ok(1)),
        ("v=spf1 a:foo:bar/baz.example.com/24//64 -all", Ok(1)),
        ("v=spf1 a:foo.example.com/33 -all", Err(25)),
        ("v=spf1 exp=%{r}.example.com -all", Err(13)),
        ("v=spf1 exp=%{i}.example.com -all", Ok(0)),
        ("v=spf1 a:foo..example.com -all", Err(13)),
        ("v=spf1 include:a.b-.example.com. -all", Ok(1)),
    ];

    #[test]
    fn corpus_verdicts_and_positions() {
        assert!(CORPUS.len() >= 40);
        let mut wrong = Vec::new();
        for (record, expected) in CORPUS {
            let got = parse(record)
                .map(|r| r.lookup_terms())
                .map_err(|e| e.position);
            if &got != expected {
                wrong.push(format!(
                    "{record:?}: expected {expected:?}, got {:?}",
                    parse(record)
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn accessors() {
        let r = parse("v=spf1 mx ptr redirect=_spf.example.org ~all").unwrap();
        assert_eq!(r.all(), Some(Qualifier::SoftFail));
        assert!(r.uses_ptr());
        // §6.1: with an all, the redirect is ignored (not followed, not counted).
        assert_eq!(r.redirect(), None);
        assert_eq!(r.lookup_terms(), 2);
        let r = parse("v=spf1 mx redirect=_spf.example.org").unwrap();
        assert_eq!(r.all(), None);
        assert_eq!(r.redirect(), Some("_spf.example.org"));
        assert_eq!(r.lookup_terms(), 2);
        let long = format!("v=spf1 include:{}.example.com -all", "a".repeat(64));
        assert!(parse(&long).unwrap_err().message.contains("longer than 63"));
        assert!(is_spf("v=spf1") && !is_spf("v=spf10") && !is_spf("v=DMARC1"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "v=spf1[ -~]{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_any_text(s in ".{0,200}") {
            let _ = parse(&s);
        }
    }
}
