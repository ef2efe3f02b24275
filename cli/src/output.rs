//! `-o table|wide|json|yaml|name`: tables per kind of object (columns read from the API's JSON),
//! sized to the terminal; JSON and YAML as the API answered.

use std::io::IsTerminal as _;

use serde_json::Value;

use crate::api::Error;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Columns (the default).
    Table,
    /// More columns.
    Wide,
    /// The API's JSON.
    Json,
    /// The API's JSON as YAML.
    Yaml,
    /// `kind/name` per object.
    Name,
}

/// How to print.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    /// The format.
    pub(crate) format: Format,
    /// No header line in tables.
    pub(crate) no_headers: bool,
}

/// What kind of object an answer holds (its columns and its `-o name` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    Tenant,
    Project,
    App,
    Revision,
    Token,
    Me,
    /// No columns: tables show YAML.
    Other,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Tenant => "tenant",
            Kind::Project => "project",
            Kind::App => "app",
            Kind::Revision => "revision",
            Kind::Token => "token",
            Kind::Me => "subject",
            Kind::Other => "object",
        }
    }
}

type Column = (&'static str, bool, fn(&Value) -> String);

fn s(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// `True`/`False`/`Unknown` of the `Ready` condition, or of `status.ready`.
fn ready(v: &Value) -> String {
    if v.pointer("/status/deletingSince")
        .is_some_and(|d| !d.is_null())
    {
        return "Deleting".into();
    }
    match v.pointer("/status/ready").and_then(Value::as_bool) {
        Some(true) => "True".into(),
        Some(false) => "False".into(),
        None => "Unknown".into(),
    }
}

fn conditions_true(v: &Value) -> String {
    v.get("conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}={}",
                        c.get("type").and_then(Value::as_str).unwrap_or("?"),
                        c.get("status").and_then(Value::as_str).unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn app_kind(v: &Value) -> String {
    if v.pointer("/spec/helm").is_some_and(|h| !h.is_null()) {
        "helm".into()
    } else {
        "image".into()
    }
}

fn app_source(v: &Value) -> String {
    if let Some(h) = v.pointer("/spec/helm").filter(|h| !h.is_null()) {
        format!("{}/{}@{}", s(h, "/repo"), s(h, "/chart"), s(h, "/version"))
    } else {
        let image = s(v, "/spec/image/image");
        let tag = s(v, "/spec/image/tag");
        if tag.is_empty() {
            image
        } else {
            format!("{image}:{tag}")
        }
    }
}

fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Cluster => &[
            ("NAME", false, |v| s(v, "/name")),
            ("PROXY URL", false, |v| s(v, "/proxyUrl")),
            ("VERSION", false, |v| s(v, "/kubernetesVersion")),
            ("CONDITIONS", true, conditions_true),
        ],
        Kind::Tenant => &[
            ("NAME", false, |v| s(v, "/name")),
            ("CLUSTER", false, |v| s(v, "/cluster")),
            ("OWNERS", false, |v| s(v, "/owners")),
            ("READY", false, ready),
            ("NAMESPACES", true, |v| s(v, "/status/namespaces")),
            ("INGRESS HOSTS", true, |v| s(v, "/ingressHosts")),
            ("LABELS", true, |v| s(v, "/labels")),
        ],
        Kind::Project => &[
            ("NAME", false, |v| s(v, "/name")),
            ("TENANT", false, |v| s(v, "/tenant")),
            ("NAMESPACE", false, |v| s(v, "/namespace")),
            ("READY", false, ready),
            ("DEVELOPERS", true, |v| s(v, "/access/developers")),
            ("READERS", true, |v| s(v, "/access/readers")),
            ("LABELS", true, |v| s(v, "/labels")),
        ],
        Kind::App => &[
            ("NAME", false, |v| s(v, "/name")),
            ("KIND", false, app_kind),
            ("PHASE", false, |v| s(v, "/status/phase")),
            ("REVISION", false, |v| s(v, "/status/revision")),
            ("SOURCE", true, app_source),
            ("SUSPENDED", true, |v| s(v, "/spec/suspended")),
            ("LAST ERROR", true, |v| s(v, "/status/lastError")),
        ],
        Kind::Revision => &[
            ("NAME", false, |v| s(v, "/name")),
            ("REVISION", false, |v| s(v, "/revision")),
            ("CURRENT", false, |v| s(v, "/current")),
            ("RESTORABLE", false, |v| s(v, "/restorable")),
            ("CREATED", true, |v| s(v, "/created")),
        ],
        Kind::Token => &[
            ("JTI", false, |v| s(v, "/jti")),
            ("KIND", false, |v| s(v, "/kind")),
            ("SUBJECT", false, |v| s(v, "/subject")),
            ("ROLES", false, |v| s(v, "/roles")),
            ("TENANT", false, |v| s(v, "/tenant")),
            ("PROJECT", false, |v| s(v, "/project")),
            ("EXPIRES", false, |v| s(v, "/expiresAt")),
            ("REVOKED", false, |v| s(v, "/revoked")),
            ("ISSUED BY", true, |v| s(v, "/issuedBy")),
            ("CLUSTER", true, |v| s(v, "/cluster")),
        ],
        Kind::Me => &[
            ("SUBJECT", false, |v| s(v, "/subject")),
            ("ROLES", false, |v| s(v, "/roles")),
            ("TENANT", false, |v| s(v, "/tenant")),
            ("PROJECT", false, |v| s(v, "/project")),
            ("EXPIRES", false, |v| s(v, "/expiresAt")),
            ("JTI", true, |v| s(v, "/jti")),
        ],
        Kind::Other => &[],
    }
}

fn name_of(kind: Kind, v: &Value) -> String {
    let name = match kind {
        Kind::Token => s(v, "/jti"),
        Kind::Me => s(v, "/subject"),
        _ => s(v, "/name"),
    };
    format!("{}/{name}", kind.prefix())
}

/// The terminal's width when stdout is one (`COLUMNS` wins).
fn width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        return Some(c);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
}

/// Whether to colour output: a terminal and no `NO_COLOR`.
pub(crate) fn color(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn cut(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_owned();
    }
    let mut out: String = cell.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Lays out rows as columns separated by three spaces, narrowing the widest columns (their cells
/// end in `…`) until the table fits `max` characters.
pub(crate) fn table(headers: Option<&[&str]>, rows: &[Vec<String>], max: Option<usize>) -> String {
    let n = headers
        .map(<[&str]>::len)
        .or_else(|| rows.first().map(Vec::len))
        .unwrap_or(0);
    let mut widths = vec![0usize; n];
    for (i, w) in widths.iter_mut().enumerate() {
        *w = rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        if let Some(h) = headers {
            *w = (*w).max(h[i].len());
        }
    }
    if let Some(max) = max {
        let total = |w: &[usize]| w.iter().sum::<usize>() + 3 * w.len().saturating_sub(1);
        while total(&widths) > max {
            // The widest column other than the first (the name) gives up one character.
            let Some((i, w)) = widths
                .iter()
                .enumerate()
                .skip(1)
                .max_by_key(|(_, w)| **w)
                .map(|(i, w)| (i, *w))
            else {
                break;
            };
            if w <= 8 {
                break;
            }
            widths[i] -= 1;
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cut(cell, widths[i]);
            if i + 1 == cells.len() {
                text.push_str(&cell);
            } else {
                text.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    if let Some(h) = headers {
        line(h.iter().map(|s| (*s).to_owned()).collect());
    }
    for r in rows {
        line(r.clone());
    }
    out
}

impl Printer {
    /// Prints an answer: an object, or a list (`{"items": [...]}` or an array).
    pub(crate) fn print(&self, kind: Kind, value: &Value) -> Result<(), Error> {
        print!("{}", self.render(kind, value)?);
        Ok(())
    }

    /// What [`Printer::print`] prints.
    pub(crate) fn render(&self, kind: Kind, value: &Value) -> Result<String, Error> {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(map) if map.contains_key("items") => map["items"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            other => vec![other],
        };
        Ok(match self.format {
            Format::Json => {
                serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))? + "\n"
            }
            Format::Yaml => yaml(value)?,
            Format::Name => items.iter().map(|v| name_of(kind, v) + "\n").collect(),
            Format::Table | Format::Wide if kind == Kind::Other => yaml(value)?,
            Format::Table | Format::Wide => {
                let wide = self.format == Format::Wide;
                let cols: Vec<&Column> = columns(kind).iter().filter(|c| wide || !c.1).collect();
                let headers: Vec<&str> = cols.iter().map(|c| c.0).collect();
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|v| cols.iter().map(|c| (c.2)(v)).collect())
                    .collect();
                let mut out = String::new();
                if rows.is_empty() {
                    eprintln!("No {}s found.", kind.prefix());
                } else {
                    out = table(
                        (!self.no_headers).then_some(headers.as_slice()),
                        &rows,
                        width(),
                    );
                }
                if let Some(unreachable) = value
                    .get("unreachable")
                    .and_then(Value::as_array)
                    .filter(|u| !u.is_empty())
                {
                    for u in unreachable {
                        eprintln!(
                            "warning: cluster {} did not answer: {}",
                            s(u, "/cluster"),
                            s(u, "/message")
                        );
                    }
                }
                out
            }
        })
    }
}

/// JSON as YAML.
pub(crate) fn yaml(value: &Value) -> Result<String, Error> {
    serde_yaml::to_string(value).map_err(|e| Error::Other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_fits_and_cuts() {
        let rows = vec![
            vec![
                "acme".to_owned(),
                "a-very-long-value-indeed".to_owned(),
                "x".to_owned(),
            ],
            vec!["b".to_owned(), "short".to_owned(), "y".to_owned()],
        ];
        let full = table(Some(&["NAME", "VALUE", "Z"]), &rows, None);
        assert_eq!(
            full,
            "NAME   VALUE                      Z\nacme   a-very-long-value-indeed   x\nb      short                      y\n"
        );
        let cut = table(Some(&["NAME", "VALUE", "Z"]), &rows, Some(24));
        assert!(cut.lines().all(|l| l.chars().count() <= 24), "{cut}");
        assert!(cut.contains('…'), "{cut}");
        let bare = table(None, &rows, None);
        assert!(bare.starts_with("acme"));
    }

    #[test]
    fn names_and_ready() {
        let p = Printer {
            format: Format::Name,
            no_headers: false,
        };
        let v = serde_json::json!({"items": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            p.render(Kind::Tenant, &v).expect("render"),
            "tenant/a\ntenant/b\n"
        );
        assert_eq!(
            ready(&serde_json::json!({"status": {"ready": true}})),
            "True"
        );
        assert_eq!(ready(&serde_json::json!({"status": {}})), "Unknown");
    }
}
