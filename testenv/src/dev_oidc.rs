//! `make dev`'s sign-in through Dex (issue 19): the environment's Dex with its three people,
//! `kubenova-control --oidc-config` with the same mapping the tests use, and a file with the
//! people's passwords under the dev state directory (0600, gitignored, removed with the
//! directory at the next start; never printed: the usage text names the file).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use testenv::TestEnv;
use testenv::dex::{Dex, PLATFORM_GROUP};

/// The provider's name in the dev server's `--oidc-config`.
pub(crate) const PROVIDER: &str = "dex";

/// What each person's groups give in the dev mapping.
fn role_of(groups: &[String]) -> &'static str {
    if groups.iter().any(|g| g == PLATFORM_GROUP) {
        "admin"
    } else if groups.iter().any(|g| g == "tenant-acme-owners") {
        "tenantOwner of tenant acme"
    } else {
        "refused: in no mapped group"
    }
}

/// Writes `<dir>/oidc.yaml` for kubenova-control; its path.
pub(crate) fn write_config(env: &TestEnv, dex: &Dex) -> anyhow::Result<PathBuf> {
    let path = env.dir().join("oidc.yaml");
    let config = serde_json::json!({"issuers": [{
        "name": PROVIDER,
        "issuerUrl": dex.issuer,
        "clientId": dex.client_id,
        "caFile": env.ca_path(),
        "mapping": [
            {"group": PLATFORM_GROUP, "role": "admin"},
            {"group": "tenant-acme-owners", "role": "tenantOwner", "tenant": "acme"},
        ],
    }]});
    std::fs::write(&path, config.to_string())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Writes the people's logins and passwords to `<dir>/dex-users.txt` (0600); its path.
pub(crate) fn write_users(env: &TestEnv, dex: &Dex) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = env.dir().join("dex-users.txt");
    let mut text = String::from(
        "# The people of make dev's Dex (made at start; valid while this environment runs).\n\
         # login (email)\tpassword\twhat their groups give\n",
    );
    for u in &dex.users {
        text.push_str(&format!(
            "{}\t{}\t{}\n",
            u.email,
            u.password,
            role_of(&u.groups)
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The lines `make dev` prints about signing in (names the password file, never a password).
pub(crate) fn usage(dex: &Dex, api: &str, ca: &Path, users: &Path) -> String {
    let people: Vec<String> = dex
        .users
        .iter()
        .map(|u| format!("{} ({})", u.username, role_of(&u.groups)))
        .collect();
    format!(
        "  dex         {} (people: {}; passwords in {})\n\n\
         Sign in as a person (a browser, or --device on a machine without one; docs/identity.md):\n\n  \
         kubenova login --server {api} --oidc --provider-ca {}\n\n",
        dex.issuer,
        people.join(", "),
        users.display(),
        ca.display(),
    )
}
