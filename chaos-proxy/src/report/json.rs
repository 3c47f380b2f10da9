//! The machine-readable report: pretty JSON in schema version 1, described by
//! `report-schema.json` at the crate root, and its parser for tools that read it back.

use serde::de::Error as _;

use super::{Report, SCHEMA_VERSION};

pub fn render(report: &Report) -> String {
    let mut json = serde_json::to_string_pretty(report)
        .expect("a report is plain data with string keys, which always serializes");
    json.push('\n');
    json
}

/// Refuses other schema versions: their fields may parse yet mean something else.
pub fn parse(s: &str) -> Result<Report, serde_json::Error> {
    let report: Report = serde_json::from_str(s)?;
    if report.schema != SCHEMA_VERSION {
        return Err(serde_json::Error::custom(format!(
            "report schema version {} is not the supported version {SCHEMA_VERSION}",
            report.schema
        )));
    }
    Ok(report)
}
