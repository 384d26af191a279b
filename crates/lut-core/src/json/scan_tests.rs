//! Unit tests of the scanner's internals: the word-at-a-time string search against its
//! byte-by-byte definition, and the deferred UTF-8 check against the former UTF-8-first
//! order. (Behavioural and differential tests of the public API are in `json/tests.rs`.)

mod stop {
    use super::super::*;

    /// The plain byte-by-byte definition `find_stop` must agree with.
    fn naive(b: &[u8], i: usize) -> usize {
        (i..b.len())
            .find(|&k| STRING_STOP[usize::from(b[k])])
            .unwrap_or(b.len())
    }

    #[test]
    fn every_byte_value_at_every_chunk_position() {
        // Each byte value alone at each offset of a 2-chunk run, after plain and after
        // non-ASCII filler (high bytes must never count as stops or hide one).
        for filler in [b'a', 0x80, 0xff, 0x7f, 0x20] {
            for c in 0..=255u8 {
                for at in 0..17 {
                    let mut b = vec![filler; 19];
                    b[at] = c;
                    for start in 0..4 {
                        let mut high = 0;
                        let stop = find_stop(&b, start, &mut high);
                        assert_eq!(stop, naive(&b, start), "{filler} {c} {at}");
                        // Every byte before the stop counts towards `high`.
                        let non_ascii = b[start..stop].iter().any(|&x| x >= 0x80);
                        assert!(!non_ascii || high & HIGHS != 0, "{filler} {c} {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn random_runs_agree_with_the_naive_search() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Mostly plain text with rare stops, and UTF-8 sequences, so that borrows across
        // bytes (0x00, 0x1f, 0x20, 0x21, 0x5c, 0x5d) are exercised next to real hits.
        let alphabet: &[u8] = b"ab \x00\x1f\x20\x21\"#\\]\x7f\x80\xc3\xa9\xef\xbf\xbd\xff";
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    } else {
                        b'a' + (r >> 8) as u8 % 26
                    }
                })
                .collect();
            let start = if len == 0 { 0 } else { (next() as usize) % len };
            let mut high = 0;
            let stop = find_stop(&b, start, &mut high);
            assert_eq!(stop, naive(&b, start), "{b:?} from {start}");
            let non_ascii = b[start..stop].iter().any(|&x| x >= 0x80);
            assert!(!non_ascii || high & HIGHS != 0, "{b:?} from {start}");
        }
    }
}

mod utf8_order {
    use super::super::*;

    /// The former definition: UTF-8 checked over the whole line before anything else.
    fn utf8_first(line: &[u8], members: &mut Vec<Member>) -> Result<ObjectSpan, ScanError> {
        members.clear();
        if let Err(e) = std::str::from_utf8(line) {
            return fail(e.valid_up_to(), "invalid UTF-8");
        }
        scan_structure(line, members, &mut 0)
    }

    #[test]
    fn invalid_utf8_wins_over_any_other_error_as_before() {
        let bases: [&[u8]; 4] = [
            br#"{"k":"v","n":-1.5e3,"a":[true,null,{"x":"\u00e9"}],"s":"caf\xc3\xa9 \xe2\x82\xac"}"#,
            br#"{"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","b":false}"#,
            b"{\"\xf0\x9f\x98\x80\":\"\xf0\x9f\x98\x80\"}",
            b"  {}  ",
        ];
        let bytes: &[u8] = b"\x80\xbf\xc3\xe2\xed\xf0\xf8\xff\"\\{}[]:, 0a\x00";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..30_000 {
            let mut line = bases[round % bases.len()].to_vec();
            for _ in 0..1 + next() % 3 {
                let at = next() % (line.len() + 1);
                let byte = bytes[next() % bytes.len()];
                match next() % 3 {
                    0 if at < line.len() => line[at] = byte,
                    1 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => line.insert(at, byte),
                }
            }
            let got = scan_object(&line, &mut a);
            let want = utf8_first(&line, &mut b);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&line));
            assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&line));
        }
    }
}
