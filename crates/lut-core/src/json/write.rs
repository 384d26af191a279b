//! Writing the JSON fragments that get spliced into a line: string literals, and the canonical
//! text of a number (what `JSON.stringify` would print), so enrichment output does not depend
//! on how a number happened to be spelled in a table or an event.

use std::io::Write as _;

/// For each byte: 0 = copy as is, otherwise the character after the backslash (`u` = `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal (with quotes), escaping `"`, `\` and control
/// characters (`\n \r \t \b \f`, others as `\u00XX`). `s` must be valid UTF-8; non-ASCII is
/// copied as is.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc = ESCAPE[usize::from(c)];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        if esc == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

/// Appends the canonical string form of a raw, already-validated JSON number token:
/// - an integer token (no `.`, no exponent) that fits in i64 or u64 is written as is, except
///   `-0` -> `0`;
/// - anything else is parsed as f64 and written as ECMAScript's Number::toString would:
///   shortest round-trip digits, plain decimal when 1e-7 <= |x| < 1e21, otherwise exponent
///   form (`1.5e+300`, `1e+21`, `-2.5e-8`); zero of either sign is `0`;
/// - a token that overflows to infinity, or is not a number at all, is written unchanged.
pub fn write_number_canonical(out: &mut Vec<u8>, raw: &[u8]) {
    let Ok(text) = std::str::from_utf8(raw) else {
        out.extend_from_slice(raw);
        return;
    };
    let integer = !raw.iter().any(|&c| matches!(c, b'.' | b'e' | b'E'));
    if integer {
        if let Ok(v) = text.parse::<i64>() {
            if v == 0 {
                out.push(b'0');
            } else {
                out.extend_from_slice(raw);
            }
            return;
        }
        if text.parse::<u64>().is_ok() {
            out.extend_from_slice(raw);
            return;
        }
    }
    let x = match text.parse::<f64>() {
        Ok(x) if x.is_finite() => x,
        _ => {
            out.extend_from_slice(raw);
            return;
        }
    };
    if x == 0.0 {
        out.push(b'0');
        return;
    }
    write_shortest(out, x);
}

/// ECMAScript Number::toString for a finite, non-zero `x`.
fn write_shortest(out: &mut Vec<u8>, x: f64) {
    // std's `{:e}` yields the shortest round-trip digits as "d.ddde±x" without allocating here.
    let mut buf = [0u8; 40];
    let free = {
        let mut w = &mut buf[..];
        if write!(w, "{:e}", x.abs()).is_err() {
            return;
        }
        w.len()
    };
    let sci = &buf[..buf.len() - free];
    let Some(e_at) = sci.iter().position(|&c| c == b'e') else {
        return;
    };
    let Some(exp) = std::str::from_utf8(&sci[e_at + 1..])
        .ok()
        .and_then(|e| e.parse::<i32>().ok())
    else {
        return;
    };
    let mut digits = [0u8; 32];
    let mut k = 0;
    for &c in sci[..e_at].iter().filter(|c| c.is_ascii_digit()) {
        digits[k] = c;
        k += 1;
    }
    let digits = &digits[..k];
    // `n` is where the decimal point goes relative to the digits, as in the spec.
    let n = exp + 1;
    let k = k as i32;
    if x < 0.0 {
        out.push(b'-');
    }
    if k <= n && n <= 21 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = n - 1;
        out.extend_from_slice(if e < 0 { b"e-" } else { b"e+" });
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}", e.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(input: &[u8]) -> String {
        let mut out = Vec::new();
        write_str(&mut out, input);
        String::from_utf8(out).unwrap()
    }

    fn num(raw: &str) -> String {
        let mut out = b"x".to_vec();
        write_number_canonical(&mut out, raw.as_bytes());
        assert_eq!(out[0], b'x', "must append, not overwrite");
        String::from_utf8(out[1..].to_vec()).unwrap()
    }

    #[test]
    fn write_str_escapes() {
        assert_eq!(s(b""), r#""""#);
        assert_eq!(s(b"plain"), r#""plain""#);
        assert_eq!(s(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s(b"\n\r\t\x08\x0c"), r#""\n\r\t\b\f""#);
        assert_eq!(s(b"\x00\x01\x1f\x7f"), "\"\\u0000\\u0001\\u001f\x7f\"");
        assert_eq!(s("é☃😀/".as_bytes()), "\"é☃😀/\"");
        assert_eq!(s(b"\"\""), r#""\"\"""#);
    }

    #[test]
    fn write_str_appends() {
        let mut out = b"{\"k\":".to_vec();
        write_str(&mut out, b"v");
        assert_eq!(out, b"{\"k\":\"v\"");
    }

    #[test]
    fn write_str_round_trips_every_byte_class() {
        let mut all = String::new();
        for c in (0u32..0x250).chain([0x2028, 0x2029, 0xFFFF, 0x1F600]) {
            all.push(char::from_u32(c).unwrap());
        }
        let text = s(all.as_bytes());
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn number_table() {
        let table: &[(&str, &str)] = &[
            ("0", "0"),
            ("-0", "0"),
            ("42", "42"),
            ("-42", "-42"),
            ("9223372036854775807", "9223372036854775807"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("18446744073709551615", "18446744073709551615"),
            ("18446744073709551616", "18446744073709552000"),
            ("-9223372036854775809", "-9223372036854776000"),
            ("123456789012345678901234", "1.2345678901234569e+23"),
            ("7.50", "7.5"),
            ("2.0", "2"),
            ("-2.0", "-2"),
            ("1e3", "1000"),
            ("1E3", "1000"),
            ("1e+3", "1000"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("1.5e-6", "0.0000015"),
            ("1.5e300", "1.5e+300"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678e3", "123456789012345680000"),
            ("-2.5e-8", "-2.5e-8"),
            ("-0.0", "0"),
            ("0.0", "0"),
            ("0e10", "0"),
            ("-0e-5", "0"),
            ("1e-400", "0"),
            ("0.1", "0.1"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("3.14159", "3.14159"),
            ("100.25", "100.25"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("5e-324", "5e-324"),
            ("1e400", "1e400"),
            ("-1e400", "-1e400"),
            ("12.5e1", "125"),
            ("1234.5678e-2", "12.345678"),
        ];
        for (raw, want) in table {
            assert_eq!(num(raw), *want, "canonical form of {raw}");
        }
    }

    #[test]
    fn number_output_round_trips() {
        for raw in ["1.1", "2.2e-9", "6.02214076e23", "-7.25e21", "0.5", "4.35"] {
            let canon = num(raw);
            let a: f64 = raw.parse().unwrap();
            let b: f64 = canon.parse().unwrap();
            assert_eq!(a.to_bits(), b.to_bits(), "{raw} -> {canon}");
        }
    }

    #[test]
    fn number_garbage_is_copied() {
        assert_eq!(num("abc"), "abc");
        assert_eq!(num(""), "");
    }
}
