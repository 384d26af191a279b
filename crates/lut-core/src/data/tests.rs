//! Tests of the data readers.

use std::io::Write;

use super::*;
use crate::schema::parse_schema;

#[derive(Default)]
struct Collect {
    rows: Vec<(RowPos, Vec<String>)>,
    bad: Vec<(RowPos, Option<String>, String)>,
    fields: usize,
}

impl RowSink for Collect {
    fn row(&mut self, pos: RowPos, cells: &dyn CellSource) {
        let vals = (0..self.fields)
            .map(|i| match cells.cell(i) {
                Cell::Missing => "<missing>".to_string(),
                Cell::Text(s) => s.to_string(),
                Cell::Json(v) => v.to_string(),
            })
            .collect();
        self.rows.push((pos, vals));
    }
    fn bad_row(&mut self, pos: RowPos, column: Option<&str>, reason: String) {
        self.bad.push((pos, column.map(str::to_string), reason));
    }
}

fn schema(parser: &str) -> Schema {
    let src = format!(
        "schema: T.T\n{parser}fields:\n  - name: id\n    type: string\n    required: true\n  - name: v\n    type: string\n"
    );
    let (s, d) = parse_schema(&src, None);
    s.unwrap_or_else(|| panic!("{d:?}"))
}

fn read(data: &[u8], schema: &Schema) -> (Result<DataInfo, DataError>, Collect) {
    let mut c = Collect {
        fields: schema.fields.len(),
        ..Collect::default()
    };
    let r = read_rows(data, schema, &mut c);
    (r, c)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

const CSV: &str = "parser:\n  csv:\n    delimiter: ','\n    hasHeader: true\n";

#[test]
fn csv_with_header_bom_quotes_and_extra_columns() {
    let s = schema(CSV);
    let data = "\u{feff}v,id,extra\r\n\"multi\nline\",a,x\r\n\"say \"\"hi\"\"\",b,y\n\n,c,z\n";
    let (r, c) = read(data.as_bytes(), &s);
    let info = r.unwrap();
    assert_eq!(info.format, DataFormat::Csv);
    assert!(!info.compressed);
    assert_eq!(info.ignored_columns, vec!["extra"]);
    let vals: Vec<Vec<String>> = c.rows.iter().map(|r| r.1.clone()).collect();
    assert_eq!(
        vals,
        vec![
            vec!["a".to_string(), "multi\nline".to_string()],
            vec!["b".to_string(), "say \"hi\"".to_string()],
            vec!["c".to_string(), "<missing>".to_string()],
        ]
    );
    assert_eq!(
        c.rows[1].0,
        RowPos {
            row: 2,
            line: Some(4)
        }
    );
    assert_eq!(c.rows[2].0.row, 3);
}

#[test]
fn csv_ragged_rows_and_bad_utf8_are_bad_rows() {
    let s = schema(CSV);
    let mut data = b"id,v\na,1\nb\nc,2,3\n".to_vec();
    data.extend_from_slice(b"d,\xff\xfe\n");
    let (r, c) = read(&data, &s);
    r.unwrap();
    assert_eq!(c.rows.len(), 1);
    let bad: Vec<(u64, Option<String>)> = c.bad.iter().map(|b| (b.0.row, b.1.clone())).collect();
    assert_eq!(bad, vec![(2, None), (3, None), (4, Some("v".to_string()))]);
    assert!(
        c.bad[0].2.contains("row has 1 fields, expected 2"),
        "{:?}",
        c.bad
    );
}

#[test]
fn csv_columns_empty_values_and_trim() {
    let s = schema("parser:\n  csv:\n    delimiter: '|'\n    columns: [id, v]\n    emptyValues: ['-', 'N/A']\n    trimSpace: true\n");
    let (r, c) = read(b" a | N/A \nb|-\n c |  x y  \n", &s);
    r.unwrap();
    let vals: Vec<Vec<String>> = c.rows.iter().map(|r| r.1.clone()).collect();
    assert_eq!(
        vals,
        vec![
            vec!["a".to_string(), "<missing>".to_string()],
            vec!["b".to_string(), "<missing>".to_string()],
            vec!["c".to_string(), "x y".to_string()],
        ]
    );
}

#[test]
fn csv_header_problems_are_fatal() {
    let s = schema(CSV);
    let (r, _) = read(b"v,other\n1,2\n", &s);
    assert!(matches!(r, Err(DataError::Header(m)) if m.contains("required column \"id\"")));
    let (r, _) = read(b"id,id\n1,2\n", &s);
    assert!(matches!(r, Err(DataError::Header(m)) if m.contains("appears twice")));
    let (r, _) = read(b"", &s);
    assert!(matches!(r, Err(DataError::Header(m)) if m.contains("empty")));
}

#[test]
fn gzip_is_detected_by_magic_bytes() {
    let s = schema(CSV);
    let (r, c) = read(&gzip(b"id,v\na,1\n"), &s);
    assert!(r.unwrap().compressed);
    assert_eq!(c.rows.len(), 1);
    let mut broken = gzip(b"id,v\na,1\nb,2\n");
    let n = broken.len();
    broken.truncate(n - 6);
    let (r, _) = read(&broken, &s);
    assert!(matches!(r, Err(DataError::Gzip(_))), "{r:?}");
    let mut corrupt = gzip(b"id,v\na,1\n");
    for b in corrupt.iter_mut().skip(12).take(6) {
        *b ^= 0x5a;
    }
    let (r, _) = read(&corrupt, &s);
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn json_lines_with_bad_lines() {
    let s = schema("");
    let data = b"{\"id\":\"a\",\"v\":\"1\",\"x\":2}\n\n[1]\n{broken\n{\"id\":\"b\"}";
    let (r, c) = read(data, &s);
    let info = r.unwrap();
    assert_eq!(info.format, DataFormat::Jsonl);
    assert_eq!(info.ignored_columns, vec!["x"]);
    assert_eq!(c.rows.len(), 2);
    assert_eq!(
        c.rows[1].0,
        RowPos {
            row: 4,
            line: Some(5)
        }
    );
    let bad: Vec<(u64, Option<u64>)> = c.bad.iter().map(|b| (b.0.row, b.0.line)).collect();
    assert_eq!(bad, vec![(2, Some(3)), (3, Some(4))]);
    assert!(c.bad[0]
        .2
        .contains("expected a JSON object, found an array"));
    assert!(c.bad[1].2.contains("invalid JSON"));
}

#[test]
fn json_array_streams_and_fails_on_broken_syntax() {
    let s = schema("");
    let (r, c) = read(b"  [ {\"id\":\"a\"}, 5, {\"id\":\"b\",\"v\":\"x\"} ]\n", &s);
    assert_eq!(r.unwrap().format, DataFormat::JsonArray);
    assert_eq!(c.rows.len(), 2);
    assert_eq!(c.bad.len(), 1);
    assert_eq!(c.bad[0].0.row, 2);
    let (r, _) = read(b"[{\"id\":\"a\"},\n{\"id\":", &s);
    assert!(
        matches!(r, Err(DataError::Malformed { line: Some(2), .. })),
        "{r:?}"
    );
    let (r, _) = read(b"[{\"id\":\"a\"}] trailing", &s);
    assert!(r.is_err());
}

#[test]
fn csv_without_parser_is_sniffed() {
    let s = schema("");
    let (r, c) = read(b"id,v\na,1\n", &s);
    assert_eq!(r.unwrap().format, DataFormat::Csv);
    assert_eq!(c.rows.len(), 1);
}

#[test]
fn decompressed_size_is_capped() {
    let s = schema(CSV);
    let mut data = String::from("id,v\n");
    for i in 0..10_000 {
        data.push_str(&format!("k{i},{}\n", "x".repeat(50)));
    }
    let gz = gzip(data.as_bytes());
    assert!(gz.len() < 64 * 1024, "compresses well");
    let mut c = Collect {
        fields: 2,
        ..Collect::default()
    };
    let r = read_rows_capped(&gz[..], &s, &mut c, 100_000);
    assert!(
        matches!(r, Err(DataError::TooLarge { cap: 100_000 })),
        "{r:?}"
    );
    let mut c = Collect {
        fields: 2,
        ..Collect::default()
    };
    read_rows_capped(&gz[..], &s, &mut c, 10_000_000).unwrap();
    assert_eq!(c.rows.len(), 10_000);
    let mut c = Collect {
        fields: 2,
        ..Collect::default()
    };
    let r = read_rows_capped(data.as_bytes(), &s, &mut c, 1000);
    assert!(
        matches!(r, Err(DataError::TooLarge { .. })),
        "plain data is capped too"
    );
}
