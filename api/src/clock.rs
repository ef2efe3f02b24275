//! The one place KubeNova reads the wall clock. Everything else in this crate takes time as an
//! argument; callers read it here and pass it in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (JWT `iat`/`exp`, revocation records); 0 before the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now as an RFC 3339 timestamp in UTC (condition `lastTransitionTime`s, app deploy times).
pub fn rfc3339_now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_tell_the_same_time() {
        let unix = unix_now();
        let text = rfc3339_now();
        assert!(text.ends_with('Z'), "{text}");
        let parsed: k8s_openapi::jiff::Timestamp = text.parse().expect("RFC 3339");
        assert!((parsed.as_second() - unix).abs() <= 1, "{text} vs {unix}");
        assert!(unix > 1_700_000_000, "after 2023");
    }
}
