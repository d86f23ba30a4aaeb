//! `--format json`: the whole run as one JSON document (schema `gate.report/v1`).

use std::io::Write;

use super::RunReport;

pub fn write(report: &RunReport, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
