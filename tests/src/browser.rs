//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`), for
//! page tests: a minimal W3C WebDriver client on reqwest. Chromium runs with the lab's flags
//! (no background networking, no component updates, no sync) and a host resolver that answers
//! only `localhost`, so a page can reach nothing but loopback.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::pki::TempDir;

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
    _profile: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the session first, so chromedriver closes Chromium, then stop the driver. A
        // plain blocking request: drop may run outside the runtime.
        if let Some((authority, path)) = self
            .base
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
            && let Ok(mut stream) = std::net::TcpStream::connect(authority)
        {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /{path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// What went wrong talking to the browser.
pub type Result<T> = std::result::Result<T, String>;

impl Browser {
    /// Start chromedriver on a free loopback port and open a headless session (1280 by
    /// `height` pixels), accepting the lab's certificates (its root is not in Chromium's
    /// store).
    pub async fn start(height: u32) -> Result<Browser> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("chromedriver (apt-get install chromium chromium-driver; scripts/test.sh does): {e}")
            })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let root = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{root}/status")).send().await
                && r.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ready {
            return Err("chromedriver did not answer within 10 s".into());
        }
        let profile = TempDir::new("chromium");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--no-proxy-server".into(),
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost".into(),
            format!("--window-size=1280,{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"binary": chromium(), "args": args},
        }}});
        let r: Value = client
            .post(format!("{root}/session"))
            .json(&caps)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let id = r["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no WebDriver session: {r}"))?;
        Ok(Browser {
            driver,
            base: format!("{root}/session/{id}"),
            client,
            _profile: profile,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if v["value"]["error"].is_string() {
            return Err(format!("WebDriver {path}: {}", v["value"]));
        }
        Ok(v["value"].clone())
    }

    /// Open `url` and wait for it to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    /// The page's URL now.
    pub async fn url(&self) -> Result<String> {
        let v = self.call(reqwest::Method::GET, "/url", None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Wait (up to 10 s) until the page's URL ends with `suffix`, as it does once a form's
    /// answer has loaded; the URL it has then.
    pub async fn wait_for_url(&self, suffix: &str) -> Result<String> {
        let mut url = String::new();
        for _ in 0..100 {
            url = self.url().await?;
            if url.ends_with(suffix) {
                return Ok(url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the page stayed at {url}, not …{suffix}"))
    }

    /// Wait (up to 10 s) until the page's text holds `needle`; the text then.
    pub async fn wait_for_text(&self, needle: &str) -> Result<String> {
        let mut text = String::new();
        for _ in 0..100 {
            // Between pages there may be no body for a moment.
            text = self.text().await.unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the page never said {needle:?}: {text}"))
    }

    /// The page's title.
    pub async fn title(&self) -> Result<String> {
        let v = self.call(reqwest::Method::GET, "/title", None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> Result<String> {
        let v = self.call(reqwest::Method::GET, "/source", None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's visible text.
    pub async fn text(&self) -> Result<String> {
        let body = self.find("body").await?;
        let v = self
            .call(reqwest::Method::GET, &format!("/element/{body}/text"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        v[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no element {css}: {v}"))
    }

    /// Type `text` into the element `css`.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await
        .map(|_| ())
    }

    /// Click the element `css` (a submit button sends its form).
    pub async fn click(&self, css: &str) -> Result<()> {
        let e = self.find(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// Run `script` in the page and return what it returns.
    pub async fn script(&self, script: &str) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The cookies the browser keeps for this page, as WebDriver lists them.
    pub async fn cookies(&self) -> Result<Vec<Value>> {
        let v = self.call(reqwest::Method::GET, "/cookie", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// A PNG screenshot of the window, written to `file`.
    pub async fn screenshot(&self, file: &Path) -> Result<()> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64(v.as_str().unwrap_or_default())?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(file, png).map_err(|e| format!("{}: {e}", file.display()))
    }
}

/// Debian's Chromium binary.
fn chromium() -> &'static str {
    if Path::new("/usr/bin/chromium").exists() {
        "/usr/bin/chromium"
    } else {
        "/usr/bin/chromium-browser"
    }
}

/// Standard base64 (RFC 4648 §4) to bytes.
fn base64(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not base64: {:?}", c as char)),
        }
        .into())
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let keep = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + keep]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_rfc_4648_vectors() {
        for (text, want) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(super::base64(text).unwrap_or_default(), want.as_bytes());
        }
        assert!(super::base64("Zm9v!").is_err());
    }
}
