//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// posture-agent: checks TLS, DNS, email and web configuration against the mandated standards.
///
/// The standards (NCSC, GOV.UK, NHS, Mozilla, CISA BOD 18-01 and the protocol RFCs) are
/// compiled in as policy files; `--policies DIR` uses another copy, for example one a national
/// team has tightened.
#[derive(Debug, Parser)]
#[command(
    name = "posture-agent",
    version,
    propagate_version = true,
    after_help = "Examples:\n  \
        posture-agent explain TLS-PROTO-LEGACY\n  \
        posture-agent evaluate examples/weak-domain.json\n  \
        posture-agent evaluate examples/weak-domain.json --standard NCSC-TLS --format json\n  \
        posture-agent policy lint policies/standards\n\n\
        Exit codes: 0 success, 1 problems found (lint), 64 bad usage, 65 bad input data, 66 input missing."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Explain a check: what it means, why it matters, which standards mandate it, how to fix it.
    ///
    /// Without a CHECK-ID, lists every check.
    Explain(ExplainArgs),
    /// Evaluate recorded observations offline and print findings and scores.
    ///
    /// The file is a posture/v1 observation set, as a scan writes it (see examples/). Checks
    /// are judged as of each observation's scan time unless --now says otherwise, so a recorded
    /// file gives the same findings whenever it is evaluated.
    Evaluate(EvaluateArgs),
    /// Scan domains and TLS endpoints, then judge what was seen against the standards.
    ///
    /// A bare domain (example.nhs.uk) gets every check: website, DNS (DNSSEC, nameservers,
    /// AXFR, CAA, dangling records), mail (SPF, DMARC, DKIM, MTA-STS, TLS-RPT, the MX hosts'
    /// STARTTLS) and registration (RDAP). Endpoints: tls://HOST:PORT (any TLS service),
    /// https://HOST[:PORT] (default 443), smtp://HOST[:PORT] (STARTTLS; default 25): every
    /// protocol version (SSLv2 to TLS 1.3), every cipher suite, the named groups and the
    /// certificate. Scanning is gentle: at most --per-host connections at once to a host, each
    /// read bounded in time and size, and the whole target within --budget.
    ///
    /// Exit codes: 0 no finding at or above --fail-on failed; 1 one did; 2 none did, but a
    /// target could not be scanned at all; 64 bad usage; 65 bad input data; 66 an input file
    /// missing; 73 the -o file cannot be written; 130 interrupted.
    #[command(after_help = "Examples:
  posture-agent scan example.nhs.uk
  posture-agent scan https://www.example.nhs.uk smtp://mx.example.nhs.uk tls://10.1.2.3:8443
  posture-agent scan https://intranet.trust.nhs.uk:8443 --ca-file trust-root-ca.pem
  posture-agent scan --config agent.toml --format json -o scan.json   (table here, report in the file)
  posture-agent scan example.nhs.uk --format sarif -o posture.sarif --fail-on critical
  posture-agent evaluate scan.json   (judge a saved scan again, offline)")]
    Scan(Box<ScanArgs>),
    /// Work with the agent's configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run as a service: scan the configuration's targets on its [schedule], keep each
    /// observation in the on-disk spool the moment it is made, and upload the spool to the
    /// [collector], which judges and scores it. Nothing is lost when the collector or the
    /// network is down: the spool is uploaded when it is back. SIGTERM stops it cleanly.
    ///
    /// Exit codes: 0 stopped; 64 bad configuration (the file and key are named); 69 the state
    /// directory cannot be used.
    #[command(after_help = "Examples:
  posture-agent run --config /etc/posture/agent.toml
  posture-agent run --config agent.toml --once     (one round, upload, exit: for cron or a test)
  posture-agent status --config agent.toml         (next scan, spool depth, last upload, last error)")]
    Run(RunArgs),
    /// What the service's state directory says: next scan, last scan, last upload, last
    /// error and the spool's depth.
    Status(StatusArgs),
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (see examples/agent.toml): targets, [collector], [schedule],
    /// [spool].
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// One round of scans, then upload the spool and exit.
    #[arg(long)]
    pub once: bool,
    /// Dial somewhere else, as `scan --connect-to` does (HOST1:PORT1:HOST2:PORT2). Repeatable.
    #[arg(long, value_name = "RULE")]
    pub connect_to: Vec<String>,
}

impl RunArgs {
    /// The scan options this service scans with: the configuration's, and `--connect-to`.
    pub fn scan_args(&self) -> ScanArgs {
        use clap::{Args as _, FromArgMatches as _};
        let mut argv = vec![
            "scan".into(),
            "--config".into(),
            self.config.as_os_str().to_owned(),
        ];
        for rule in &self.connect_to {
            argv.push("--connect-to".into());
            argv.push(rule.into());
        }
        // Every other option keeps its default: parsing cannot fail.
        let command = ScanArgs::augment_args(clap::Command::new("scan"));
        let matches = command.get_matches_from(argv);
        ScanArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The service's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files: YAML shape, CEL expressions, references between standards, and that
    /// every example observation gives the status it claims. Exits 1 on any problem.
    Lint {
        /// The directory of standard files (*.yaml); the built-in standards when omitted.
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file (keys, addresses, the files it names) and print what it
    /// sets. Exits 64 with the file and the key when something is wrong.
    Check {
        /// The TOML file, e.g. examples/agent.toml.
        file: PathBuf,
    },
}

/// Options shared by commands that read policies.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Read standards from this directory instead of the built-in ones.
    #[arg(long, value_name = "DIR", global = true)]
    pub policies: Option<PathBuf>,
}

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The check id, e.g. TLS-PROTO-LEGACY or MAIL-DMARC-POLICY (case-insensitive).
    /// Without one, every check is listed under each standard that mandates it.
    #[arg(value_name = "CHECK-ID")]
    pub check: Option<String>,
    /// List only this standard's checks (a name as the list prints it, e.g. NCSC-TLS; the
    /// same names --standard takes in scan and evaluate).
    #[arg(long, value_name = "S")]
    pub standard: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Where the standards come from.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The observation set to evaluate (JSON, schema posture/v1); `-` reads standard input.
    #[arg(value_name = "OBSERVATIONS.json")]
    pub file: PathBuf,
    /// Only the checks and scores of this standard (e.g. NCSC-TLS, GOVUK-EMAIL).
    #[arg(long, value_name = "S")]
    pub standard: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Judge as of this time (RFC 3339) instead of each observation's scan time.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// The scan interval, for staleness: findings older than three intervals are not scored.
    /// Accepts s, m, h and d suffixes.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub scan_interval: String,
    /// Show passing and not-applicable findings in the table too.
    #[arg(long)]
    pub all: bool,
    /// Colour in the table, as in `scan`.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = When::Auto)]
    pub color: When,
    /// Where the standards come from.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// What to scan, e.g. example.nhs.uk (a domain: web, DNS, mail, registration),
    /// https://www.example.nhs.uk or smtp://mx.example.nhs.uk:25. When none is given, the
    /// configuration's `targets` are scanned.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read settings from this TOML file (see examples/agent.toml); options given on the
    /// command line win over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Show passing and not-applicable findings in the table too.
    #[arg(long)]
    pub all: bool,
    /// Exit 1 when a finding of this severity or above fails: critical, high, medium, low,
    /// info, or never (exit 0 whatever fails).
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_fail_on)]
    pub fail_on: FailOn,
    /// The SNI name to send (and match the certificate against) instead of the target's host.
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// Trust the CA certificates in this PEM file as well as the public roots (a trust's own CA).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Dial somewhere else, as curl does: HOST1:PORT1:HOST2:PORT2 sends connections for
    /// HOST1:PORT1 to HOST2:PORT2 (empty HOST1 or PORT1 match any). Repeatable.
    #[arg(long, value_name = "RULE")]
    pub connect_to: Vec<String>,
    /// Output format: table (for people), json (one report, which `evaluate` reads), ndjson
    /// (one finding per line), csv (one finding per row) or sarif (SARIF 2.1.0, for
    /// code-scanning dashboards).
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Report each target on standard error as it is finished: auto does so when standard
    /// error is a terminal.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = When::Auto)]
    pub progress: When,
    /// Colour in the table: fail and broken suites red, warn and weak yellow, pass and ok
    /// green. `auto`: when standard output is a terminal and NO_COLOR is not set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = When::Auto)]
    pub color: When,
    /// Quiet: no progress, and in the table only the findings and the summary (not each
    /// target's protocols, suites and facts).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Write the --format output to this file, while the table still goes to standard
    /// output (as testssl.sh's --jsonfile); `--format json -o scan.json` keeps a report that
    /// `evaluate` reads later. Checked before scanning.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only the findings of this standard.
    #[arg(long, value_name = "S")]
    pub standard: Option<String>,
    /// Observations of the same targets from a second vantage point (a `scan -o` file made
    /// elsewhere, or the collector's): a different certificate here means TLS interception.
    #[arg(long, value_name = "FILE")]
    pub vantage: Option<PathBuf>,
    /// Also treat issuers containing this text as TLS-inspection CAs (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub interception_ca: Vec<String>,
    /// Also run intrusive probes (Heartbleed: a malformed heartbeat that a vulnerable server
    /// answers with its memory). Only with the target owner's consent.
    #[arg(long)]
    pub intrusive: bool,
    /// Ask this nameserver (ADDR:PORT) for the DNS and mail checks instead of the system
    /// resolver. Repeatable.
    #[arg(long, value_name = "ADDR:PORT")]
    pub resolver: Vec<std::net::SocketAddr>,
    /// Ask the domain's nameservers directly (SOA, zone transfer, delegations) on this port
    /// instead of 53: for test zones served on another port.
    #[arg(long, value_name = "PORT")]
    pub nameserver_port: Option<u16>,
    /// Validate DNSSEC against the DNSKEY records in FILE (zone-file lines such as
    /// `example. IN DNSKEY 257 3 13 <base64>`) instead of the root's keys: for private chains
    /// of trust and labs.
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// The RDAP service to ask for every domain's registration data (expiry, transfer lock),
    /// e.g. a registry's base URL. Without it, each domain's registry is found in the RDAP
    /// bootstrap file.
    #[arg(long, value_name = "URL")]
    pub rdap_base: Option<String>,
    /// An RDAP bootstrap file (RFC 9224; IANA publishes it at
    /// https://data.iana.org/rdap/dns.json) instead of the copy that ships with the agent.
    #[arg(long, value_name = "FILE")]
    pub rdap_bootstrap: Option<PathBuf>,
    /// A suffix run by a private registry (names under it are not looked up over RDAP;
    /// DOMAIN-* checks are not applicable). Repeatable; replaces the default, nhs.uk.
    #[arg(long, value_name = "SUFFIX")]
    pub private_registry: Vec<String>,
    /// More subdomain-takeover fingerprints, one per line: service|cname-suffix|body text.
    #[arg(long, value_name = "FILE")]
    pub takeover_fingerprints: Option<PathBuf>,
    /// A DKIM selector the domain signs with (checked for existence and key size). Repeatable.
    #[arg(long, value_name = "SELECTOR")]
    pub dkim_selector: Vec<String>,
    /// The roles of the domains scanned: web, mail-receiving, mail-sending, non-sending
    /// (repeatable); inferred from what is found when not given.
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    pub role: Vec<posture_policies::model::DomainRole>,
    /// Score the findings under this domain (an endpoint's owner).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Seconds to wait for a TCP connection [default: 5].
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<f64>,
    /// Seconds to wait for each answer [default: 8].
    #[arg(long, value_name = "SECS")]
    pub read_timeout: Option<f64>,
    /// Seconds allowed for one target in all: a TLS endpoint [default: 120], or a whole
    /// domain with its website, DNS, mail, registration and endpoints [default: 300]; what
    /// is not finished then is untestable (code budget_exhausted).
    #[arg(long, value_name = "SECS")]
    pub budget: Option<f64>,
    /// Connections open at once to one host [default: 3].
    #[arg(long, value_name = "N")]
    pub per_host: Option<usize>,
    /// Connections open at once in all [default: 32].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// A network that counts as internal besides loopback, private, link-local and
    /// unique-local ranges: a scanned site's redirects, MTA-STS host and CNAMEs are never
    /// followed into one unless the target itself is there (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub internal_network: Vec<String>,
    /// Where the standards come from.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// When to report progress (on standard error) or colour the table (on standard output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// When the stream it is written to is a terminal (for colour: unless `NO_COLOR` is set).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl When {
    /// Whether it holds for `stream`.
    pub fn holds(self, stream: impl std::io::IsTerminal) -> bool {
        match self {
            When::Always => true,
            When::Never => false,
            When::Auto => stream.is_terminal(),
        }
    }
}

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// One JSON document.
    Json,
}

/// What `scan` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// Aligned text for people, with each target's summary and the scores.
    Table,
    /// One JSON report: observations, findings and their summary.
    Json,
    /// One finding document per line.
    Ndjson,
    /// One finding per row.
    Csv,
    /// SARIF 2.1.0.
    Sarif,
}

/// The severity from which a failing finding makes `scan` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Findings of this severity or above.
    AtLeast(posture_policies::model::Severity),
    /// Never: exit 0 whatever fails.
    Never,
}

fn parse_fail_on(text: &str) -> Result<FailOn, String> {
    if text.eq_ignore_ascii_case("never") {
        return Ok(FailOn::Never);
    }
    serde_json::from_value(serde_json::Value::String(text.to_ascii_lowercase()))
        .map(FailOn::AtLeast)
        .map_err(|_| format!("{text:?}: use critical, high, medium, low, info or never"))
}

fn parse_role(text: &str) -> Result<posture_policies::model::DomainRole, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{text:?}: use web, mail-receiving, mail-sending or non-sending"))
}
