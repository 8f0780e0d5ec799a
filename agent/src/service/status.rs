//! `posture-agent status`: what the service's state directory says, and whether the collector
//! answers.

use std::io::Write;

use super::spool::Spool;
use super::unavailable;
use super::uplink::{Uplink, UplinkError};
use crate::cli::StatusArgs;
use crate::commands::settings::load_config;
use crate::error::{Error, Result};

/// `status --config FILE`: what the state directory says.
pub fn status(args: &StatusArgs, out: &mut dyn Write) -> Result<()> {
    let config = load_config(&args.config)?;
    let spool = Spool::open(&config.spool.dir, config.spool.max_bytes)
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let depth = spool.depth().map_err(unavailable)?;
    let state = |k: &str| -> Result<String> {
        Ok(spool
            .state(k)
            .map_err(unavailable)?
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "-".into()))
    };
    let collector = config
        .collector
        .as_ref()
        .map_or("(no [collector])".to_owned(), |c| c.url.clone());
    // Whether the collector answers now.
    let reachable = match &config.collector {
        None => "-".to_owned(),
        Some(c) => {
            let checked = Uplink::new(c).and_then(|uplink| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| UplinkError::Files(e.to_string()))?
                    .block_on(uplink.reachable())
            });
            match checked {
                Ok(()) => "yes".to_owned(),
                Err(e) => format!("no: {e}"),
            }
        }
    };
    let report = serde_json::json!({
        "state_dir": config.spool.dir.display().to_string(),
        "collector": collector,
        "collector_reachable": reachable,
        "next_scan": state("next_scan")?,
        "last_scan": state("last_scan")?,
        "last_upload": state("last_upload")?,
        "last_error": state("last_error")?,
        "spool": {
            "observations": depth.observations,
            "bytes": depth.bytes,
            "dropped": depth.dropped,
            "rejected": depth.rejected,
        },
    });
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )?;
        return Ok(());
    }
    for (label, key) in [
        ("state directory", "state_dir"),
        ("collector", "collector"),
        ("reachable", "collector_reachable"),
        ("next scan", "next_scan"),
        ("last scan", "last_scan"),
        ("last upload", "last_upload"),
        ("last error", "last_error"),
    ] {
        writeln!(out, "{label:<16} {}", report[key].as_str().unwrap_or("-"))?;
    }
    writeln!(
        out,
        "{:<16} {} observation(s), {} bytes waiting; {} dropped (spool full), {} refused by the collector",
        "spool", depth.observations, depth.bytes, depth.dropped, depth.rejected
    )?;
    Ok(())
}
