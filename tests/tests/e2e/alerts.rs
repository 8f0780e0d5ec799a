//! Alerts to owners, end to end: two collector processes on one PostgreSQL database, a real
//! SMTP server (aiosmtpd, with STARTTLS) and a webhook receiver on loopback, lab scans posted
//! by agents' keys. A certificate that expires in ten days and a domain whose DMARC policy
//! goes from reject to none each produce exactly one message to the right owner with the fix
//! in it (a collector restarted in between, the SMTP server down for a while); an
//! acknowledged failure gets no reminder while others do; fixing both produces exactly one
//! resolution each. Contacts for a domain hear of it instead of the organisation's default;
//! a chat webhook gets the text, a JSON webhook the payload, and a real Alertmanager (Debian's)
//! holds the failure as an active alert until the fix ends it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::RustlsServer;
use serde_json::Value;

use super::collector::{Collector, scan_target};

/// aiosmtpd on 127.0.0.1:`port` with STARTTLS and authentication required, keeping each
/// message in a Maildir.
struct Smtpd {
    child: Option<Child>,
    port: u16,
    maildir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn python() -> String {
    std::env::var("POSTURE_AIOSMTPD_PYTHON")
        .unwrap_or_else(|_| "/opt/posture-venvs/aiosmtpd/bin/python".into())
}

impl Smtpd {
    fn start(&mut self) {
        // aiosmtpd's controller: STARTTLS required, then AUTH (LOGIN or PLAIN) as
        // posture / the lab's password, each message kept in a Maildir.
        let script = "import signal, ssl, sys\n\
            from aiosmtpd.controller import Controller\n\
            from aiosmtpd.handlers import Mailbox\n\
            from aiosmtpd.smtp import AuthResult, LoginPassword\n\
            port, cert, key, maildir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]\n\
            def check(server, session, envelope, mechanism, data):\n\
            \x20   return AuthResult(success=isinstance(data, LoginPassword) and data.login == b'posture' and data.password == b'lab-password')\n\
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)\n\
            tls.load_cert_chain(cert, key)\n\
            c = Controller(Mailbox(maildir), hostname='127.0.0.1', port=port, server_hostname='localhost', ready_timeout=10,\n\
            \x20   tls_context=tls, require_starttls=True, authenticator=check, auth_required=True, auth_require_tls=True)\n\
            c.start()\n\
            signal.sigwait([signal.SIGTERM, signal.SIGINT])\n\
            c.stop()\n";
        let child = Command::new(python())
            .args(["-c", script])
            .arg(self.port.to_string())
            .arg(&self.cert)
            .arg(&self.key)
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (pip install aiosmtpd; scripts/test.sh does)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("aiosmtpd did not listen on {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every message received: to, subject and the plain-text part (decoded by Python's
    /// email package).
    fn messages(&self) -> Vec<Value> {
        let script = "import mailbox, json, sys\n\
            out = []\n\
            for m in mailbox.Maildir(sys.argv[1], create=False):\n\
            \x20   text = ''\n\
            \x20   for part in m.walk():\n\
            \x20       if part.get_content_type() == 'text/plain':\n\
            \x20           text = part.get_payload(decode=True).decode('utf-8')\n\
            \x20   out.append({'to': m['To'], 'subject': m['Subject'], 'text': text})\n\
            print(json.dumps(out))\n";
        if !self.maildir.join("new").is_dir() {
            return Vec::new();
        }
        let o = Command::new(python())
            .args(["-c", script])
            .arg(&self.maildir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's Alertmanager on 127.0.0.1:`port` (clustering off), routing everything to a
/// receiver that sends nothing: the alerts are read back from its API.
struct Alertmanager {
    child: Child,
    url: String,
}

impl Alertmanager {
    fn start(dir: &TempDir) -> Alertmanager {
        let port = free_port();
        let config = dir.write(
            "alertmanager.yml",
            "route:\n  receiver: lab\nreceivers:\n  - name: lab\n",
        );
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (Debian's package; scripts/test.sh installs it)");
        Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The alerts it holds as active, as (check, organisation, fix annotation).
    async fn active(&self) -> Vec<(String, String, String)> {
        let Ok(r) = reqwest::get(format!("{}/api/v2/alerts?active=true", self.url)).await else {
            return Vec::new();
        };
        let alerts: Value = r.json().await.unwrap_or_default();
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["status"]["state"] == "active")
            .map(|a| {
                let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
                (
                    s(&a["labels"]["check"]),
                    s(&a["labels"]["organisation"]),
                    s(&a["annotations"]["fix"]),
                )
            })
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many times `path` of the webhook receiver was told `reason` of `check`: items of the
/// JSON payload, or headings of a chat webhook's text.
fn hooked(received: &posture_lab::web::Received, path: &str, check: &str, reason: &str) -> usize {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, body)| {
            if path == "/chat" {
                let heading = match reason {
                    "resolved" => format!("FIXED: {check} "),
                    "regression" => format!("FAILING (was passing): {check} "),
                    _ => format!("FAILING: {check} "),
                };
                body["text"]
                    .as_str()
                    .unwrap_or("")
                    .matches(&heading)
                    .count()
            } else {
                body["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|i| i["check"] == check && i["reason"] == reason)
                    .count()
            }
        })
        .sum()
}

/// The first line of `check`'s fix in the built-in policy set.
fn fix(check: &str) -> String {
    posture_policies::PolicySet::builtin()
        .unwrap()
        .check(check)
        .unwrap()
        .remediation
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

/// The message about RX1's DMARC regression once a delivery of it was tried (and failed).
async fn pending_regression(one: &Collector, national: &str) -> Value {
    let mut pending = Value::Null;
    for _ in 0..100 {
        let (_, n) = one
            .get("/api/v1/notifications?domain=a.test", national)
            .await;
        pending = n;
        let waiting = pending["items"].as_array().unwrap().iter().any(|n| {
            n["delivery"] == "pending"
                && n["attempts"].as_i64().unwrap_or(0) > 0
                && n["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["check"] == "MAIL-DMARC-POLICY" && i["reason"] == "regression")
        });
        if waiting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dmarc_pending = pending["items"].as_array().unwrap().iter().find(|n| {
        n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["check"] == "MAIL-DMARC-POLICY")
    });
    dmarc_pending
        .cloned()
        .unwrap_or_else(|| panic!("{pending}"))
}

/// Follow the acknowledgement link for `check` in a message's `text` (its host replaced by
/// `collector`): the page asks, the form acknowledges; the same form with another episode's
/// time is refused.
async fn acknowledge_by_link(text: &str, check: &str, collector: &str, http: &reqwest::Client) {
    let link = text
        .lines()
        .filter_map(|l| l.split_once("Acknowledge (no more reminders until it changes): "))
        .map(|(_, url)| url.trim().to_owned())
        .find(|url| url.contains(check))
        .unwrap_or_else(|| panic!("no acknowledgement link: {text}"));
    let link = link.replace("https://collector.lab.test", collector);
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let query: Vec<(String, String)> = reqwest::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let acked = http
        .post(format!("{collector}/ui/ack"))
        .form(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status().as_u16(), 200);
    assert!(acked.text().await.unwrap().contains("Acknowledged"));
    let mut forged = query.clone();
    for (k, v) in &mut forged {
        if k == "since" {
            *v = "1".into();
        }
    }
    let refused = http
        .post(format!("{collector}/ui/ack"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        403,
        "a link altered does not acknowledge"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// How many messages to `to` say `heading`.
fn count(mails: &[Value], to: &str, heading: &str) -> usize {
    mails
        .iter()
        .filter(|m| m["to"].as_str().unwrap_or("").contains(to))
        .map(|m| m["text"].as_str().unwrap_or("").matches(heading).count())
        .sum()
}

/// Wait (up to 60 s) until `done` holds of the mail received; the mail then.
async fn wait_for_mail(smtpd: &Smtpd, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut mails = Vec::new();
    for _ in 0..300 {
        mails = smtpd.messages();
        if done(&mails) {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within 60 s; mail: {mails:#?}");
}

/// The zone of a.test, with DMARC policy `policy`.
fn zone(policy: &str) -> String {
    format!(
        "$ORIGIN a.test.\n$TTL 300\n@ IN SOA ns1.a.test. hostmaster.a.test. 1 3600 600 86400 300\n\
         @ IN NS ns1.a.test.\nns1 IN A 127.0.0.1\n@ IN MX 10 mx.a.test.\nmx IN A 127.0.0.1\n\
         @ IN TXT \"v=spf1 mx -all\"\n_dmarc IN TXT \"v=DMARC1; p={policy}; sp={policy}\"\n"
    )
}

/// Scan the domain a.test, its DNS served with DMARC `policy`; the report's file.
async fn scan_a(policy: &str, ca: &Path, dir: &TempDir, n: usize) -> PathBuf {
    let zone = zone(policy);
    let dns = posture_lab::dns::serve(&[&zone]).await;
    let out = dir.path().join(format!("a{n}.json"));
    let closed = free_port();
    scan_target(
        "a.test",
        &[
            "--resolver",
            &dns.addr.to_string(),
            "--nameserver-port",
            &dns.addr.port().to_string(),
            "--connect-to",
            &format!("::127.0.0.1:{closed}"),
        ],
        ca,
        &out,
    );
    out
}

/// Scan tls://www.b.test:443, routed to a lab server whose certificate expires in `days`.
async fn scan_b(pki: &Pki, days: i64, ca: &Path, dir: &TempDir, n: usize) -> PathBuf {
    let mut spec = LeafSpec::valid(&["www.b.test"]);
    spec.not_after = chrono::Utc::now() + chrono::Duration::days(days);
    let server = RustlsServer::new(&pki.leaf(&spec)).start().await;
    let out = dir.path().join(format!("b{n}.json"));
    scan_target(
        "tls://www.b.test:443",
        &[
            "--connect-to",
            &format!("www.b.test:443:127.0.0.1:{}", server.addr.port()),
        ],
        ca,
        &out,
    );
    out
}

fn submit(c: &Collector, file: &Path, key: &str, ca: &Path) {
    let (code, out) = c.submit(file, key, ca);
    assert_eq!(code, Some(0), "{out}");
}

/// The lab of the alert test: the collectors, the SMTP server, the webhook receiver, the
/// Alertmanager, the contacts and the agents' keys.
struct Lab {
    name: String,
    pki: Pki,
    ca: PathBuf,
    scratch: TempDir,
    smtpd: Smtpd,
    _hook: posture_lab::servers::Running,
    received: posture_lab::web::Received,
    alertmanager: Alertmanager,
    one: Collector,
    two: Collector,
    key_a: String,
    key_b: String,
}

impl Lab {
    async fn start() -> Lab {
        let name = format!("posture_e2e_alerts_{}", std::process::id());
        super::collector::psql(&format!("DROP DATABASE IF EXISTS {name}"));
        super::collector::psql(&format!("CREATE DATABASE {name}"));
        let pki = Pki::new();
        let ca = pki.root_file();
        let scratch = TempDir::new("alerts");
        let smtp_leaf = pki.leaf(&LeafSpec::valid(&["localhost"]));
        let mut smtpd = Smtpd {
            child: None,
            port: free_port(),
            maildir: scratch.path().join("maildir"),
            cert: scratch.write("smtp-cert.pem", smtp_leaf.full_chain_pem()),
            key: scratch.write("smtp-key.pem", &smtp_leaf.key_pem),
        };
        smtpd.start();
        let (hook, received) = posture_lab::web::webhook_receiver().await;
        let alertmanager = Alertmanager::start(&scratch);
        let extra = format!(
            "[database]\nurl = \"postgres://postgres@127.0.0.1:5432/{name}\"\n\
             [notify]\nbase_url = \"https://collector.lab.test\"\ninterval = \"1s\"\nquiet_after_start = \"0s\"\n\
             remind_every = \"15s\"\nretry_after = \"1s\"\n\
             [notify.smtp]\nhost = \"localhost\"\nport = {}\nfrom = \"posture <posture@lab.test>\"\nca_file = \"{}\"\n\
             username = \"posture\"\npassword_file = \"{}\"\n",
            smtpd.port,
            ca.display(),
            scratch.write("smtp-password", "lab-password\n").display()
        );
        let one = Collector::start_on(&pki, &extra, true);
        let two = Collector::start_on(&pki, &extra, false);
        // RX1: its default contacts, a mailbox and a JSON webhook. RX2: a default JSON webhook,
        // and for www.b.test its own mailbox and a chat webhook, which hear of www.b.test instead.
        let hook_url = |path: &str| format!("http://127.0.0.1:{}/{path}", hook.addr.port());
        for args in [
            vec!["--org", "RX1", "--email", "owner@a.test"],
            vec!["--org", "RX1", "--webhook", &hook_url("rx1")],
            vec!["--org", "RX2", "--webhook", &hook_url("rx2")],
            vec![
                "--org",
                "RX2",
                "--for",
                "www.b.test",
                "--email",
                "certs@b.test",
            ],
            vec![
                "--org",
                "RX2",
                "--for",
                "www.b.test",
                "--chat",
                &hook_url("chat"),
            ],
            vec![
                "--org",
                "RX2",
                "--for",
                "www.b.test",
                "--alertmanager",
                &alertmanager.url,
            ],
        ] {
            let mut full = vec!["contact", "add"];
            full.extend(args);
            one.admin(&full);
        }
        let key = |org: &str| one.admin(&["enrol-secret", "create", "--org", org]);
        let (_, a) = one.enrol(&key("RX1")).await;
        let (_, b) = two.enrol(&key("RX2")).await;
        let (key_a, key_b) = (
            a["key"].as_str().unwrap().to_owned(),
            b["key"].as_str().unwrap().to_owned(),
        );

        Lab {
            name,
            pki,
            ca,
            scratch,
            smtpd,
            _hook: hook,
            received,
            alertmanager,
            one,
            two,
            key_a,
            key_b,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_told_once_to_its_owner_with_the_fix_and_its_fix_once() {
    let Lab {
        name,
        pki,
        ca,
        scratch,
        mut smtpd,
        _hook,
        received,
        alertmanager,
        mut one,
        two,
        key_a,
        key_b,
    } = Lab::start().await;
    // First scans: RX2's certificate expires in ten days; RX1's DMARC is p=reject.
    submit(&one, &scan_b(&pki, 10, &ca, &scratch, 1).await, &key_b, &ca);
    submit(&two, &scan_a("reject", &ca, &scratch, 1).await, &key_a, &ca);
    let expiring = "FAILING: TLS-CERT-EXPIRING on tls://www.b.test:443";
    let mails = wait_for_mail(&smtpd, "the expiring certificate's alert", |m| {
        count(m, "certs@b.test", expiring) == 1 && count(m, "owner@a.test", "FAILING") > 0
    })
    .await;
    let to_b: Vec<&Value> = mails
        .iter()
        .filter(|m| m["to"].as_str().unwrap().contains("certs@b.test"))
        .collect();
    assert_eq!(to_b.len(), 1, "{to_b:#?}");
    let text = to_b[0]["text"].as_str().unwrap();
    assert!(text.contains(&fix("TLS-CERT-EXPIRING")), "{text}");
    assert!(text.contains("Why it matters"), "{text}");
    assert!(
        text.contains("NHS-WEB"),
        "the standard that mandates it: {text}"
    );
    assert!(
        text.contains("https://collector.lab.test/ui/domain/www.b.test"),
        "{text}"
    );
    assert_eq!(
        count(&mails, "owner@a.test", "MAIL-DMARC-POLICY"),
        0,
        "DMARC p=reject passes"
    );
    assert_eq!(
        count(&mails, "owner@a.test", "TLS-CERT-EXPIRING"),
        0,
        "RX1 hears nothing of RX2"
    );
    // The chat webhook got the same text; RX2's default webhook heard nothing of www.b.test.
    for _ in 0..100 {
        if hooked(&received, "/chat", "TLS-CERT-EXPIRING", "failing") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hooked(&received, "/chat", "TLS-CERT-EXPIRING", "failing"),
        1
    );
    assert_eq!(hooked(&received, "/rx2", "TLS-CERT-EXPIRING", "failing"), 0);
    // And Alertmanager holds it as an active alert, with the fix.
    let mut active = Vec::new();
    for _ in 0..100 {
        active = alertmanager.active().await;
        if !active.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(
        (active[0].0.as_str(), active[0].1.as_str()),
        ("TLS-CERT-EXPIRING", "RX2")
    );
    assert!(
        active[0].2.contains(&fix("TLS-CERT-EXPIRING")),
        "{active:?}"
    );

    // A restart of one collector, the SMTP server down, and RX1's DMARC goes to p=none.
    one.terminate();
    one.start_again();
    smtpd.stop();
    submit(&one, &scan_a("none", &ca, &scratch, 2).await, &key_a, &ca);
    let national = one.admin(&["token", "create", "--national"]);
    let dmarc_pending = pending_regression(&one, &national).await;
    assert_eq!(dmarc_pending["delivery"], "pending", "{dmarc_pending}");
    assert!(
        dmarc_pending["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("SMTP"),
        "{dmarc_pending}"
    );
    let logged: String = [&one, &two]
        .iter()
        .map(|c| std::fs::read_to_string(c.log()).unwrap_or_default())
        .collect();
    assert!(
        logged.contains("notification not delivered") && logged.contains("Connection refused"),
        "the failed delivery is logged"
    );
    smtpd.start();
    let regression = "FAILING (was passing): MAIL-DMARC-POLICY on a.test (a.test)";
    let mails = wait_for_mail(
        &smtpd,
        "the DMARC regression after the SMTP server returned",
        |m| count(m, "owner@a.test", regression) == 1,
    )
    .await;
    let dmarc_mail = mails
        .iter()
        .find(|m| m["text"].as_str().unwrap().contains(regression))
        .unwrap();
    let text = dmarc_mail["text"].as_str().unwrap();
    assert!(text.contains("Before: pass"), "{text}");
    assert!(text.contains(&fix("MAIL-DMARC-POLICY")), "{text}");
    assert_eq!(count(&mails, "certs@b.test", "MAIL-DMARC-POLICY"), 0);
    assert_eq!(
        count(&mails, "certs@b.test", expiring),
        1,
        "nothing sent again after the restart"
    );

    // Acknowledge the DMARC failure through the link in the message.
    let http = pki.client(true);
    acknowledge_by_link(text, "MAIL-DMARC-POLICY", &two.url, &http).await;

    // Past the reminder interval: RX1's other failures are reminded, the acknowledged one is
    // not.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mails = wait_for_mail(&smtpd, "reminders", |m| {
        count(m, "owner@a.test", "STILL FAILING") > 0
    })
    .await;
    assert_eq!(
        count(&mails, "owner@a.test", "STILL FAILING: MAIL-DMARC-POLICY"),
        0,
        "an acknowledged failure is not reminded"
    );

    // Both fixed: one resolution each, to the right owner.
    submit(&two, &scan_b(&pki, 90, &ca, &scratch, 2).await, &key_b, &ca);
    submit(&one, &scan_a("reject", &ca, &scratch, 3).await, &key_a, &ca);
    wait_for_mail(&smtpd, "the resolutions", |m| {
        count(m, "certs@b.test", "FIXED: TLS-CERT-EXPIRING") == 1
            && count(m, "owner@a.test", "FIXED: MAIL-DMARC-POLICY") == 1
    })
    .await;
    // Evaluations go on (both collectors, every second): still exactly one of each.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mails_after = smtpd.messages();
    for (to, heading) in [
        ("certs@b.test", expiring),
        ("certs@b.test", "FIXED: TLS-CERT-EXPIRING"),
        ("owner@a.test", regression),
        ("owner@a.test", "FIXED: MAIL-DMARC-POLICY"),
    ] {
        assert_eq!(count(&mails_after, to, heading), 1, "{to}: {heading}");
    }
    assert_eq!(
        hooked(&received, "/chat", "TLS-CERT-EXPIRING", "resolved"),
        1
    );
    assert!(
        alertmanager.active().await.is_empty(),
        "the fix ended the alert in Alertmanager"
    );
    assert_eq!(
        hooked(&received, "/chat", "TLS-CERT-EXPIRING", "failing"),
        1
    );
    // RX1's JSON webhook: the regression and its resolution, once each, with the fix.
    assert_eq!(
        hooked(&received, "/rx1", "MAIL-DMARC-POLICY", "regression"),
        1
    );
    assert_eq!(
        hooked(&received, "/rx1", "MAIL-DMARC-POLICY", "resolved"),
        1
    );
    let item = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/rx1")
        .flat_map(|(_, b)| b["items"].as_array().cloned().unwrap_or_default())
        .find(|i| i["check"] == "MAIL-DMARC-POLICY" && i["reason"] == "regression")
        .unwrap();
    assert_eq!(item["was"], "pass", "{item}");
    assert!(
        item["fix"]
            .as_str()
            .unwrap()
            .contains(&fix("MAIL-DMARC-POLICY")),
        "{item}"
    );
    assert!(
        item["standards"].as_array().is_some_and(|s| !s.is_empty()),
        "{item}"
    );

    // The domain's page lists what was sent about it.
    let page = http
        .get(format!("{}/ui/domain/a.test", two.url))
        .header("cookie", format!("posture_session={national}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Alerts sent about this domain"), "{page}");
    assert!(page.contains("MAIL-DMARC-POLICY (regression)"), "{page}");
    assert!(page.contains("MAIL-DMARC-POLICY (resolved)"), "{page}");
    drop((one, two));
    super::collector::psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
