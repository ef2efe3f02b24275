//! The config file: `$KUBENOVA_CONFIG`, else `$XDG_CONFIG_HOME/kubenova/config.yaml` (default
//! `~/.config/kubenova/config.yaml`), mode 0600, written whole under a temporary name and
//! renamed, so a failed command never leaves half a file.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::Error;

/// One server and the token to use with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Context {
    /// The context's name.
    pub(crate) name: String,
    /// The API's URL.
    pub(crate) server: String,
    /// The API token.
    pub(crate) token: String,
    /// PEM of the CA that signed the server's certificate, if not a public one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) certificate_authority_data: Option<String>,
    /// Do not verify the server's certificate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) insecure_skip_tls_verify: bool,
    /// The cluster used when `--cluster` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cluster: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Config {
    /// The context used when `--context` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current_context: Option<String>,
    /// Every context.
    #[serde(default)]
    pub(crate) contexts: Vec<Context>,
}

/// Where the config file is.
pub(crate) fn path() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("KUBENOVA_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(Error::Other(
                    "neither XDG_CONFIG_HOME nor HOME is set: set KUBENOVA_CONFIG".into(),
                ));
            }
        },
    };
    Ok(base.join("kubenova").join("config.yaml"))
}

impl Config {
    /// Reads the file; a missing file is an empty config.
    pub(crate) fn load(path: &Path) -> Result<Config, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml::from_str(&text).map_err(|e| {
                Error::Other(format!("{} is not a valid config: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::Other(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Writes the file (0600, atomically).
    pub(crate) fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_yaml::to_string(self)
            .map_err(|e| Error::Other(format!("serializing the config: {e}")))?;
        write_private(path, text.as_bytes())
    }

    /// The context named, or the current one.
    pub(crate) fn context(&self, name: Option<&str>) -> Result<&Context, Error> {
        let name = match name.or(self.current_context.as_deref()) {
            Some(n) => n,
            None => {
                return Err(Error::Usage(
                    "no context: log in first with `kubenova login --server URL` (or pass --server and --token)"
                        .into(),
                ));
            }
        };
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no context named {name:?} (`kubenova context list`)"
                ))
            })
    }

    /// Adds a context or replaces the one of the same name.
    pub(crate) fn upsert(&mut self, context: Context) {
        match self.contexts.iter_mut().find(|c| c.name == context.name) {
            Some(c) => *c = context,
            None => self.contexts.push(context),
        }
    }
}

/// Writes `bytes` to `path` with mode 0600: a temporary file in the same directory, then a
/// rename, so readers see the old file or the new one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Other(format!("creating {}: {e}", dir.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Other(format!("writing {}: {e}", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("kn-cli-config-{}", std::process::id()));
        let path = dir.join("sub/config.yaml");
        let mut config = Config::default();
        config.upsert(Context {
            name: "a".into(),
            server: "http://127.0.0.1:1".into(),
            token: "t".into(),
            certificate_authority_data: None,
            insecure_skip_tls_verify: false,
            cluster: Some("local".into()),
        });
        config.current_context = Some("a".into());
        config.save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = Config::load(&path).expect("load");
        assert_eq!(
            back.context(None).expect("current").server,
            "http://127.0.0.1:1"
        );
        assert!(back.context(Some("b")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
