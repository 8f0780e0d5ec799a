//! CSV as both the agent (`scan --format csv`) and the collector's pages (`?csv=`) write it.

/// One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180 §2), and
/// prefixed with `'` when a spreadsheet would read it as a formula (`=`, `+`, `-`, `@`, tab or
/// carriage return first; OWASP's advice on CSV injection) unless it is a plain number.
pub fn field(text: &str) -> String {
    let formula =
        text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text = if formula {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("-12.5"), "-12.5");
        assert_eq!(field("-cmd"), "'-cmd");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }
}
