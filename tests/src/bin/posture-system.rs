//! `posture-system`: the whole system on loopback, in one command, with nothing to install. A
//! collector (SQLite, plain HTTP on loopback) with two organisations; the demo's eight
//! misconfigured TLS servers and two demo domains (their DNS, websites, mail servers and
//! registry); and two agents, one per organisation, running as services (`posture-agent run`,
//! which is this program run again) that scan their organisation's targets every two minutes,
//! spool what they find and upload it. It prints the collector's URL, the tokens and where
//! `/metrics` is, then each organisation's scores once both have reported.
//!
//! Usage: posture-system [--once]
//!   --once   stop after both organisations' first findings are shown (used by the tests)

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use posture_collector::store::Role;
use posture_lab::pki::{Pki, TempDir};
use serde_json::Value;

/// The two organisations: code, name, domain targets, and the demo endpoints they own.
const ORGANISATIONS: [(&str, &str, &str, [&str; 4]); 2] = [
    (
        "RXA",
        "Well-Run Trust",
        "well-run.test",
        [
            "https://www.good.demo.test",
            "https://tls12-only.demo.test",
            "https://expired.demo.test",
            "https://wrong-name.demo.test",
        ],
    ),
    (
        "RXB",
        "Neglected Trust",
        "neglected.test",
        [
            "https://self-signed.demo.test",
            "https://no-intermediate.demo.test",
            "tls://legacy.demo.test",
            "tls://sslv2.demo.test",
        ],
    ),
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The agents are this program run again as `posture-system agent ARGS...`.
    if args.get(1).is_some_and(|a| a == "agent") {
        return posture_agent::main(
            std::iter::once(OsString::from("posture-agent")).chain(args.into_iter().skip(2)),
        );
    }
    let once = args.iter().any(|a| a == "--once");
    if args.iter().skip(1).any(|a| a != "--once") {
        eprintln!("usage: posture-system [--once]");
        return ExitCode::from(64);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posture-system: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(system(once)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posture-system: {e}");
            ExitCode::from(70)
        }
    }
}

/// The agent processes, stopped (SIGTERM, then SIGKILL) when dropped.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.0 {
            for _ in 0..50 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn system(once: bool) -> Result<(), String> {
    let pki = Pki::new();
    let dir = TempDir::new("system");
    let root = dir.write("demo-root.pem", pki.root_pem());
    let endpoints = posture_lab::demo::endpoints(&pki).await;
    let (domain_servers, domain_args) = posture_lab::demo::domains(&pki).await;
    let domain = DomainSettings::from_args(&domain_args);

    // The collector, in this process.
    let e = |e: posture_collector::Error| e.to_string();
    let collector = posture_lab::demo::LocalCollector::start(dir.path()).await?;
    let (store, url) = (collector.store.clone(), collector.url.clone());
    let national = posture_collector::auth::new_secret("pt_");
    store
        .add_token(
            &posture_collector::auth::hash(&national),
            &Role::National,
            0,
        )
        .await
        .map_err(e)?;
    let mut viewers = Vec::new();
    for (code, name, domain_name, owned) in ORGANISATIONS {
        store.add_organisation(code, name, 0).await.map_err(e)?;
        store.add_domain(domain_name, code).await.map_err(e)?;
        for url in owned {
            let host = url.split("://").nth(1).unwrap_or_default();
            store.add_domain(host, code).await.map_err(e)?;
        }
        let secret = posture_collector::auth::new_secret("pe_");
        store
            .add_enrol_secret(&posture_collector::auth::hash(&secret), code, 0)
            .await
            .map_err(e)?;
        dir.write(&format!("{code}.secret"), &secret);
        let viewer = posture_collector::auth::new_secret("pt_");
        store
            .add_token(
                &posture_collector::auth::hash(&viewer),
                &Role::Viewer(code.into()),
                0,
            )
            .await
            .map_err(e)?;
        viewers.push((code, viewer));
    }
    // The agents: this program again, each with its organisation's configuration.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for (code, _, domain_name, owned) in ORGANISATIONS {
        let mut rules = Vec::new();
        let mut targets = vec![format!("\"{domain_name}\"")];
        for wanted in owned {
            let (scheme_url, server) = endpoints
                .iter()
                .find(|(u, _)| *u == wanted)
                .ok_or_else(|| format!("no demo server for {wanted}"))?;
            let port = server.addr.port();
            let host = scheme_url.split("://").nth(1).unwrap_or_default();
            targets.push(format!("\"{scheme_url}:{port}\""));
            rules.push(format!("{host}:{port}:127.0.0.1:{port}"));
        }
        // The domains' rules last: their catch-all sends anything else to a closed port.
        rules.extend(domain.connect_to.iter().cloned());
        let config = dir.write(
            &format!("{code}.toml"),
            agent_config(code, &targets, &domain, &root, &url),
        );
        let log = std::fs::File::create(dir.path().join(format!("{code}.log")))
            .map_err(|e| e.to_string())?;
        let mut command = Command::new(&exe);
        command.args(["agent", "run", "--config"]).arg(&config);
        for rule in &rules {
            command.args(["--connect-to", rule]);
        }
        children.push(
            command
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("{}: {e}", exe.display()))?,
        );
    }
    let agents = Agents(children);

    let mut out = std::io::stdout().lock();
    let w = |e: std::io::Error| e.to_string();
    writeln!(
        out,
        "posture: the whole system on loopback\n\
         \n  collector     {url}   (SQLite: {db})\n  web pages     {url}/ui/   (log in with a token below)\n  \
         metrics       {url}/metrics\n  \
         API           {url}/api/v1/openapi.json\n  national token {national}",
        db = dir.path().join("collector.db").display()
    )
    .map_err(w)?;
    for (code, viewer) in &viewers {
        writeln!(out, "  viewer {code}    {viewer}").map_err(w)?;
    }
    writeln!(
        out,
        "\n  agents        RXA (Well-Run Trust) and RXB (Neglected Trust), each scanning its \
         domain and four TLS servers every 2 minutes;\n                logs in {}\n\
         \n  try: curl -s -H 'Authorization: Bearer {national}' '{url}/api/v1/scores?level=organisation'\n",
        dir.path().display()
    )
    .map_err(w)?;
    out.flush().map_err(w)?;

    let client = reqwest::Client::new();
    let reported = wait_for_both(&client, &url, &national, &exe, dir.path()).await?;
    for (code, findings, failing) in &reported {
        writeln!(
            out,
            "{code}: {findings} findings from its agent, {failing} failing"
        )
        .map_err(w)?;
    }
    print_scores(&client, &url, &national, &mut out).await?;
    if !once {
        writeln!(
            out,
            "\nRunning: the agents scan again every 2 minutes. Ctrl-C stops everything."
        )
        .map_err(w)?;
        out.flush().map_err(w)?;
        let _ = tokio::signal::ctrl_c().await;
    }
    drop(agents);
    collector.stop().await?;
    drop(domain_servers);
    drop(endpoints);
    Ok(())
}

/// Wait until both organisations' agents have finished a round and uploaded it (their
/// `status`: a last scan, an empty spool) and the collector shows findings of each.
/// (organisation, findings, failing).
async fn wait_for_both(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    exe: &Path,
    dir: &Path,
) -> Result<Vec<(String, u64, u64)>, String> {
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut uploaded = true;
        for (code, ..) in ORGANISATIONS {
            let o = Command::new(exe)
                .args(["agent", "status", "--json", "--config"])
                .arg(dir.join(format!("{code}.toml")))
                .output()
                .map_err(|e| e.to_string())?;
            let status: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            uploaded &= status["last_scan"] != "-" && status["spool"]["observations"] == 0;
        }
        if !uploaded {
            continue;
        }
        let mut now = Vec::new();
        for (code, ..) in ORGANISATIONS {
            let mut totals = [0u64; 2];
            for (i, status) in ["", "&status=fail"].into_iter().enumerate() {
                let page = get_json(
                    client,
                    &format!("{url}/api/v1/findings?organisation={code}&per_page=1{status}"),
                    token,
                )
                .await?;
                totals[i] = page["total"].as_u64().unwrap_or(0);
            }
            now.push((code.to_owned(), totals[0], totals[1]));
        }
        if now.iter().all(|(_, n, _)| *n > 0) {
            return Ok(now);
        }
    }
    Err("the agents did not report within five minutes (see their logs)".into())
}

/// GET `url` with `token`, as JSON.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

async fn print_scores(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    out: &mut dyn Write,
) -> Result<(), String> {
    let scores = get_json(
        client,
        &format!("{url}/api/v1/scores?level=organisation&per_page=1000"),
        token,
    )
    .await?;
    let w = |e: std::io::Error| e.to_string();
    writeln!(out, "\nScores per organisation and standard (0-100):").map_err(w)?;
    for s in scores["items"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<5} {:<14} {}",
            s["organisation"].as_str().unwrap_or(""),
            s["standard"].as_str().unwrap_or(""),
            s["score"]
                .as_f64()
                .map_or("-".to_owned(), |v| format!("{v:.1}"))
        )
        .map_err(w)?;
    }
    Ok(())
}

/// How the demo domains are reached: their resolver, nameserver port, DKIM selector, RDAP
/// base and `--connect-to` rules (from the scan arguments the demo gives).
struct DomainSettings {
    resolver: String,
    nameserver_port: String,
    dkim_selector: String,
    rdap_base: String,
    connect_to: Vec<String>,
}

impl DomainSettings {
    fn from_args(args: &[String]) -> DomainSettings {
        let mut s = DomainSettings {
            resolver: String::new(),
            nameserver_port: "53".into(),
            dkim_selector: String::new(),
            rdap_base: String::new(),
            connect_to: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let value = || it.clone().next().cloned().unwrap_or_default();
            match a.as_str() {
                "--resolver" => s.resolver = value(),
                "--nameserver-port" => s.nameserver_port = value(),
                "--dkim-selector" => s.dkim_selector = value(),
                "--rdap-base" => s.rdap_base = value(),
                "--connect-to" => s.connect_to.push(value()),
                _ => continue,
            }
            it.next();
        }
        s
    }
}

fn agent_config(
    code: &str,
    targets: &[String],
    d: &DomainSettings,
    root: &Path,
    url: &str,
) -> String {
    format!(
        "# {code}'s agent (written by posture-system)\norganisation = \"{code}\"\ntargets = [{targets}]\n\n\
         [dns]\nresolvers = [\"{resolver}\"]\nnameserver_port = {ns_port}\n\n\
         [mail]\ndkim_selectors = [\"{selector}\"]\n\n\
         [registration]\nrdap_base = \"{rdap}\"\n\n\
         [tls]\nca_file = \"{root}\"\n\n\
         [collector]\nurl = \"{url}\"\nenrol_secret_file = \"{code}.secret\"\nkey_file = \"{code}.key\"\n\n\
         [schedule]\ninterval = \"2m\"\njitter = \"10s\"\nheartbeat = \"30s\"\n\n\
         [spool]\ndir = \"{code}-state\"\n",
        targets = targets.join(", "),
        resolver = d.resolver,
        ns_port = d.nameserver_port,
        selector = d.dkim_selector,
        rdap = d.rdap_base,
        root = root.display(),
    )
}
