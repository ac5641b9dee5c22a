//! Where the logs are: the roots a run was granted, and the `.jsonl` files
//! under a folder.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::{Level, Log};

/// The roots to read: the paths `primary` (a `$SETTING` entry of the
/// manifest's `read_paths`) resolved to when there are any, else those of
/// each of `fallbacks`, in order, without repeats. The host passes every
/// declared entry, resolved, in `RunRequest::read_paths`.
pub fn roots(
    read_paths: &BTreeMap<String, Vec<String>>,
    primary: &str,
    fallbacks: &[&str],
) -> Vec<PathBuf> {
    let chosen: Vec<&String> = match read_paths.get(primary) {
        Some(paths) if !paths.is_empty() => paths.iter().collect(),
        _ => fallbacks.iter().filter_map(|f| read_paths.get(*f)).flatten().collect(),
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for path in chosen {
        let path = PathBuf::from(path);
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// Every `*.jsonl` file under `dir`, at any depth, that `keep` accepts,
/// sorted by path so runs read in a stable order. A missing `dir` has none;
/// a folder that cannot be listed is logged and left out. Symbolic links to
/// files are followed, links to folders are not (they could loop).
pub fn find_jsonl(dir: &Path, keep: impl Fn(&Path) -> bool, log: Log<'_>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => {
                log(Level::Warn, &format!("{}: skipped, cannot be listed: {e}", folder.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => todo.push(path),
                Ok(t) if is_jsonl(&path) && (t.is_file() || path.is_file()) && keep(&path) => {
                    found.push(path)
                }
                _ => {}
            }
        }
    }
    found.sort();
    found
}

fn is_jsonl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_logs_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/deep")).unwrap();
        for f in ["b/deep/x.jsonl", "a.jsonl", "b/skip.jsonl", "b/notes.json"] {
            fs::write(root.join(f), "").unwrap();
        }
        let found = find_jsonl(root, |p| !p.ends_with("skip.jsonl"), &mut |_, _| {});
        assert_eq!(found, [root.join("a.jsonl"), root.join("b/deep/x.jsonl")]);
        assert!(find_jsonl(&root.join("none"), |_| true, &mut |_, _| {}).is_empty());
    }

    #[test]
    fn the_setting_wins_over_the_defaults() {
        let mut paths = BTreeMap::new();
        paths.insert("$DIR".to_string(), vec![]);
        paths.insert("~/.a".to_string(), vec!["/h/.a".to_string()]);
        paths.insert("~/.b".to_string(), vec!["/h/.b".to_string(), "/h/.a".to_string()]);
        let defaults = [PathBuf::from("/h/.a"), PathBuf::from("/h/.b")];
        assert_eq!(roots(&paths, "$DIR", &["~/.a", "~/.b"]), defaults);
        paths.insert("$DIR".to_string(), vec!["/x".to_string(), "/y".to_string()]);
        assert_eq!(roots(&paths, "$DIR", &["~/.a"]), [PathBuf::from("/x"), PathBuf::from("/y")]);
    }
}
