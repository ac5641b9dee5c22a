//! Human output: aligned tables with a header (no trailing spaces), money
//! rounded to cents and numbers with thousands separators. Only what a
//! person reads goes through here; `--json` and exports stay exact.

/// How a column lines up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table: a header row, then rows of cells, each column padded to its
/// widest cell, two spaces apart, indented by `indent` spaces.
pub fn render(indent: usize, header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = " ".repeat(indent);
        for (i, ((cell, (_, align)), w)) in cells.iter().zip(header).zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            match align {
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.iter().map(|(h, _)| *h).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Exact decimal text shown as money: rounded half away from zero to cents,
/// with thousands separators (`1234.5678` → `1,234.57`).
pub fn money(exact: &str) -> String {
    use crate::billing::money::{parse_decimal, parse_stored};
    // Stored sums may be longer than a provider's number may be.
    match parse_decimal(exact).or_else(|_| parse_stored(exact)) {
        Ok(d) => {
            let cents = d.with_scale_round(2, bigdecimal::RoundingMode::HalfUp);
            let text = cents.to_plain_string();
            let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
            let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
            format!("{sign}{}.{frac}", group(digits))
        }
        Err(_) => exact.to_string(),
    }
}

/// `text` cut to `max` characters, the cut marked with `…` (a model name
/// cut silently reads as another model).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A count with thousands separators (`213955403` → `213,955,403`).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    if n < 0 {
        format!("-{}", group(&digits))
    } else {
        group(&digits)
    }
}

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rounds_to_cents_with_separators() {
        assert_eq!(money("1234.5678"), "1,234.57");
        assert_eq!(money("0.005"), "0.01");
        assert_eq!(money("0.000001"), "0.00");
        assert_eq!(money("-1234567.5"), "-1,234,567.50");
        assert_eq!(money("12"), "12.00");
        assert_eq!(money("75.41574922000000019551115123125783"), "75.42");
    }

    #[test]
    fn clipped_text_says_so() {
        assert_eq!(clip("claude-sonnet-4-5", 48), "claude-sonnet-4-5");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
    }

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(213_955_403), "213,955,403");
        assert_eq!(count(999), "999");
        assert_eq!(count(-1000), "-1,000");
    }

    #[test]
    fn tables_align_without_trailing_spaces() {
        let t = render(
            2,
            &[("name", Align::Left), ("cost", Align::Right), ("note", Align::Left)],
            &[
                vec!["a".into(), "1.00".into(), String::new()],
                vec!["longer".into(), "1,234.00".into(), "x".into()],
            ],
        );
        assert_eq!(t, "  name        cost  note\n  a           1.00\n  longer  1,234.00  x\n");
    }
}
