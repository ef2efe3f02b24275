//! CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) as NetworkPolicy `ipBlock`s take them, checked so
//! the API can say which entry is wrong before anything is written.
//!
//! Only the canonical form is accepted: an address with bits set beyond the prefix
//! (`10.1.2.3/8`) is almost always a typo for a narrower block, and newer apiservers warn about
//! it, so it is refused with the block it would mean.

use std::net::IpAddr;

/// A parsed CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `s`, refusing anything but `<address>/<prefix>` with no host bits set.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not a CIDR block: write <address>/<prefix>, e.g. 10.0.0.0/8")
        })?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not a CIDR block: `{addr}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| {
                *p <= max && !prefix.starts_with('+') && (prefix == "0" || !prefix.starts_with('0'))
            })
            .ok_or_else(|| format!("`{s}` is not a CIDR block: the prefix must be 0 to {max}"))?;
        let cidr = Cidr { addr, prefix };
        let canonical = cidr.masked();
        if canonical != cidr {
            return Err(format!(
                "`{s}` has address bits set beyond the /{prefix} prefix; write {canonical}"
            ));
        }
        Ok(cidr)
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn width(self) -> u8 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    fn mask(self) -> u128 {
        let host = u32::from(self.width() - self.prefix);
        let all = if self.addr.is_ipv4() {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all.checked_shl(host).unwrap_or(0) & all
    }

    /// The same block with every bit beyond the prefix cleared.
    pub fn masked(self) -> Self {
        let bits = Self::bits(self.addr) & self.mask();
        let addr = match self.addr {
            IpAddr::V4(_) => IpAddr::V4((bits as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(bits.into()),
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    /// Whether `other` lies inside this block and is smaller than it (what NetworkPolicy
    /// requires of an `except` entry).
    pub fn strictly_contains(self, other: Cidr) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && other.prefix > self.prefix
            && Self::bits(other.addr) & self.mask() == Self::bits(self.addr)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn canonical_blocks_parse() {
        for s in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "192.168.1.7/32",
            "::/0",
            "2001:db8::/32",
            "fd00::1/128",
        ] {
            assert_eq!(
                Cidr::parse(s).map(|c| c.to_string()).as_deref(),
                Ok(s),
                "{s}"
            );
        }
    }

    #[test]
    fn malformed_blocks_say_what_is_wrong() {
        for (s, says) in [
            ("10.0.0.0", "write <address>/<prefix>"),
            ("10.0.0/8", "not an IP address"),
            ("10.0.0.0/33", "0 to 32"),
            ("10.0.0.0/-1", "0 to 32"),
            ("10.0.0.0/+8", "0 to 32"),
            ("10.0.0.0/08", "0 to 32"),
            ("2001:db8::/129", "0 to 128"),
            ("10.0.0.0/", "0 to 32"),
            ("", "write <address>/<prefix>"),
            ("10.1.2.3/8", "write 10.0.0.0/8"),
            ("2001:db8::1/32", "write 2001:db8::/32"),
        ] {
            let err = Cidr::parse(s).expect_err(s);
            assert!(err.contains(says), "{s}: {err}");
        }
    }

    #[test]
    fn containment_is_strict_and_per_family() {
        let p = |s| Cidr::parse(s).expect("a canonical block");
        assert!(p("0.0.0.0/0").strictly_contains(p("10.0.0.0/8")));
        assert!(p("10.0.0.0/8").strictly_contains(p("10.96.0.0/12")));
        assert!(!p("10.0.0.0/8").strictly_contains(p("10.0.0.0/8")));
        assert!(!p("10.0.0.0/8").strictly_contains(p("11.0.0.0/16")));
        assert!(!p("10.96.0.0/12").strictly_contains(p("10.0.0.0/8")));
        assert!(!p("0.0.0.0/0").strictly_contains(p("fd00::/8")));
        assert!(p("::/0").strictly_contains(p("fd00::/8")));
    }
}
