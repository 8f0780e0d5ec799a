//! Attacks as tests, against a collector fed by lab scans of two organisations: RX1's viewer
//! tries every read route and page for RX2's data; markup and SQL metacharacters go into every
//! name that reaches the store and the pages; paths try to leave the pages' one file.

use posture_lab::pki::Pki;
use serde_json::Value;

use super::collector::{Collector, fed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_nothing_of_another_organisation_by_any_route_or_page() {
    let pki = Pki::new();
    let fed = fed(&pki).await;
    let c = &fed.c;
    let (_, rx2_targets) = c
        .get(
            "/api/v1/findings?organisation=RX2&per_page=1",
            &fed.national,
        )
        .await;
    let rx2_key = format!(
        "endpoint:tls:{}:{}:",
        rx2_targets["items"][0]["target"]["host"].as_str().unwrap(),
        rx2_targets["items"][0]["target"]["port"]
    );
    // Asking for RX2 by name: 403 on every route that takes an organisation.
    for path in [
        "/api/v1/domains?organisation=RX2",
        "/api/v1/findings?organisation=RX2",
        "/api/v1/regressions?organisation=RX2",
        "/api/v1/agents?organisation=RX2",
        "/api/v1/scores?organisation=RX2",
        "/api/v1/scores?level=organisation&organisation=RX2",
        "/api/v1/scores?level=national",
        "/api/v1/notifications?organisation=RX2",
        &format!("/api/v1/targets/{}/history", rx2_key.replace(':', "%3A")),
    ] {
        let (status, body) = c.get(path, &fed.viewer_a).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    // Contacts are for admins only.
    let (status, _) = c.get("/api/v1/contacts", &fed.viewer_a).await;
    assert_eq!(status, 403);
    let (status, _) = c.get("/api/v1/contacts", &fed.national).await;
    assert_eq!(status, 403);
    // Not asking: only RX1's data, on every list.
    for path in [
        "/api/v1/organisations",
        "/api/v1/domains",
        "/api/v1/findings?per_page=1000",
        "/api/v1/regressions",
        "/api/v1/agents",
        "/api/v1/scores?per_page=1000",
        "/api/v1/scores?level=organisation",
        "/api/v1/notifications",
    ] {
        let (status, body) = c.get(path, &fed.viewer_a).await;
        assert_eq!(status, 200, "{path}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("RX2") && !text.contains("b.test") && !text.contains("Trust B"),
            "{path}: {text}"
        );
    }
    // The pages, and their CSV exports.
    let http = pki.client(false);
    for path in [
        "/ui/org/RX2",
        "/ui/org/RX2?csv=findings",
        "/ui/org/RX2?csv=agents",
        "/ui/domain/www.b.test",
        "/ui/domain/www.b.test?csv=findings",
        "/ui/domain/b.test",
        "/ui/domain/WWW.B.TEST.",
    ] {
        let r = http
            .get(format!("{}{path}", c.url))
            .header("cookie", format!("posture_session={}", fed.viewer_a))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            !body.contains("b.test") && !body.contains("Trust B"),
            "{path}: {body}"
        );
    }
    // The national page sends the viewer to its own organisation, not to everyone's.
    let r = http
        .get(format!("{}/ui/?csv=organisations", c.url))
        .header("cookie", format!("posture_session={}", fed.viewer_a))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_and_sql_in_names_are_stored_as_text_and_shown_escaped() {
    let pki = Pki::new();
    let fed = fed(&pki).await;
    let c = &fed.c;
    let hostile = "<script>alert('x')</script>\"'; DROP TABLE organisations;--";
    c.admin(&["org", "add", "RX9", "--name", hostile]);
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX9"]);
    let (status, agent) = c.enrol_named(&secret, hostile).await;
    assert_eq!(status, 201, "{agent}");
    // Stored as given, every table still there.
    let (_, orgs) = c.get("/api/v1/organisations", &fed.national).await;
    let names: Vec<&str> = orgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&hostile), "{orgs}");
    assert!(
        names.contains(&"Trust A") && names.contains(&"Trust B"),
        "{orgs}"
    );
    let (_, agents) = c
        .get("/api/v1/agents?organisation=RX9", &fed.national)
        .await;
    assert_eq!(agents["items"][0]["name"], Value::from(hostile), "{agents}");
    // Shown escaped on the pages: the markup is text, never an element.
    let http = pki.client(true);
    let page = http
        .get(format!("{}/ui/org/RX9", c.url))
        .header("cookie", format!("posture_session={}", fed.national))
        .send()
        .await
        .unwrap();
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = page.text().await.unwrap();
    assert!(
        body.contains("&#60;script&#62;alert(") || body.contains("&lt;script&gt;alert("),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    // A CSV export of it does not start a formula, and quotes what needs quoting.
    let csv = http
        .get(format!("{}/ui/org/RX9?csv=agents", c.url))
        .header("cookie", format!("posture_session={}", fed.national))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("\"<script>alert('x')</script>\"\"'; DROP TABLE"),
        "{csv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_do_not_leave_the_pages_and_deep_json_is_refused() {
    let pki = Pki::new();
    let fed = fed(&pki).await;
    let c = &fed.c;
    let http = pki.client(true);
    for path in [
        "/ui/style.css/../../../../etc/passwd",
        "/ui/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/ui/..%2f..%2f..%2fetc%2fpasswd",
        "/ui/style.css%00.html",
        "/api/v1/targets/..%2f..%2fetc%2fpasswd/history",
        "/../../../../etc/passwd",
    ] {
        let r = http
            .get(format!("{}{path}", c.url))
            .header("cookie", format!("posture_session={}", fed.national))
            .bearer_auth(&fed.national)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(!body.contains("root:x:0:0"), "{path}: {body}");
        assert!(matches!(status, 200 | 404 | 400 | 403), "{path}: {status}");
    }
    // A batch of deeply nested JSON: a clear 400, and the collector still answers.
    let (_, agent) = c
        .enrol(&c.admin(&["enrol-secret", "create", "--org", "RX1"]))
        .await;
    let key = agent["key"].as_str().unwrap();
    // 20,000 levels (40 kB, under the test collector's 64 KiB body limit).
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let (status, body) = c.post_batch(key, deep.into_bytes(), false, "deep").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (status, _) = c.get("/api/v1/organisations", &fed.national).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_brute_force_is_rate_limited_and_logged() {
    let pki = Pki::new();
    let c = Collector::start(&pki);
    let mut statuses = Vec::new();
    for i in 0..35 {
        let (status, _) = c.enrol(&format!("pe_guess_{i}")).await;
        statuses.push(status);
    }
    // 30 attempts a minute (the default): the guesses are refused, then not even tried.
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let (status, _) = c.enrol(&secret).await;
    assert_eq!(
        status, 429,
        "the right secret waits too, until the minute is over"
    );
    let log = std::fs::read_to_string(c.log()).unwrap_or_default();
    assert_eq!(
        log.matches("enrolment refused: unknown or revoked secret")
            .count(),
        30
    );
    assert!(log.contains("enrolment attempts over the limit"), "{log}");
}

/// Issue 15, attacks: another agent reusing an idempotency key. Keys are each agent's own, so
/// agent B's different batch under agent A's key is stored (not taken for A's); and B sending
/// A's very batch again is recognised by the observations' ids: nothing stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_each_agents_own() {
    let pki = Pki::new();
    let fed = fed(&pki).await;
    let c = &fed.c;
    let enrol = || async {
        let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
        let (_, agent) = c.enrol(&secret).await;
        agent["key"].as_str().unwrap().to_owned()
    };
    let (a, b) = (enrol().await, enrol().await);
    let report = &fed.agents[0].1;
    let batch_a = super::collector::expired_a_minute_later(report, "agent-a-batch");
    let batch_b = super::collector::expired_a_minute_later(report, "agent-b-batch");
    let body = |v: &Value| serde_json::to_vec(v).unwrap();
    let (status, first) = c.post_batch(&a, body(&batch_a), false, "shared-key").await;
    assert_eq!(
        (status, first["accepted"].as_u64()),
        (200, Some(1)),
        "{first}"
    );
    let (status, other) = c.post_batch(&b, body(&batch_b), false, "shared-key").await;
    assert_eq!(
        (
            status,
            other["accepted"].as_u64(),
            other["duplicates"].as_u64()
        ),
        (200, Some(1), Some(0)),
        "B's batch under A's key is B's: {other}"
    );
    let (status, replay) = c.post_batch(&b, body(&batch_a), false, "another-key").await;
    assert_eq!(
        (
            status,
            replay["accepted"].as_u64(),
            replay["duplicates"].as_u64()
        ),
        (200, Some(0), Some(1)),
        "A's batch sent by B is recognised: {replay}"
    );
}

/// One form of the collector's pages, as the site itself would post it.
struct PostedForm {
    action: &'static str,
    /// The cookies the browser holds for the site.
    cookie: String,
    fields: Vec<(&'static str, String)>,
    /// The field holding the form's CSRF token (or the link's signature).
    secret_field: &'static str,
    /// What the legitimate post answers.
    expect: u16,
}

/// The POST forms in the collector's templates (`action`s), and the `/ui/` routes that take a
/// POST in its router: the table below must cover both.
fn posted_forms_in_the_source() -> (Vec<String>, Vec<String>) {
    let root = posture_lab::repository_root().join("collector");
    let mut actions = Vec::new();
    for path in posture_lab::files_with_suffix(&root.join("templates"), ".html") {
        let text = std::fs::read_to_string(&path).unwrap();
        for form in text.split("<form").skip(1) {
            let tag = &form[..form.find('>').unwrap()];
            if tag.contains("method=\"post\"") {
                let action = tag.split("action=\"").nth(1).unwrap();
                actions.push(action[..action.find('"').unwrap()].to_owned());
            }
        }
    }
    let router = std::fs::read_to_string(root.join("src/web/mod.rs")).unwrap();
    let mut routes: Vec<String> = router
        .lines()
        .filter(|l| l.contains(".route(\"/ui/") && l.contains("post("))
        .map(|l| l.split('"').nth(1).unwrap().to_owned())
        .collect();
    routes.sort();
    actions.sort();
    actions.dedup();
    (actions, routes)
}

/// Issue 15, item 5: a CSRF attempt on every form. Each POST form of the pages (found in the
/// templates and the router, so a new form without a case here fails this test) is posted as
/// the site posts it (accepted), from another origin (403), with its token forged (403), and
/// without it (refused); nothing changes on a refused post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_a_cross_site_post() {
    let pki = Pki::new();
    let c = Collector::start(&pki);
    let national = c.admin(&["token", "create", "--national"]);
    let http = pki.client(false);
    let base = c.url.clone();
    // The login form's token, as a browser gets it: in a cookie and in the form.
    let login = http.get(format!("{base}/ui/login")).send().await.unwrap();
    let login_cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("posture_login_csrf="))
        .unwrap();
    let form_value = |page: &str| -> String {
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    let login_csrf = form_value(&login.text().await.unwrap());
    // The logout form's token, from a page seen in a session.
    let session = format!("posture_session={national}");
    let page = http
        .get(format!("{base}/ui/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let logout_csrf = form_value(&page);
    // An acknowledgement link as a message carries it, signed with the collector's secret.
    let secret = c.store().await.notifier_secret().await.unwrap();
    let (target, check, since) = ("domain:www.a.test", "WEB-HSTS", 1_700_000_000_000i64);
    let sig = posture_collector::notify::render::ack_signature(&secret, target, check, since);

    let forms = [
        PostedForm {
            action: "/ui/login",
            cookie: login_cookie,
            fields: vec![("token", national.clone()), ("csrf", login_csrf)],
            secret_field: "csrf",
            expect: 303,
        },
        PostedForm {
            action: "/ui/logout",
            cookie: session,
            fields: vec![("csrf", logout_csrf)],
            secret_field: "csrf",
            expect: 303,
        },
        PostedForm {
            action: "/ui/ack",
            cookie: String::new(),
            fields: vec![
                ("target", target.into()),
                ("check", check.into()),
                ("since", since.to_string()),
                ("sig", sig),
            ],
            secret_field: "sig",
            // Past the origin and signature checks: no such alert is open.
            expect: 404,
        },
    ];
    let (actions, routes) = posted_forms_in_the_source();
    let mut covered: Vec<String> = forms.iter().map(|f| f.action.to_owned()).collect();
    covered.sort();
    assert_eq!(
        actions, covered,
        "every POST form in the templates has a case"
    );
    assert_eq!(routes, covered, "every /ui/ POST route has a case");

    for form in &forms {
        let post = |fields: Vec<(&'static str, String)>, origin: &str, cookie: &str| {
            let mut r = http
                .post(format!("{base}{}", form.action))
                .header("origin", origin)
                .form(&fields);
            if !cookie.is_empty() {
                r = r.header("cookie", cookie.to_owned());
            }
            r.send()
        };
        let forged: Vec<(&'static str, String)> = form
            .fields
            .iter()
            .map(|(k, v)| {
                let v = if *k == form.secret_field {
                    // Its last character changed (to one it is not: a forgery that happened
                    // to equal the real value would be no forgery).
                    let last = if v.ends_with('0') { '1' } else { '0' };
                    format!("{}{last}", &v[..v.len() - 1])
                } else {
                    v.clone()
                };
                (*k, v)
            })
            .collect();
        let without: Vec<(&'static str, String)> = form
            .fields
            .iter()
            .filter(|(k, _)| *k != form.secret_field)
            .cloned()
            .collect();
        let evil = "https://evil.example";
        for (case, fields, origin, cookie) in [
            (
                "another origin",
                form.fields.clone(),
                evil,
                form.cookie.as_str(),
            ),
            (
                "a forged token",
                forged,
                base.as_str(),
                form.cookie.as_str(),
            ),
            ("no token", without, base.as_str(), form.cookie.as_str()),
        ] {
            let r = post(fields, origin, cookie).await.unwrap();
            let status = r.status().as_u16();
            assert!(
                r.headers().get("set-cookie").is_none(),
                "{} with {case}: a refused post sets no cookie",
                form.action
            );
            if case == "no token" {
                assert!(
                    (400..500).contains(&status),
                    "{} {case}: {status}",
                    form.action
                );
            } else {
                assert_eq!(status, 403, "{} with {case}", form.action);
            }
        }
        // As the site posts it (same origin, or no Origin header at all): accepted.
        for origin in [base.as_str(), ""] {
            let mut r = http
                .post(format!("{base}{}", form.action))
                .form(&form.fields);
            if !origin.is_empty() {
                r = r.header("origin", origin);
            }
            if !form.cookie.is_empty() {
                r = r.header("cookie", form.cookie.clone());
            }
            let status = r.send().await.unwrap().status().as_u16();
            assert_eq!(status, form.expect, "{} from {origin:?}", form.action);
        }
    }
}
