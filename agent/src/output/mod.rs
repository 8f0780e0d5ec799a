//! Output: the renderers of a judged scan or evaluation behind one interface ([`renderer`]:
//! table, JSON, NDJSON, CSV, SARIF), the progress report, and the plain-text helpers the table
//! is made with.

pub mod formats;
pub(crate) mod progress;
mod render;
mod summary;
mod table;

use std::fmt::Write as _;
use std::io::Write as _;

pub use render::{Render, Report, View, renderer};

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

    /// Write the table to `out`, each cell in the style `style(column, text)` gives it (the
    /// padding is counted without the colour).
    pub fn write_styled(
        &self,
        out: &mut Term<'_>,
        style: impl Fn(usize, &str) -> Option<Style>,
    ) -> std::io::Result<()> {
        let widths = self.widths();
        for (r, row) in self.rows.iter().enumerate() {
            let mut segments: Vec<(Option<Style>, String)> = Vec::new();
            for (c, cell) in row.iter().enumerate() {
                segments.push((if r == 0 { None } else { style(c, cell) }, cell.clone()));
                if c + 1 != row.len() {
                    let pad = widths[c] + 2 - cell.chars().count();
                    segments.push((None, " ".repeat(pad)));
                }
            }
            // The line ends trimmed, as `render` writes it.
            while segments
                .last()
                .is_some_and(|(_, t)| t.trim_end().is_empty())
            {
                segments.pop();
            }
            if let Some((_, last)) = segments.last_mut() {
                *last = last.trim_end().to_owned();
            }
            for (style, text) in &segments {
                out.paint(*style, text)?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn widths(&self) -> Vec<usize> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    pub fn render(&self) -> String {
        let widths = self.widths();
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

/// Whether the table on standard output is coloured: `--color always`, or `auto` on a
/// terminal when `NO_COLOR` is unset or empty (<https://no-color.org>: an explicit option wins
/// over the variable).
pub(crate) fn colour(when: crate::cli::When) -> bool {
    match when {
        crate::cli::When::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
        explicit => explicit.holds(std::io::stdout()),
    }
}

/// A colour of the table: fail and broken red, warn and weak yellow, pass and ok green.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Failing, or a broken suite.
    Bad,
    /// Warning, or a weak suite.
    Weak,
    /// Passing, or a suite judged ok.
    Good,
}

impl Style {
    /// The style of a finding's status or a suite's mark, if it has one.
    pub fn of(word: &str) -> Option<Style> {
        match word {
            "fail" | "broken" => Some(Style::Bad),
            "warn" | "weak" => Some(Style::Weak),
            "pass" | "ok" => Some(Style::Good),
            _ => None,
        }
    }

    /// The ANSI SGR sequence that starts the style.
    fn sgr(self) -> &'static str {
        match self {
            Style::Bad => "\x1b[1;31m",
            Style::Weak => "\x1b[33m",
            Style::Good => "\x1b[32m",
        }
    }
}

/// The table's writer: everything written to it goes through the [`EscapingWriter`], so text
/// from servers cannot reach the terminal as control sequences; only [`Term::paint`] writes
/// the colour sequences, and only when colour is on.
pub(crate) struct Term<'a> {
    out: EscapingWriter<'a>,
    colour: bool,
}

impl<'a> Term<'a> {
    pub fn new(inner: &'a mut dyn std::io::Write, colour: bool) -> Term<'a> {
        Term {
            out: EscapingWriter::new(inner),
            colour,
        }
    }

    /// Write `text` (escaped like everything else) in `style`, when colour is on.
    pub fn paint(&mut self, style: Option<Style>, text: &str) -> std::io::Result<()> {
        match style {
            Some(style) if self.colour => {
                self.out.inner.write_all(style.sgr().as_bytes())?;
                std::io::Write::write_all(&mut self.out, text.as_bytes())?;
                self.out.inner.write_all(b"\x1b[0m")
            }
            _ => std::io::Write::write_all(&mut self.out, text.as_bytes()),
        }
    }
}

impl std::io::Write for Term<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
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
    fn colour_never_lets_server_text_through_and_keeps_the_columns() {
        let mut out = Vec::new();
        {
            let mut term = Term::new(&mut out, true);
            term.paint(Style::of("fail"), "fail\x1b[2J").unwrap();
            term.paint(None, " x").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[1;31mfail\\u{1b}[2J\x1b[0m x"
        );
        // Without colour the styled table is the plain one.
        let mut t = Table::new(&["A", "STATUS", "LAST"]);
        t.row(vec!["xyz".into(), "fail".into(), "".into()]);
        t.row(vec!["x".into(), "pass".into(), "free text  ".into()]);
        for colour in [false, true] {
            let mut out = Vec::new();
            t.write_styled(&mut Term::new(&mut out, colour), |c, text| {
                (c == 1).then(|| Style::of(text)).flatten()
            })
            .unwrap();
            let text = String::from_utf8(out)
                .unwrap()
                .replace("\x1b[1;31m", "")
                .replace("\x1b[32m", "")
                .replace("\x1b[0m", "");
            assert_eq!(text, t.render());
        }
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
