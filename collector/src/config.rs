//! The collector's configuration file (TOML). `RawConfig` is what serde reads, with unknown
//! keys refused; [`Config::load`] turns it into a checked [`Config`] before any port is bound,
//! and every error names the file, the key and what is wrong. Paths are relative to the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration error: the file, the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key}: {message}", path.display())]
pub struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// The key, e.g. `server.listen`, or `line 3, column 1` for a syntax error.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    log: RawLog,
    notify: Option<RawNotify>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    interval: Option<String>,
    quiet_after_start: Option<String>,
    base_url: Option<String>,
    min_severity: Option<String>,
    reminder_days: Option<Vec<i64>>,
    remind_every: Option<String>,
    give_up_after: Option<String>,
    retry_after: Option<String>,
    smtp: Option<RawSmtp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    starttls: Option<bool>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    from: Option<String>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    plain_http: Option<bool>,
    max_body_bytes: Option<usize>,
    request_timeout: Option<f64>,
    max_batch_observations: Option<usize>,
    enrol_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
    max_connections: Option<u32>,
    retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    dir: Option<PathBuf>,
    scan_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<String>,
    level: Option<String>,
}

/// How the collector's API is served.
#[derive(Debug, Clone)]
pub enum Transport {
    /// HTTPS with this certificate chain and key (PEM files).
    Tls {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// Plain HTTP, only when the file says `plain_http = true` (a local demo).
    Plain,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (`None`: the defaults).
    pub source: Option<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// HTTPS or, for a demo, plain HTTP.
    pub transport: Transport,
    /// Largest request body accepted, once decompressed (bytes).
    pub max_body_bytes: usize,
    /// Time a request may take.
    pub request_timeout: Duration,
    /// Most observations in one batch.
    pub max_batch_observations: usize,
    /// Enrolment attempts accepted per minute (over all callers).
    pub enrol_per_minute: u32,
    /// The database URL: `sqlite://FILE` (the default, `posture.db` beside the file) or
    /// `postgres://...`.
    pub database_url: String,
    /// Connections to the database.
    pub database_max_connections: u32,
    /// Raw observations older than this many days are removed (findings, events and score
    /// snapshots stay).
    pub retention_days: u32,
    /// The standards' directory (`None`: the built-in standards).
    pub policy_dir: Option<PathBuf>,
    /// How often agents scan, for staleness (findings older than three intervals are stale).
    pub scan_interval: chrono::Duration,
    /// Logs as JSON lines instead of text.
    pub log_json: bool,
    /// The log level filter (`info` unless given).
    pub log_level: String,
    /// Alerts to owners (`[notify]`; none: no alerts are made).
    pub notify: Option<crate::notify::Settings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            transport: Transport::Plain,
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_batch_observations: 1000,
            enrol_per_minute: 30,
            database_url: "sqlite://posture.db".into(),
            database_max_connections: 8,
            retention_days: 400,
            policy_dir: None,
            scan_interval: chrono::Duration::hours(24),
            log_json: false,
            log_level: "info".into(),
            notify: None,
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

    /// Check configuration `text` as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        let raw: RawConfig = {
            let de = toml::Deserializer::parse(text)
                .map_err(|e| err("(syntax)", e.message().trim_end().to_owned()))?;
            serde_path_to_error::deserialize(de).map_err(|e| {
                let key = e.path().to_string();
                err(&key, e.into_inner().message().trim_end().to_owned())
            })?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let defaults = Config::default();
        let s = raw.server;
        let listen = match &s.listen {
            None => defaults.listen,
            Some(l) => l.parse().map_err(|_| {
                err(
                    "server.listen",
                    format!("{l:?} is not ADDR:PORT (e.g. \"0.0.0.0:8443\")"),
                )
            })?,
        };
        let transport = match (s.plain_http, &s.tls_cert, &s.tls_key) {
            (Some(true), None, None) => Transport::Plain,
            (Some(true), _, _) => {
                return Err(err(
                    "server.plain_http",
                    "plain_http = true with a TLS certificate: choose one".into(),
                ));
            }
            (_, Some(cert), Some(key)) => {
                for (k, p) in [("server.tls_cert", cert), ("server.tls_key", key)] {
                    let full = resolve(p);
                    if !full.is_file() {
                        return Err(err(k, format!("{}: no such file", full.display())));
                    }
                }
                Transport::Tls {
                    cert: resolve(cert),
                    key: resolve(key),
                }
            }
            (_, None, _) => {
                return Err(err(
                    "server.tls_cert",
                    "HTTPS needs tls_cert and tls_key (or plain_http = true for a local demo)"
                        .into(),
                ));
            }
            (_, Some(_), None) => {
                return Err(err(
                    "server.tls_key",
                    "tls_cert is given without tls_key".into(),
                ));
            }
        };
        let positive = |key: &str, v: Option<usize>, default: usize| match v {
            Some(0) => Err(err(key, "must be at least 1".into())),
            v => Ok(v.unwrap_or(default)),
        };
        let request_timeout = match s.request_timeout {
            None => defaults.request_timeout,
            Some(v) => Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    err(
                        "server.request_timeout",
                        format!("{v}: give a positive number of seconds"),
                    )
                })?,
        };
        let database_url = match raw.database.url {
            None => format!("sqlite://{}", base.join("posture.db").display()),
            Some(u) if u.starts_with("sqlite://") => {
                let file = Path::new(&u["sqlite://".len()..]);
                format!("sqlite://{}", resolve(file).display())
            }
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => u,
            Some(u) => {
                return Err(err(
                    "database.url",
                    format!("{u:?}: use sqlite://FILE or postgres://USER@HOST/DB"),
                ));
            }
        };
        let scan_interval = match raw.policy.scan_interval {
            None => defaults.scan_interval,
            Some(t) => posture_policies::score::parse_interval(&t).ok_or_else(|| {
                err(
                    "policy.scan_interval",
                    format!("{t:?}: use e.g. 3600s, 30m, 24h or 7d"),
                )
            })?,
        };
        let policy_dir = match raw.policy.dir {
            None => None,
            Some(p) if resolve(&p).is_dir() => Some(resolve(&p)),
            Some(p) => {
                return Err(err(
                    "policy.dir",
                    format!("{}: not a directory", resolve(&p).display()),
                ));
            }
        };
        let log_json = match raw.log.format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(f) => return Err(err("log.format", format!("{f:?}: use text or json"))),
        };
        Ok(Config {
            source: Some(path.to_owned()),
            listen,
            transport,
            max_body_bytes: positive(
                "server.max_body_bytes",
                s.max_body_bytes,
                defaults.max_body_bytes,
            )?,
            request_timeout,
            max_batch_observations: positive(
                "server.max_batch_observations",
                s.max_batch_observations,
                defaults.max_batch_observations,
            )?,
            enrol_per_minute: match s.enrol_per_minute {
                Some(0) => return Err(err("server.enrol_per_minute", "must be at least 1".into())),
                v => v.unwrap_or(defaults.enrol_per_minute),
            },
            database_url,
            database_max_connections: match raw.database.max_connections {
                Some(0) => {
                    return Err(err("database.max_connections", "must be at least 1".into()));
                }
                v => v.unwrap_or(defaults.database_max_connections),
            },
            retention_days: match raw.database.retention_days {
                Some(0) => {
                    return Err(err("database.retention_days", "must be at least 1".into()));
                }
                v => v.unwrap_or(defaults.retention_days),
            },
            policy_dir,
            scan_interval,
            log_json,
            log_level: raw.log.level.unwrap_or(defaults.log_level),
            notify: raw.notify.map(|n| notify(n, &err, &resolve)).transpose()?,
        })
    }
}

/// `[notify]`, checked.
fn notify(
    n: RawNotify,
    err: &dyn Fn(&str, String) -> ConfigError,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<crate::notify::Settings, ConfigError> {
    let d = crate::notify::Settings::default();
    let interval = |key: &str, v: Option<String>, default: chrono::Duration| match v {
        None => Ok(default),
        Some(t) => posture_policies::score::parse_interval(&t)
            .filter(|d| *d > chrono::Duration::zero())
            .ok_or_else(|| err(key, format!("{t:?}: use e.g. 30s, 10m, 24h or 7d"))),
    };
    let std = |c: chrono::Duration| c.to_std().unwrap_or_default();
    let chrono_of = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or_default();
    let min_severity = match n.min_severity.as_deref() {
        None => d.min_severity,
        Some(s) => {
            serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
                err(
                    "notify.min_severity",
                    format!("{s:?}: use info, low, medium, high or critical"),
                )
            })?
        }
    };
    let before_deadline = match n.reminder_days {
        None => d.before_deadline.clone(),
        Some(days) if days.iter().all(|x| (1..=365).contains(x)) => days,
        Some(days) => {
            return Err(err(
                "notify.reminder_days",
                format!("{days:?}: days from 1 to 365"),
            ));
        }
    };
    let base_url = match n.base_url {
        None => d.base_url.clone(),
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => u,
        Some(u) => {
            return Err(err(
                "notify.base_url",
                format!("{u:?}: the collector's URL, https://HOST[:PORT]"),
            ));
        }
    };
    let smtp = n.smtp.map(|s| smtp(s, err, resolve)).transpose()?;
    Ok(crate::notify::Settings {
        interval: std(interval(
            "notify.interval",
            n.interval,
            chrono_of(d.interval),
        )?),
        quiet_after_start: match n.quiet_after_start.as_deref() {
            Some("0s" | "0") => std::time::Duration::ZERO,
            _ => std(interval(
                "notify.quiet_after_start",
                n.quiet_after_start,
                chrono_of(d.quiet_after_start),
            )?),
        },
        base_url,
        min_severity,
        before_deadline,
        remind_every: interval("notify.remind_every", n.remind_every, d.remind_every)?,
        give_up_after: interval("notify.give_up_after", n.give_up_after, d.give_up_after)?,
        retry_after: std(interval(
            "notify.retry_after",
            n.retry_after,
            chrono_of(d.retry_after),
        )?),
        smtp,
    })
}

/// `[notify.smtp]`, checked; the password and CA files are read now.
fn smtp(
    s: RawSmtp,
    err: &dyn Fn(&str, String) -> ConfigError,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<crate::notify::Smtp, ConfigError> {
    let host = s.host.filter(|h| !h.is_empty()).ok_or_else(|| {
        err(
            "notify.smtp.host",
            "the mail relay's host name is needed".into(),
        )
    })?;
    let from = s
        .from
        .filter(|f| f.parse::<lettre::message::Mailbox>().is_ok())
        .ok_or_else(|| {
            err(
                "notify.smtp.from",
                "the sender's address is needed, e.g. \"posture <posture@example.nhs.uk>\"".into(),
            )
        })?;
    let read = |key: &str, p: &Path| {
        let full = resolve(p);
        std::fs::read_to_string(&full).map_err(|e| err(key, format!("{}: {e}", full.display())))
    };
    let password = s
        .password_file
        .as_deref()
        .map(|p| read("notify.smtp.password_file", p).map(|t| t.trim_end().to_owned()))
        .transpose()?;
    if password.is_some() != s.username.is_some() {
        return Err(err(
            "notify.smtp.username",
            "give both username and password_file, or neither".into(),
        ));
    }
    Ok(crate::notify::Smtp {
        host,
        port: s.port.unwrap_or(587),
        starttls: s.starttls.unwrap_or(true),
        username: s.username,
        password,
        from,
        ca_pem: s
            .ca_file
            .as_deref()
            .map(|p| read("notify.smtp.ca_file", p))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/posture/collector.toml"))
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = parse("[server]\nlisten = \"nowhere\"\nplain_http = true\n").unwrap_err();
        assert_eq!(e.key, "server.listen");
        assert!(
            e.to_string()
                .starts_with("/etc/posture/collector.toml: server.listen:")
        );
        let e = parse("[server]\nplain_http = true\nsurprise = 1\n").unwrap_err();
        assert_eq!(e.key, "server.surprise");
        let e = parse("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(e.key, "server.tls_cert");
        let e =
            parse("[server]\nplain_http = true\n[database]\nurl = \"mysql://x\"\n").unwrap_err();
        assert_eq!(e.key, "database.url");
        let e = parse("[server]\nplain_http = true\n[log]\nformat = \"xml\"\n").unwrap_err();
        assert_eq!(e.key, "log.format");
    }

    /// Convention 7: the shipped example parses (its certificate files are not shipped, so
    /// they are made beside a copy), and the same file with an unknown key injected at the top
    /// and in each section is refused by name.
    #[test]
    fn the_example_parses_and_an_unknown_key_anywhere_is_refused() {
        let text = include_str!("../../examples/collector.toml");
        let dir =
            std::env::temp_dir().join(format!("posture-collector-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["collector-cert.pem", "collector-key.pem"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let path = dir.join("collector.toml");
        let c = Config::parse(text, &path).unwrap();
        assert!(matches!(c.transport, Transport::Tls { .. }));
        assert_eq!(
            c.database_url,
            format!("sqlite://{}", dir.join("posture.db").display())
        );
        assert_eq!(c.max_body_bytes, Config::default().max_body_bytes);
        let sections: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))
            .collect();
        assert_eq!(
            sections,
            [
                "server",
                "database",
                "policy",
                "log",
                "notify",
                "notify.smtp"
            ]
        );
        let n = c.notify.as_ref().expect("[notify]");
        assert_eq!(n.before_deadline, [30, 14, 7, 1]);
        assert_eq!(n.smtp.as_ref().map(|s| s.port), Some(587));
        let mut variants = vec![(format!("surprise = 1\n{text}"), "surprise".to_owned())];
        for s in &sections {
            let header = text
                .lines()
                .find(|l| l.starts_with(&format!("[{s}]")))
                .unwrap_or_default();
            variants.push((
                text.replace(header, &format!("{header}\nsurprise = 1")),
                format!("{s}.surprise"),
            ));
        }
        for (bad, key) in variants {
            let e = Config::parse(&bad, &path).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.to_string().contains("unknown field `surprise`"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notify_keys_are_read_and_checked() {
        let c = parse(
            "[server]\nplain_http = true\n[notify]\ninterval = \"1s\"\nquiet_after_start = \"0s\"\nretry_after = \"2s\"\nremind_every = \"15s\"\nmin_severity = \"high\"\n",
        )
        .unwrap();
        let n = c.notify.unwrap();
        assert_eq!(n.interval, Duration::from_secs(1));
        assert_eq!(n.quiet_after_start, Duration::ZERO);
        assert_eq!(n.retry_after, Duration::from_secs(2));
        assert_eq!(n.remind_every, chrono::Duration::seconds(15));
        assert_eq!(n.min_severity, posture_policies::model::Severity::High);
        for (bad, key) in [
            ("min_severity = \"urgent\"", "notify.min_severity"),
            ("interval = \"soon\"", "notify.interval"),
            ("reminder_days = [0]", "notify.reminder_days"),
            ("base_url = \"collector\"", "notify.base_url"),
        ] {
            let e = parse(&format!("[server]\nplain_http = true\n[notify]\n{bad}\n")).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
        let e = parse("[server]\nplain_http = true\n[notify.smtp]\nhost = \"x\"\n").unwrap_err();
        assert_eq!(e.key, "notify.smtp.from", "{e}");
    }

    #[test]
    fn a_demo_file_takes_the_defaults() {
        let c = parse("[server]\nplain_http = true\n").unwrap();
        assert!(matches!(c.transport, Transport::Plain));
        assert_eq!(c.database_url, "sqlite:///etc/posture/posture.db");
        assert_eq!(c.scan_interval, chrono::Duration::hours(24));
    }
}
