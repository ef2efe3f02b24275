//! The provider's flows, driven as a browser and a terminal would: `curl` with a cookie jar,
//! following Dex's redirects one by one and filling in its login form.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use testenv::TestEnv;
use testenv::dex::Dex;

/// Where the authorization-code flow redirects to: a loopback address, as `kubenova login`
/// would listen on (nothing needs to listen: the code is read from the redirect itself).
const REDIRECT: &str = "http://127.0.0.1:38123/callback";

/// One browser: its own cookie jar, trusting the environment's CA.
pub(crate) struct Browser {
    jar: PathBuf,
    body: PathBuf,
    ca: PathBuf,
}

/// One answer: status, where it redirects to (absolute), body.
struct Page {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    pub(crate) fn new(env: &TestEnv, name: &str) -> Browser {
        let dir = env.dir().join("browsers").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("browser dir");
        Browser {
            jar: dir.join("cookies"),
            body: dir.join("body"),
            ca: env.ca_path(),
        }
    }

    fn request(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "--cacert"])
            .arg(&self.ca)
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar)
            .arg("-o")
            .arg(&self.body)
            .args(["-w", "%{http_code} %{redirect_url}"]);
        for (k, v) in form {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = cmd.arg(url).output().expect("curl");
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta = String::from_utf8_lossy(&out.stdout).into_owned();
        let (status, location) = meta.split_once(' ').unwrap_or((meta.as_str(), ""));
        Page {
            status: status.parse().expect("status"),
            location: location.trim().to_owned(),
            body: std::fs::read_to_string(&self.body).unwrap_or_default(),
        }
    }

    /// GETs `url` and follows redirects until a page answers or one leads to `stop`; returns
    /// the last URL and page.
    fn follow(&self, mut url: String, stop: Option<&str>) -> (String, Page) {
        for _ in 0..15 {
            let page = self.request(&url, &[]);
            if !(300..400).contains(&page.status) {
                return (url, page);
            }
            if stop.is_some_and(|s| page.location.starts_with(s)) {
                return (url, page);
            }
            url = page.location.clone();
        }
        panic!("more than 15 redirects from {url}");
    }

    /// Fills in Dex's password form (the page at `form_url`) and follows what comes after,
    /// up to a redirect to `stop` (or a page).
    fn sign_in(&self, form_url: &str, email: &str, password: &str, stop: Option<&str>) -> Page {
        let posted = self.request(form_url, &[("login", email), ("password", password)]);
        assert!(
            (300..400).contains(&posted.status),
            "the login form did not accept the password ({}): {}",
            posted.status,
            posted.body
        );
        if stop.is_some_and(|s| posted.location.starts_with(s)) {
            return posted;
        }
        self.follow(posted.location.clone(), stop).1
    }
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("random");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

/// A query value decoded (`+` is a space in a form-encoded query).
fn percent_decode(v: &str) -> String {
    percent_encoding::percent_decode_str(&v.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A query value encoded: everything but RFC 3986's unreserved characters.
fn encode(v: &str) -> String {
    const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(v, QUERY).to_string()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The provider's token endpoint, form-encoded; its JSON answer.
fn token_endpoint(browser: &Browser, dex: &Dex, form: &[(&str, &str)]) -> (u16, Value) {
    let page = browser.request(&format!("{}/token", dex.issuer), form);
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or(Value::String(page.body)),
    )
}

/// The authorization-code flow with PKCE for `client_id`: the login form filled in as
/// `email`, the code taken from the loopback redirect and exchanged; the ID token.
pub(crate) fn authorization_code(
    browser: &Browser,
    dex: &Dex,
    client_id: &str,
    email: &str,
    password: &str,
) -> String {
    let verifier = random_hex(32);
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    let state = random_hex(8);
    let url = format!(
        "{}/auth?client_id={}&redirect_uri={}&response_type=code&scope={}&state={state}\
         &code_challenge={challenge}&code_challenge_method=S256",
        dex.issuer,
        encode(client_id),
        encode(REDIRECT),
        encode("openid email groups"),
    );
    let (form_url, form) = browser.follow(url, None);
    assert_eq!(form.status, 200, "the login page: {}", form.body);
    assert!(
        form.body.contains("name=\"password\""),
        "not a login form: {}",
        form.body
    );
    let redirected = browser.sign_in(&form_url, email, password, Some(REDIRECT));
    assert!(
        redirected.location.starts_with(REDIRECT),
        "no redirect back with a code ({}): {} {}",
        redirected.status,
        redirected.location,
        redirected.body
    );
    assert_eq!(
        query_param(&redirected.location, "state").as_deref(),
        Some(state.as_str())
    );
    let code = query_param(&redirected.location, "code").expect("a code");
    let (status, tokens) = token_endpoint(
        browser,
        dex,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(status, 200, "the code exchange: {tokens}");
    tokens["id_token"].as_str().expect("an ID token").to_owned()
}

/// What a person does with a device code a terminal showed: opens the verification page
/// (`complete_url`, the code pre-filled), submits the code, signs in.
pub(crate) fn approve_device(
    browser: &Browser,
    dex: &Dex,
    complete_url: &str,
    user_code: &str,
    email: &str,
    password: &str,
) {
    let shown = browser.request(complete_url, &[]);
    assert_eq!(shown.status, 200, "the device page: {}", shown.body);
    assert!(shown.body.contains(user_code), "the code is pre-filled");
    let verified = browser.request(
        &format!("{}/device/auth/verify_code", dex.issuer),
        &[("user_code", user_code)],
    );
    assert!(
        (300..400).contains(&verified.status),
        "the code was not accepted: {}",
        verified.body
    );
    let (form_url, form) = browser.follow(verified.location, None);
    assert!(form.body.contains("name=\"password\""), "{}", form.body);
    let done = browser.sign_in(&form_url, email, password, None);
    assert_eq!(done.status, 200, "the device callback: {}", done.body);
}

/// What a person does with the sign-in URL a terminal printed: opens it, fills in the login
/// form, and lets the browser follow every redirect, the last one to the terminal's loopback
/// listener; that page's status and body.
pub(crate) fn approve_in_browser(
    browser: &Browser,
    url: &str,
    email: &str,
    password: &str,
) -> (u16, String) {
    let (form_url, form) = browser.follow(url.to_owned(), None);
    assert_eq!(form.status, 200, "the login page: {}", form.body);
    assert!(
        form.body.contains("name=\"password\""),
        "not a login form: {}",
        form.body
    );
    let last = browser.sign_in(&form_url, email, password, None);
    (last.status, last.body)
}

/// The device flow: the terminal asks for a code, a browser session enters it and signs in,
/// the terminal polls until it gets the ID token.
pub(crate) fn device_flow(browser: &Browser, dex: &Dex, email: &str, password: &str) -> String {
    let terminal = browser;
    let page = terminal.request(
        &format!("{}/device/code", dex.issuer),
        &[
            ("client_id", dex.client_id.as_str()),
            ("scope", "openid email groups"),
        ],
    );
    assert_eq!(page.status, 200, "device code: {}", page.body);
    let grant: Value = serde_json::from_str(&page.body).expect("JSON");
    let device_code = grant["device_code"]
        .as_str()
        .expect("device_code")
        .to_owned();
    let user_code = grant["user_code"].as_str().expect("user_code").to_owned();
    approve_device(
        browser,
        dex,
        grant["verification_uri_complete"]
            .as_str()
            .expect("verification_uri_complete"),
        &user_code,
        email,
        password,
    );
    // The terminal polls.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, tokens) = token_endpoint(
            terminal,
            dex,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
                ("client_id", dex.client_id.as_str()),
            ],
        );
        if status == 200 {
            return tokens["id_token"].as_str().expect("an ID token").to_owned();
        }
        assert_eq!(
            tokens["error"], "authorization_pending",
            "polling: {status} {tokens}"
        );
        assert!(Instant::now() < deadline, "no ID token within 30 s");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `payload` (an ID token's claims) signed RS256 by a key of our own, which no provider
/// publishes, under a kid Dex does not use.
pub(crate) fn signed_by_a_stranger(env: &TestEnv, payload: &[u8]) -> String {
    let key = env.dir().join("stranger.pem");
    if !key.exists() {
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let signing_input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","kid":"not-a-dex-key","typ":"JWT"}"#),
        b64(payload)
    );
    let input_file = env.dir().join("stranger.input");
    std::fs::write(&input_file, &signing_input).expect("input");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key)
        .arg(&input_file)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{signing_input}.{}", b64(&out.stdout))
}
