//! The one parser of durations given on command lines and in settings: `500ms`, `30s`, `15m`,
//! `8h`, `30d`, or a plain number of seconds.

use std::time::Duration;

/// Parses `500ms`, `30s`, `15m`, `8h`, `30d` or a plain number of seconds; the error says what
/// is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 30s, 15m, 8h or 30d"))?;
    let secs = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{text}` is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!(
            "`{text}`: the unit must be ms, s, m, h or d (as in 30s)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_a_plain_number() {
        for (text, want) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("30", Duration::from_secs(30)),
            (" 5m ", Duration::from_secs(300)),
            ("8h", Duration::from_secs(8 * 3600)),
            ("30d", Duration::from_secs(30 * 86_400)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_input_says_what_is_accepted() {
        for text in ["h", "5y", "5 weeks", "soon", "", "-1s"] {
            let e = parse(text).expect_err(text);
            assert!(e.contains("30s"), "{text}: {e}");
        }
        let e = parse("5y").expect_err("unit");
        assert!(e.contains("ms, s, m, h or d"), "{e}");
        assert!(parse(&format!("{}d", u64::MAX)).is_err(), "overflow");
    }
}
