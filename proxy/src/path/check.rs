//! The byte-level rules behind [`super::classify`]: what a path and a query may contain, and what
//! a namespace, name, group, version or resource segment looks like.

use http::Uri;

use super::PathError;

/// Go's `net/url` drops every query parameter once there are more than 10 000, which would turn
/// `?watch=true` into a list upstream. No client needs anywhere near this many.
const MAX_QUERY_PARAMS: usize = 1000;

/// How much of a rejected segment an error message repeats.
const SHOWN_CHARS: usize = 64;

/// A path that passed every check, split into its segments.
pub(super) struct CheckedPath<'a> {
    /// The path as sent.
    pub(super) path: &'a str,
    /// The segments between the leading `/` and the optional trailing `/`; none for `/`.
    pub(super) segments: Vec<&'a str>,
    /// Whether the path ends in `/` (other than the path `/` itself).
    pub(super) trailing_slash: bool,
}

/// Checks that the target is an origin-form path made only of plain, non-empty, non-dot segments.
pub(super) fn check_path(uri: &Uri) -> Result<CheckedPath<'_>, PathError> {
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(PathError::AbsoluteForm);
    }
    let path = uri.path();
    let Some(body) = path.strip_prefix('/') else {
        return Err(PathError::AbsoluteForm);
    };
    if path
        .bytes()
        .any(|b| b == b'\\' || !b.is_ascii() || b.is_ascii_control())
    {
        return Err(PathError::ForbiddenCharacter);
    }
    check_percent(path.as_bytes())?;
    if body.is_empty() {
        return Ok(CheckedPath {
            path,
            segments: Vec::new(),
            trailing_slash: false,
        });
    }
    let (body, trailing_slash) = match body.strip_suffix('/') {
        Some(body) => (body, true),
        None => (body, false),
    };
    let segments: Vec<&str> = body.split('/').collect();
    for segment in &segments {
        match *segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(CheckedPath {
        path,
        segments,
        trailing_slash,
    })
}

/// Refuses any `%`: an encoded separator (or an encoded `%`, for double decoding) with the most
/// specific error, anything else because a name never needs it.
fn check_percent(path: &[u8]) -> Result<(), PathError> {
    let mut found = false;
    for (i, byte) in path.iter().enumerate() {
        if *byte != b'%' {
            continue;
        }
        found = true;
        let decoded = match (path.get(i + 1), path.get(i + 2)) {
            (Some(hi), Some(lo)) => hex_pair(*hi, *lo),
            _ => None,
        };
        if matches!(decoded, Some(b'.' | b'/' | b'\\' | b'%')) {
            return Err(PathError::EncodedSeparator);
        }
    }
    if found {
        return Err(PathError::PercentEncoded);
    }
    Ok(())
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    let value = digit(hi)? * 16 + digit(lo)?;
    u8::try_from(value).ok()
}

/// Reads the query as kube-apiserver does (Go's `url.ParseQuery`, then `RequestInfo`) and tells
/// whether it asks for a watch, refusing anything the two sides could read differently.
///
/// Kubernetes treats the first `watch` value as true unless it is `0` or `false` (any case):
/// `?watch`, `?watch=` and `?watch=yes` are watches too. Raw `;` (a separator for some servers,
/// a dropped parameter for Go), malformed `%`-escapes (Go drops the parameter), a repeated
/// `watch` and a non-ASCII `watch` value (Go folds Unicode case) are refused.
pub(super) fn watch_requested(query: Option<&str>) -> Result<bool, PathError> {
    let Some(query) = query else {
        return Ok(false);
    };
    if query.bytes().any(|b| b.is_ascii_control()) {
        return Err(PathError::InvalidQuery("it contains a control character"));
    }
    if !query.is_ascii() {
        return Err(PathError::InvalidQuery(
            "it contains a raw non-ASCII character",
        ));
    }
    if query.contains(';') {
        return Err(PathError::InvalidQuery(
            "';' is not a parameter separator; encode it as %3B",
        ));
    }
    if query.split('&').count() > MAX_QUERY_PARAMS {
        return Err(PathError::InvalidQuery("it has too many parameters"));
    }
    let mut watch: Option<Vec<u8>> = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let malformed = || PathError::InvalidQuery("it has a malformed %-escape");
        let key = query_unescape(key).ok_or_else(malformed)?;
        let value = query_unescape(value).ok_or_else(malformed)?;
        if key == b"watch" {
            if watch.is_some() {
                return Err(PathError::InvalidQuery("the watch parameter is repeated"));
            }
            watch = Some(value);
        }
    }
    match watch {
        None => Ok(false),
        Some(value) if !value.is_ascii() => {
            Err(PathError::InvalidQuery("the watch value is not ASCII"))
        }
        Some(value) => Ok(!(value == b"0" || value.eq_ignore_ascii_case(b"false"))),
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%` must start two hex digits.
fn query_unescape(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                out.push(hex_pair(*bytes.get(i + 1)?, *bytes.get(i + 2)?)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A namespace name: a DNS-1123 label.
pub(super) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// An object name. Most kinds use DNS-1123 subdomains, but RBAC names are free-form path
/// segments (`system:controller:foo`), so this allows upper case, `_`, `:` and `@` as well; it
/// never allows `/`, `%` or `..`.
pub(super) fn is_object_name(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b':' | b'@'))
        && !s.contains("..")
}

/// A resource or subresource: CRD plurals are DNS-1035 labels, built-ins are lower case too.
pub(super) fn is_resource(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// An API group: a DNS-1123 subdomain.
pub(super) fn is_group(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=253).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && !s.contains("..")
}

/// An API version: `v1`, `v1beta2`.
pub(super) fn is_version(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A rejected value, shortened for an error message.
pub(super) fn shown(s: &str) -> String {
    s.chars().take(SHOWN_CHARS).collect()
}
