//! The scan's settings: the command line over the configuration file over the defaults,
//! resolved once into [`Settings`], which `scan` runs with and `config check` prints. Each
//! default is written once, where the thing it configures is defined.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use posture_policies::model::{DomainRole, Observation};

use super::{read_and_parse, read_observations, seconds, utf8};
use crate::cli::ScanArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::probe::dns::{Dns, TrustAnchor};
use crate::probe::net::cert::TrustStore;
use crate::probe::net::guard::AddressGuard;
use crate::probe::rdap::{Bootstrap, DEFAULT_PRIVATE_REGISTRIES};
use crate::probe::takeover::Fingerprint;
use crate::probe::tls::conn::Limits;
use crate::runner::{DEFAULT_DOMAIN_BUDGET, DEFAULT_MAX_CONNECTIONS, RunOptions};
use crate::target::ConnectTo;

/// Everything a scan runs with, each value from the command line, else the configuration
/// file, else the default.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration file the values came from, if any.
    pub source: Option<PathBuf>,
    /// The organisation code written into observations (`None`: an ad-hoc scan).
    pub organisation: Option<String>,
    /// The targets as written (the command line's, else the file's).
    pub targets: Vec<String>,
    /// The standards' directory (`None`: the built-in standards).
    pub policies: Option<PathBuf>,
    /// `--connect-to` rules.
    pub connect_to: Vec<ConnectTo>,
    /// SNI to send instead of each target's host.
    pub sni: Option<String>,
    /// Connection time-outs, the per-target budget and connections per address.
    pub limits: Limits,
    /// Connections open at once across the whole run.
    pub max_connections: usize,
    /// Domains scanned at once.
    pub domains_at_once: usize,
    /// The time a whole domain scan may take.
    pub domain_budget: Duration,
    /// Recursive resolvers (empty: the system's).
    pub resolvers: Vec<SocketAddr>,
    /// DNSSEC trust anchors (`None`: the root's, built in).
    pub trust_anchors: Option<Vec<TrustAnchor>>,
    /// The port a domain's own nameservers are asked on.
    pub nameserver_port: u16,
    /// The extra CA bundle, if any, whose roots `trust` holds beside Mozilla's.
    pub ca_file: Option<PathBuf>,
    /// The trust store certificates are checked against.
    pub trust: TrustStore,
    /// Issuer-name fragments that mark an interception CA.
    pub interception_ca: Vec<String>,
    /// Networks a scanned site may not send the agent to, beside the built-in ones.
    pub internal_networks: Vec<ipnet::IpNet>,
    /// DKIM selectors to look up.
    pub dkim_selectors: Vec<String>,
    /// Roles given to every domain (empty: inferred).
    pub roles: Vec<DomainRole>,
    /// One RDAP base URL for every domain, if given.
    pub rdap_base: Option<String>,
    /// The RDAP bootstrap registry, and where it came from.
    pub rdap_bootstrap: (Bootstrap, String),
    /// Suffixes of private registries, whose names are not looked up over RDAP.
    pub private_registries: Vec<String>,
    /// Subdomain-takeover fingerprints: the shipped table, the file's, the command line's.
    pub takeover: Vec<Fingerprint>,
    /// Whether intrusive checks (renegotiation, Heartbleed-style probes) run.
    pub intrusive: bool,
    /// The domain endpoint findings are scored under, if given.
    pub domain: Option<String>,
    /// A second vantage point's observations, to detect TLS interception.
    pub vantage: Vec<Observation>,
}

/// Each item as text.
fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// The command line's list when it names any, else the configuration's.
fn either<T: Clone>(arg: &[T], configured: &[T]) -> Vec<T> {
    if arg.is_empty() { configured } else { arg }.to_vec()
}

impl Settings {
    /// Resolve `args` over `config` over the defaults, reading the files they name.
    pub fn resolve(args: &ScanArgs, config: &Config) -> Result<Settings> {
        let (limits, max_connections) = limits(args, config)?;
        let nameserver_port = args
            .nameserver_port
            .or(config.nameserver_port)
            .unwrap_or(crate::probe::domain::DomainOptions::default().ns_port);
        if nameserver_port == 0 {
            return Err(Error::Usage("--nameserver-port must be 1 to 65535".into()));
        }
        let ca_file = args.ca_file.clone().or(config.ca_file.clone());
        Ok(Settings {
            source: config.source.clone(),
            organisation: config.organisation.clone(),
            targets: either(&args.targets, &config.targets),
            policies: args.policy.policies.clone().or(config.policies.clone()),
            connect_to: args
                .connect_to
                .iter()
                .map(|r| ConnectTo::parse(r).map_err(Error::Usage))
                .collect::<Result<_>>()?,
            sni: args
                .sni
                .as_deref()
                .map(|n| {
                    crate::target::normalise_host(n).map_err(|e| Error::Usage(format!("--sni {e}")))
                })
                .transpose()?,
            domain_budget: match args.budget {
                Some(v) => seconds("budget", v)?,
                None => config.budget.unwrap_or(DEFAULT_DOMAIN_BUDGET),
            },
            limits,
            max_connections,
            domains_at_once: config
                .domains_at_once
                .unwrap_or(crate::runner::DEFAULT_DOMAINS_AT_ONCE),
            resolvers: either(&args.resolver, &config.resolvers),
            trust_anchors: match &args.trust_anchor {
                Some(path) => Some(read_and_parse(path, |b| {
                    crate::probe::dns::parse_trust_anchors(&utf8(b)?)
                })?),
                None => config.trust_anchors.clone(),
            },
            nameserver_port,
            trust: trust_store(ca_file.as_deref())?,
            ca_file,
            interception_ca: either(&args.interception_ca, &config.interception_ca),
            internal_networks: internal_networks(args, config)?,
            dkim_selectors: either(&args.dkim_selector, &config.dkim_selectors),
            roles: either(&args.role, &config.roles),
            rdap_base: args.rdap_base.clone().or(config.rdap_base.clone()),
            rdap_bootstrap: match (&args.rdap_bootstrap, &config.rdap_bootstrap) {
                (Some(path), _) => (
                    read_and_parse(path, Bootstrap::parse)?,
                    format!("bootstrap file {}", path.display()),
                ),
                (None, Some(b)) => (b.clone(), "bootstrap file".to_owned()),
                (None, None) => (
                    Bootstrap::shipped(),
                    "IANA bootstrap shipped with the agent".to_owned(),
                ),
            },
            private_registries: private_registries(args, config),
            takeover: takeover_table(args, config)?,
            intrusive: args.intrusive,
            domain: args.domain.clone(),
            vantage: match &args.vantage {
                Some(path) => read_observations(path)?.observations,
                None => Vec::new(),
            },
        })
    }

    /// The runner's options for these settings: the resolver, gate and limits every probe
    /// shares.
    pub fn run_options(&self) -> Result<RunOptions> {
        let timeout = self.limits.read_timeout;
        let dns = match (&self.trust_anchors, self.resolvers.is_empty()) {
            (Some(anchors), _) => Some(
                Dns::with_trust_anchors(&self.resolvers, timeout, anchors).map_err(Error::Usage)?,
            ),
            (None, true) => None,
            (None, false) => {
                Some(Dns::with_nameservers(&self.resolvers, timeout).map_err(Error::Usage)?)
            }
        };
        let guard = AddressGuard {
            internal_networks: self.internal_networks.clone(),
            treat_as_public: Vec::new(),
        };
        Ok(RunOptions {
            progress: None,
            domain_budget: self.domain_budget,
            domains_at_once: self.domains_at_once,
            keep: true,
            tls: crate::probe::tls::scan::TlsOptions {
                limits: self.limits,
                trust: self.trust.clone(),
                intrusive: self.intrusive,
            },
            sni: self.sni.clone(),
            connect_to: self.connect_to.clone(),
            max_connections: self.max_connections,
            gate: Some(crate::probe::net::Gate::new(
                self.max_connections,
                self.limits.per_host,
            )),
            run: crate::runner::new_id(),
            organisation: self.organisation.clone(),
            agent: "local".into(),
            domain: self.domain.clone(),
            vantage: self.vantage.clone(),
            interception_names: self.interception_ca.clone(),
            web: crate::probe::net::http::WebLimits {
                connect_timeout: self.limits.connect_timeout,
                request_timeout: self.limits.read_timeout,
                guard: guard.clone(),
                ..Default::default()
            },
            dns,
            mail: crate::probe::mail::check::MailOptions {
                dkim_selectors: self.dkim_selectors.clone(),
            },
            roles: self.roles.clone(),
            rdap_base: self.rdap_base.clone(),
            rdap_bootstrap: Some(self.rdap_bootstrap.0.clone()),
            private_registries: self.private_registries.clone(),
            domain_probe: crate::probe::domain::DomainOptions {
                ns_port: self.nameserver_port,
                timeout: self.limits.read_timeout,
                takeover: self.takeover.clone(),
                guard,
            },
        })
    }

    /// What `config check` prints: every setting, with the defaults the file leaves in place.
    pub fn print(&self, out: &mut dyn Write) -> Result<()> {
        let list = |v: &[String], none: &str| {
            if v.is_empty() {
                none.to_owned()
            } else {
                v.join(", ")
            }
        };
        let lines: Vec<(&str, String)> = vec![
            (
                "organisation",
                self.organisation
                    .clone()
                    .unwrap_or_else(|| "(none: an ad-hoc scan)".into()),
            ),
            (
                "targets",
                list(&self.targets, "(none: name them on the command line)"),
            ),
            (
                "standards from",
                self.policies
                    .as_ref()
                    .map_or("the built-in standards".into(), |p| p.display().to_string()),
            ),
            (
                "resolvers",
                list(&strings(&self.resolvers), "the system resolver"),
            ),
            (
                "nameservers asked",
                format!("on port {}", self.nameserver_port),
            ),
            (
                "DNSSEC anchors",
                self.trust_anchors
                    .as_ref()
                    .map_or("the root's keys (built in)".to_owned(), |a| {
                        format!("{} keys from the file", a.len())
                    }),
            ),
            ("RDAP", self.rdap_line()),
            (
                "private registries",
                list(&self.private_registries, "(none)"),
            ),
            ("DKIM selectors", list(&self.dkim_selectors, "(none)")),
            (
                "roles",
                list(
                    &self
                        .roles
                        .iter()
                        .map(|r| r.as_str().to_owned())
                        .collect::<Vec<_>>(),
                    "inferred from what is found",
                ),
            ),
            (
                "limits",
                format!(
                    "connect {:?}, read {:?}, budget {:?} per endpoint and {:?} per domain, {} per host, {} in all",
                    self.limits.connect_timeout,
                    self.limits.read_timeout,
                    self.limits.target_budget,
                    self.domain_budget,
                    self.limits.per_host,
                    self.max_connections
                ),
            ),
            (
                "extra CAs",
                self.ca_file
                    .as_ref()
                    .map_or("(none: the Mozilla roots)".into(), |p| {
                        p.display().to_string()
                    }),
            ),
            (
                "interception CAs",
                list(&self.interception_ca, "(built-in names only)"),
            ),
            (
                "internal networks",
                list(
                    &strings(&self.internal_networks),
                    "(built-in private ranges only)",
                ),
            ),
            (
                "takeover prints",
                format!("{} services", self.takeover.len()),
            ),
        ];
        for (label, value) in lines {
            writeln!(out, "  {:<19} {value}", format!("{label}:"))?;
        }
        Ok(())
    }

    fn rdap_line(&self) -> String {
        match &self.rdap_base {
            Some(base) => format!("{base} for every domain"),
            None => {
                let (bootstrap, what) = &self.rdap_bootstrap;
                format!(
                    "{what} ({} suffixes, published {})",
                    bootstrap.len(),
                    bootstrap.publication().unwrap_or("unknown")
                )
            }
        }
    }
}

/// Connection limits, and the run's overall connection limit.
fn limits(args: &ScanArgs, config: &Config) -> Result<(Limits, usize)> {
    let defaults = Limits::default();
    let per_host = args
        .per_host
        .or(config.per_host)
        .unwrap_or(defaults.per_host);
    let max_connections = args
        .max_connections
        .or(config.max_connections)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if per_host == 0 || max_connections == 0 {
        return Err(Error::Usage(
            "--per-host and --max-connections must be at least 1".into(),
        ));
    }
    let duration = |name: &str, arg: Option<f64>, configured: Option<Duration>, default| match arg {
        Some(v) => seconds(name, v),
        None => Ok(configured.unwrap_or(default)),
    };
    Ok((
        Limits {
            connect_timeout: duration(
                "connect-timeout",
                args.connect_timeout,
                config.connect_timeout,
                defaults.connect_timeout,
            )?,
            read_timeout: duration(
                "read-timeout",
                args.read_timeout,
                config.read_timeout,
                defaults.read_timeout,
            )?,
            target_budget: duration("budget", args.budget, config.budget, defaults.target_budget)?,
            per_host,
            ..defaults
        },
        max_connections,
    ))
}

/// The suffixes of private registries: the command line's, else the file's, else the default.
fn private_registries(args: &ScanArgs, config: &Config) -> Vec<String> {
    if !args.private_registry.is_empty() {
        args.private_registry
            .iter()
            .map(|s| s.trim_matches('.').to_ascii_lowercase())
            .collect()
    } else if let Some(list) = &config.private_registries {
        list.clone()
    } else {
        DEFAULT_PRIVATE_REGISTRIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }
}

/// The subdomain-takeover fingerprints: the shipped table, the configuration's and
/// `--takeover-fingerprints`.
fn takeover_table(args: &ScanArgs, config: &Config) -> Result<Vec<Fingerprint>> {
    let mut takeover = crate::probe::takeover::shipped();
    takeover.extend(config.takeover_fingerprints.iter().cloned());
    if let Some(path) = &args.takeover_fingerprints {
        takeover.extend(read_and_parse(path, |b| {
            crate::probe::takeover::parse(&utf8(b)?)
        })?);
    }
    Ok(takeover)
}

/// The trust store: the Mozilla roots plus the CA bundle at `ca_file`.
fn trust_store(ca_file: Option<&Path>) -> Result<TrustStore> {
    let trust = TrustStore::default();
    let Some(path) = ca_file else {
        return Ok(trust);
    };
    if let Err(source) = std::fs::metadata(path) {
        return Err(Error::NoInput {
            path: path.to_owned(),
            source,
        });
    }
    trust.with_pem_bundle(path).map_err(|message| Error::Data {
        path: path.to_owned(),
        message,
    })
}

/// Where a scanned site may not send the agent, beside the built-in internal ranges:
/// `--internal-network`, else the configuration's.
fn internal_networks(args: &ScanArgs, config: &Config) -> Result<Vec<ipnet::IpNet>> {
    if args.internal_network.is_empty() {
        return Ok(config.internal_networks.clone());
    }
    args.internal_network
        .iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>().map_err(|_| {
                Error::Usage(format!(
                    "--internal-network {n:?}: not a network such as 10.0.0.0/8"
                ))
            })
        })
        .collect()
}

/// The configuration file at `path`: one that cannot be read is missing input (exit 66), one
/// that is wrong names its key (exit 64).
pub fn load_config(path: &Path) -> Result<Config> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(Error::NoInput {
            path: path.to_owned(),
            source,
        });
    }
    Ok(Config::load(path)?)
}

/// `config check FILE`: check a configuration file and print the settings `scan --config
/// FILE` would run with (the file's values and the defaults it leaves in place).
pub fn config_check(path: &Path, out: &mut dyn Write) -> Result<()> {
    let config = load_config(path)?;
    // `scan` with no option but the file: clap's own defaults, not a copy of them.
    let no_options =
        match <crate::cli::Cli as clap::Parser>::try_parse_from(["posture-agent", "scan"]) {
            Ok(crate::cli::Cli {
                command: crate::cli::Command::Scan(args),
                ..
            }) => args,
            _ => unreachable!("`posture-agent scan` parses"),
        };
    let settings = Settings::resolve(&no_options, &config)?;
    writeln!(out, "{}: OK", path.display())?;
    settings.print(out)?;
    print_service(&config, out)
}

/// What `run --config FILE` adds: where it sends, when it scans, where it keeps its spool.
fn print_service(config: &Config, out: &mut dyn Write) -> Result<()> {
    let Some(c) = &config.collector else {
        writeln!(
            out,
            "collector:          none ([collector] is needed by `run`)"
        )?;
        return Ok(());
    };
    let shown = |p: &Option<PathBuf>| p.as_ref().map_or("-".into(), |p| p.display().to_string());
    writeln!(
        out,
        "collector:          {} (CA {}; key {}; enrolment secret {}; {} observations a batch)",
        c.url,
        c.ca_file
            .as_ref()
            .map_or("public roots".into(), |p| p.display().to_string()),
        c.key_file.display(),
        shown(&c.enrol_secret_file),
        c.batch
    )?;
    let s = config.schedule;
    writeln!(
        out,
        "schedule:           every {}s, up to {}s later at random; heartbeat every {}s",
        s.interval.as_secs(),
        s.jitter.as_secs(),
        s.heartbeat.as_secs()
    )?;
    if let Some((from, to)) = s.quiet_hours {
        writeln!(
            out,
            "quiet hours:        {}-{} (local time: no round starts)",
            from.format("%H:%M"),
            to.format("%H:%M")
        )?;
    }
    for g in &config.groups {
        let roles = if g.roles.is_empty() {
            String::new()
        } else {
            format!(
                ", roles {}",
                g.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        writeln!(
            out,
            "group {}:{:pad$}{} target(s), every {}s{roles}",
            g.name,
            "",
            g.targets.len(),
            g.interval.unwrap_or(s.interval).as_secs(),
            pad = 13usize.saturating_sub(g.name.len())
        )?;
    }
    writeln!(
        out,
        "spool:              {} (at most {} MiB)",
        config.spool.dir.display(),
        config.spool.max_bytes / (1024 * 1024)
    )?;
    writeln!(
        out,
        "agent metrics:      {}",
        config
            .metrics_listen
            .map_or("not served".into(), |a| format!("http://{a}/metrics"))
    )?;
    Ok(())
}
