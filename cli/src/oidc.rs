//! `kubenova login --oidc` and `--device`: getting an ID token from the server's identity
//! provider (docs/identity.md). The provider comes from `GET /api/v1/login/oidc`, its endpoints
//! from its discovery document. `--oidc` runs the authorization-code flow with PKCE (RFC 7636)
//! on a loopback redirect (RFC 8252: `http://127.0.0.1:<random port>/callback`, which this
//! process answers); `--device` runs the device flow (RFC 8628). Either way the ID token is
//! then exchanged for a KubeNova API token (`POST /api/v1/login/oidc`) by the caller.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::api::{self, Client, Error};

/// How to reach the provider and what to do.
pub(crate) struct SignIn<'a> {
    /// The KubeNova server (for its list of providers).
    pub(crate) server: &'a Client,
    /// `--provider`.
    pub(crate) provider: Option<&'a str>,
    /// `--provider-ca` (PEM).
    pub(crate) provider_ca: Option<String>,
    /// Device flow instead of the browser.
    pub(crate) device: bool,
    /// `--no-browser`.
    pub(crate) no_browser: bool,
    /// How long the person has.
    pub(crate) timeout: Duration,
}

/// One provider as the server lists it.
struct Provider {
    name: String,
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
}

/// The provider's endpoints (its discovery document).
struct Endpoints {
    authorization: String,
    token: String,
    device: Option<String>,
}

/// Runs the flow; the ID token.
pub(crate) async fn id_token(how: SignIn<'_>) -> Result<String, Error> {
    let provider = choose(how.server, how.provider).await?;
    let http = provider_client(how.provider_ca.as_deref())?;
    let endpoints = discover(&http, &provider).await?;
    if how.device {
        device_flow(&http, &provider, &endpoints, how.timeout).await
    } else {
        authorization_code(&http, &provider, &endpoints, how.no_browser, how.timeout).await
    }
}

async fn choose(server: &Client, name: Option<&str>) -> Result<Provider, Error> {
    let answer = api::json(server.login_providers().await?).await?;
    let all: Vec<Provider> = answer
        .get("providers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Provider {
                name: p.get("name")?.as_str()?.to_owned(),
                issuer: p.get("issuerUrl")?.as_str()?.to_owned(),
                client_id: p.get("clientId")?.as_str()?.to_owned(),
                scopes: p
                    .get("scopes")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect();
    let names = || {
        all.iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if all.is_empty() {
        return Err(Error::Usage(
            "this server trusts no identity provider: log in with an API token (--token-stdin)"
                .into(),
        ));
    }
    match name {
        Some(n) => {
            let names = names();
            all.into_iter().find(|p| p.name == n).ok_or_else(|| {
                Error::Usage(format!(
                    "the server trusts no provider named {n:?}; it trusts: {names}"
                ))
            })
        }
        None if all.len() == 1 => Ok(all.into_iter().next().expect("one")),
        None => Err(Error::Usage(format!(
            "the server trusts several providers; pick one with --provider: {}",
            names()
        ))),
    }
}

fn provider_client(ca_pem: Option<&str>) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kubenova-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| Error::Usage(format!("--provider-ca is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Usage("--provider-ca holds no certificate".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| Error::Other(format!("building the HTTP client: {e}")))
}

async fn get_json(http: &reqwest::Client, url: &str, what: &str) -> Result<Value, Error> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| Error::Transport(format!("{what} ({url}): {e}")))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| Error::Transport(format!("{what} ({url}): {e}")))?;
    if !status.is_success() {
        return Err(Error::Other(format!(
            "{what} ({url}) answered {status}: {}",
            body.chars().take(300).collect::<String>()
        )));
    }
    serde_json::from_str(&body)
        .map_err(|e| Error::Other(format!("{what} ({url}) is not JSON: {e}")))
}

async fn discover(http: &reqwest::Client, provider: &Provider) -> Result<Endpoints, Error> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        provider.issuer.trim_end_matches('/')
    );
    let doc = get_json(http, &url, "the provider's discovery document").await?;
    if doc.get("issuer").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
        return Err(Error::Other(format!(
            "the discovery document at {url} names another issuer than {}",
            provider.issuer
        )));
    }
    let field = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Endpoints {
        authorization: field("authorization_endpoint")
            .ok_or_else(|| Error::Other(format!("{url} names no authorization_endpoint")))?,
        token: field("token_endpoint")
            .ok_or_else(|| Error::Other(format!("{url} names no token_endpoint")))?,
        device: field("device_authorization_endpoint"),
    })
}

fn random_bytes(n: usize) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::Other(format!("reading /dev/urandom: {e}")))?;
    Ok(buf)
}

/// A PKCE verifier (43 characters of base64url) and its S256 challenge.
pub(crate) fn pkce(random: &[u8]) -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(random);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// What the provider sent to the loopback redirect.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Callback {
    /// `code` and `state`.
    Code { code: String, state: String },
    /// `error` (and `error_description`).
    Refused(String),
    /// Another path (a browser asking for /favicon.ico): ignored.
    Other,
}

/// Reads the request line of a redirect to `/callback`.
pub(crate) fn parse_callback(request_head: &str) -> Callback {
    let Some(target) = request_head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
    else {
        return Callback::Other;
    };
    let Ok(url) = reqwest::Url::parse(&format!("http://127.0.0.1{target}")) else {
        return Callback::Other;
    };
    if url.path() != "/callback" {
        return Callback::Other;
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Callback::Refused(match param("error_description") {
            Some(d) => format!("{error}: {d}"),
            None => error,
        });
    }
    match (param("code"), param("state")) {
        (Some(code), Some(state)) => Callback::Code { code, state },
        _ => Callback::Refused("the redirect carried no code".into()),
    }
}

async fn answer(stream: &mut tokio::net::TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>KubeNova</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Waits for the provider's redirect on `listener`; the code, once `state` matches.
async fn wait_for_code(listener: &tokio::net::TcpListener, state: &str) -> Result<String, Error> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| Error::Other(format!("the loopback listener: {e}")))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        // The request head only (a GET has no body), at most 16 KiB, within 10 s.
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        if read.is_err() {
            continue;
        }
        match parse_callback(&String::from_utf8_lossy(&head)) {
            Callback::Other => answer(&mut stream, "404 Not Found", "Not found.").await,
            Callback::Refused(why) => {
                answer(
                    &mut stream,
                    "400 Bad Request",
                    "The sign-in was refused; see the terminal.",
                )
                .await;
                return Err(Error::Other(format!(
                    "the identity provider refused the sign-in: {why}"
                )));
            }
            Callback::Code { code, state: got } => {
                if got != state {
                    answer(
                        &mut stream,
                        "400 Bad Request",
                        "This sign-in was not started here (state mismatch); see the terminal.",
                    )
                    .await;
                    return Err(Error::Other(
                        "the redirect's state does not match the one this sign-in sent \
                         (another sign-in, or a forged redirect); nothing was saved"
                            .into(),
                    ));
                }
                answer(
                    &mut stream,
                    "200 OK",
                    "Signed in. You can close this tab and go back to the terminal.",
                )
                .await;
                return Ok(code);
            }
        }
    }
}

/// Opens `url` in the desktop's browser, if there is a desktop.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        Some("open")
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some("xdg-open")
    } else {
        None
    };
    opener.is_some_and(|o| {
        std::process::Command::new(o)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

async fn token_request(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    form: &[(&str, &str)],
) -> Result<(u16, Value), Error> {
    let response = http
        .post(&endpoints.token)
        .form(form)
        .send()
        .await
        .map_err(|e| Error::Transport(format!("the provider's token endpoint: {e}")))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| Error::Transport(format!("the provider's token endpoint: {e}")))?;
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, value))
}

fn id_token_of(tokens: &Value) -> Result<String, Error> {
    tokens
        .get("id_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Other("the provider answered no id_token (is `openid` among the scopes?)".into())
        })
}

fn provider_error(tokens: &Value) -> String {
    match (
        tokens.get("error").and_then(Value::as_str),
        tokens.get("error_description").and_then(Value::as_str),
    ) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_owned(),
        _ => tokens.to_string().chars().take(300).collect(),
    }
}

async fn authorization_code(
    http: &reqwest::Client,
    provider: &Provider,
    endpoints: &Endpoints,
    no_browser: bool,
    timeout: Duration,
) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::Other(format!("listening on 127.0.0.1 for the redirect: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Other(e.to_string()))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let (verifier, challenge) = pkce(&random_bytes(32)?);
    let state = URL_SAFE_NO_PAD.encode(random_bytes(16)?);
    let mut url = reqwest::Url::parse(&endpoints.authorization).map_err(|e| {
        Error::Other(format!(
            "the provider's authorization_endpoint is not a URL: {e}"
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", &provider.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    eprintln!(
        "Sign in to {} in a browser; open this URL (it redirects back to {redirect}):\n  {url}",
        provider.name
    );
    if !no_browser && open_browser(url.as_str()) {
        eprintln!("(a browser was opened)");
    }
    let code = tokio::time::timeout(timeout, wait_for_code(&listener, &state))
        .await
        .map_err(|_| {
            Error::Other(format!(
                "no sign-in within {}s; nothing was saved (run the command again)",
                timeout.as_secs()
            ))
        })??;
    drop(listener);
    let (status, tokens) = token_request(
        http,
        endpoints,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("client_id", &provider.client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await?;
    if status != 200 {
        return Err(Error::Other(format!(
            "the provider refused the code ({status}): {}",
            provider_error(&tokens)
        )));
    }
    id_token_of(&tokens)
}

async fn device_flow(
    http: &reqwest::Client,
    provider: &Provider,
    endpoints: &Endpoints,
    timeout: Duration,
) -> Result<String, Error> {
    let device = endpoints.device.as_deref().ok_or_else(|| {
        Error::Other(format!(
            "{} offers no device flow (no device_authorization_endpoint); use --oidc",
            provider.name
        ))
    })?;
    let scope = provider.scopes.join(" ");
    let response = http
        .post(device)
        .form(&[
            ("client_id", provider.client_id.as_str()),
            ("scope", &scope),
        ])
        .send()
        .await
        .map_err(|e| Error::Transport(format!("the provider's device endpoint: {e}")))?;
    let status = response.status().as_u16();
    let grant: Value = response
        .json()
        .await
        .map_err(|e| Error::Other(format!("the provider's device endpoint: {e}")))?;
    if status != 200 {
        return Err(Error::Other(format!(
            "the provider refused the device flow ({status}): {}",
            provider_error(&grant)
        )));
    }
    let field = |name: &str| grant.get(name).and_then(Value::as_str).map(str::to_owned);
    let device_code = field("device_code")
        .ok_or_else(|| Error::Other("the provider answered no device_code".into()))?;
    let user_code = field("user_code")
        .ok_or_else(|| Error::Other("the provider answered no user_code".into()))?;
    let verification = field("verification_uri")
        .ok_or_else(|| Error::Other("the provider answered no verification_uri".into()))?;
    eprintln!(
        "Sign in to {} on any device: open {verification} and enter the code {user_code}",
        provider.name
    );
    if let Some(complete) = field("verification_uri_complete") {
        eprintln!("(or open {complete})");
    }
    let mut interval = grant
        .get("interval")
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .max(1);
    let expires = grant
        .get("expires_in")
        .and_then(Value::as_u64)
        .map_or(timeout, |s| timeout.min(Duration::from_secs(s)));
    let deadline = Instant::now() + expires;
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let (status, tokens) = token_request(
            http,
            endpoints,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
                ("client_id", &provider.client_id),
            ],
        )
        .await?;
        if status == 200 {
            return id_token_of(&tokens);
        }
        match tokens.get("error").and_then(Value::as_str) {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            _ => {
                return Err(Error::Other(format!(
                    "the device sign-in failed ({status}): {}; nothing was saved",
                    provider_error(&tokens)
                )));
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Other(format!(
                "the code {user_code} was not entered within {}s; nothing was saved",
                expires.as_secs()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636() {
        // RFC 7636, appendix B.
        let random = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let (verifier, challenge) = pkce(&random);
        assert_eq!(verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn the_redirect_is_read() {
        assert_eq!(
            parse_callback("GET /callback?code=abc%2F1&state=xyz HTTP/1.1\r\nHost: x\r\n\r\n"),
            Callback::Code {
                code: "abc/1".into(),
                state: "xyz".into()
            }
        );
        assert_eq!(
            parse_callback(
                "GET /callback?error=access_denied&error_description=no+way&state=s HTTP/1.1\r\n"
            ),
            Callback::Refused("access_denied: no way".into())
        );
        assert_eq!(
            parse_callback("GET /favicon.ico HTTP/1.1\r\n"),
            Callback::Other
        );
        assert_eq!(
            parse_callback("GET /callback?state=s HTTP/1.1\r\n"),
            Callback::Refused("the redirect carried no code".into())
        );
    }
}
