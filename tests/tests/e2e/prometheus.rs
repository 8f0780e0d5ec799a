//! A real Prometheus (Debian's package) scrapes a running collector fed by lab scans, with
//! the shipped rules loaded. Its answers agree with the collector's API (the national score
//! and an organisation's), the certificate-expiry alert is pending for the lab's certificate
//! that expires in ten days, and every metric a shipped rule or dashboard queries is in the
//! live scrape.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use posture_lab::pki::{Pki, TempDir};
use serde_json::{Value, json};

use super::collector::{expired_a_minute_later, fed};
use super::shipped_files::queried_metrics;

struct Prometheus {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrape `collector` (`host:port`, HTTPS with the lab's root) every second and evaluate
    /// the shipped rules every second.
    fn start(collector: &str, root_pem: &str) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let ca = dir.write("root.pem", root_pem);
        let rules = posture_lab::repository_root().join("dashboards/prometheus/posture.rules.yml");
        let config = dir.write(
            "prometheus.yml",
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: posture-collector\n    scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n    static_configs:\n      - targets: ['{collector}']\n",
                rules.display(),
                ca.display()
            ),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's prometheus package; scripts/test.sh installs it)");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// An instant query's samples: (labels, value).
    async fn query(&self, client: &reqwest::Client, q: &str) -> Vec<(Value, f64)> {
        let Ok(r) = client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .send()
            .await
        else {
            return Vec::new();
        };
        let v: Value = r.json().await.unwrap_or_default();
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .unwrap_or("NaN")
                    .parse()
                    .unwrap_or(f64::NAN);
                (s["metric"].clone(), value)
            })
            .collect()
    }

    /// Wait (up to 60 s) for `q` to have a sample; its samples.
    async fn wait_for(&self, client: &reqwest::Client, q: &str) -> Vec<(Value, f64)> {
        for _ in 0..600 {
            let samples = self.query(client, q).await;
            if !samples.is_empty() {
                return samples;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus has no sample for {q} after 60 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_collector_and_agrees_with_its_api() {
    let pki = Pki::new();
    let fed = fed(&pki).await;
    let c = &fed.c;
    // A regression (RX1's certificate, observed again a minute later, has expired) and a
    // heartbeat with a spool depth, so every metric family has a series to show.
    let (key_a, report_a) = &fed.agents[0];
    let later = expired_a_minute_later(report_a, "prometheus-regression");
    let (status, body) = c
        .post_batch(
            key_a,
            serde_json::to_vec(&later).unwrap(),
            false,
            "regression",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let http = pki.client(true);
    let beat = http
        .post(format!("{}/api/v1/heartbeat", c.url))
        .bearer_auth(&fed.agents[1].0)
        .json(&json!({"version": "lab", "spool_depth": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(beat.status().as_u16(), 204);

    let port = c.url.rsplit(':').next().unwrap();
    let prometheus = Prometheus::start(&format!("127.0.0.1:{port}"), &pki.root_pem());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let up = prometheus
        .wait_for(&client, "up{job=\"posture-collector\"} == 1")
        .await;
    assert_eq!(up.len(), 1, "{up:?}");

    // The national score and RX2's, as Prometheus scraped them, equal the API's.
    let national = prometheus
        .wait_for(
            &client,
            "posture_national_compliance_score{standard=\"NCSC-TLS\"}",
        )
        .await;
    let (_, api) = c
        .get(
            "/api/v1/scores?level=national&standard=NCSC-TLS",
            &fed.national,
        )
        .await;
    let api_national = api["items"][0]["score"].as_f64().unwrap();
    assert!(
        (national[0].1 - api_national).abs() < 1e-9,
        "{national:?} vs {api}"
    );
    for org in ["RX1", "RX2"] {
        let scraped = prometheus
            .wait_for(
                &client,
                &format!(
                    "posture_compliance_score{{organisation=\"{org}\",standard=\"NCSC-TLS\"}}"
                ),
            )
            .await;
        let (_, api) = c
            .get(
                &format!("/api/v1/scores?level=organisation&organisation={org}&standard=NCSC-TLS"),
                &fed.national,
            )
            .await;
        let want = api["items"][0]["score"].as_f64().unwrap();
        assert!(
            (scraped[0].1 - want).abs() < 1e-9,
            "{org}: {scraped:?} vs {api}"
        );
    }
    // RX1's regression, as Prometheus has it.
    let failing = prometheus
        .wait_for(
            &client,
            "posture_failing_targets{organisation=\"RX1\",check=\"TLS-CERT-EXPIRED\"}",
        )
        .await;
    assert_eq!(failing[0].1, 1.0, "{failing:?}");
    let regressions = prometheus
        .wait_for(&client, "posture_regressions{organisation=\"RX1\"}")
        .await;
    assert!(regressions[0].1 >= 1.0, "{regressions:?}");

    // The certificate-expiry alert is pending (its `for` is an hour) for RX2's certificate,
    // and the expired one for RX1's.
    let mut alerts = Value::Null;
    let mut pending = Vec::new();
    for _ in 0..300 {
        alerts = client
            .get(format!("{}/api/v1/alerts", prometheus.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pending = alerts["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "pending")
            .map(|a| {
                format!(
                    "{} {} {}",
                    a["labels"]["alertname"].as_str().unwrap_or(""),
                    a["labels"]["organisation"].as_str().unwrap_or(""),
                    a["labels"]["target"].as_str().unwrap_or("")
                )
            })
            .collect();
        if pending.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        pending
            .iter()
            .any(|a| a.starts_with("PostureCertificateExpiringSoon RX2 tls://www.b.test:")),
        "{alerts}"
    );
    assert!(
        pending
            .iter()
            .any(|a| a.starts_with("PostureCertificateExpired RX1 tls://www.a.test:")),
        "{alerts}"
    );

    // Every metric the shipped rules and dashboards query is in the live scrape, and so is
    // every metric the collector says it exports.
    let scrape = http
        .get(format!("{}/metrics", c.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let live: std::collections::BTreeSet<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n)
        })
        .collect();
    for name in posture_collector::metrics::NAMES {
        assert!(
            live.contains(name),
            "{name} is not in the live scrape:\n{scrape}"
        );
    }
    let queried = queried_metrics();
    assert!(queried.len() >= 10, "{queried:?}");
    for (name, file) in &queried {
        assert!(
            live.contains(name.as_str()) || name.starts_with("posture:"),
            "{file} queries {name}, which the live scrape does not have"
        );
    }
}
