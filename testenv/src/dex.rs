//! Dex, the OpenID Connect provider people sign in through (issue 19), as a local process.
//!
//! - Built from its source tree by `make upstream` (`hack/upstream/dex/source`); its login pages
//!   (`web/`) sit next to the binary.
//! - Serves HTTPS on a free loopback port with a certificate from the environment's CA; the
//!   issuer is `https://127.0.0.1:<port>/dex`. Memory storage (the binary is built without
//!   CGO, so without SQLite): everything is gone when it stops.
//! - A static-password connector with [`USERS`], each with a password made at start (random,
//!   never written to a tracked file) and the groups listed there.
//! - One public client, [`CLIENT_ID`], for the authorization-code flow with PKCE on a loopback
//!   redirect (any port, as RFC 8252 asks) and for the device flow; ID tokens last
//!   [`Options::id_token_ttl`](DexOptions::id_token_ttl).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::pki::{Pki, write_file};
use crate::process::Program;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv, free_port, wait};

/// The client KubeNova signs people in with (public: PKCE, no secret).
pub const CLIENT_ID: &str = "kubenova";

/// A second client, another application's: its ID tokens are not meant for KubeNova (tests
/// show they are refused).
pub const OTHER_CLIENT_ID: &str = "other-app";

/// The group whose members are platform admins in the environment's mapping.
pub const PLATFORM_GROUP: &str = "kubenova-platform";

/// The people Dex knows: `(username, groups)`. Their emails are `<username>@example.test`.
pub const USERS: &[(&str, &[&str])] = &[
    // A platform admin.
    ("alice", &[PLATFORM_GROUP, "everyone"]),
    // The owners of tenant `acme` (the group a mapping names for it).
    ("bob", &["tenant-acme-owners", "everyone"]),
    // In no group any mapping names.
    ("carol", &["everyone"]),
];

/// How the environment's Dex is set up.
#[derive(Debug, Clone)]
pub struct DexOptions {
    /// How long ID tokens live (Dex's `expiry.idTokens`).
    pub id_token_ttl: Duration,
}

impl Default for DexOptions {
    fn default() -> Self {
        DexOptions {
            id_token_ttl: Duration::from_secs(600),
        }
    }
}

/// One person Dex knows.
#[derive(Debug, Clone)]
pub struct DexUser {
    /// Login name.
    pub username: String,
    /// What the login form asks for (Dex's password connector logs in by email).
    pub email: String,
    /// Made at start, random.
    pub password: String,
    /// Dex's `groups` claim.
    pub groups: Vec<String>,
}

/// Where the environment's Dex serves.
#[derive(Debug, Clone)]
pub struct Dex {
    /// The issuer: `https://127.0.0.1:<port>/dex`.
    pub issuer: String,
    /// The public client's id ([`CLIENT_ID`]).
    pub client_id: String,
    /// The people it knows, with their passwords.
    pub users: Vec<DexUser>,
}

impl Dex {
    /// The user called `username`.
    pub fn user(&self, username: &str) -> Option<&DexUser> {
        self.users.iter().find(|u| u.username == username)
    }
}

fn random_password() -> Result<String> {
    let mut bytes = [0u8; 18];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io(Path::new("/dev/urandom"), e))?;
    Ok(bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Writes Dex's configuration and starts it; returns once its discovery document is served.
pub async fn start(
    env: &TestEnv,
    pki: &Pki,
    pki_dir: &Path,
    options: &DexOptions,
) -> Result<(Dex, Program)> {
    let binary = Module::Dex.path("dex")?;
    let web = Module::Dex.path("web")?;
    let dir = env.dir().join("dex");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let serving = pki.serving("dex", &["127.0.0.1", "localhost"])?;
    let (cert, key) = (pki_dir.join("dex.crt"), pki_dir.join("dex.key"));
    write_file(&cert, &serving.cert_pem)?;
    write_file(&key, &serving.key_pem)?;

    let port = free_port()?;
    let issuer = format!("https://127.0.0.1:{port}/dex");
    let mut users = Vec::new();
    for (username, groups) in USERS {
        users.push(DexUser {
            username: (*username).to_owned(),
            email: format!("{username}@example.test"),
            password: random_password()?,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        });
    }
    let static_passwords: Vec<serde_json::Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            // Dex refuses hashes cheaper than cost 10.
            let hash = bcrypt::hash(&u.password, 10).map_err(|e| Error::Invalid(e.to_string()))?;
            Ok(serde_json::json!({
                "email": u.email,
                "hash": hash,
                "username": u.username,
                "preferredUsername": u.username,
                "userID": format!("00000000-0000-4000-8000-{i:012}"),
                "groups": u.groups,
            }))
        })
        .collect::<Result<_>>()?;
    let ttl = format!("{}s", options.id_token_ttl.as_secs().max(1));
    let clients: Vec<serde_json::Value> = [CLIENT_ID, OTHER_CLIENT_ID]
        .into_iter()
        .map(|id| {
            // No redirectURIs: Dex then lets a public client redirect to any loopback address
            // and port (RFC 8252) and to its device flow's callback.
            serde_json::json!({"id": id, "name": id, "public": true})
        })
        .collect();
    // JSON is YAML: Dex reads this as its config file.
    let config = serde_json::json!({
        "issuer": issuer,
        "storage": {"type": "memory"},
        "web": {
            "https": format!("127.0.0.1:{port}"),
            "tlsCert": cert,
            "tlsKey": key,
            // CORS on discovery, token and keys, for a web page signing in with PKCE (the web
            // UI, on whatever loopback port control has). A test provider's choice: a real one
            // lists the UI's origin.
            "allowedOrigins": ["*"],
        },
        "frontend": {"dir": web, "issuer": "KubeNova testenv"},
        "expiry": {"idTokens": ttl, "deviceRequests": "5m"},
        "oauth2": {
            "skipApprovalScreen": true,
            "responseTypes": ["code"],
            "grantTypes": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
        },
        "enablePasswordDB": true,
        "staticPasswords": static_passwords,
        "staticClients": clients,
        "logger": {"level": "info", "format": "json"},
    });
    let config_path = dir.join("config.yaml");
    write_file(&config_path, &config.to_string())?;

    let mut cmd = Command::new(&binary);
    cmd.arg("serve").arg(&config_path);
    let mut program = env.supervisor().spawn("dex", cmd)?;
    wait::until(
        "Dex serving its discovery document",
        &mut program,
        Duration::from_secs(60),
        || async move { Ok(wait::port_open(port)) },
    )
    .await?;
    Ok((
        Dex {
            issuer,
            client_id: CLIENT_ID.to_owned(),
            users,
        },
        program,
    ))
}
