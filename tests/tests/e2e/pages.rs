//! The collector's web pages in a real browser: headless Chromium (Debian's) driven over
//! WebDriver against a collector (a real process, HTTPS) fed by lab scans of two
//! organisations. A viewer of RX1 logs in through the form, sees RX1's domains and findings
//! with the fix, and gets 403 with no trace of RX2 for RX2's pages; a national viewer sees
//! both. A screenshot of each kind of page is written to `target/screenshots/`.

use std::path::PathBuf;

use posture_lab::browser::Browser;
use posture_lab::pki::Pki;

use super::collector::fed;

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

/// A GET with the session cookie: status, content type and body.
async fn get(url: &str, cookie: &str, client: &reqwest::Client) -> (u16, String, String) {
    let r = client
        .get(url)
        .header("cookie", format!("posture_session={cookie}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, kind, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_its_organisation_in_a_browser_and_nothing_of_another() {
    let pki = Pki::new();
    let fed = fed(&pki).await;
    let base = fed.c.url.clone();
    // Two earlier days of RX1's daily score snapshots, as the collector keeps them, so its
    // trend has a line to draw.
    let store = fed.c.store().await;
    let today = chrono::Utc::now().date_naive();
    for (days_ago, score) in [(2, 60.0), (1, 80.0)] {
        let day = (today - chrono::Duration::days(days_ago)).to_string();
        let row = |level: &str, subject: &str| {
            (
                level.to_owned(),
                subject.to_owned(),
                "NCSC-TLS".to_owned(),
                Some(score),
            )
        };
        store
            .snapshot_scores(
                &day,
                &[row("organisation", "RX1"), row("national", "national")],
            )
            .await
            .unwrap();
    }
    let browser = Browser::start(1600).await.unwrap();
    let shots = screenshots();

    // Not logged in: every page leads to the login form.
    browser.goto(&format!("{base}/ui/org/RX1")).await.unwrap();
    browser.wait_for_url("/ui/login").await.unwrap();
    browser.screenshot(&shots.join("login.png")).await.unwrap();

    // A wrong token is refused on the form, with the reason.
    browser.type_into("#token", "pt_wrong").await.unwrap();
    browser.click("#login").await.unwrap();
    browser
        .wait_for_text("That token is unknown or revoked.")
        .await
        .unwrap();

    // RX1's viewer logs in and lands on RX1's page.
    browser.type_into("#token", &fed.viewer_a).await.unwrap();
    browser.click("#login").await.unwrap();
    browser.wait_for_url("/ui/org/RX1").await.unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("Trust A (RX1)"), "{text}");
    assert!(text.contains("Logged in as viewer of RX1"), "{text}");
    assert!(
        text.contains("a.test") && text.contains("www.a.test"),
        "{text}"
    );
    assert!(text.contains("Findings to fix"), "{text}");
    for trace in ["b.test", "RX2", "Trust B"] {
        assert!(!text.contains(trace), "{trace} on RX1's page: {text}");
    }
    browser
        .screenshot(&shots.join("organisation.png"))
        .await
        .unwrap();

    // The session cookie is out of the page's reach (HttpOnly), and strict.
    assert_eq!(browser.script("return document.cookie").await.unwrap(), "");
    let cookies = browser.cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "posture_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["secure"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");

    // RX1's domain: every finding with its evidence, why it matters, the fix and history.
    browser
        .goto(&format!("{base}/ui/domain/www.a.test"))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(
        text.contains("Findings (latest of each check and target)"),
        "{text}"
    );
    assert!(text.contains("TLS-CERT-EXPIRED"), "{text}");
    assert!(
        text.contains("How to fix it") && text.contains("nginx"),
        "{text}"
    );
    assert!(text.contains("Why it matters"), "{text}");
    assert!(text.contains("History of"), "{text}");
    browser.screenshot(&shots.join("domain.png")).await.unwrap();

    // Filters: only failing findings, then CSV of that table.
    browser
        .goto(&format!("{base}/ui/domain/www.a.test?status=pass"))
        .await
        .unwrap();
    let passing = browser
        .script("return Array.from(document.querySelectorAll('#t-findings tbody tr td:nth-child(3)')).map(td => td.textContent)")
        .await
        .unwrap();
    let statuses: Vec<&str> = passing
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == "pass"),
        "{statuses:?}"
    );

    // RX2's pages: 403, and nothing of RX2 on them.
    for path in ["/ui/org/RX2", "/ui/domain/www.b.test", "/ui/domain/b.test"] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        let text = browser.text().await.unwrap();
        assert!(text.contains("Not yours to see"), "{path}: {text}");
        assert!(
            !text.contains("Trust B") && !text.contains("www.b.test"),
            "{path}: {text}"
        );
    }
    browser
        .screenshot(&shots.join("forbidden.png"))
        .await
        .unwrap();
    // The national page sends a viewer to its own organisation.
    browser.goto(&format!("{base}/ui/")).await.unwrap();
    browser.wait_for_url("/ui/org/RX1").await.unwrap();

    // The same, as HTTP sees it: statuses, CSV, no scripts.
    let client = pki.client(false);
    for path in [
        "/ui/org/RX2",
        "/ui/domain/www.b.test",
        "/ui/org/RX2?csv=findings",
    ] {
        let (status, _, body) = get(&format!("{base}{path}"), &fed.viewer_a, &client).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("www.b.test"), "{path}: {body}");
    }
    // And the other way round: RX2's viewer sees RX2's page, not RX1's.
    let (status, _, page) = get(&format!("{base}/ui/org/RX2"), &fed.viewer_b, &client).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("www.b.test") && !page.contains("www.a.test"),
        "{page}"
    );
    let (status, _, _) = get(&format!("{base}/ui/org/RX1"), &fed.viewer_b, &client).await;
    assert_eq!(status, 403);
    let (status, kind, csv) = get(
        &format!("{base}/ui/org/RX1?csv=findings"),
        &fed.viewer_a,
        &client,
    )
    .await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/csv; charset=utf-8"),
        "{csv}"
    );
    assert!(
        csv.starts_with("Domain,Target,Check,Severity,Status,What was found\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("www.a.test") && !csv.contains("b.test"),
        "{csv}"
    );
    let (status, _, page) = get(
        &format!("{base}/ui/domain/www.a.test"),
        &fed.viewer_a,
        &client,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !page.to_ascii_lowercase().contains("<script"),
        "pages carry no script"
    );
    let (status, _, body) = get(
        &format!("{base}/ui/domain/www.a.test?severity=urgent"),
        &fed.viewer_a,
        &client,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // CSRF: a login without the form's cookie, or from another origin, is refused.
    let r = client
        .post(format!("{base}/ui/login"))
        .form(&[("token", fed.national.as_str()), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let r = client
        .post(format!("{base}/ui/login"))
        .header("origin", "https://evil.example")
        .header("cookie", "posture_login_csrf=abc")
        .form(&[("token", fed.national.as_str()), ("csrf", "abc")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // A logout form posted without the session's CSRF token does not log out.
    let r = client
        .post(format!("{base}/ui/logout"))
        .header("cookie", format!("posture_session={}", fed.viewer_a))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Log out in the browser; the pages ask for a token again.
    browser.goto(&format!("{base}/ui/org/RX1")).await.unwrap();
    browser.click(".logout button").await.unwrap();
    browser.wait_for_url("/ui/login").await.unwrap();
    browser.goto(&format!("{base}/ui/org/RX1")).await.unwrap();
    browser.wait_for_url("/ui/login").await.unwrap();

    // A national viewer logs in with the keyboard only (Enter sends the form) and sees the
    // overview: both organisations ranked.
    browser
        .type_into("#token", &format!("{}\u{E007}", fed.national))
        .await
        .unwrap();
    browser.wait_for_url("/ui/").await.unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("National overview"), "{text}");
    assert!(text.contains("Organisations ranked by their"), "{text}");
    assert!(text.contains("RX1") && text.contains("RX2"), "{text}");
    assert!(text.contains("Checks failing most"), "{text}");
    assert_eq!(
        browser.title().await.unwrap(),
        "National overview · posture"
    );
    browser
        .screenshot(&shots.join("national.png"))
        .await
        .unwrap();

    // Each kind of page passes the accessibility audit: labelled controls and tables, text
    // alternatives for charts, and WCAG AA contrast for every piece of text.
    for path in ["/ui/", "/ui/org/RX2", "/ui/domain/www.b.test", "/ui/login"] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        let problems = browser.script(AUDIT).await.unwrap();
        assert_eq!(problems, serde_json::json!([]), "{path}");
    }

    // The audit can fail: planted problems are each reported. (The faint colour is set through
    // the DOM: the pages' CSP refuses inline style attributes.)
    browser
        .script("document.querySelector('main').insertAdjacentHTML('beforeend', '<p id=\"faint\">faint</p><table><tr><th>x</th></tr></table><input name=\"bare\">'); document.getElementById('faint').style.color = '#aaa'; return 0")
        .await
        .unwrap();
    let planted = browser.script(AUDIT).await.unwrap();
    let planted: Vec<&str> = planted
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(planted.len(), 4, "{planted:?}");
    for want in [
        "unlabelled control bare",
        "table without caption",
        "th without scope",
        "contrast 2.32 < 4.5: P faint",
    ] {
        assert!(
            planted.iter().any(|p| p.starts_with(want)),
            "{want}: {planted:?}"
        );
    }

    for name in ["login", "organisation", "domain", "forbidden", "national"] {
        let png = std::fs::read(shots.join(format!("{name}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{name}.png"
        );
    }
}

/// An accessibility audit run in the page: what it finds wrong, as a list of strings. It
/// checks what WCAG 2.1 AA asks that a script can see: the page's language, a label for every
/// form control, a caption for every table and a scope for every heading cell, a text
/// alternative for every chart, text in every link, and a contrast ratio of at least 4.5:1
/// (3:1 for large text) between each text's colour and the background behind it.
const AUDIT: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('no lang on <html>');
for (const c of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = (c.id && document.querySelector('label[for="' + c.id + '"]')) || c.getAttribute('aria-label');
  if (!labelled) problems.push('unlabelled control ' + (c.name || c.id));
}
for (const t of document.querySelectorAll('table')) {
  if (!t.querySelector('caption') || !t.querySelector('caption').textContent.trim()) problems.push('table without caption');
}
for (const th of document.querySelectorAll('th')) {
  if (!th.getAttribute('scope')) problems.push('th without scope: ' + th.textContent);
}
for (const svg of document.querySelectorAll('svg')) {
  if (svg.getAttribute('role') !== 'img' || !svg.querySelector('title')) problems.push('svg without role=img and title');
}
for (const a of document.querySelectorAll('a')) {
  if (!a.textContent.trim()) problems.push('empty link to ' + a.getAttribute('href'));
}
const rgb = s => { const m = s.match(/[\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
const background = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c[3] > 0) return c; } return [255, 255, 255, 1]; };
for (const el of document.querySelectorAll('body *')) {
  const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || el.closest('svg, .sr, .skip, option, title')) continue;
  const st = getComputedStyle(el);
  if (st.display === 'none' || st.visibility === 'hidden') continue;
  const fg = lum(rgb(st.color)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
  const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
  if (ratio < need) problems.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': ' + el.tagName + ' ' + el.textContent.trim().slice(0, 40));
}
return Array.from(new Set(problems));
"#;
