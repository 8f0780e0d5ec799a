//! The collector's one error type. [`crate::api::error`] is the one place that turns it into
//! an HTTP response; the binary turns it into an exit code.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database said no.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A file or socket failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// The configuration file is wrong.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The policy set does not load.
    #[error("policies: {0}")]
    Policy(#[from] posture_policies::Error),
    /// What a caller sent is not usable.
    #[error("{0}")]
    BadInput(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    Conflict(String),
    /// Something stored does not read back.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// TLS set-up failed (certificate or key).
    #[error("TLS: {0}")]
    Tls(String),
    /// A collector could not be reached (`submit`).
    #[error("{0}")]
    Remote(String),
    /// A collector refused a request (`submit`): its status and what it said.
    #[error("{url}: {status}: {body}")]
    Rejected {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The response body (a JSON error naming the problem).
        body: String,
    },
}

/// The collector's result.
pub type Result<T> = std::result::Result<T, Error>;
