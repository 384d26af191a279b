//! Helpers shared by unit tests: tables built from in-memory YAML and data.

use std::sync::Arc;

use crate::diag::Diagnostics;
use crate::enrich::LiveTable;
use crate::schema::parse_schema;
use crate::spec::{parse_spec_node, SpecKind, SpecOptions};
use crate::table;

/// Builds a live table from spec YAML, schema YAML and data text; panics on any problem.
pub fn live_table(spec_yaml: &str, schema_yaml: &str, data: &str) -> LiveTable {
    let node = crate::yaml::parse(spec_yaml).unwrap().unwrap();
    let mut d = Diagnostics::new();
    let Some(SpecKind::Table(spec)) = parse_spec_node(&node, &SpecOptions::default(), &mut d)
    else {
        panic!("bad spec: {d:?}");
    };
    let (schema, d) = parse_schema(schema_yaml, None);
    let schema = schema.unwrap_or_else(|| panic!("bad schema: {d:?}"));
    let built = table::build(&spec, &schema, data.as_bytes())
        .unwrap_or_else(|e| panic!("{e}: {:?}", e.report));
    LiveTable {
        spec: Arc::new(*spec),
        schema: Arc::new(schema),
        table: Arc::new(built.table),
    }
}
