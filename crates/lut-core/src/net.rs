//! IP address and CIDR prefix parsing: the textual forms lookup tables and
//! events use, normalised into [`Cidr`] values the prefix index can trust.
//!
//! Two rules shape everything here. Nothing is trimmed: a value with stray
//! whitespace is not an address, because silently accepting it would hide bad
//! table data. And IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is folded into IPv4,
//! both for addresses and for prefixes, so a mapped event address matches the
//! IPv4 blocks a table author actually wrote.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Address family of an address or prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// Longest prefix length the family allows (32 or 128).
    pub fn max_len(self) -> u8 {
        match self {
            IpVersion::V4 => 32,
            IpVersion::V6 => 128,
        }
    }

    pub fn of(ip: IpAddr) -> IpVersion {
        match ip {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
}

impl fmt::Display for IpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpVersion::V4 => "IPv4",
            IpVersion::V6 => "IPv6",
        })
    }
}

/// Why a CIDR string was rejected. Each variant carries what a user needs to
/// find and fix the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("empty CIDR")]
    Empty,
    #[error("invalid IP address \"{0}\"")]
    InvalidAddress(String),
    #[error("invalid prefix length \"{0}\" (expected a number)")]
    InvalidPrefixLength(String),
    #[error("prefix length {len} is out of range for {version} (0-{})", .version.max_len())]
    PrefixOutOfRange { len: u32, version: IpVersion },
    #[error("missing prefix length in \"{0}\" (expected address/length)")]
    MissingPrefixLength(String),
}

/// A normalised IP prefix: the address is the network address (host bits
/// zero) and IPv4-mapped IPv6 prefixes of length >= 96 are stored as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// Builds a prefix from parts, clearing any host bits.
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, CidrError> {
        Cidr::normalise(addr, u32::from(len)).map(|(c, _)| c)
    }

    /// The single-address prefix (/32 or /128) for `ip`.
    pub fn host(ip: IpAddr) -> Cidr {
        let ip = fold_mapped(ip);
        let len = IpVersion::of(ip).max_len();
        Cidr { addr: ip, len }
    }

    /// Parses "a.b.c.d/n" or "v6addr/n". A bare address (no "/") is accepted
    /// as a host prefix (/32 or /128). Host bits are cleared.
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        Cidr::parse_with_info(s).map(|(c, _)| c)
    }

    /// Like [`Cidr::parse`], but a bare address without "/len" is an error.
    pub fn parse_strict(s: &str) -> Result<Cidr, CidrError> {
        if !s.is_empty() && !s.contains('/') {
            return Err(CidrError::MissingPrefixLength(s.to_owned()));
        }
        Cidr::parse(s)
    }

    /// Like [`Cidr::parse`], also reporting whether the input had host bits
    /// set (e.g. "10.1.2.3/8"), which usually signals a typo worth a warning.
    pub fn parse_with_info(s: &str) -> Result<(Cidr, bool), CidrError> {
        if s.is_empty() {
            return Err(CidrError::Empty);
        }
        let (addr_part, len_part) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(addr_part)
            .map_err(|_| CidrError::InvalidAddress(addr_part.to_owned()))?;
        let len = match len_part {
            None => u32::from(IpVersion::of(addr).max_len()),
            Some(l) => parse_len(l)?,
        };
        Cidr::normalise(addr, len)
    }

    /// Validates `len` against the family, folds mapped prefixes into IPv4
    /// and clears host bits; the flag says whether any were set.
    fn normalise(addr: IpAddr, len: u32) -> Result<(Cidr, bool), CidrError> {
        let version = IpVersion::of(addr);
        if len > u32::from(version.max_len()) {
            return Err(CidrError::PrefixOutOfRange { len, version });
        }
        // Bounded by the check above, so the narrowing cannot truncate.
        let len = len as u8;
        let (addr, len) = match addr {
            IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), len - 96),
                None => (addr, len),
            },
            _ => (addr, len),
        };
        let (network, had_host_bits) = match addr {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let net = bits & mask_u32(len);
                (IpAddr::V4(Ipv4Addr::from(net)), net != bits)
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let net = bits & mask_u128(len);
                (IpAddr::V6(Ipv6Addr::from(net)), net != bits)
            }
        };
        Ok((Cidr { addr: network, len }, had_host_bits))
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    pub fn version(&self) -> IpVersion {
        IpVersion::of(self.addr)
    }

    /// Whether `ip` lies inside this prefix. Families never mix, except that
    /// an IPv4-mapped IPv6 address is treated as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, fold_mapped(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_u32(self.len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_u128(self.len) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        Cidr::parse(s)
    }
}

/// Digits only: `str::parse` would also take "+8", which no CIDR tool writes.
fn parse_len(l: &str) -> Result<u32, CidrError> {
    if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CidrError::InvalidPrefixLength(l.to_owned()));
    }
    // Absurdly long digit runs are still a range problem, not a syntax one.
    Ok(l.parse::<u32>().unwrap_or(u32::MAX))
}

/// Network mask for an IPv4 prefix length in 0..=32.
fn mask_u32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Network mask for an IPv6 prefix length in 0..=128.
pub(crate) fn mask_u128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

fn fold_mapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        IpAddr::V4(_) => ip,
    }
}

/// Longest textual IPv6 form: eight full groups with an embedded IPv4 tail.
const MAX_IP_TEXT: usize = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len();

/// Fast parse of an IP address from raw bytes (the hot enrichment path hands
/// over slices of JSON strings). IPv4 dotted quads take a single-pass
/// hand-written path with std's grammar (no leading zeros, which some
/// parsers read as octal); IPv6 goes through std. IPv4-mapped IPv6 is
/// returned as IPv4 so it matches IPv4 prefixes.
pub fn parse_ip(bytes: &[u8]) -> Option<IpAddr> {
    if bytes.len() <= 15 {
        if let Some(v4) = parse_v4(bytes) {
            return Some(IpAddr::V4(v4));
        }
    }
    if bytes.len() > MAX_IP_TEXT || !bytes.contains(&b':') {
        return None;
    }
    let s = std::str::from_utf8(bytes).ok()?;
    Ipv6Addr::from_str(s)
        .ok()
        .map(|v6| fold_mapped(IpAddr::V6(v6)))
}

fn parse_v4(bytes: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut filled = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &b in bytes {
        if b == b'.' {
            if digits == 0 || filled == 3 {
                return None;
            }
            // `value <= 255` is enforced as digits arrive.
            octets[filled] = value as u8;
            filled += 1;
            value = 0;
            digits = 0;
        } else {
            let d = b.wrapping_sub(b'0');
            if d > 9 || (digits == 1 && value == 0) {
                return None;
            }
            value = value * 10 + u32::from(d);
            digits += 1;
            if value > 255 {
                return None;
            }
        }
    }
    if filled != 3 || digits == 0 {
        return None;
    }
    octets[3] = value as u8;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_displays_v4() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert_eq!(c.addr(), v4(10, 0, 0, 0));
        assert_eq!(c.len(), 8);
        assert!(c.is_ipv4());
        assert_eq!(c.version(), IpVersion::V4);
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(
            Cidr::parse("255.255.255.255/32").unwrap().to_string(),
            "255.255.255.255/32"
        );
    }

    #[test]
    fn parses_and_displays_v6() {
        let c = Cidr::parse("2001:DB8:0:0::/32").unwrap();
        assert!(!c.is_ipv4());
        assert_eq!(c.len(), 32);
        assert_eq!(c.to_string(), "2001:db8::/32");
        assert_eq!(Cidr::parse("::/0").unwrap().to_string(), "::/0");
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
    }

    #[test]
    fn bare_address_is_host_prefix() {
        assert_eq!(Cidr::parse("1.2.3.4").unwrap().to_string(), "1.2.3.4/32");
        assert_eq!(Cidr::parse("2001:db8::5").unwrap().len(), 128);
        assert_eq!(Cidr::host(ip("1.2.3.4")), Cidr::parse("1.2.3.4").unwrap());
    }

    #[test]
    fn strict_requires_length() {
        assert_eq!(
            Cidr::parse_strict("10.0.0.0"),
            Err(CidrError::MissingPrefixLength("10.0.0.0".into()))
        );
        assert_eq!(Cidr::parse_strict(""), Err(CidrError::Empty));
        assert_eq!(Cidr::parse_strict("10.0.0.0/8").unwrap().len(), 8);
    }

    #[test]
    fn host_bits_are_cleared_and_reported() {
        let (c, had) = Cidr::parse_with_info("10.1.2.3/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(had);
        let (c, had) = Cidr::parse_with_info("10.0.0.0/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(!had);
        let (c, had) = Cidr::parse_with_info("2001:db8:ffff::1/33").unwrap();
        assert_eq!(c.to_string(), "2001:db8:8000::/33");
        assert!(had);
        let (c, had) = Cidr::parse_with_info("255.255.255.255/0").unwrap();
        assert_eq!(c.to_string(), "0.0.0.0/0");
        assert!(had);
        assert_eq!(
            Cidr::new(ip("192.168.7.9"), 16).unwrap().to_string(),
            "192.168.0.0/16"
        );
    }

    #[test]
    fn mapped_prefixes_fold_into_v4() {
        let c = Cidr::parse("::ffff:10.1.0.0/112").unwrap();
        assert_eq!(c.to_string(), "10.1.0.0/16");
        assert_eq!(
            Cidr::parse("::ffff:1.2.3.4").unwrap().to_string(),
            "1.2.3.4/32"
        );
        assert_eq!(
            Cidr::parse("::ffff:0:0/96").unwrap().to_string(),
            "0.0.0.0/0"
        );
        // Shorter than /96 covers more than the mapped space: stays IPv6.
        assert_eq!(
            Cidr::parse("::ffff:0:0/95").unwrap().to_string(),
            "::fffe:0:0/95"
        );
        assert!(Cidr::parse("::ffff:10.0.0.0/104")
            .unwrap()
            .contains(v4(10, 9, 9, 9)));
    }

    #[test]
    fn rejects_bad_input_with_specific_errors() {
        use CidrError::*;
        let cases: &[(&str, CidrError)] = &[
            ("", Empty),
            ("10.0.0/8", InvalidAddress("10.0.0".into())),
            ("10.0.0.256/8", InvalidAddress("10.0.0.256".into())),
            ("010.0.0.0/8", InvalidAddress("010.0.0.0".into())),
            ("/8", InvalidAddress("".into())),
            (" 10.0.0.0/8", InvalidAddress(" 10.0.0.0".into())),
            ("10.0.0.0 /8", InvalidAddress("10.0.0.0 ".into())),
            ("fe80::1%eth0", InvalidAddress("fe80::1%eth0".into())),
            ("fe80::1%eth0/64", InvalidAddress("fe80::1%eth0".into())),
            ("hello", InvalidAddress("hello".into())),
            ("1.2.3.4/", InvalidPrefixLength("".into())),
            ("1.2.3.4/ 8", InvalidPrefixLength(" 8".into())),
            ("1.2.3.4/8 ", InvalidPrefixLength("8 ".into())),
            ("1.2.3.4/+8", InvalidPrefixLength("+8".into())),
            ("1.2.3.4/-1", InvalidPrefixLength("-1".into())),
            ("1.2.3.4/x", InvalidPrefixLength("x".into())),
            ("1.2.3.4/8/8", InvalidPrefixLength("8/8".into())),
            (
                "1.2.3.4/33",
                PrefixOutOfRange {
                    len: 33,
                    version: IpVersion::V4,
                },
            ),
            (
                "::/129",
                PrefixOutOfRange {
                    len: 129,
                    version: IpVersion::V6,
                },
            ),
            (
                "1.2.3.4/99999999999",
                PrefixOutOfRange {
                    len: u32::MAX,
                    version: IpVersion::V4,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Cidr::parse(input).as_ref(), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn error_messages_read_well() {
        let msg = |s: &str| Cidr::parse(s).unwrap_err().to_string();
        assert_eq!(msg("x/8"), "invalid IP address \"x\"");
        assert_eq!(
            msg("1.2.3.4/33"),
            "prefix length 33 is out of range for IPv4 (0-32)"
        );
        assert_eq!(
            msg("::/200"),
            "prefix length 200 is out of range for IPv6 (0-128)"
        );
        assert_eq!(
            msg("1.2.3.4/"),
            "invalid prefix length \"\" (expected a number)"
        );
        assert_eq!(
            Cidr::parse_strict("1.2.3.4").unwrap_err().to_string(),
            "missing prefix length in \"1.2.3.4\" (expected address/length)"
        );
    }

    #[test]
    fn contains_respects_boundaries_and_families() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(v4(10, 1, 0, 0)));
        assert!(c.contains(v4(10, 1, 255, 255)));
        assert!(!c.contains(v4(10, 2, 0, 0)));
        assert!(!c.contains(v4(10, 0, 255, 255)));
        assert!(c.contains(ip("::ffff:10.1.2.3")));
        assert!(!c.contains(ip("::10.1.2.3")));
        let all4 = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all4.contains(v4(255, 255, 255, 255)));
        assert!(!all4.contains(ip("::1")));
        let all6 = Cidr::parse("::/0").unwrap();
        assert!(all6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!all6.contains(v4(1, 2, 3, 4)));
        let c6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c6.contains(ip("2001:db8:ffff::1")));
        assert!(!c6.contains(ip("2001:db9::")));
    }

    #[test]
    fn parse_ip_accepts_and_maps() {
        assert_eq!(parse_ip(b"1.2.3.4"), Some(v4(1, 2, 3, 4)));
        assert_eq!(parse_ip(b"0.0.0.0"), Some(v4(0, 0, 0, 0)));
        assert_eq!(parse_ip(b"255.255.255.255"), Some(v4(255, 255, 255, 255)));
        assert_eq!(parse_ip(b"2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip(b"::ffff:1.2.3.4"), Some(v4(1, 2, 3, 4)));
        assert_eq!(parse_ip(b"::FFFF:102:304"), Some(v4(1, 2, 3, 4)));
        // IPv4-compatible (deprecated) form is not mapped and stays IPv6.
        assert_eq!(parse_ip(b"::1.2.3.4"), Some(ip("::1.2.3.4")));
        assert_eq!(
            parse_ip(b"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"),
            Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        );
    }

    #[test]
    fn parse_ip_rejects_non_addresses() {
        let bad: &[&[u8]] = &[
            b"",
            b" 1.2.3.4",
            b"1.2.3.4 ",
            b"1.2.3.4\n",
            b"01.2.3.4",
            b"1.2.3.04",
            b"1.2.3",
            b"1.2.3.4.5",
            b"1.2.3.256",
            b"1..3.4",
            b".1.2.3",
            b"1.2.3.",
            b"1.2.3.4/32",
            b"fe80::1%eth0",
            b"[::1]",
            b"::ffff:1.2.3.4 ",
            b"\xff\xfe::1",
            b"1.2.3.4\0",
            b"0000000000000000000000000000000000000000000000000001.2.3.4",
        ];
        for b in bad {
            assert_eq!(parse_ip(b), None, "input {:?}", String::from_utf8_lossy(b));
        }
    }

    /// The hand-written IPv4 path must agree with std on every input shape
    /// it can see, including near-misses.
    #[test]
    fn parse_ip_v4_agrees_with_std() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"0123456789.....12525a ";
        for _ in 0..200_000 {
            let len = (next() % 17) as usize;
            let s: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let text = std::str::from_utf8(&s).unwrap();
            let want = Ipv4Addr::from_str(text).ok().map(IpAddr::V4);
            assert_eq!(parse_ip(&s), want, "input {text:?}");
        }
        // Random valid addresses must round-trip.
        for _ in 0..50_000 {
            let a = Ipv4Addr::from(next() as u32);
            assert_eq!(parse_ip(a.to_string().as_bytes()), Some(IpAddr::V4(a)));
        }
    }
}
