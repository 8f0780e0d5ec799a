//! The agent as a service (`posture-agent run`), as it is run: real processes on loopback. A
//! collector over HTTPS on SQLite, lab TLS servers as the targets, and the agent with its
//! configuration file, state directory and key file. The collector is away while the agent
//! scans; the agent is killed with work in its spool; its spool fills; its key is revoked;
//! its configuration is wrong. Each time nothing is lost and nothing is stored twice, or the
//! agent says why it cannot go on.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::{Running, RustlsServer};
use serde_json::Value;

use crate::collector::Collector;

const AGENT: &str = env!("CARGO_BIN_EXE_posture-agent-lab");

/// An agent's files: its configuration, state directory, key and enrolment secret.
struct AgentFiles {
    dir: TempDir,
    config: PathBuf,
    connect_to: Vec<String>,
}

impl AgentFiles {
    /// A configuration that scans `servers` (as `tls://www.a.test:PORT`) for RX1 and sends to
    /// `collector_url`, with `extra` TOML appended (a `[spool]` cap, say).
    fn new(
        pki: &Pki,
        collector_url: &str,
        secret: &str,
        servers: &[&Running],
        extra: &str,
    ) -> Self {
        let dir = TempDir::new("agent-service");
        dir.write("collector-ca.pem", pki.root_pem());
        dir.write("enrol.secret", format!("{secret}\n"));
        let targets: Vec<String> = servers
            .iter()
            .map(|s| format!("\"tls://www.a.test:{}\"", s.addr.port()))
            .collect();
        let connect_to = servers
            .iter()
            .map(|s| format!("www.a.test:{0}:127.0.0.1:{0}", s.addr.port()))
            .collect();
        let config = dir.write(
            "agent.toml",
            format!(
                "organisation = \"RX1\"\ntargets = [{}]\n\n[tls]\nca_file = \"collector-ca.pem\"\n\n\
                 [collector]\nurl = \"{collector_url}\"\nca_file = \"collector-ca.pem\"\n\
                 enrol_secret_file = \"enrol.secret\"\nkey_file = \"agent.key\"\nbatch = 2\n\n\
                 [schedule]\ninterval = \"1h\"\nheartbeat = \"1s\"\n\n[spool]\ndir = \"state\"\n{extra}",
                targets.join(", ")
            ),
        );
        AgentFiles {
            dir,
            config,
            connect_to,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(AGENT);
        c.args(args).arg("--config").arg(&self.config);
        c
    }

    /// `run` (with `--once` when `once`), its output to files in the scratch dir.
    fn spawn(&self, once: bool) -> Child {
        let mut c = self.command(&["run"]);
        if once {
            c.arg("--once");
        }
        for rule in &self.connect_to {
            c.args(["--connect-to", rule]);
        }
        // Each run's lines are added to the one log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .unwrap();
        c.stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// `status --json`.
    fn status(&self) -> Value {
        let o = self.command(&["status", "--json"]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Wait until `status` satisfies `done`.
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..300 {
            let s = self.status();
            if done(&s) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: {} / {}", self.status(), self.log());
    }
}

/// Wait for `child` to exit, up to `seconds`.
fn exit_of(child: &mut Child, seconds: u64) -> Option<i32> {
    for _ in 0..seconds * 10 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("still running after {seconds} s");
}

async fn lab_servers(pki: &Pki, n: usize) -> Vec<Running> {
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(
            RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.a.test"])))
                .start()
                .await,
        );
    }
    servers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_stored_twice_when_the_collector_is_away_or_the_agent_is_killed() {
    let pki = Pki::new();
    // The collector judges with its own edition of the standards (the shipped files with a
    // comment added), which its agents pull.
    let policies = TempDir::new("collector-policies");
    let shipped = posture_lab::repository_root().join("policies/standards");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            policies.write(
                path.file_name().unwrap().to_str().unwrap(),
                format!("# the national edition\n{text}"),
            );
        }
    }
    let mut c = Collector::start_on(
        &pki,
        &format!("[policy]\ndir = \"{}\"\n", policies.path().display()),
        true,
    );
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let national = c.admin(&["token", "create", "--national"]);
    let servers = lab_servers(&pki, 3).await;
    let refs: Vec<&Running> = servers.iter().collect();
    let metrics_port = posture_lab::servers::free_port();
    let agent = AgentFiles::new(
        &pki,
        &c.url,
        &secret,
        &refs,
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );

    // The collector is away for the whole round: every observation waits in the spool.
    c.stop();
    let mut run = agent.spawn(true);
    let waiting = agent.wait_for("three observations spooled", |s| {
        s["spool"]["observations"] == 3 && s["last_scan"] != "-"
    });
    assert!(
        waiting["collector_reachable"]
            .as_str()
            .unwrap()
            .starts_with("no: the collector cannot be reached"),
        "{waiting}"
    );
    assert_ne!(waiting["last_error"], "-", "{waiting}");
    // The agent's own metrics say so (promtool reads them).
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "posture_agent_targets_scanned_total 3",
        "posture_agent_spool_observations 3",
        "posture_agent_rounds_total 1",
        "posture_agent_scan_duration_seconds_count 3",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    posture_lab::promtool_check(&text).unwrap_or_else(|e| panic!("{e}"));
    // Back: the agent enrols, uploads the spool and (--once) exits.
    c.start_again();
    assert_eq!(exit_of(&mut run, 60), Some(0), "{}", agent.log());
    let key = std::fs::metadata(agent.dir.path().join("agent.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600,
        "the key file is the agent's user's only"
    );
    let store = c.store().await;
    assert_eq!(store.counts().await.unwrap().0, 3, "{}", agent.log());
    let after = agent.status();
    assert_eq!(after["spool"]["observations"], 0, "{after}");
    assert_eq!(after["collector_reachable"], "yes", "{after}");
    assert_ne!(after["last_upload"], "-");
    let (_, found) = c
        .get("/api/v1/findings?organisation=RX1&per_page=1000", &national)
        .await;
    for s in &servers {
        let target = format!("tls://www.a.test:{}", s.addr.port());
        assert!(
            found["items"].as_array().unwrap().iter().any(
                |f| f["target"]["host"] == "www.a.test" && f["target"]["port"] == s.addr.port()
            ),
            "no finding of {target}: {found}"
        );
    }

    // Killed (SIGKILL) with a round in its spool: started again, it uploads what it kept,
    // and the collector stores each observation once.
    c.stop();
    let mut run = agent.spawn(true);
    agent.wait_for("the second round spooled", |s| {
        s["spool"]["observations"] == 3
    });
    run.kill().unwrap();
    run.wait().unwrap();
    c.start_again();
    let mut run = agent.spawn(true);
    assert_eq!(exit_of(&mut run, 60), Some(0), "{}", agent.log());
    let store = c.store().await;
    assert_eq!(
        store.counts().await.unwrap().0,
        9,
        "three rounds of three targets, each observation once: {}",
        agent.log()
    );
    assert_eq!(agent.status()["spool"]["observations"], 0);
    // The agent pulled the collector's policy set, kept it, and judged its rounds with it.
    let (_, policy) = c.get("/api/v1/policy", &national).await;
    let digest = policy["digest"].as_str().unwrap();
    assert_ne!(
        digest,
        posture_policies::PolicySet::builtin().unwrap().digest(),
        "the collector's edition is its own"
    );
    let log = agent.log();
    assert!(
        log.contains(&format!("policy set {digest} from the collector")),
        "{log}"
    );
    assert!(
        log.contains(&format!("judged here with policy set {digest}: ")),
        "{log}"
    );
    assert!(agent.dir.path().join("state/policy.json").exists());
    // The heartbeat reached the collector.
    let (_, agents) = c.get("/api/v1/agents", &national).await;
    assert!(
        agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["last_seen"].is_string()
                && a["last_scan"].is_string()
                && a["spool_depth"].is_u64()),
        "the heartbeat says when the agent last scanned and what it has spooled: {agents}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_a_revoked_key_keeps_the_spool() {
    let pki = Pki::new();
    let c = Collector::start(&pki);
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let servers = lab_servers(&pki, 3).await;
    let refs: Vec<&Running> = servers.iter().collect();

    // A spool of 10 KiB, a collector that is nowhere: the scans go on, the oldest are dropped
    // and counted, the newest kept.
    let small = AgentFiles::new(
        &pki,
        "https://127.0.0.1:9",
        &secret,
        &refs,
        "max_mb = 0.01\n",
    );
    let mut run = small.spawn(false);
    let full = small.wait_for("a round over the cap", |s| s["last_scan"] != "-");
    assert!(full["spool"]["dropped"].as_u64().unwrap() >= 1, "{full}");
    assert!(
        full["spool"]["observations"].as_u64().unwrap() >= 1,
        "{full}"
    );
    assert!(
        full["spool"]["bytes"].as_u64().unwrap() <= 10 * 1024 || full["spool"]["observations"] == 1,
        "{full}"
    );
    assert!(small.log().contains("the spool is full"), "{}", small.log());
    terminate(&run);
    assert_eq!(exit_of(&mut run, 20), Some(0), "{}", small.log());

    // Enrolled, uploading; then its key and the secret are revoked: it says why, stops
    // uploading and keeps spooling.
    let agent = AgentFiles::new(&pki, &c.url, &secret, &refs, "");
    let mut run = agent.spawn(true);
    assert_eq!(exit_of(&mut run, 60), Some(0), "{}", agent.log());
    let listed = c.admin(&["agent", "list", "--org", "RX1"]);
    let id = listed.split('\t').next().unwrap().to_owned();
    c.admin(&["agent", "revoke", &id]);
    assert_eq!(c.admin(&["enrol-secret", "revoke", &secret]), "revoked");
    let mut run = agent.spawn(true);
    let code = exit_of(&mut run, 60);
    assert_eq!(code, Some(69), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains("ERROR: the collector refuses this agent's key"),
        "{log}"
    );
    let kept = agent.status();
    assert_eq!(kept["spool"]["observations"], 3, "{kept}");
    assert!(
        kept["last_error"].as_str().unwrap().contains("refuses"),
        "{kept}"
    );
}

/// SIGTERM to a child process.
fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_bad_service_configuration_exits_64_naming_the_key() {
    let dir = TempDir::new("agent-bad-config");
    let cases: [(&str, &str); 4] = [
        (
            "[collector]\nurl = \"https://c.example\"\nkey_file = \"k\"\nsecret = \"x\"\n",
            "collector",
        ),
        (
            "[collector]\nurl = \"ftp://c.example\"\nkey_file = \"k\"\n",
            "collector.url",
        ),
        (
            "[collector]\nurl = \"https://c.example\"\nkey_file = \"missing.key\"\n",
            "collector.key_file",
        ),
        ("targets = [\"example.nhs.uk\"]\n", "collector"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let file = dir.write(&format!("agent{i}.toml"), text);
        let o = Command::new(AGENT)
            .args(["run", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "{text}: {err}");
        assert!(
            err.contains(&format!("{}: {key}", file.display())),
            "{text}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reads_the_targets_file_again() {
    let pki = Pki::new();
    let c = Collector::start(&pki);
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let national = c.admin(&["token", "create", "--national"]);
    let servers = lab_servers(&pki, 2).await;
    let refs: Vec<&Running> = servers.iter().collect();
    let agent = AgentFiles::new(&pki, &c.url, &secret, &refs, "");
    // The targets come from a file (the first server only), rounds every two seconds.
    let first = format!("tls://www.a.test:{}", servers[0].addr.port());
    let second = format!("tls://www.a.test:{}", servers[1].addr.port());
    agent
        .dir
        .write("targets.txt", format!("# internal endpoints\n{first}\n"));
    let text = std::fs::read_to_string(&agent.config).unwrap();
    let start = text.find("targets = [").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let text = format!(
        "{}targets_file = \"targets.txt\"{}",
        &text[..start],
        &text[end..]
    )
    .replace("interval = \"1h\"", "interval = \"2s\"");
    std::fs::write(&agent.config, text).unwrap();
    let mut run = agent.spawn(false);
    let seen = |port: u16| {
        let c = &c;
        let national = national.clone();
        async move {
            let (_, found) = c
                .get("/api/v1/findings?organisation=RX1&per_page=1000", &national)
                .await;
            found["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["target"]["port"] == port)
        }
    };
    let mut first_seen = false;
    for _ in 0..100 {
        if seen(servers[0].addr.port()).await {
            first_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(first_seen, "{}", agent.log());
    assert!(!seen(servers[1].addr.port()).await);
    // The second server added to the file, then SIGHUP: the next rounds scan it too.
    agent
        .dir
        .write("targets.txt", format!("{first}\n{second}  # added\n"));
    let status = Command::new("kill")
        .args(["-HUP", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut second_seen = false;
    for _ in 0..150 {
        if seen(servers[1].addr.port()).await {
            second_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(second_seen, "{}", agent.log());
    assert!(
        agent
            .log()
            .contains("SIGHUP: the configuration was read again"),
        "{}",
        agent.log()
    );
    terminate(&run);
    assert_eq!(exit_of(&mut run, 20), Some(0), "{}", agent.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_scanned_on_its_own_interval_and_a_collector_away_mid_run_loses_nothing() {
    let pki = Pki::new();
    let mut c = Collector::start(&pki);
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let servers = lab_servers(&pki, 2).await;
    // The first server in `targets` (every hour), the second in a group every two seconds.
    let agent = AgentFiles::new(&pki, &c.url, &secret, &[&servers[0]], "");
    let mut text = std::fs::read_to_string(&agent.config).unwrap();
    text.push_str(&format!(
        "\n[[group]]\nname = \"often\"\ninterval = \"2s\"\ntargets = [\"tls://www.a.test:{}\"]\n",
        servers[1].addr.port()
    ));
    std::fs::write(&agent.config, text).unwrap();
    let mut agent = agent;
    agent.connect_to.push(format!(
        "www.a.test:{0}:127.0.0.1:{0}",
        servers[1].addr.port()
    ));
    let mut run = agent.spawn(false);
    let store = c.store().await;
    let mut rounds = 0;
    for _ in 0..150 {
        rounds = agent.log().matches("round finished (often)").count();
        if rounds >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(rounds >= 3, "{}", agent.log());
    assert_eq!(
        agent.log().matches("round finished (default)").count(),
        1,
        "{}",
        agent.log()
    );
    drop(store);
    // The collector goes away while the rounds go on, and comes back: what was made meanwhile
    // waits in the spool, then arrives, each observation once.
    c.stop();
    agent.wait_for("rounds spooled while the collector is away", |s| {
        s["spool"]["observations"].as_u64().unwrap() >= 2
    });
    c.start_again();
    agent.wait_for("the spool uploaded", |s| {
        s["spool"]["observations"] == 0 && s["last_error"] == "-"
    });
    terminate(&run);
    assert_eq!(exit_of(&mut run, 20), Some(0), "{}", agent.log());
    let left = agent.status()["spool"]["observations"].as_u64().unwrap();
    let made = agent.log().matches("round finished").count() as u64;
    let stored = c.store().await.counts().await.unwrap().0 as u64;
    // Each round made one observation; a round cut short by SIGTERM made none. What is not in
    // the spool is stored, once.
    assert!(made >= 5, "{made}: {}", agent.log());
    assert!(
        stored + left == made || stored + left == made + 1,
        "stored {stored} + left {left} against {made} rounds: {}",
        agent.log()
    );
    assert!(
        agent.status()["next_scan"]
            .as_str()
            .unwrap()
            .ends_with("(often)"),
        "{}",
        agent.status()
    );
}

/// A TCP relay to `target` whose answers (server to client) can be held back: each chunk waits
/// `delay_ms` before it is passed on.
async fn relay(
    target: std::net::SocketAddr,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        delay_ms: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    ) {
        let mut buf = vec![0u8; 16384];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Some(d) = &delay_ms {
                let ms = d.load(std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pipe(cr, sw, None));
            tokio::spawn(pipe(sr, cw, Some(delay_ms.clone())));
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_collector_stored_a_batch_but_before_the_answer_nothing_is_stored_twice() {
    let pki = Pki::new();
    let c = Collector::start(&pki);
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let servers = lab_servers(&pki, 3).await;
    let refs: Vec<&Running> = servers.iter().collect();
    let port: u16 = c.url.rsplit(':').next().unwrap().parse().unwrap();
    let delay = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1000));
    let relayed = relay(([127, 0, 0, 1], port).into(), delay.clone()).await;
    // The agent reaches the collector through the relay, whose answers arrive late (a second
    // a chunk: the policy set it pulls first takes a while).
    let metrics_port = posture_lab::servers::free_port();
    let agent = AgentFiles::new(
        &pki,
        &format!("https://localhost:{relayed}"),
        &secret,
        &refs,
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );
    let mut run = agent.spawn(true);
    let store = c.store().await;
    // The spool's depth, from the agent's own metrics (local: not through the relay).
    let spooled = || async {
        let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("posture_agent_spool_observations "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    // Wait until the collector holds an observation the agent has not seen acknowledged (its
    // answer is still in the relay), then SIGKILL the agent.
    let mut caught = None;
    for _ in 0..1200 {
        let stored = store.counts().await.unwrap().0 as u64;
        let Some(waiting) = spooled().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if waiting > 0 && stored > 3 - waiting {
            caught = Some((stored, waiting));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let (stored, waiting) = caught.unwrap_or_else(|| panic!("{}", agent.log()));
    assert!(
        stored + waiting > 3,
        "stored {stored}, still spooled {waiting}"
    );
    let first_run = agent.log().len();
    // Started again (answers on time now): the batch is sent again, recognised, stored once.
    delay.store(0, std::sync::atomic::Ordering::SeqCst);
    let mut run = agent.spawn(true);
    assert_eq!(exit_of(&mut run, 60), Some(0), "{}", agent.log());
    let store = c.store().await;
    let log = agent.log();
    // Three from the first run; the second run's own round adds three more: none twice.
    assert_eq!(store.counts().await.unwrap().0, 6, "{log}");
    // The observations stored but not acknowledged were sent again and recognised.
    let had: u64 = log[first_run..]
        .lines()
        .filter_map(|l| {
            l.split(" new, ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(had >= 1, "{log}");
    assert_eq!(agent.status()["spool"]["observations"], 0);
}

/// A tmpfs of `size` mounted on `dir` (this test runs as root, as CI does), unmounted when
/// dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "posture-spool",
            ])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a small tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(dir)
    }

    /// Fill it: a file written until the disk refuses.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).and_then(|()| f.flush()).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Issue 15, item 3: the spool's disk fills while the agent runs, with the collector away.
/// The agent does not stop: what the spool cannot take is held in memory and uploaded first
/// when the collector is back; once the disk has room the spool is written and emptied again.
/// Every observation reaches the collector once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_disk_holds_observations_in_memory_and_loses_none() {
    let pki = Pki::new();
    let mut c = Collector::start(&pki);
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let mut servers = lab_servers(&pki, 2).await;
    // A target that accepts and never speaks: its observation comes last, after the disk is
    // full.
    servers.push(posture_lab::servers::scripted(posture_lab::servers::Script::Silent).await);
    let refs: Vec<&Running> = servers.iter().collect();
    let agent = AgentFiles::new(
        &pki,
        &c.url,
        &secret,
        &refs,
        "\n[scan]\nread_timeout = 2\nconnect_timeout = 1\nbudget = 6\n",
    );
    let disk = SmallDisk::mount(agent.dir.path().join("state"), "2m");
    c.stop();
    let mut run = agent.spawn(true);
    agent.wait_for("the two quick observations spooled", |s| {
        s["spool"]["observations"] == 2
    });
    let filler = disk.fill();
    for _ in 0..200 {
        if agent.log().contains("ERROR: the spool cannot be written") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = agent.log();
    assert!(
        log.contains("ERROR: the spool cannot be written")
            && log.contains("held in memory")
            && log.contains("full"),
        "{log}"
    );
    assert_eq!(run.try_wait().unwrap(), None, "still running: {log}");
    // The collector back: the held observation goes first, the spool after it, all while the
    // disk is still full.
    c.start_again();
    let store = c.store().await;
    for _ in 0..300 {
        if store.counts().await.unwrap().0 == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.counts().await.unwrap().0, 3, "{}", agent.log());
    // Room again: the spool is written and emptied, and the agent (--once) ends.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(exit_of(&mut run, 60), Some(0), "{}", agent.log());
    assert_eq!(agent.status()["spool"]["observations"], 0);
    assert_eq!(
        store.counts().await.unwrap().0,
        3,
        "each observation once: {}",
        agent.log()
    );
    drop(disk);
}
