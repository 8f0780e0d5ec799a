//! The collector as it is run: real processes. A collector on SQLite over HTTPS (a lab
//! certificate), two organisations with their domains, enrolment secrets and agents; the
//! agent scans lab servers and `posture-collector submit` posts what it wrote; the API and
//! `/metrics` (checked by promtool) show the findings and scores. Tenancy, replays and bad
//! input each get the answer the issue asks for, and nothing stored before is lost.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::{Running, RustlsServer};
use serde_json::Value;

const COLLECTOR: &str = env!("CARGO_BIN_EXE_posture-collector-lab");
const AGENT: &str = env!("CARGO_BIN_EXE_posture-agent-lab");

/// A collector process on loopback, with its configuration and database in a scratch dir.
pub(crate) struct Collector {
    child: Child,
    pub(crate) url: String,
    config: PathBuf,
    client: reqwest::Client,
    port: String,
    dir: TempDir,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `posture-collector ARGS --config FILE`: its exit code, standard output and error.
fn admin(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(COLLECTOR)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

impl Collector {
    /// Set up two organisations (RX1 owns a.test, RX2 owns b.test) and serve over HTTPS.
    pub(crate) fn start(pki: &Pki) -> Collector {
        Collector::start_on(pki, "", true)
    }

    /// Serve over HTTPS with `database` (a `[database]` section, or none for SQLite in the
    /// scratch dir), setting up the organisations when `setup`.
    pub(crate) fn start_on(pki: &Pki, database: &str, setup: bool) -> Collector {
        let dir = TempDir::new("collector");
        let leaf = pki.leaf(&LeafSpec::valid(&["localhost"]));
        dir.write("cert.pem", leaf.full_chain_pem());
        dir.write("key.pem", &leaf.key_pem);
        let config = dir.write(
            "collector.toml",
            format!("[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nmax_body_bytes = 65536\n[log]\nformat = \"json\"\n{database}"),
        );
        let orgs: &[(&str, &str, &str)] = if setup {
            &[("RX1", "Trust A", "a.test"), ("RX2", "Trust B", "b.test")]
        } else {
            &[]
        };
        for (code, name, domain) in orgs {
            let (status, _, err) = admin(&config, &["org", "add", code, "--name", name]);
            assert_eq!(status, Some(0), "{err}");
            let (status, _, err) = admin(&config, &["domain", "add", domain, "--org", code]);
            assert_eq!(status, Some(0), "{err}");
        }
        let (child, port) = serve(&config);
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(pki.root_pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        Collector {
            child,
            url: format!("https://localhost:{port}"),
            config,
            client,
            port,
            dir,
        }
    }

    /// Stop the process (SIGKILL), as a crash or a network cut would.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its log (JSON lines).
    pub(crate) fn log(&self) -> PathBuf {
        self.config.with_file_name("collector.log")
    }

    /// Stop the process as a service manager would (SIGTERM), and wait for it to exit.
    pub(crate) fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Serve again on the same port and database.
    pub(crate) fn start_again(&mut self) {
        let text = std::fs::read_to_string(&self.config).unwrap().replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{}\"", self.port),
        );
        std::fs::write(&self.config, text).unwrap();
        let (child, port) = serve(&self.config);
        assert_eq!(port, self.port);
        self.child = child;
    }

    /// The store, opened beside the process (SQLite in the scratch dir).
    pub(crate) async fn store(&self) -> posture_collector::store::Store {
        let url = format!("sqlite://{}", self.dir.path().join("posture.db").display());
        posture_collector::store::Store::connect(&url, 1)
            .await
            .unwrap()
    }

    pub(crate) fn admin(&self, args: &[&str]) -> String {
        let (status, out, err) = admin(&self.config, args);
        assert_eq!(status, Some(0), "{args:?}: {err}");
        out
    }

    pub(crate) async fn enrol(&self, secret: &str) -> (u16, Value) {
        self.enrol_named(secret, "lab agent").await
    }

    pub(crate) async fn enrol_named(&self, secret: &str, name: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/enroll", self.url))
            .json(&serde_json::json!({"secret": secret, "name": name}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// POST a raw batch body (already gzip when `gzip`).
    pub(crate) async fn post_batch(
        &self,
        key: &str,
        body: Vec<u8>,
        gzip: bool,
        idempotency: &str,
    ) -> (u16, Value) {
        let mut r = self
            .client
            .post(format!("{}/api/v1/observations", self.url))
            .bearer_auth(key)
            .header("idempotency-key", idempotency)
            .body(body);
        if gzip {
            r = r.header("content-encoding", "gzip");
        }
        let r = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST batch {idempotency}: {e:?}"));
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// `posture-collector submit FILE --key KEY`: exit code and what it printed.
    pub(crate) fn submit(&self, file: &Path, key: &str, ca: &Path) -> (Option<i32>, String) {
        let o = Command::new(COLLECTOR)
            .arg("submit")
            .arg(file)
            .args(["--key", key, "--url", &self.url, "--ca-file"])
            .arg(ca)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// `posture-collector serve --config FILE`: the process and the port it said it bound.
fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(COLLECTOR)
        .args(["serve", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound port is on standard error; the rest of it is drained so the pipe never
    // fills.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("the collector said where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("posture-collector: listening on https://127.0.0.1:")
        {
            break rest.trim().to_owned();
        }
    };
    // The rest of its log goes to collector.log beside the configuration, for a failed
    // test's post-mortem.
    let log = config.with_file_name("collector.log");
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .ok();
        for line in lines.map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        }
    });
    (child, port)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Scan `https://www.DOMAIN:PORT` (routed to the lab server) with the agent; the JSON report.
pub(crate) fn scan(domain: &str, server: &Running, ca: &Path, out: &Path) -> Value {
    let port = server.addr.port();
    let host = format!("www.{domain}");
    scan_target(
        &format!("tls://{host}:{port}"),
        &["--connect-to", &format!("{host}:{port}:127.0.0.1:{port}")],
        ca,
        out,
    )
}

/// Scan `target` with the agent (and `extra` arguments); the JSON report.
pub(crate) fn scan_target(target: &str, extra: &[&str], ca: &Path, out: &Path) -> Value {
    let status = Command::new(AGENT)
        .args(["scan", target])
        .args(extra)
        .args(["--format", "json", "-q", "-o"])
        .arg(out)
        .arg("--ca-file")
        .arg(ca)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "{status}");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// The first observation of a scan report made again a minute later (as `id`), its leaf
/// certificate now expired (since 2020): TLS-CERT-EXPIRED, which passed, fails.
pub(crate) fn expired_a_minute_later(report: &Value, id: &str) -> Value {
    let mut later = report["observations"][0].clone();
    later["scan"]["id"] = id.into();
    let finished =
        chrono::DateTime::parse_from_rfc3339(later["scan"]["finished"].as_str().unwrap()).unwrap()
            + chrono::Duration::minutes(1);
    later["scan"]["finished"] = finished.to_rfc3339().into();
    later["tls"]["certificate"]["chain"][0]["not_after"] = "2020-01-01T00:00:00Z".into();
    later
}

/// A collector fed by lab scans, as the page and Prometheus tests need it: RX1's site
/// (`www.a.test`, a valid certificate) and RX2's (`www.b.test`, a certificate that expires in
/// ten days), each scanned by the agent and submitted with its organisation's agent key.
pub(crate) struct Fed {
    pub(crate) c: Collector,
    pub(crate) national: String,
    pub(crate) viewer_a: String,
    pub(crate) viewer_b: String,
    /// Each organisation's agent key and its scan report (RX1, RX2).
    pub(crate) agents: Vec<(String, Value)>,
    _scratch: TempDir,
}

pub(crate) async fn fed(pki: &Pki) -> Fed {
    let ca = pki.root_file();
    let c = Collector::start(pki);
    let scratch = TempDir::new("fed-scans");
    let a_server = RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.a.test"])))
        .start()
        .await;
    let mut expiring = LeafSpec::valid(&["www.b.test"]);
    expiring.not_after = chrono::Utc::now() + chrono::Duration::days(10);
    let b_server = RustlsServer::new(&pki.leaf(&expiring)).start().await;
    let mut agents = Vec::new();
    for (org, domain, server) in [("RX1", "a.test", &a_server), ("RX2", "b.test", &b_server)] {
        let file = scratch.path().join(format!("{domain}.json"));
        let report = scan(domain, server, &ca, &file);
        let secret = c.admin(&["enrol-secret", "create", "--org", org]);
        let (status, agent) = c.enrol(&secret).await;
        assert_eq!(status, 201, "{agent}");
        let key = agent["key"].as_str().unwrap().to_owned();
        let (code, out) = c.submit(&file, &key, &ca);
        assert_eq!(code, Some(0), "{out}");
        agents.push((key, report));
    }
    Fed {
        agents,
        national: c.admin(&["token", "create", "--national"]),
        viewer_a: c.admin(&["token", "create", "--org", "RX1"]),
        viewer_b: c.admin(&["token", "create", "--org", "RX2"]),
        c,
        _scratch: scratch,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_organisations_their_agents_and_what_the_collector_makes_of_them() {
    let pki = Pki::new();
    let ca = pki.root_file();
    let c = Collector::start(&pki);
    let scratch = TempDir::new("collector-scans");

    // Lab servers for each organisation's site.
    let a_server = RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.a.test"])))
        .start()
        .await;
    // RX2's certificate expires in ten days.
    let mut expiring = LeafSpec::valid(&["www.b.test"]);
    expiring.not_after = chrono::Utc::now() + chrono::Duration::days(10);
    let b_server = RustlsServer::new(&pki.leaf(&expiring)).start().await;
    let a_file = scratch.path().join("a.json");
    let b_file = scratch.path().join("b.json");
    let a_scan = scan("a.test", &a_server, &ca, &a_file);
    scan("b.test", &b_server, &ca, &b_file);
    let a_findings = a_scan["findings"].as_array().unwrap().len();
    assert!(a_findings > 10, "{a_scan}");

    // Enrolment: a secret per organisation, exchanged for an agent key; a wrong one is 401.
    let secret_a = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let secret_b = c.admin(&["enrol-secret", "create", "--org", "RX2"]);
    let (status, a) = c.enrol(&secret_a).await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["organisation"], "RX1");
    let key_a = a["key"].as_str().unwrap().to_owned();
    let (_, b) = c.enrol(&secret_b).await;
    let key_b = b["key"].as_str().unwrap().to_owned();
    let (status, wrong) = c.enrol("pe_not-a-secret").await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (401, Some("unauthorized")),
        "{wrong}"
    );
    let national = c.admin(&["token", "create", "--national"]);
    let viewer_a = c.admin(&["token", "create", "--org", "RX1"]);

    // RX1's scan, then the same batch again: counted as duplicates, nothing changes.
    let (code, out) = c.submit(&a_file, &key_a, &ca);
    assert_eq!(code, Some(0), "{out}");
    let first: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(first["accepted"], 1, "{first}");
    assert_eq!(first["duplicates"], 0);
    assert_eq!(
        first["findings"].as_u64().unwrap() as usize,
        a_findings,
        "the collector judged as the agent did"
    );
    let (code, out) = c.submit(&a_file, &key_a, &ca);
    assert_eq!(code, Some(0), "{out}");
    let again: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{again}"
    );

    // RX1's key may not write RX2's domain: 403, and nothing of the batch is stored.
    let (code, out) = c.submit(&b_file, &key_a, &ca);
    assert_eq!(code, Some(77), "{out}");
    assert!(
        out.contains("403") && out.contains("is not a target of organisation RX1"),
        "{out}"
    );
    let (_, rx2) = c.get("/api/v1/findings?organisation=RX2", &national).await;
    assert_eq!(rx2["total"], 0, "{rx2}");
    let (code, out) = c.submit(&b_file, &key_b, &ca);
    assert_eq!(code, Some(0), "{out}");

    // What the API shows: the collector's findings equal the agent's, scoped by token.
    let (status, all) = c.get("/api/v1/findings?per_page=1000", &national).await;
    assert_eq!(status, 200, "{all}");
    let agent_view: std::collections::BTreeSet<(String, String)> = a_scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let collector_view: std::collections::BTreeSet<(String, String)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["domain"] == "www.a.test")
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(collector_view, agent_view);
    let (_, mine) = c.get("/api/v1/findings?per_page=1000", &viewer_a).await;
    assert_eq!(
        mine["total"].as_u64().unwrap() as usize,
        a_findings,
        "{mine}"
    );
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["domain"] == "www.a.test")
    );
    let (status, refused) = c.get("/api/v1/findings?organisation=RX2", &viewer_a).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("forbidden")),
        "{refused}"
    );
    let (status, _) = c.get("/api/v1/findings", "pt_wrong").await;
    assert_eq!(status, 401);

    // Scores per organisation and standard, and nationally.
    let (_, orgs) = c
        .get(
            "/api/v1/scores?level=organisation&standard=NCSC-TLS",
            &national,
        )
        .await;
    let scored: Vec<&str> = orgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["organisation"].as_str().unwrap())
        .collect();
    assert_eq!(scored, ["RX1", "RX2"], "{orgs}");
    let (_, nat) = c
        .get("/api/v1/scores?level=national&standard=NCSC-TLS", &national)
        .await;
    assert_eq!(nat["total"], 1, "{nat}");
    let (status, _) = c.get("/api/v1/scores?level=national", &viewer_a).await;
    assert_eq!(status, 403);

    // A regression: RX1's endpoint observed a minute later with its certificate expired
    // (the recorded scan, edited): TLS-CERT-EXPIRED passed and now fails.
    let later = expired_a_minute_later(&a_scan, "regression-1");
    let (status, outcome) = c
        .post_batch(
            &key_a,
            gzip(serde_json::to_string(&later).unwrap().as_bytes()),
            true,
            "regression",
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    let (status, regressed) = c.get("/api/v1/regressions", &viewer_a).await;
    assert_eq!(status, 200, "{regressed}");
    let checks: Vec<&str> = regressed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"TLS-CERT-EXPIRED"), "{regressed}");
    assert!(
        regressed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["from"] != "fail" && r["to"] == "fail" && r["organisation"] == "RX1"),
        "{regressed}"
    );
    let (_, none) = c
        .get("/api/v1/regressions?since=2999-01-01T00:00:00Z", &national)
        .await;
    assert_eq!(none["total"], 0, "{none}");
    let (status, _) = c
        .get("/api/v1/regressions?organisation=RX2", &viewer_a)
        .await;
    assert_eq!(status, 403);
    let (status, bad) = c
        .get("/api/v1/regressions?since=yesterday", &national)
        .await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("bad_request")),
        "{bad}"
    );
    let (_, fresh) = c.get("/api/v1/findings?per_page=1000", &viewer_a).await;
    assert!(
        fresh["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["stale"] == false),
        "just scanned: nothing is stale"
    );

    // /metrics: the text format as promtool reads it, with the scores and counters.
    let metrics = c.metrics().await;
    posture_lab::promtool_check(&metrics).unwrap_or_else(|e| panic!("{e}"));
    for line in [
        "posture_compliance_score{organisation=\"RX1\",standard=\"NCSC-TLS\"}",
        "posture_compliance_score{organisation=\"RX2\",standard=\"NCSC-TLS\"}",
        "posture_national_compliance_score{standard=\"NCSC-TLS\"}",
        "posture_observations_ingested_total 3",
        "posture_observations_duplicate_total 1",
        "posture_batches_rejected_total{reason=\"forbidden\"} 1",
        "posture_agents{organisation=\"RX1\",state=\"live\"} 1",
        // The protocol mix: each lab server speaks TLS 1.2 and 1.3 only.
        "posture_tls_endpoints{organisation=\"RX1\",protocol=\"TLSv1.3\"} 1",
        "posture_tls_endpoints{organisation=\"RX2\",protocol=\"TLSv1.2\"} 1",
        "posture_certificates_expiring{organisation=\"RX1\"} 1",
        "posture_certificates_expiring{organisation=\"RX2\"} 1",
        "posture_regressions{organisation=\"RX1\"} ",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(!metrics.contains("protocol=\"TLSv1.0\""), "{metrics}");
    // The one exception series names the targets whose certificates expire soonest, and
    // when: RX1's expired one (the edited observation), RX2's in ten days.
    let expiry: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("posture_certificate_expiry_timestamp_seconds{"))
        .collect();
    assert_eq!(expiry.len(), 2, "{metrics}");
    assert!(
        expiry[0].contains("organisation=\"RX1\",target=\"tls://www.a.test:")
            && expiry[0].ends_with(" 1577836800"),
        "{expiry:?}"
    );
    assert!(
        expiry[1].contains("organisation=\"RX2\",target=\"tls://www.b.test:"),
        "{expiry:?}"
    );
    let at: f64 = expiry[1].rsplit(' ').next().unwrap().parse().unwrap();
    let in_days = (at - chrono::Utc::now().timestamp() as f64) / 86_400.0;
    assert!(
        (9.0..=10.5).contains(&in_days),
        "{in_days} days: {expiry:?}"
    );
    assert!(
        metrics
            .lines()
            .filter(|l| l.contains(".test"))
            .all(|l| l.starts_with("posture_certificate_expiry_timestamp_seconds{")),
        "no domain is a label outside the capped exception series: {metrics}"
    );

    // Bad input: each a 4xx with a JSON body naming the problem.
    let line = serde_json::to_string(&a_scan["observations"][0]).unwrap();
    let (status, e) = c
        .post_batch(
            &key_a,
            gzip(b"{\"schema\": \"posture/v1\", \"target\": "),
            true,
            "bad-json",
        )
        .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("bad_request")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().starts_with("line 1:"), "{e}");
    let whole = gzip(line.as_bytes());
    let (status, e) = c
        .post_batch(&key_a, whole[..whole.len() / 2].to_vec(), true, "truncated")
        .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("bad_request")),
        "{e}"
    );
    // Just over the 64 KiB limit: the collector answers 413 once it has read 64 KiB and then
    // closes; a body much larger than that would still be being written by the client then
    // (a broken pipe instead of the answer: nothing is stored either way).
    let big: Vec<u8> = (0..70_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (status, e) = c.post_batch(&key_a, big, false, "big").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (413, Some("too_large")),
        "{e}"
    );
    let v9 = line.replace("\"posture/v1\"", "\"posture/v9\"");
    let (status, e) = c.post_batch(&key_a, gzip(v9.as_bytes()), true, "v9").await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("posture/v"), "{e}");
    let (status, e) = c
        .post_batch("pa_wrong", gzip(line.as_bytes()), true, "wrong-key")
        .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("unauthorized")),
        "{e}"
    );
    let agents = c.admin(&["agent", "list", "--org", "RX1"]);
    let id = agents.split('\t').next().unwrap().to_owned();
    c.admin(&["agent", "revoke", &id]);
    let (status, e) = c
        .post_batch(&key_a, gzip(line.as_bytes()), true, "revoked")
        .await;
    assert_eq!(
        (status, e["message"].as_str()),
        (401, Some("this agent key was revoked")),
        "{e}"
    );
    // What was stored before is intact.
    let (_, after) = c.get("/api/v1/findings?per_page=1000", &national).await;
    assert_eq!(after["total"], all["total"]);

    // An internal endpoint by address: refused until it is registered to RX2, then its
    // findings are RX2's, scored under its address.
    let ip_file = scratch.path().join("ip.json");
    let port = b_server.addr.port();
    let ip_scan = scan_target(&format!("tls://127.0.0.1:{port}"), &[], &ca, &ip_file);
    let ip_findings = ip_scan["findings"].as_array().unwrap().len();
    let (code, out) = c.submit(&ip_file, &key_b, &ca);
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("403"), "{out}");
    c.admin(&[
        "endpoint",
        "add",
        &format!("127.0.0.1:{}", port + 1),
        "--org",
        "RX2",
    ]);
    let (code, out) = c.submit(&ip_file, &key_b, &ca);
    assert_eq!(
        code,
        Some(77),
        "another port of the address is not registered: {out}"
    );
    c.admin(&[
        "endpoint",
        "add",
        &format!("127.0.0.1:{port}"),
        "--org",
        "RX2",
    ]);
    assert!(
        c.admin(&["endpoint", "list", "--org", "RX2"])
            .contains(&format!("127.0.0.1:{port}\tRX2"))
    );
    let (code, out) = c.submit(&ip_file, &key_b, &ca);
    assert_eq!(code, Some(0), "{out}");
    let (_, ip) = c
        .get("/api/v1/findings?organisation=RX2&per_page=1000", &national)
        .await;
    let under_ip = ip["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["domain"] == "127.0.0.1")
        .count();
    assert_eq!(under_ip, ip_findings, "{ip}");
    let (_, theirs) = c.get("/api/v1/findings?per_page=1000", &viewer_a).await;
    assert!(
        theirs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["domain"] == "www.a.test"),
        "RX1's viewer does not see RX2's endpoint"
    );
}

/// `psql -c SQL` against the lab's PostgreSQL (database `test`).
pub(crate) fn psql(sql: &str) {
    let o = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (PostgreSQL's client)");
    assert!(
        o.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Two collector processes on one PostgreSQL database: the same batches posted to both at
/// once are stored once (counted once as accepted, once as duplicates), and both serve the
/// same findings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_on_one_postgresql_store_each_observation_once() {
    let name = format!("posture_e2e_replicas_{}", std::process::id());
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let database = format!("[database]\nurl = \"postgres://postgres@127.0.0.1:5432/{name}\"\n");
    let pki = Pki::new();
    let ca = pki.root_file();
    let one = Collector::start_on(&pki, &database, true);
    let two = Collector::start_on(&pki, &database, false);
    let scratch = TempDir::new("replica-scans");
    let server = RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.a.test"])))
        .start()
        .await;
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            let f = scratch.path().join(format!("a{i}.json"));
            scan("a.test", &server, &ca, &f);
            f
        })
        .collect();
    let secret = one.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let (_, enrolled) = two.enrol(&secret).await;
    let key = enrolled["key"].as_str().unwrap().to_owned();
    // Each file to both collectors at once.
    let mut runs = Vec::new();
    for f in &files {
        for c in [&one, &two] {
            let (f, key, ca, url) = (f.clone(), key.clone(), ca.clone(), c.url.clone());
            runs.push(std::thread::spawn(move || {
                let o = Command::new(COLLECTOR)
                    .arg("submit")
                    .arg(&f)
                    .args(["--key", &key, "--url", &url, "--ca-file"])
                    .arg(&ca)
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                serde_json::from_slice::<Value>(&o.stdout).unwrap()
            }));
        }
    }
    let outcomes: Vec<Value> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    let sum = |k: &str| outcomes.iter().map(|o| o[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("accepted"), sum("duplicates")), (4, 4), "{outcomes:?}");
    let national = one.admin(&["token", "create", "--national"]);
    let (_, a) = one.get("/api/v1/findings?per_page=1000", &national).await;
    let (_, b) = two.get("/api/v1/findings?per_page=1000", &national).await;
    assert_eq!(a, b);
    assert!(a["total"].as_u64().unwrap() > 10, "{a}");
    let metrics = format!("{}{}", one.metrics().await, two.metrics().await);
    let ingested: u64 = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("posture_observations_ingested_total "))
        .map(|v| v.trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(ingested, 4, "{metrics}");
    drop((one, two));
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// SIGTERM while a batch is still arriving: the collector stops accepting, finishes that
/// request (stored, 200), then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TempDir::new("collector-drain");
    let config = dir.write(
        "collector.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\nplain_http = true\n",
    );
    admin(&config, &["org", "add", "RX1", "--name", "Trust A"]);
    admin(
        &config,
        &["domain", "add", "weak-trust.example", "--org", "RX1"],
    );
    let (_, secret, _) = admin(&config, &["enrol-secret", "create", "--org", "RX1"]);
    let mut child = Command::new(COLLECTOR)
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the collector said where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("posture-collector: listening on http://") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let enrolled: Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/enroll"))
        .json(&serde_json::json!({"secret": secret, "name": "drain"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = enrolled["key"].as_str().unwrap();
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/weak-domain.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut observation = example["observations"][0].clone();
    observation["scan"]["id"] = "drain-1".into();
    let body = format!("{observation}\n");
    let head = format!(
        "POST /api/v1/observations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: drain\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    tcp.write_all(rest).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
