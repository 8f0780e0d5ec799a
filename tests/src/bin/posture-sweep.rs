//! `posture-sweep`: the national sweep (issue 16) on loopback. N generated domains
//! (`d00000.test` ...), each its own zone on one lab nameserver (127.0.9.1:53), their websites
//! and mail servers spread over K loopback addresses (127.0.10.1 ..., ports 80, 443 and 25, so
//! it runs as root) in a mix of good and bad; scanned by one `posture-agent run --once` (this
//! program run again, under GNU time) into one collector on SQLite in this process. It prints
//! domains per second, the agent's peak memory and CPU share, connections per domain (counted
//! by the servers), and the servers' own ceiling: full TLS handshakes per second they can do at
//! all on this machine.
//!
//! Usage: posture-sweep [--domains N] [--addresses K] [--domains-at-once D]
//!                      [--max-connections C] [--ceiling-seconds S] [--max-seconds T]

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use posture_lab::load::arg;
use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::{ACCEPTED, Running, RustlsServer, smtp_server_at};
use posture_lab::web::{Handler, Reply, serve_at};
use tokio::time::Instant;

const NAMESERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 9, 1);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The agent is this program run again as `posture-sweep agent ARGS...`.
    if args.get(1).is_some_and(|a| a == "agent") {
        return posture_agent::main(
            std::iter::once(OsString::from("posture-agent")).chain(args.into_iter().skip(2)),
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posture-sweep: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(sweep()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posture-sweep: {e}");
            ExitCode::from(70)
        }
    }
}

fn number(name: &str, default: &str) -> Result<usize, String> {
    arg(name, default)
        .parse()
        .map_err(|_| format!("{name}: not a number"))
}

/// The address of the `i`th endpoint host.
fn host(i: usize) -> Ipv4Addr {
    let i = u8::try_from(i % 250).unwrap_or(0);
    Ipv4Addr::new(127, 0, 10, i + 1)
}

/// What kind of organisation runs the domains on host `i`: 0 well run, 1 lax mail policy,
/// 2 no DMARC, no STARTTLS and plain HTTP, 3 no mail at all and no HSTS.
fn kind(i: usize) -> usize {
    i % 4
}

/// The zone of domain `j` (its endpoints on host `j % hosts`).
fn zone(j: usize, hosts: usize) -> String {
    let name = format!("d{j:05}.test");
    let h = j % hosts;
    let ip = host(h);
    let mut z = format!(
        "$ORIGIN {name}.\n$TTL 300\n@ IN SOA ns1.{name}. hostmaster.{name}. 1 3600 600 86400 300\n\
         @ IN NS ns1.{name}.\nns1 IN A {NAMESERVER}\n@ IN A {ip}\nwww IN A {ip}\n"
    );
    let mail = match kind(h) {
        0 => {
            "@ IN MX 10 mx\nmx IN A IP\n@ IN TXT \"v=spf1 mx -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@NAME\"\n"
        }
        1 => {
            "@ IN MX 10 mx\nmx IN A IP\n@ IN TXT \"v=spf1 mx ~all\"\n_dmarc IN TXT \"v=DMARC1; p=none\"\n"
        }
        2 => "@ IN MX 10 mx\nmx IN A IP\n@ IN TXT \"v=spf1 mx -all\"\n",
        _ => "@ IN TXT \"v=spf1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n",
    };
    z.push_str(&mail.replace("IP", &ip.to_string()).replace("NAME", &name));
    z
}

/// The web and mail servers of host `i`: HTTPS on 443, HTTP on 80, SMTP on 25.
async fn host_servers(i: usize, leaf: &posture_lab::pki::Leaf) -> Vec<Running> {
    let ip = IpAddr::V4(host(i));
    let k = kind(i);
    let https: Handler = if k < 2 {
        Arc::new(|_| Reply::well_run("<p>a well-run site</p>"))
    } else {
        Arc::new(|_| Reply::ok("<p>a site</p>"))
    };
    let http: Handler = if k == 2 {
        Arc::new(|_| Reply::ok("<p>plain HTTP</p>"))
    } else {
        Arc::new(|s| Reply::redirect(301, &format!("https://{}{}", s.host, s.path)))
    };
    let starttls = (k < 2).then(|| RustlsServer::new(leaf).config());
    vec![
        serve_at(SocketAddr::new(ip, 443), Some(leaf), https).await,
        serve_at(SocketAddr::new(ip, 80), None, http).await,
        smtp_server_at(SocketAddr::new(ip, 25), starttls).await,
    ]
}

async fn sweep() -> Result<(), String> {
    let domains = number("--domains", "10000")?;
    let hosts = number("--addresses", "16")?.clamp(1, 250);
    let at_once = number("--domains-at-once", "32")?;
    let max_connections = number("--max-connections", "64")?;
    let ceiling_seconds = number("--ceiling-seconds", "10")?;
    let max_seconds = number("--max-seconds", "1800")?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let pki = Pki::new();
    let dir = TempDir::new("sweep");
    let leaf = pki.leaf(&LeafSpec::valid(&["*.test", "ceiling.test"]));
    let root = dir.write("root.pem", pki.root_pem());

    let started = Instant::now();
    let mut servers = Vec::new();
    for i in 0..hosts {
        servers.extend(host_servers(i, &leaf).await);
    }
    let zones: Vec<String> = (0..domains).map(|j| zone(j, hosts)).collect();
    let refs: Vec<&str> = zones.iter().map(String::as_str).collect();
    let dns =
        posture_lab::dns::serve_on(SocketAddr::new(NAMESERVER.into(), 53), &refs, false).await;
    drop(zones);

    let e = |e: posture_collector::Error| e.to_string();
    let collector = posture_lab::demo::LocalCollector::start(dir.path()).await?;
    let store = collector.store.clone();
    enrol_organisation(&store, domains, &dir).await?;
    let targets: Vec<String> = (0..domains).map(|j| format!("\"d{j:05}.test\"")).collect();
    let config = dir.write(
        "agent.toml",
        format!(
            "organisation = \"SWP\"\ntargets = [{}]\n\n[scan]\ndomains_at_once = {at_once}\nmax_connections = {max_connections}\n\n\
             [dns]\nresolvers = [\"{NAMESERVER}:53\"]\nnameserver_port = 53\n\n[tls]\nca_file = \"{}\"\n\n\
             [collector]\nurl = \"{}\"\nenrol_secret_file = \"SWP.secret\"\nkey_file = \"SWP.key\"\nbatch = 100\n\n\
             [schedule]\ninterval = \"24h\"\nheartbeat = \"60s\"\n\n[spool]\ndir = \"state\"\n",
            targets.join(", "),
            root.display(),
            collector.url,
        ),
    );
    eprintln!(
        "posture-sweep: {domains} domains, {hosts} hosts, lab ready in {:.1} s; the agent starts",
        started.elapsed().as_secs_f64()
    );

    let before = ACCEPTED.load(Ordering::Relaxed);
    let run = run_agent(&dir, &config, max_seconds).await?;
    let (wall, user_system, peak_kib) = (run.wall, run.cpu, run.peak_kib);
    let status = run.status;
    let connections = ACCEPTED.load(Ordering::Relaxed) - before;
    let (observations, findings) = store.counts().await.map_err(e)?;
    let ceiling = handshake_ceiling(&pki, hosts, ceiling_seconds).await?;
    let per_second = connections as f64 / wall;
    println!(
        "sweep: {domains} domains in {wall:.1} s ({:.1} domains/s), agent exit {:?}\n\
         agent: peak memory {:.0} MiB, CPU {:.1} s ({:.0}% of {cores} cores)\n\
         connections: {connections} counted by the servers ({:.1} per domain, {per_second:.0}/s)\n\
         collector: {observations} observations, {findings} findings stored\n\
         lab ceiling: {ceiling:.0} full TLS handshakes/s with {hosts} hosts (64 clients, {ceiling_seconds} s); the sweep's connections/s are {:.0}% of it",
        domains as f64 / wall,
        status.code(),
        peak_kib / 1024.0,
        user_system,
        user_system / wall / cores as f64 * 100.0,
        connections as f64 / domains as f64,
        per_second / ceiling * 100.0,
    );
    drop(servers);
    drop(dns);
    collector.stop().await?;
    if !status.success() {
        return Err(format!(
            "the agent failed (log: {})",
            dir.path().join("agent.log").display()
        ));
    }
    Ok(())
}

/// The sweep's organisation: its domains, and the secret its agent enrols with (in `dir`).
async fn enrol_organisation(
    store: &posture_collector::store::Store,
    domains: usize,
    dir: &TempDir,
) -> Result<(), String> {
    let e = |e: posture_collector::Error| e.to_string();
    store
        .add_organisation("SWP", "Sweep Trust", 0)
        .await
        .map_err(e)?;
    for j in 0..domains {
        store
            .add_domain(&format!("d{j:05}.test"), "SWP")
            .await
            .map_err(e)?;
    }
    let secret = posture_collector::auth::new_secret("pe_");
    store
        .add_enrol_secret(&posture_collector::auth::hash(&secret), "SWP", 0)
        .await
        .map_err(e)?;
    dir.write("SWP.secret", &secret);
    Ok(())
}

/// What one `posture-agent run --once` under GNU time did.
struct AgentRun {
    status: std::process::ExitStatus,
    wall: f64,
    /// User and system CPU seconds.
    cpu: f64,
    peak_kib: f64,
}

/// Run the agent (this program again) with `config` under GNU time, its log in `dir`; killed
/// after `max_seconds`.
async fn run_agent(
    dir: &TempDir,
    config: &std::path::Path,
    max_seconds: usize,
) -> Result<AgentRun, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let time_file = dir.path().join("time");
    let log_path = dir.path().join("agent.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&time_file)
        .arg(&exe)
        .args(["agent", "run", "--once", "--config"])
        .arg(config)
        .env("POSTURE_NO_SYSTEM_DNS", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("/usr/bin/time: {e}"))?;
    let limit = Duration::from_secs(u64::try_from(max_seconds).unwrap_or(1800));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            return Err(format!(
                "the agent did not finish in {max_seconds} s (log: {})",
                log_path.display()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let times = std::fs::read_to_string(&time_file).map_err(|e| e.to_string())?;
    let fields: Vec<f64> = times
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [_, user, system, peak_kib] = fields.as_slice() else {
        return Err(format!("GNU time said {times:?}"));
    };
    Ok(AgentRun {
        status,
        wall,
        cpu: user + system,
        peak_kib: *peak_kib,
    })
}

/// Full TLS handshakes per second the sweep's HTTPS servers can do at all on this machine: 64
/// clients in this process, each connecting, handshaking and closing in a loop for `seconds`.
async fn handshake_ceiling(pki: &Pki, hosts: usize, seconds: usize) -> Result<f64, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(pki.root_der()))
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(u64::try_from(seconds).unwrap_or(10));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..64 {
        let (connector, done) = (connector.clone(), done.clone());
        clients.spawn(async move {
            let mut n = c;
            while Instant::now() < until {
                let ip = host(n % hosts);
                n += 1;
                let name = rustls::pki_types::ServerName::try_from("ceiling.test")
                    .unwrap_or_else(|_| rustls::pki_types::ServerName::from(IpAddr::V4(ip)));
                // Connect and handshake within a second, so a stuck server cannot hold a
                // client past the measurement.
                let handshake = async {
                    let tcp = tokio::net::TcpStream::connect((ip, 443)).await.ok()?;
                    connector.connect(name, tcp).await.ok()
                };
                if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), handshake).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while clients.join_next().await.is_some() {}
    Ok(done.load(Ordering::Relaxed) as f64 / seconds as f64)
}
