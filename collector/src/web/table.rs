//! Tables as the pages show them and as CSV exports them: one description of each table, so
//! the export is exactly what is on the page (all rows, not only the ones shown).

use std::fmt::Write as _;

/// One cell: its text, and optionally a link, a status class and an inline chart.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// The text (in CSV and on the page).
    pub text: String,
    /// A link on the page.
    pub href: Option<String>,
    /// A CSS class (`status-fail`); the text says the same, colour is never the only cue.
    pub class: &'static str,
    /// An inline SVG drawn by [`super::chart`] (numbers only, so safe to emit as is).
    pub svg: Option<String>,
}

impl Cell {
    /// A cell of plain text.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            ..Cell::default()
        }
    }

    /// A cell linking to `href`.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: Some(href.into()),
            ..Cell::default()
        }
    }

    /// Text with a class.
    pub fn marked(text: impl Into<String>, class: &'static str) -> Cell {
        Cell {
            text: text.into(),
            class,
            ..Cell::default()
        }
    }

    /// A status or severity, with its class.
    pub fn status(text: &str) -> Cell {
        Cell {
            text: text.to_owned(),
            class: match text {
                "fail" | "critical" => "bad",
                "warn" | "high" => "warn",
                "pass" => "good",
                _ => "",
            },
            ..Cell::default()
        }
    }

    /// A score (0 to 100, one decimal), or a dash when there is none.
    pub fn score(score: Option<f64>) -> Cell {
        Cell::text(score.map_or_else(|| "–".to_owned(), |s| format!("{s:.1}")))
    }

    /// A chart, with its text alternative as the cell's text.
    pub fn chart(text: String, svg: String) -> Cell {
        Cell {
            text,
            svg: Some(svg),
            ..Cell::default()
        }
    }
}

/// A table of a page.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Its id on the page and in `?csv=ID`.
    pub id: &'static str,
    /// Its caption.
    pub caption: String,
    /// Column headings.
    pub headers: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
    /// Rows shown on the page (the CSV has all).
    pub shown: usize,
    /// What to say when there are no rows.
    pub empty: &'static str,
}

/// Rows shown on a page at most; the CSV export has all.
pub const SHOWN: usize = 500;

impl Table {
    /// A table with its rows.
    pub fn new(
        id: &'static str,
        caption: impl Into<String>,
        headers: Vec<impl Into<String>>,
        rows: Vec<Vec<Cell>>,
        empty: &'static str,
    ) -> Table {
        Table {
            id,
            caption: caption.into(),
            shown: rows.len().min(SHOWN),
            headers: headers.into_iter().map(Into::into).collect(),
            rows,
            empty,
        }
    }

    /// The rows shown on the page.
    pub fn visible(&self) -> &[Vec<Cell>] {
        &self.rows[..self.shown]
    }

    /// Rows left off the page.
    pub fn hidden(&self) -> usize {
        self.rows.len() - self.shown
    }

    /// The table as CSV (RFC 4180, CRLF line ends): every row.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, fields: &mut dyn Iterator<Item = &str>| {
            let fields: Vec<String> = fields.map(posture_policies::csv::field).collect();
            let _ = write!(out, "{}\r\n", fields.join(","));
        };
        line(&mut out, &mut self.headers.iter().map(String::as_str));
        for row in &self.rows {
            line(&mut out, &mut row.iter().map(|c| c.text.as_str()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_defuses_formulas() {
        let t = Table::new(
            "t",
            "T",
            vec!["a", "b"],
            vec![
                vec![Cell::text("x,y"), Cell::text("say \"hi\"")],
                vec![
                    Cell::text("=HYPERLINK(\"http://evil\")"),
                    Cell::text("-12.5"),
                ],
                vec![Cell::text("two\nlines"), Cell::score(None)],
            ],
            "",
        );
        assert_eq!(
            t.csv(),
            "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n\"'=HYPERLINK(\"\"http://evil\"\")\",-12.5\r\n\"two\nlines\",–\r\n"
        );
    }

    #[test]
    fn the_page_shows_at_most_shown_rows_and_the_csv_all() {
        let rows = (0..SHOWN + 3)
            .map(|i| vec![Cell::text(i.to_string())])
            .collect();
        let t = Table::new("t", "T", vec!["n"], rows, "");
        assert_eq!(t.visible().len(), SHOWN);
        assert_eq!(t.hidden(), 3);
        assert_eq!(t.csv().lines().count(), SHOWN + 4);
    }
}
