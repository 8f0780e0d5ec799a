//! Plain-text output helpers.

use std::fmt::Write as _;

/// Columns aligned with two spaces between them; the last column is not padded.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Add a row; control characters in the cells (which may come from servers) are escaped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|c| escape_controls(c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len() <= 1
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` with every control character (C0, DEL, C1, including newlines) written as an
/// escape (`\n`, `\r`, `\t`, `\u{1b}`), so a string from a server (a TXT record, a banner, a
/// certificate subject, a header) cannot move the cursor, recolour or forge lines of a
/// terminal's table. JSON output keeps strings exact.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A writer for table output that escapes the C0 control characters and DEL that reach it,
/// except the newlines and padding the table itself writes: the last line of defence for
/// summary lines that quote servers.
pub(crate) struct EscapingWriter<'a> {
    inner: &'a mut dyn std::io::Write,
}

impl<'a> EscapingWriter<'a> {
    pub fn new(inner: &'a mut dyn std::io::Write) -> EscapingWriter<'a> {
        EscapingWriter { inner }
    }
}

impl std::io::Write for EscapingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut start = 0;
        for (i, b) in buf.iter().enumerate() {
            if (*b < 0x20 && *b != b'\n') || *b == 0x7f {
                self.inner.write_all(&buf[start..i])?;
                write!(self.inner, "\\u{{{b:x}}}")?;
                start = i + 1;
            }
        }
        self.inner.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Indent every line of `text` by `n` spaces, trimming trailing blank lines.
pub(crate) fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.trim_end()
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A score for people: one decimal, or `-` when there is none.
pub(crate) fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_servers_are_escaped() {
        assert_eq!(escape_controls("plain text"), "plain text");
        assert_eq!(
            escape_controls("v=spf1\x1b[31m -all\r\nFAKE\u{9b}"),
            "v=spf1\\u{1b}[31m -all\\r\\nFAKE\\u{9b}"
        );
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x\ny".into(), "\x07bell".into()]);
        assert_eq!(t.render().lines().count(), 2);
        assert!(t.render().contains("x\\ny  \\u{7}bell"));
        let mut out = Vec::new();
        {
            let mut w = EscapingWriter::new(&mut out);
            std::io::Write::write_all(&mut w, b"line\x1b[2J\tend\n").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "line\\u{1b}[2J\\u{9}end\n");
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["A", "LONGER", "LAST"]);
        t.row(vec!["xyz".into(), "1".into(), "free text".into()]);
        assert_eq!(t.render(), "A    LONGER  LAST\nxyz  1       free text\n");
    }

    #[test]
    fn score_formats() {
        assert_eq!(score(Some(66.666)), "66.7");
        assert_eq!(score(None), "-");
    }
}
