//! IP addresses and CIDR blocks: `net::parse_ip` (the enrichment fast path) and
//! `net::Cidr::parse`.
//!
//! Invariants: nothing panics; `parse_ip` agrees with std's parser (IPv4-mapped IPv6 folded
//! to IPv4) and rejects non-UTF-8; an accepted block is normalised, renders and re-parses to
//! itself, contains its own network address, equals `Cidr::new` of its parts, and a bare
//! address parses to the host block of `parse_ip`'s reading.

#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use lut_core::net::{parse_ip, Cidr};

fn fold(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fuzz_target!(|data: &[u8]| {
    let fast = parse_ip(data);
    let Ok(s) = std::str::from_utf8(data) else {
        assert_eq!(fast, None, "parse_ip accepted non-UTF-8 {data:?}");
        return;
    };
    let std_ip = s.parse::<IpAddr>().ok().map(fold);
    assert_eq!(fast, std_ip, "parse_ip({s:?}) disagrees with std");

    let parsed = Cidr::parse(s);
    let strict = Cidr::parse_strict(s);
    if s.contains('/') {
        assert_eq!(parsed, strict);
    } else if !s.is_empty() {
        assert!(strict.is_err());
    }
    if let Err(e) = &parsed {
        let _ = e.to_string();
    }
    let with_info = Cidr::parse_with_info(s);
    assert_eq!(
        with_info.as_ref().map(|(c, _)| *c).ok(),
        parsed.as_ref().ok().copied()
    );
    if let Some(ip) = fast {
        assert_eq!(parsed.as_ref(), Ok(&Cidr::host(ip)), "{s:?}");
        assert!(Cidr::host(ip).contains(ip));
    }
    let Ok(c) = parsed else {
        return;
    };
    let max = if c.is_ipv4() { 32 } else { 128 };
    assert!(c.len() <= max);
    let text = c.to_string();
    assert_eq!(Cidr::parse(&text), Ok(c), "{s:?} -> {text:?}");
    assert_eq!(
        Cidr::parse_with_info(&text).map(|(_, host_bits)| host_bits),
        Ok(false)
    );
    assert_eq!(Cidr::new(c.addr(), c.len()), Ok(c));
    assert!(c.contains(c.addr()));
    assert_eq!(parse_ip(c.addr().to_string().as_bytes()), Some(c.addr()));
});
