//! A JSON string read from a log line without a copy where it holds no
//! escapes: serde borrows a `Cow` only when it is a field's own type, never
//! inside an `Option`, so optional fields use this newtype.

use std::borrow::Cow;

use serde::Deserialize;

/// A string borrowed from the line when it can be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Text<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned (copied only if it was borrowed).
    pub fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_owned() {
        #[derive(Deserialize)]
        struct Line<'a> {
            #[serde(borrow)]
            a: Option<Text<'a>>,
            #[serde(borrow)]
            b: Option<Text<'a>>,
        }
        let line: Line<'_> = serde_json::from_str(r#"{"a":"plain","b":"tab\t"}"#).unwrap();
        assert!(matches!(line.a.unwrap().0, Cow::Borrowed("plain")));
        assert!(matches!(line.b.unwrap().0, Cow::Owned(_)));
    }
}
