//! Kubernetes resource quantities (`500m`, `4`, `1.5Gi`, `2e3`), checked the way the apiserver
//! parses them, so the API can say which field is wrong before anything is written.

/// Whether `s` is a quantity the apiserver accepts: an optionally signed decimal number followed
/// by nothing, a binary suffix (`Ki`..`Ei`), a decimal suffix (`n`, `u`, `m`, `k`, `M`..`E`) or a
/// decimal exponent (`e3`, `E-2`).
pub fn is_quantity(s: &str) -> bool {
    let rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(digits_end);
    let valid_number = match number.split_once('.') {
        None => !number.is_empty(),
        // `5.` and `.5` are numbers, `.` and `1.2.3` are not.
        Some((whole, fraction)) => {
            let digits = whole.len() + fraction.len();
            !fraction.contains('.') && digits > 0
        }
    };
    if !valid_number {
        return false;
    }
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        _ => suffix
            .strip_prefix(['e', 'E'])
            .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
            .is_some_and(|exp| !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())),
    }
}

#[cfg(test)]
mod tests {
    use super::is_quantity;

    #[test]
    fn accepts_what_the_apiserver_accepts() {
        for q in [
            "1", "500m", "0.5", ".5", "5.", "4Gi", "512Mi", "1.5Gi", "2k", "3M", "1e3", "1E-2",
            "+1", "-1", "100n", "7u", "1Ei",
        ] {
            assert!(is_quantity(q), "{q}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        for q in [
            "", "m", "four", "1.2.3", "1 Gi", "1gi", "1GB", "1Kib", "e3", "1e", "1e+", "Gi", ".",
            "--1", "1m1",
        ] {
            assert!(!is_quantity(q), "{q}");
        }
    }
}
