//! The command line: `serve`, the administration commands, and `submit`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// posture's collector: receives agents' observations, judges them against the national
/// policy set, keeps history, computes scores and exposes them to Prometheus.
#[derive(Debug, Parser)]
#[command(
    name = "posture-collector",
    version,
    after_help = "Exit codes: 0 success, 1 failed, 64 bad usage or configuration, 65 bad input data, 66 input missing, 69 the database or collector cannot be reached."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The collector's configuration file (the database and the policy set).
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The configuration file (see examples/collector.toml).
    #[arg(long, value_name = "FILE", default_value = "collector.toml")]
    pub config: PathBuf,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and /metrics.
    Serve(ConfigArg),
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// The domains an organisation owns (and so its agents may report on).
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Endpoints outside an organisation's domains (internal TLS services by name or
    /// address) that its agents may report on.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Owner contacts: who is told when a check fails, is reminded, and is fixed.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Enrolment secrets, which agents exchange for their keys.
    #[command(subcommand, name = "enrol-secret")]
    EnrolSecret(SecretCommand),
    /// Viewer, national and admin tokens for the read API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Post what `posture-agent scan --format json` wrote to a collector.
    Submit(SubmitArgs),
}

/// `org ...`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add an organisation.
    Add {
        /// Its code (an ODS code such as RXX).
        code: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List organisations.
    List(ConfigArg),
}

/// `domain ...`.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Register a domain (and its subdomains) to an organisation.
    Add {
        /// The domain.
        domain: String,
        /// The organisation's code.
        #[arg(long)]
        org: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a domain, its targets and their latest findings (history stays).
    Remove {
        /// The domain.
        domain: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `endpoint ...`.
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Register an endpoint to an organisation: HOST (any port), HOST:PORT, or [IPv6]:PORT.
    /// Its findings are scored under the host unless the agent names a domain it belongs to.
    Add {
        /// The endpoint: pacs.trust.internal:8443, 10.20.0.5, [fd00::5]:443.
        endpoint: String,
        /// The organisation's code.
        #[arg(long)]
        org: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove an endpoint's registration, and the latest findings and scores of the targets
    /// scored under its host (history stays).
    Remove {
        /// The endpoint, as it was added.
        endpoint: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List registered endpoints.
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `contact ...`.
#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Add a contact: the organisation's default, or for one domain or endpoint host
    /// (`--for`), which then hears of that name's alerts instead of the default.
    #[command(group(clap::ArgGroup::new("address").required(true).multiple(false)))]
    Add {
        /// The organisation's code.
        #[arg(long)]
        org: String,
        /// Only for this domain or endpoint host.
        #[arg(long = "for", value_name = "NAME")]
        scope: Option<String>,
        /// An email address.
        #[arg(long, group = "address")]
        email: Option<String>,
        /// A webhook URL that receives the JSON payload.
        #[arg(long, group = "address")]
        webhook: Option<String>,
        /// A Slack or Teams incoming-webhook URL that receives `{"text": ...}`.
        #[arg(long, group = "address")]
        chat: Option<String>,
        /// An Alertmanager's URL: each item becomes an alert (its API v2), for teams that
        /// route alerts there already.
        #[arg(long, group = "address")]
        alertmanager: Option<String>,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a contact by its id.
    Remove {
        /// The contact's id (from `contact list`).
        id: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List contacts.
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `enrol-secret ...`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create an enrolment secret for an organisation (shown once).
    Create {
        /// The organisation's code.
        #[arg(long)]
        org: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke an enrolment secret (agents enrolled with it keep their keys).
    Revoke {
        /// The secret.
        secret: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (shown once): a viewer of one organisation, national or admin.
    Create {
        /// A viewer of this organisation.
        #[arg(long, conflicts_with_all = ["national", "admin"])]
        org: Option<String>,
        /// A national viewer.
        #[arg(long, conflicts_with = "admin")]
        national: bool,
        /// An administrator.
        #[arg(long)]
        admin: bool,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke a token.
    Revoke {
        /// The token.
        token: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `agent ...`.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// List agents.
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke an agent's key.
    Revoke {
        /// The agent's id.
        id: String,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `submit FILE`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What `posture-agent scan --format json -o FILE` wrote (or an observation set).
    pub file: PathBuf,
    /// The agent key.
    #[arg(long, env = "POSTURE_AGENT_KEY", hide_env_values = true)]
    pub key: String,
    /// The collector's base URL.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust this CA (PEM) for the collector's certificate as well as the public roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// The batch's idempotency key (default: derived from the file's observation ids, so a
    /// retried submit is a duplicate).
    #[arg(long)]
    pub idempotency_key: Option<String>,
}
