//! Every relative link in README.md and docs/*.md resolves: the file (or folder)
//! exists, and a `#anchor` into a Markdown page names one of its headings, slugged
//! as GitHub slugs them.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pages checked: README.md and every docs/*.md.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let docs = std::fs::read_dir(root().join("docs")).expect("docs/ exists");
    pages.extend(
        docs.map(|e| e.expect("readable docs/").path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    pages.sort();
    pages
}

/// The targets of inline links `[text](target)`, outside code blocks and spans.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop code spans, whose brackets are not links.
        let text: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped,
/// spaces turned into hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// What is wrong with `target` as a link from `page`, if anything.
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None; // not relative
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().expect("a page is in a folder").join(path)
    };
    if !file.exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    let anchor = anchor.filter(|_| file.extension().is_some_and(|e| e == "md"))?;
    let text = std::fs::read_to_string(&file).ok()?;
    (!anchors(&text).iter().any(|a| a == anchor))
        .then(|| format!("{} has no heading #{anchor}", file.display()))
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("readable page");
        for target in links(&text) {
            checked += 1;
            if let Some(why) = broken(&page, &target) {
                bad.push(format!("{}: ({target}): {why}", page.display()));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser broken?"
    );
    assert!(bad.is_empty(), "broken links:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_catches_a_missing_file_and_a_missing_heading() {
    let page = root().join("docs/README.md");
    assert!(broken(&page, "knn.md#the-ideas").is_none());
    assert!(broken(&page, "../crates/knn/src/distances.rs").is_none());
    assert!(broken(&page, "nowhere.md").is_some());
    assert!(broken(&page, "knn.md#no-such-heading").is_some());
    assert!(broken(&page, "https://example.org/x").is_none());
}

#[test]
fn headings_slug_as_github_does() {
    assert_eq!(slug(" 1. The score function"), "1-the-score-function");
    assert_eq!(
        slug(" Backpropagation (lecture 4) — crate `backprop`"),
        "backpropagation-lecture-4--crate-backprop"
    );
    assert_eq!(
        links("see [a](a.md) and `[b](b.md)` and [c](c.md#x)"),
        ["a.md", "c.md#x"]
    );
}
