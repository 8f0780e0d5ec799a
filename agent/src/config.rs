//! The agent's configuration file (TOML). `RawConfig` is what serde reads, with unknown keys
//! refused; [`Config::load`] turns it into a checked [`Config`] (addresses parsed, files read
//! and parsed, numbers in range) before anything is scanned, and every error names the file,
//! the key and what is wrong. Paths in the file are relative to the file's own directory.
//!
//! The command line wins over the file: an option given on both uses the command line's value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use posture_policies::model::DomainRole;
use serde::Deserialize;

use crate::probe::dns::{TrustAnchor, parse_trust_anchors};
use crate::probe::net::cert::TrustStore;
use crate::probe::rdap::Bootstrap;
use crate::probe::takeover::{self, Fingerprint};

/// A configuration error: the file, the key (dotted, with indices) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key}: {message}", path.display())]
pub struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// The key, e.g. `dns.resolvers[1]`, or `line 3, column 1` for a syntax error.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    targets: Vec<String>,
    targets_file: Option<PathBuf>,
    organisation: Option<String>,
    #[serde(default)]
    scan: RawScan,
    #[serde(default)]
    dns: RawDns,
    #[serde(default)]
    mail: RawMail,
    #[serde(default)]
    registration: RawRegistration,
    #[serde(default)]
    tls: RawTls,
    collector: Option<RawCollector>,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    spool: RawSpool,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    group: Vec<RawGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    targets: Vec<String>,
    targets_file: Option<PathBuf>,
    #[serde(default)]
    roles: Vec<DomainRole>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollector {
    url: Option<String>,
    ca_file: Option<PathBuf>,
    enrol_secret_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    batch: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    interval: Option<String>,
    jitter: Option<String>,
    heartbeat: Option<String>,
    quiet_hours: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    dir: Option<PathBuf>,
    max_mb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScan {
    connect_timeout: Option<f64>,
    read_timeout: Option<f64>,
    budget: Option<f64>,
    per_host: Option<usize>,
    max_connections: Option<usize>,
    domains_at_once: Option<usize>,
    policies: Option<PathBuf>,
    #[serde(default)]
    internal_networks: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    #[serde(default)]
    resolvers: Vec<String>,
    nameserver_port: Option<u16>,
    trust_anchors: Option<PathBuf>,
    takeover_fingerprints: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    #[serde(default)]
    dkim_selectors: Vec<String>,
    #[serde(default)]
    roles: Vec<DomainRole>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistration {
    rdap_base: Option<String>,
    rdap_bootstrap: Option<PathBuf>,
    private_registries: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    #[serde(default)]
    interception_ca: Vec<String>,
}

/// A checked configuration. Every field is optional: what is absent falls back to the command
/// line, then to the built-in default.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from (none for the empty configuration).
    pub source: Option<PathBuf>,
    /// Targets to scan when the command line names none (`tls://`, `https://`, `smtp://` URLs
    /// or bare domain names).
    pub targets: Vec<String>,
    /// The organisation these targets belong to (an ODS code or a short name), written into
    /// every observation so the collector scores it there.
    pub organisation: Option<String>,
    /// Seconds to wait for a TCP connection.
    pub connect_timeout: Option<Duration>,
    /// Seconds to wait for each answer.
    pub read_timeout: Option<Duration>,
    /// Time allowed for one target in all.
    pub budget: Option<Duration>,
    /// Connections open at once to one host (at least 1).
    pub per_host: Option<usize>,
    /// Connections open at once in all (at least 1).
    pub max_connections: Option<usize>,
    /// Domains scanned at once (at least 1), each within the connection limits.
    pub domains_at_once: Option<usize>,
    /// A directory of standard files to use instead of the built-in ones.
    pub policies: Option<PathBuf>,
    /// More internal ranges that a scanned site's redirects, MTA-STS host and CNAMEs must not
    /// lead the agent to (loopback, private, link-local and unique-local always are).
    pub internal_networks: Vec<ipnet::IpNet>,
    /// Nameservers to ask instead of the system resolver.
    pub resolvers: Vec<SocketAddr>,
    /// The port the domain's own nameservers are asked on directly (53 when absent).
    pub nameserver_port: Option<u16>,
    /// DNSSEC trust anchors instead of the root's keys.
    pub trust_anchors: Option<Vec<TrustAnchor>>,
    /// Subdomain-takeover fingerprints added to the shipped table.
    pub takeover_fingerprints: Vec<Fingerprint>,
    /// DKIM selectors the organisation signs with.
    pub dkim_selectors: Vec<String>,
    /// Roles of the domains scanned.
    pub roles: Vec<DomainRole>,
    /// An RDAP base URL for every domain.
    pub rdap_base: Option<String>,
    /// An RDAP bootstrap file instead of the shipped copy of IANA's.
    pub rdap_bootstrap: Option<Bootstrap>,
    /// Suffixes run by private registries (replaces the default list when given).
    pub private_registries: Option<Vec<String>>,
    /// A PEM bundle of extra trusted CAs.
    pub ca_file: Option<PathBuf>,
    /// Issuer-name fragments of TLS-inspection CAs.
    pub interception_ca: Vec<String>,
    /// Where `run` sends what it observes (`[collector]`; `None`: not set).
    pub collector: Option<CollectorConfig>,
    /// When `run` scans (`[schedule]`).
    pub schedule: Schedule,
    /// The on-disk spool `run` keeps observations in until the collector has them (`[spool]`).
    pub spool: SpoolConfig,
    /// Where `run` serves its own Prometheus metrics (`[metrics] listen`; `None`: nowhere).
    pub metrics_listen: Option<SocketAddr>,
    /// Target groups `run` scans on their own intervals (`[[group]]`), beside `targets`.
    pub groups: Vec<TargetGroup>,
}

/// `[[group]]`: targets scanned on their own interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    /// Its name (letters, digits, `-`), unique.
    pub name: String,
    /// Its interval (`schedule.interval` when absent).
    pub interval: Option<Duration>,
    /// Its targets: its `targets` and its `targets_file`'s lines.
    pub targets: Vec<String>,
    /// The roles of its domains (empty: `mail.roles`, else inferred).
    pub roles: Vec<DomainRole>,
}

/// `[collector]`: where the agent service sends its observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// The collector's base URL (`https://collector.example:8443`).
    pub url: String,
    /// A PEM bundle to trust for the collector instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// A file holding the organisation's enrolment secret.
    pub enrol_secret_file: Option<PathBuf>,
    /// Where the agent's own key is kept (written on enrolment, readable by its user only).
    pub key_file: PathBuf,
    /// Observations per upload.
    pub batch: usize,
}

/// `[schedule]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time from the start of one round of scans to the next.
    pub interval: Duration,
    /// Each round starts up to this much later, at random, so a fleet does not scan at once.
    pub jitter: Duration,
    /// Time between heartbeats.
    pub heartbeat: Duration,
    /// No round starts between these two times of day (local time; the window may span
    /// midnight): a round due then waits for its end.
    pub quiet_hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            interval: Duration::from_secs(6 * 3600),
            jitter: Duration::from_secs(600),
            heartbeat: Duration::from_secs(300),
            quiet_hours: None,
        }
    }
}

/// `[spool]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    /// The state directory: the spool and what `status` reads.
    pub dir: PathBuf,
    /// The spool's size cap in bytes: past it the oldest observations are dropped (counted).
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> SpoolConfig {
        SpoolConfig {
            dir: PathBuf::from("/var/lib/posture-agent"),
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl CollectorConfig {
    /// The agent can get a key: it has one, or the enrolment secret to ask for one. Checked
    /// by `run`, not when the file is read (an example file names files it does not ship).
    pub fn check_files(&self, path: &Path) -> Result<(), ConfigError> {
        if self.key_file.exists() {
            return Ok(());
        }
        let err = |key: &str, message: String| ConfigError {
            path: path.to_owned(),
            key: key.into(),
            message,
        };
        match &self.enrol_secret_file {
            None => Err(err(
                "collector.key_file",
                format!(
                    "{}: no such file, and no collector.enrol_secret_file to enrol with",
                    self.key_file.display()
                ),
            )),
            Some(f) => std::fs::metadata(f).map(|_| ()).map_err(|e| {
                err(
                    "collector.enrol_secret_file",
                    format!("{}: {e}", f.display()),
                )
            }),
        }
    }
}

impl Config {
    /// Read and check the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            key: "(file)".into(),
            message: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Check configuration `text` as if read from `path` (relative paths in it are taken from
    /// `path`'s directory).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c = Checker {
            path,
            base: path.parent().unwrap_or(Path::new(".")),
        };
        let raw = c.deserialize(text)?;
        c.targets(&raw.targets)?;
        let mut targets = raw.targets;
        if let Some(file) = raw.targets_file.as_deref() {
            targets.extend(c.targets_file(file)?);
        }
        c.dkim_selectors(&raw.mail.dkim_selectors)?;
        let (rdap_bootstrap, private_registries) = c.registration(&raw.registration)?;
        Ok(Config {
            source: Some(path.to_owned()),
            organisation: c.organisation(raw.organisation)?,
            targets,
            connect_timeout: c.seconds("scan.connect_timeout", raw.scan.connect_timeout)?,
            read_timeout: c.seconds("scan.read_timeout", raw.scan.read_timeout)?,
            budget: c.seconds("scan.budget", raw.scan.budget)?,
            per_host: c.at_least_one("scan.per_host", raw.scan.per_host)?,
            max_connections: c.at_least_one("scan.max_connections", raw.scan.max_connections)?,
            domains_at_once: c.at_least_one("scan.domains_at_once", raw.scan.domains_at_once)?,
            policies: c.policies(raw.scan.policies.as_deref())?,
            internal_networks: c.internal_networks(&raw.scan.internal_networks)?,
            resolvers: c.resolvers(&raw.dns.resolvers)?,
            nameserver_port: match raw.dns.nameserver_port {
                Some(0) => return Err(c.err("dns.nameserver_port", "must be 1 to 65535".into())),
                p => p,
            },
            trust_anchors: raw
                .dns
                .trust_anchors
                .as_deref()
                .map(|p| c.parsed_text("dns.trust_anchors", p, parse_trust_anchors))
                .transpose()?,
            takeover_fingerprints: raw
                .dns
                .takeover_fingerprints
                .as_deref()
                .map(|p| c.parsed_text("dns.takeover_fingerprints", p, takeover::parse))
                .transpose()?
                .unwrap_or_default(),
            dkim_selectors: raw.mail.dkim_selectors,
            roles: raw.mail.roles,
            rdap_base: raw.registration.rdap_base,
            rdap_bootstrap,
            private_registries,
            ca_file: c.ca_file(raw.tls.ca_file.as_deref())?,
            interception_ca: raw.tls.interception_ca,
            collector: raw.collector.map(|r| c.collector(r)).transpose()?,
            schedule: c.schedule(&raw.schedule)?,
            spool: c.spool(&raw.spool)?,
            groups: c.groups(raw.group)?,
            metrics_listen: raw
                .metrics
                .listen
                .as_deref()
                .map(|a| {
                    a.parse::<SocketAddr>().map_err(|_| {
                        c.err(
                            "metrics.listen",
                            format!("{a:?} is not an address and port such as \"127.0.0.1:9464\""),
                        )
                    })
                })
                .transpose()?,
        })
    }
}

/// Checks the values of one configuration file, each error naming the file and the key.
struct Checker<'a> {
    /// The file.
    path: &'a Path,
    /// Its directory, which relative paths in it start from.
    base: &'a Path,
}

impl Checker<'_> {
    fn err(&self, key: &str, message: String) -> ConfigError {
        ConfigError {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message,
        }
    }

    /// The raw configuration: TOML syntax and the keys each section may hold.
    fn deserialize(&self, text: &str) -> Result<RawConfig, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| self.err(&location(text, e.span()), e.message().trim_end().to_owned()))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let key = if key == "." {
                location(text, inner.span())
            } else {
                key
            };
            self.err(&key, inner.message().trim_end().to_owned())
        })
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    fn read(&self, key: &str, p: &Path) -> Result<Vec<u8>, ConfigError> {
        let full = self.resolve(p);
        std::fs::read(&full).map_err(|e| self.err(key, format!("{}: {e}", full.display())))
    }

    /// The file at `p` (for `key`), parsed by `parse`; errors name the file.
    fn parsed<T>(
        &self,
        key: &str,
        p: &Path,
        parse: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let bytes = self.read(key, p)?;
        parse(&bytes).map_err(|m| self.err(key, format!("{}: {m}", self.resolve(p).display())))
    }

    /// The text file at `p` (for `key`), parsed by `parse`.
    fn parsed_text<T>(
        &self,
        key: &str,
        p: &Path,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.parsed(key, p, |bytes| {
            parse(std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?)
        })
    }

    fn seconds(&self, key: &str, v: Option<f64>) -> Result<Option<Duration>, ConfigError> {
        match v {
            None => Ok(None),
            Some(v) => Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("{v}: give a positive number of seconds"))),
        }
    }

    fn at_least_one(&self, key: &str, v: Option<usize>) -> Result<Option<usize>, ConfigError> {
        match v {
            Some(0) => Err(self.err(key, "must be at least 1".into())),
            v => Ok(v),
        }
    }

    fn organisation(&self, o: Option<String>) -> Result<Option<String>, ConfigError> {
        match o {
            Some(o) if o.trim().is_empty() || o.chars().any(char::is_control) => Err(self.err(
                "organisation",
                format!("{o:?}: name the organisation (an ODS code such as RXX)"),
            )),
            o => Ok(o.map(|o| o.trim().to_owned())),
        }
    }

    fn targets(&self, targets: &[String]) -> Result<(), ConfigError> {
        for (i, t) in targets.iter().enumerate() {
            let checked = if t.contains("://") {
                crate::target::parse_target(t).map(|_| ())
            } else {
                crate::target::parse_domain(t).map(|_| ())
            };
            checked.map_err(|m| self.err(&format!("targets[{i}]"), m))?;
        }
        Ok(())
    }

    /// More targets, one a line (`#` starts a comment), each checked as `targets` are.
    fn targets_file(&self, file: &Path) -> Result<Vec<String>, ConfigError> {
        let full = self.resolve(file);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| self.err("targets_file", format!("{}: {e}", full.display())))?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let t = line.split('#').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            let checked = if t.contains("://") {
                crate::target::parse_target(t).map(|_| ())
            } else {
                crate::target::parse_domain(t).map(|_| ())
            };
            checked.map_err(|m| {
                self.err(
                    "targets_file",
                    format!("{} line {}: {m}", full.display(), n + 1),
                )
            })?;
            out.push(t.to_owned());
        }
        Ok(out)
    }

    fn internal_networks(&self, networks: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        networks
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.parse::<ipnet::IpNet>().map_err(|_| {
                    self.err(
                        &format!("scan.internal_networks[{i}]"),
                        format!("{n:?} is not a network such as \"10.0.0.0/8\""),
                    )
                })
            })
            .collect()
    }

    fn policies(&self, p: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
        let Some(p) = p else { return Ok(None) };
        let full = self.resolve(p);
        if !full.is_dir() {
            return Err(self.err(
                "scan.policies",
                format!("{}: not a directory", full.display()),
            ));
        }
        Ok(Some(full))
    }

    /// `dns.resolvers`: each an ADDR:PORT.
    fn resolvers(&self, resolvers: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
        resolvers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.parse::<SocketAddr>().map_err(|_| {
                    self.err(
                        &format!("dns.resolvers[{i}]"),
                        format!("{r:?} is not ADDR:PORT (e.g. \"192.0.2.53:53\" or \"[2001:db8::53]:53\")"),
                    )
                })
            })
            .collect()
    }

    fn dkim_selectors(&self, selectors: &[String]) -> Result<(), ConfigError> {
        for (i, s) in selectors.iter().enumerate() {
            let ok = !s.is_empty()
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if !ok {
                return Err(self.err(
                    &format!("mail.dkim_selectors[{i}]"),
                    format!("{s:?} is not a DNS label sequence"),
                ));
            }
        }
        Ok(())
    }

    /// `[registration]`: the RDAP base URL is checked, the bootstrap file read, the private
    /// registries normalised.
    fn registration(
        &self,
        r: &RawRegistration,
    ) -> Result<(Option<Bootstrap>, Option<Vec<String>>), ConfigError> {
        if let Some(base_url) = &r.rdap_base
            && (!(base_url.starts_with("https://") || base_url.starts_with("http://"))
                || crate::probe::net::http::Url::parse(base_url).is_none())
        {
            return Err(self.err(
                "registration.rdap_base",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        let bootstrap = r
            .rdap_bootstrap
            .as_deref()
            .map(|p| self.parsed("registration.rdap_bootstrap", p, Bootstrap::parse))
            .transpose()?;
        for (i, s) in r.private_registries.iter().flatten().enumerate() {
            if crate::target::parse_domain(s).is_err() {
                return Err(self.err(
                    &format!("registration.private_registries[{i}]"),
                    format!("{s:?} is not a domain suffix such as \"nhs.uk\""),
                ));
            }
        }
        let private = r.private_registries.as_ref().map(|l| {
            l.iter()
                .map(|s| s.trim_matches('.').to_ascii_lowercase())
                .collect()
        });
        Ok((bootstrap, private))
    }

    fn ca_file(&self, p: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
        let Some(p) = p else { return Ok(None) };
        let full = self.resolve(p);
        TrustStore::default()
            .with_pem_bundle(&full)
            .map_err(|m| self.err("tls.ca_file", m))?;
        Ok(Some(full))
    }
}

/// The service's sections.
impl Checker<'_> {
    fn collector(&self, raw: RawCollector) -> Result<CollectorConfig, ConfigError> {
        let url = raw.url.ok_or_else(|| {
            self.err(
                "collector.url",
                "missing: the collector's https:// URL".into(),
            )
        })?;
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| self.err("collector.url", format!("{url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
            return Err(self.err(
                "collector.url",
                format!("{url:?}: give an https:// URL (http:// only for a local demo)"),
            ));
        }
        let ca_file = match raw.ca_file.as_deref() {
            None => None,
            Some(p) => {
                let full = self.resolve(p);
                TrustStore::default()
                    .with_pem_bundle(&full)
                    .map_err(|m| self.err("collector.ca_file", m))?;
                Some(full)
            }
        };
        let key_file = raw.key_file.map(|p| self.resolve(&p)).ok_or_else(|| {
            self.err(
                "collector.key_file",
                "missing: where the agent keeps its key".into(),
            )
        })?;
        let enrol_secret_file = raw.enrol_secret_file.map(|p| self.resolve(&p));
        let batch = match raw.batch {
            None => 50,
            Some(n) if (1..=10_000).contains(&n) => n,
            Some(n) => return Err(self.err("collector.batch", format!("{n}: give 1 to 10000"))),
        };
        Ok(CollectorConfig {
            url: url.trim_end_matches('/').to_owned(),
            ca_file,
            enrol_secret_file,
            key_file,
            batch,
        })
    }

    fn interval(
        &self,
        key: &str,
        v: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(text) => posture_policies::score::parse_interval(text)
                .and_then(|d| d.to_std().ok())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    self.err(
                        key,
                        format!("{text:?}: give a time such as 90s, 30m, 6h or 1d"),
                    )
                }),
        }
    }

    fn schedule(&self, raw: &RawSchedule) -> Result<Schedule, ConfigError> {
        let d = Schedule::default();
        let interval = self.interval("schedule.interval", raw.interval.as_deref(), d.interval)?;
        let jitter = match raw.jitter.as_deref() {
            Some("0") => Duration::ZERO,
            j => self.interval("schedule.jitter", j, d.jitter.min(interval / 4))?,
        };
        if jitter >= interval {
            return Err(self.err(
                "schedule.jitter",
                "must be shorter than schedule.interval".into(),
            ));
        }
        Ok(Schedule {
            interval,
            jitter,
            heartbeat: self.interval(
                "schedule.heartbeat",
                raw.heartbeat.as_deref(),
                d.heartbeat,
            )?,
            quiet_hours: raw
                .quiet_hours
                .as_deref()
                .map(|q| self.quiet_hours(q))
                .transpose()?,
        })
    }

    fn quiet_hours(
        &self,
        text: &str,
    ) -> Result<(chrono::NaiveTime, chrono::NaiveTime), ConfigError> {
        let bad = || {
            self.err(
                "schedule.quiet_hours",
                format!("{text:?}: give two times of day such as \"08:00-18:00\""),
            )
        };
        let (from, to) = text.split_once('-').ok_or_else(bad)?;
        let time =
            |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        let (from, to) = (time(from)?, time(to)?);
        if from == to {
            return Err(bad());
        }
        Ok((from, to))
    }

    fn groups(&self, raw: Vec<RawGroup>) -> Result<Vec<TargetGroup>, ConfigError> {
        let mut out: Vec<TargetGroup> = Vec::new();
        for (i, g) in raw.into_iter().enumerate() {
            let key = |k: &str| format!("group[{i}].{k}");
            let name = g
                .name
                .filter(|n| {
                    !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && n != "default"
                })
                .ok_or_else(|| {
                    self.err(
                        &key("name"),
                        "name the group (letters, digits and '-'; not \"default\")".into(),
                    )
                })?;
            if out.iter().any(|o| o.name == name) {
                return Err(self.err(&key("name"), format!("{name:?} names two groups")));
            }
            let interval = g
                .interval
                .as_deref()
                .map(|t| self.interval(&key("interval"), Some(t), Duration::ZERO))
                .transpose()?;
            for (j, t) in g.targets.iter().enumerate() {
                let checked = if t.contains("://") {
                    crate::target::parse_target(t).map(|_| ())
                } else {
                    crate::target::parse_domain(t).map(|_| ())
                };
                checked.map_err(|m| self.err(&format!("group[{i}].targets[{j}]"), m))?;
            }
            let mut targets = g.targets;
            if let Some(file) = g.targets_file.as_deref() {
                targets.extend(
                    self.targets_file(file)
                        .map_err(|e| self.err(&key("targets_file"), e.message))?,
                );
            }
            if targets.is_empty() {
                return Err(self.err(&key("targets"), "the group has no target".into()));
            }
            out.push(TargetGroup {
                name,
                interval,
                targets,
                roles: g.roles,
            });
        }
        Ok(out)
    }

    fn spool(&self, raw: &RawSpool) -> Result<SpoolConfig, ConfigError> {
        let d = SpoolConfig::default();
        let max_bytes = match raw.max_mb {
            None => d.max_bytes,
            Some(mb) if mb.is_finite() && mb >= 0.01 => (mb * 1024.0 * 1024.0) as u64,
            Some(mb) => {
                return Err(self.err("spool.max_mb", format!("{mb}: give at least 0.01 (MiB)")));
            }
        };
        Ok(SpoolConfig {
            dir: raw.dir.as_deref().map_or(d.dir, |p| self.resolve(p)),
            max_bytes,
        })
    }
}

/// `line L, column C` of a byte span's start, for syntax errors that have no key.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return "(file)".into();
    };
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/nonexistent/agent.toml"))
    }

    #[test]
    fn an_empty_file_is_the_default() {
        let c = parse("").unwrap();
        assert!(c.resolvers.is_empty() && c.rdap_bootstrap.is_none() && c.targets.is_empty());
        assert_eq!(
            c.source.as_deref(),
            Some(Path::new("/nonexistent/agent.toml"))
        );
    }

    #[test]
    fn groups_and_quiet_hours_are_checked() {
        let c = parse(
            r#"
[schedule]
interval = "6h"
quiet_hours = "22:00-06:00"
[[group]]
name = "internal"
interval = "1h"
targets = ["tls://10.1.2.3:8443", "comms.example.nhs.uk"]
roles = ["non-sending"]
"#,
        )
        .unwrap();
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.groups[0].roles, [DomainRole::NonSending]);
        assert_eq!(c.groups[0].interval, Some(Duration::from_secs(3600)));
        assert_eq!(
            c.schedule
                .quiet_hours
                .map(|(a, b)| (a.to_string(), b.to_string())),
            Some(("22:00:00".into(), "06:00:00".into()))
        );
        let key_of = |text: &str| parse(text).unwrap_err().key;
        assert_eq!(
            key_of("[[group]]\ntargets = [\"a.example\"]\n"),
            "group[0].name"
        );
        assert_eq!(
            key_of(
                "[[group]]\nname = \"a\"\ntargets = [\"a.example\"]\n[[group]]\nname = \"a\"\ntargets = [\"b.example\"]\n"
            ),
            "group[1].name"
        );
        assert_eq!(key_of("[[group]]\nname = \"a\"\n"), "group[0].targets");
        assert_eq!(
            key_of("[[group]]\nname = \"a\"\ntargets = [\"nope://x\"]\n"),
            "group[0].targets[0]"
        );
        assert_eq!(
            key_of("[[group]]\nname = \"a\"\ninterval = \"often\"\ntargets = [\"a.example\"]\n"),
            "group[0].interval"
        );
        assert_eq!(
            key_of("[schedule]\nquiet_hours = \"late\"\n"),
            "schedule.quiet_hours"
        );
        assert_eq!(
            key_of("[[group]]\nname = \"a\"\ncolour = 1\n"),
            "group[0].colour"
        );
    }

    #[test]
    fn values_are_checked_and_typed() {
        let c = parse(
            r#"
targets = ["example.nhs.uk", "tls://10.1.2.3:8443"]
[scan]
read_timeout = 2.5
per_host = 2
[dns]
resolvers = ["192.0.2.53:53", "[2001:db8::53]:5353"]
[mail]
dkim_selectors = ["s2026", "selector1"]
roles = ["mail-sending", "web"]
[registration]
rdap_base = "https://rdap.registry.example/"
private_registries = ["NHS.UK.", "police.uk"]
[tls]
interception_ca = ["Inspection CA"]
"#,
        )
        .unwrap();
        assert_eq!(c.read_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.per_host, Some(2));
        assert_eq!(c.resolvers[1].to_string(), "[2001:db8::53]:5353");
        assert_eq!(c.roles, vec![DomainRole::MailSending, DomainRole::Web]);
        assert_eq!(
            c.private_registries,
            Some(vec!["nhs.uk".to_owned(), "police.uk".to_owned()])
        );
        assert_eq!(c.targets.len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let cases = [
            (
                "[dns]\nresolvers = [\"192.0.2.53:53\", \"dns.example\"]\n",
                "dns.resolvers[1]",
                "not ADDR:PORT",
            ),
            (
                "[dns]\nresolver = []\n",
                "dns.resolver",
                "unknown field `resolver`",
            ),
            ("colour = 1\n", "colour", "unknown field `colour`"),
            (
                "[scan]\nbudget = -1\n",
                "scan.budget",
                "positive number of seconds",
            ),
            ("[scan]\nper_host = 0\n", "scan.per_host", "at least 1"),
            (
                "[dns]\nnameserver_port = 0\n",
                "dns.nameserver_port",
                "1 to 65535",
            ),
            (
                "[dns]\nnameserver_port = 70000\n",
                "dns.nameserver_port",
                "invalid value",
            ),
            (
                "[scan]\nread_timeout = \"8s\"\n",
                "scan.read_timeout",
                "invalid type",
            ),
            (
                "[mail]\nroles = [\"printer\"]\n",
                "mail.roles[0]",
                "unknown variant `printer`",
            ),
            (
                "[mail]\ndkim_selectors = [\"a b\"]\n",
                "mail.dkim_selectors[0]",
                "not a DNS label",
            ),
            (
                "[registration]\nrdap_base = \"ftp://x\"\n",
                "registration.rdap_base",
                "not an http(s) URL",
            ),
            (
                "[registration]\nprivate_registries = [\"\"]\n",
                "registration.private_registries[0]",
                "domain suffix",
            ),
            (
                "targets = [\"gopher://x\"]\n",
                "targets[0]",
                "unknown scheme",
            ),
            (
                "[dns]\ntrust_anchors = \"root.keys\"\n",
                "dns.trust_anchors",
                "/nonexistent/root.keys",
            ),
            ("[dns\n", "line 1, column 5", "unclosed table"),
        ];
        for (text, key, message) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key, key, "{text:?}: {e}");
            assert!(e.message.contains(message), "{text:?}: {e}");
            assert!(
                e.to_string().starts_with("/nonexistent/agent.toml: "),
                "{e}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_an_error_or_a_config_never_a_panic(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn any_value_of_a_known_key_is_an_error_or_a_config(value in "\\PC{0,40}") {
            for key in ["targets", "scan.budget", "dns.resolvers", "mail.roles", "registration.rdap_base"] {
                let (section, name) = key.split_once('.').unwrap_or(("", key));
                let text = if section.is_empty() {
                    format!("{name} = {value}\n")
                } else {
                    format!("[{section}]\n{name} = {value}\n")
                };
                let _ = parse(&text);
            }
        }
    }

    #[test]
    fn files_are_read_relative_to_the_configuration() {
        let dir = std::env::temp_dir().join(format!("posture-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.keys"), "lab. IN DNSKEY 257 3 13 !!!\n").unwrap();
        std::fs::write(
            dir.join("dns.json"),
            r#"{"version":"1.0","services":[[["test"],["https://rdap.lab.test/"]]]}"#,
        )
        .unwrap();
        let path = dir.join("agent.toml");
        let c = Config::parse("[registration]\nrdap_bootstrap = \"dns.json\"\n", &path).unwrap();
        assert_eq!(
            c.rdap_bootstrap.unwrap().base_for("a.test"),
            Some("https://rdap.lab.test/")
        );
        let e = Config::parse("[dns]\ntrust_anchors = \"bad.keys\"\n", &path).unwrap_err();
        assert_eq!(e.key, "dns.trust_anchors");
        assert!(e.message.contains("bad.keys: line 1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
