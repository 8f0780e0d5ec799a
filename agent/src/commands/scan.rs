//! `scan TARGET...`: settings, plan, run, judge, render.

use std::io::Write;

use chrono::Duration;
use posture_policies::model::{Finding, Observation, ObservationSet, Status};
use tokio_util::sync::CancellationToken;

use super::settings::{Settings, load_config};
use super::{policies_with, run_evaluation};
use crate::cli::{ScanArgs, ScanFormat};
use crate::error::{Error, Result};
use crate::output::{Report, View};
use crate::runner::{Plan, RunOptions};
use crate::target::TargetSpec;

/// `scan TARGET...`.
pub fn scan(args: &ScanArgs, out: &mut dyn Write) -> Result<()> {
    let config = match &args.config {
        Some(path) => load_config(path)?,
        None => crate::config::Config::default(),
    };
    let settings = Settings::resolve(args, &config)?;
    let policy_args = crate::cli::PolicyArgs {
        policies: settings.policies.clone(),
    };
    let set = policies_with(&policy_args, args.standard.as_deref())?;
    let plan = plan(&settings.targets)?;
    let options = settings.run_options()?;
    // Say now, not after the whole scan, that the output file cannot be written.
    if let Some(path) = &args.output {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| Error::CantCreate {
                path: path.clone(),
                source,
            })?;
    }
    let progress = crate::output::progress::Progress::new(
        !args.quiet && args.progress.holds(std::io::stderr()),
        plan.asked(),
    );
    let (observations, interrupted) = execute(plan, options, progress)?;
    let observation_set = ObservationSet {
        schema: posture_policies::model::Schema,
        organisation: settings.organisation.clone(),
        observations,
    };
    // Judged and scored as `evaluate` would, so both print the same.
    let evaluation = run_evaluation(
        &set,
        &observation_set,
        None,
        Duration::hours(24),
        args.standard.as_deref(),
    );
    let report = Report {
        observations: Some(&observation_set.observations),
        evaluation: &evaluation,
        set: &set,
    };
    let view = View {
        all: args.all,
        quiet: args.quiet,
        colour: crate::output::colour(args.color),
    };
    match &args.output {
        None => crate::output::renderer(args.format, view).render(&report, out)?,
        Some(path) => {
            let mut file = Vec::new();
            crate::output::renderer(
                args.format,
                View {
                    colour: false,
                    ..view
                },
            )
            .render(&report, &mut file)?;
            std::fs::write(path, file).map_err(|source| Error::CantCreate {
                path: path.clone(),
                source,
            })?;
            crate::output::renderer(ScanFormat::Table, view).render(&report, out)?;
        }
    }
    if interrupted {
        return Err(Error::Interrupted);
    }
    scan_outcome(
        args.fail_on,
        &evaluation.findings,
        &observation_set.observations,
    )
}

/// The targets of the command line (or else of the configuration), parsed: each once, in the
/// normal form (A-labels, no trailing dot), in the order given.
pub(crate) fn plan(target_texts: &[String]) -> Result<Plan> {
    if target_texts.is_empty() {
        return Err(Error::Usage(
            "name at least one TARGET (or `targets` in the --config file)".into(),
        ));
    }
    let mut plan = Plan::default();
    for text in target_texts {
        // A bare name is a domain (website, and the TLS of its HTTPS hosts); a URL is one
        // endpoint.
        if !text.contains("://") {
            let d = crate::target::parse_domain(text).map_err(Error::Usage)?;
            if !plan.domains.contains(&d) {
                plan.domains.push(d);
            }
            continue;
        }
        let (spec, note) = crate::target::parse_target_noting(text).map_err(Error::Usage)?;
        if let Some(note) = note {
            eprintln!("posture-agent: {note}");
        }
        if !plan.targets.contains(&spec) {
            plan.targets.push(spec);
        }
    }
    let https = |t: &&TargetSpec| t.service == posture_policies::model::Service::Https;
    // https://HOST on the default port also gets the web checks of HOST's site (www. removed).
    for t in plan.targets.iter().filter(https).filter(|t| t.port == 443) {
        let site = t.host.strip_prefix("www.").unwrap_or(&t.host).to_owned();
        if !plan.domains.contains(&site)
            && !plan.web_only.contains(&site)
            && t.host.parse::<std::net::IpAddr>().is_err()
        {
            plan.web_only.push(site);
        }
    }
    // https://HOST:PORT on another port gets the web checks of that origin.
    plan.origins = plan
        .targets
        .iter()
        .filter(https)
        .filter(|t| t.port != 443)
        .cloned()
        .collect();
    Ok(plan)
}

/// Run the plan to the end, or until Ctrl-C: the observations, and whether it was
/// interrupted (then the ones that had finished), reporting each target as it finishes.
fn execute(
    plan: Plan,
    options: RunOptions,
    mut progress: crate::output::progress::Progress,
) -> Result<(Vec<Observation>, bool)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    let cancel = CancellationToken::new();
    let (observations, interrupted) = runtime.block_on(async {
        let ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctrl_c.cancel();
            }
        });
        let mut run = crate::runner::start(plan, options, cancel.clone());
        let mut finished = Vec::new();
        while let Some(o) = run.next().await {
            progress.finished(&o);
            finished.push(o);
        }
        // Ctrl-C: what finished is reported and written, then the scan ends with exit 130.
        match run.finish().await {
            Some(all) => (all, false),
            None => (finished, true),
        }
    });
    progress.done();
    runtime.shutdown_background();
    if interrupted {
        eprintln!(
            "posture-agent: interrupted; reporting the {} target(s) that finished",
            observations.len()
        );
    }
    Ok((observations, interrupted))
}

/// How a finished scan ends for a pipeline: failing findings at or above `fail_on` (exit 1),
/// else targets that could not be scanned at all (exit 2), else success.
fn scan_outcome(
    fail_on: crate::cli::FailOn,
    findings: &[Finding],
    observations: &[Observation],
) -> Result<()> {
    if let crate::cli::FailOn::AtLeast(severity) = fail_on {
        let count = findings
            .iter()
            .filter(|f| f.status == Status::Fail && f.severity >= severity)
            .count();
        if count > 0 {
            return Err(Error::Failing {
                count,
                severity: severity.as_str(),
            });
        }
    }
    let unscanned: Vec<String> = observations
        .iter()
        .filter(|o| {
            !o.scan.errors.is_empty()
                && o.tls.is_none()
                && o.web.is_none()
                && o.dns.is_none()
                && o.mail.is_none()
        })
        .map(|o| o.target.to_string())
        .collect();
    if unscanned.is_empty() {
        Ok(())
    } else {
        Err(Error::Unscanned(unscanned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_holds_each_target_once_and_adds_the_sites_of_https_targets() {
        let texts: Vec<String> = [
            "Example.COM.",
            "example.com",
            "https://www.example.org",
            "https://www.example.org/",
            "https://intranet.example.net:8443",
            "smtp://mx.example.com:25",
            "https://192.0.2.7",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let p = plan(&texts).expect("a good plan");
        assert_eq!(p.domains, ["example.com"]);
        assert_eq!(p.targets.len(), 4, "{:?}", p.targets);
        assert_eq!(p.web_only, ["example.org"]);
        assert_eq!(p.origins.len(), 1);
        assert_eq!(p.origins[0].port, 8443);
        assert!(matches!(plan(&[]), Err(Error::Usage(_))));
    }
}
