//! The `.env` grammar: `NAME=value` lines whose values are taken literally.
//!
//! No `$VAR` or `${VAR}` is expanded and no escape but `\"` and `\\` inside
//! double quotes is read, so a secret holding `$` or `\` arrives as written.
//! Errors name the line and the setting, never the value (it may be a secret).

use std::collections::BTreeMap;

/// Parses `.env` text: blank lines and `#` comments are skipped; a line is
/// `[export ]NAME=value`, where the value is bare (up to a ` #` comment,
/// trimmed), `'single-quoted'` (literal) or `"double-quoted"` (literal but
/// for `\"` and `\\`); quoted values may span lines. An empty value is an
/// error: it used to mean "the default" silently.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let number = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, rest)) = line.split_once('=') else {
            return Err(format!("line {number}: not a NAME=value setting"));
        };
        let name = name.trim();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(format!("line {number}: not a NAME=value setting"));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut body = rest[1..].to_string();
                let (value, after) = loop {
                    if let Some(found) = closing(&body, q) {
                        break found;
                    }
                    // The quote goes on: the value spans lines.
                    match lines.next() {
                        Some((_, more)) => {
                            body.push('\n');
                            body.push_str(more.strip_suffix('\r').unwrap_or(more));
                        }
                        None => {
                            return Err(format!(
                                "line {number}: the value of {name} cannot be read (an unclosed quote?)"
                            ))
                        }
                    }
                };
                let after = after.trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(format!("line {number}: {name} has text after its closing quote"));
                }
                value
            }
            _ => {
                let bare = rest.strip_suffix('\r').unwrap_or(rest);
                let end = bare.find(" #").or_else(|| bare.find("\t#")).unwrap_or(bare.len());
                bare[..end].trim().to_string()
            }
        };
        if value.is_empty() {
            return Err(format!(
                "line {number}: {name} is empty; give it a value, or remove the line to use the default"
            ));
        }
        vars.insert(name.to_string(), value);
    }
    Ok(vars)
}

/// The value up to the closing `quote` and the text after it, or `None`
/// when the quote is not closed in `body`.
fn closing(body: &str, quote: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Some((value, &body[i + 1..])),
            '\\' if quote == '"' => match chars.clone().next() {
                Some((_, next @ ('"' | '\\'))) => {
                    value.push(next);
                    chars.next();
                }
                _ => value.push('\\'),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_comments_and_export() {
        let vars =
            parse("# c\nA=1\nB=\"two words\"\nexport C=3\nD='x' # note\nE=bare # note\n").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "3");
        assert_eq!(vars["D"], "x");
        assert_eq!(vars["E"], "bare");
    }

    // See: issue 24, point 12 (a secret with `$` was silently changed).
    #[test]
    fn values_are_literal() {
        let vars = parse(
            "HOME_DIR=/x\nA=pa$$word$HOME_DIR\nB=\"${HOME_DIR}\\n\\\"q\\\" \\\\\"\nC='$HOME_DIR \\ \"'\nD=a#b\r\n",
        )
        .unwrap();
        assert_eq!(vars["A"], "pa$$word$HOME_DIR");
        assert_eq!(vars["B"], "${HOME_DIR}\\n\"q\" \\");
        assert_eq!(vars["C"], "$HOME_DIR \\ \"");
        assert_eq!(vars["D"], "a#b");
    }

    #[test]
    fn quoted_values_may_span_lines() {
        let vars = parse("KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT=1\n").unwrap();
        assert_eq!(vars["KEY"], "-----BEGIN-----\nabc\n-----END-----");
        assert_eq!(vars["NEXT"], "1");
    }

    #[test]
    fn errors_name_the_line_and_the_setting_never_the_value() {
        let cases = [
            ("GOOD=1\nthis is not a setting\n", "line 2: not a NAME=value setting"),
            (
                "A=1\nOPENAI_ADMIN_KEY=\"sk-admin-secret\nB=2\n",
                "line 2: the value of OPENAI_ADMIN_KEY cannot be read (an unclosed quote?)",
            ),
            (
                "A=1\n\nMONTHLY_BUDGET_USD=\n",
                "line 3: MONTHLY_BUDGET_USD is empty; give it a value, or remove the line to use the default",
            ),
            (
                "X=\"\"\n",
                "line 1: X is empty; give it a value, or remove the line to use the default",
            ),
            ("K=\"sk-secret\"trailing\n", "line 1: K has text after its closing quote"),
            ("1BAD=sk-secret\n", "line 1: not a NAME=value setting"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert_eq!(got, want);
            assert!(!got.contains("secret\""), "{got}");
        }
    }
}
