//! The dashboard page: one HTML document with its style, its script and the
//! vendored chart library (uPlot 1.6.32, MIT, `host/assets/vendor/`)
//! inlined, so it needs no network and no build step. Served live, its
//! script reads the JSON API; written by `report html`, it carries its data.

use super::dashboard::Everything;

const TEMPLATE: &str = include_str!("../../assets/dashboard.html");
const STYLE: &str = include_str!("../../assets/dashboard.css");
const SCRIPT: &str = include_str!("../../assets/dashboard.js");
const UPLOT_CSS: &str = include_str!("../../assets/vendor/uPlot.min.css");
const UPLOT_JS: &str = include_str!("../../assets/vendor/uPlot.iife.min.js");

/// The page; with `data`, a self-contained report of that data.
pub fn render(data: Option<&Everything>) -> String {
    let data = match data {
        Some(d) => script_safe(&serde_json::to_string(d).unwrap_or_else(|_| "null".into())),
        None => "null".into(),
    };
    // Data goes in last, so nothing in it is ever taken for a placeholder.
    TEMPLATE
        .replace("{{STYLE}}", &format!("{UPLOT_CSS}\n{STYLE}"))
        .replace("{{UPLOT}}", UPLOT_JS)
        .replace("{{SCRIPT}}", SCRIPT)
        .replace("{{DATA}}", &data)
}

/// JSON made safe inside a `<script>` element: no `</script>` or `<!--`
/// can end or confuse it (`<` is written as its JSON escape).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_one_document_with_everything_inlined() {
        let page = render(None);
        assert!(page.starts_with("<!doctype html>"));
        assert!(!page.contains("{{"), "every placeholder is filled");
        assert!(page.contains("uPlot"));
        assert!(!page.contains("src=\"http"), "nothing is fetched from a network");
        assert!(page.contains("window.AGENT_DATA = null;"));
    }

    #[test]
    fn inlined_data_cannot_close_the_script() {
        let safe = script_safe(r#"{"provider":"</script><script>alert(1)</script>"}"#);
        assert!(!safe.contains('<'));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["provider"], "</script><script>alert(1)</script>");
    }
}
