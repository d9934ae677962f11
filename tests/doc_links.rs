//! The documents' links hold, in the repository and on docs.rs.
//!
//! - The guide's chapters (`src/guide/*.md`, `mfa::guide::…`) and
//!   ARCHITECTURE.md (`mfa::architecture`) are published with the crate's
//!   documentation, where no file of the repository exists: they link to
//!   absolute URLs, to `#anchors` and to rustdoc paths (intra-doc links, which
//!   `cargo doc` with `-D warnings` checks) only.
//! - The other documents (README.md, TESTING.md, BENCHMARKS.md, CHANGELOG.md,
//!   `examples/server/README.md`) are read in the repository: a relative link
//!   names a file or directory that exists.
//! - A `#anchor`, in a document or after a link to another of them (a
//!   rustdoc path to a chapter or to the architecture included), names one of
//!   its headings, as GitHub (and rustdoc) derive their ids.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The documents read in the repository only.
const REPOSITORY_DOCUMENTS: [&str; 5] = [
    "README.md",
    "TESTING.md",
    "BENCHMARKS.md",
    "CHANGELOG.md",
    "examples/server/README.md",
];

/// Where a document is read.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Published {
    /// In the repository (and on crates.io, for the README): relative links
    /// to files are fine when the file exists.
    Repository,
    /// On docs.rs too: no relative links to files.
    DocsRs,
}

/// A document: its path from the repository's root and its text.
struct Document {
    path: String,
    text: String,
    published: Published,
}

fn read(path: &str, published: Published) -> Document {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"));
    Document {
        path: path.to_owned(),
        text,
        published,
    }
}

/// Every document the check covers.
fn documents() -> Vec<Document> {
    let mut documents: Vec<Document> = REPOSITORY_DOCUMENTS
        .iter()
        .map(|path| read(path, Published::Repository))
        .collect();
    documents.push(read("ARCHITECTURE.md", Published::DocsRs));
    let mut chapters: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("src/guide"))
        .expect("src/guide")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    chapters.sort();
    assert!(!chapters.is_empty(), "src/guide holds no chapter");
    for chapter in chapters {
        documents.push(read(&format!("src/guide/{chapter}"), Published::DocsRs));
    }
    documents
}

/// The lines of `text` outside fenced code blocks, with their numbers
/// (from 1).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"]
            .into_iter()
            .find(|marker| trimmed.starts_with(marker));
        match (fence, marker) {
            (None, Some(marker)) => fence = Some(marker),
            (Some(open), Some(marker)) if open == marker => fence = None,
            (None, None) => lines.push((index + 1, line)),
            _ => {}
        }
    }
    lines
}

/// `line` without its code spans (a run of backticks up to the next run of
/// the same length).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let after = &rest[start + ticks..];
        let fence = "`".repeat(ticks);
        match after.find(&fence) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of the inline links and images on `line`: what stands
/// between the parentheses of `[text](target)`, without a title.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let inner = after[..end].trim();
        let target = inner
            .strip_prefix('<')
            .and_then(|inner| inner.split_once('>').map(|(target, _)| target))
            .unwrap_or_else(|| inner.split_whitespace().next().unwrap_or(""));
        targets.push(target.to_owned());
        rest = &after[end + 1..];
    }
    targets
}

/// A heading's anchor as GitHub (and rustdoc) derive it: the text without
/// its formatting, lower case, spaces to `-`, punctuation other than `-`
/// and `_` dropped.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    // A link in a heading reads as its text.
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|close| close + open) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|end| end + close) else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    text.trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().collect::<String>())
            } else if c == ' ' {
                Some("-".to_owned())
            } else {
                None
            }
        })
        .collect()
}

/// The anchors of `text`'s headings (ATX headings outside code blocks), a
/// repeated one numbered as GitHub does (`x`, `x-1`, `x-2`).
fn anchors(text: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let heading = line[hashes..].trim().trim_end_matches('#').trim_end();
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

fn is_absolute(target: &str) -> bool {
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
}

/// A rustdoc path (`Mfa`, `crate::guide::storage`, `Error::code()`,
/// `vec!`, `struct@Mfa`): words joined by `::`, with no `/` or `.`.
fn is_rust_path(path: &str) -> bool {
    let path = path.split_once('@').map_or(path, |(_, path)| path);
    let path = path.trim_end_matches("()").trim_end_matches('!');
    !path.is_empty()
        && path.split("::").all(|word| {
            word.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && word.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// The document a rustdoc path to a chapter or to the architecture is, to
/// check its anchor against.
fn document_of_rust_path(path: &str) -> Option<String> {
    let path = path
        .trim_start_matches("crate::")
        .trim_start_matches("mfa::");
    if path == "architecture" {
        return Some("ARCHITECTURE.md".to_owned());
    }
    let chapter = path
        .strip_prefix("guide::")
        .or_else(|| path.strip_prefix("super::"))?;
    Some(format!("src/guide/{chapter}.md"))
}

/// Normalises `a/b/../c` and `./` away, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// What is wrong with the links of `documents`, one line each. `exists`
/// says whether a path from the repository's root exists.
fn problems(documents: &[Document], exists: &dyn Fn(&Path) -> bool) -> Vec<String> {
    let anchors_of = |path: &str| -> Option<HashSet<String>> {
        if let Some(document) = documents.iter().find(|d| d.path == path) {
            return Some(anchors(&document.text));
        }
        let text = std::fs::read_to_string(Path::new(ROOT).join(path)).ok()?;
        Some(anchors(&text))
    };
    let mut problems = Vec::new();
    for document in documents {
        let own = anchors(&document.text);
        let directory = Path::new(&document.path)
            .parent()
            .unwrap_or(Path::new(""))
            .to_owned();
        for (number, line) in prose_lines(&document.text) {
            for target in link_targets(line) {
                let at = format!("{}:{number}: ({target})", document.path);
                if target.is_empty() {
                    problems.push(format!("{at} an empty link"));
                    continue;
                }
                if is_absolute(&target) {
                    continue;
                }
                let (path, fragment) = match target.split_once('#') {
                    Some((path, fragment)) => (path, Some(fragment)),
                    None => (target.as_str(), None),
                };
                if path.is_empty() {
                    let fragment = fragment.unwrap_or_default();
                    if !own.contains(fragment) {
                        problems.push(format!("{at} names no heading of this document"));
                    }
                    continue;
                }
                if document.published == Published::DocsRs {
                    if !is_rust_path(path) {
                        problems.push(format!(
                            "{at} a relative link to a file, in a document published on \
                             docs.rs: link to an absolute URL, an anchor or a rustdoc path"
                        ));
                        continue;
                    }
                    if let (Some(fragment), Some(linked)) = (fragment, document_of_rust_path(path))
                    {
                        match anchors_of(&linked) {
                            Some(anchors) if anchors.contains(fragment) => {}
                            Some(_) => problems.push(format!("{at} names no heading of {linked}")),
                            None => problems.push(format!("{at} {linked} does not exist")),
                        }
                    }
                    continue;
                }
                let linked = normalise(&directory.join(path));
                if !exists(&linked) {
                    problems.push(format!("{at} {} does not exist", linked.display()));
                    continue;
                }
                if let Some(fragment) = fragment {
                    let linked = linked.to_string_lossy().into_owned();
                    if linked.ends_with(".md") {
                        match anchors_of(&linked) {
                            Some(anchors) if anchors.contains(fragment) => {}
                            _ => problems.push(format!("{at} names no heading of {linked}")),
                        }
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_link_of_the_documents_holds() {
    let documents = documents();
    let problems = problems(&documents, &|path| Path::new(ROOT).join(path).exists());
    assert!(
        problems.is_empty(),
        "broken or misplaced links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_documents_link_to_each_other() {
    // The README is the front door: it leads to every chapter and document.
    let readme = read("README.md", Published::Repository).text;
    for chapter in [
        "integration",
        "security",
        "compliance",
        "storage",
        "migration",
    ] {
        let url = format!("https://docs.rs/mfa/latest/mfa/guide/{chapter}/index.html");
        assert!(readme.contains(&url), "README.md does not link to {url}");
    }
    for document in [
        "ARCHITECTURE.md",
        "TESTING.md",
        "BENCHMARKS.md",
        "CHANGELOG.md",
        "examples/server/README.md",
    ] {
        assert!(
            readme.contains(&format!("]({document})")),
            "README.md does not link to {document}"
        );
    }
}

#[test]
fn anchors_are_derived_as_github_does() {
    assert_eq!(slug("The example server"), "the-example-server");
    assert_eq!(
        slug("8. The example server's throughput against its floor"),
        "8-the-example-servers-throughput-against-its-floor"
    );
    assert_eq!(
        slug("I17 — a session alone never takes a factor from its owner"),
        "i17--a-session-alone-never-takes-a-factor-from-its-owner"
    );
    assert_eq!(slug("Format `mfa/3`"), "format-mfa3");
    assert_eq!(slug("[Unreleased]"), "unreleased");
    let text =
        "# A\n\n```sh\n# Not a heading\n```\n\n## A\n### Hashing work — `tests/hash_once.rs`\n";
    let found = anchors(text);
    for anchor in ["a", "a-1", "hashing-work--testshash_oncers"] {
        assert!(found.contains(anchor), "{anchor} in {found:?}");
    }
    assert!(!found.contains("not-a-heading"));
}

/// The check fails on each kind of broken link, and only on those.
#[test]
fn the_check_finds_broken_links() {
    let documents = [
        Document {
            path: "GUIDE.md".to_owned(),
            text: "# Guide\n\n## Set-up\n\n\
                   [ok](#set-up), [ok](https://docs.rs/mfa), [ok](crate::Mfa), \
                   [ok](crate::architecture#layers), `[not a link](nowhere.md)`\n\
                   [bad](#setup) and [bad](README.md) and [bad](crate::guide::nothing#x)\n\
                   ```text\n[not a link](#inside-a-fence)\n```\n"
                .to_owned(),
            published: Published::DocsRs,
        },
        Document {
            path: "docs/NOTES.md".to_owned(),
            text: "# Notes\n\n[ok](../README.md), [ok](../README.md#mfa), \
                   ![ok](../docs/screenshots/enroll.png), [ok](#notes)\n\
                   [bad](README.md), [bad](../README.md#no-such-heading), [bad](#nope), [bad]()\n"
                .to_owned(),
            published: Published::Repository,
        },
    ];
    let exists = |path: &Path| {
        ["README.md", "docs/screenshots/enroll.png"]
            .iter()
            .any(|file| path == Path::new(file))
    };
    let found = problems(&documents, &exists);
    let expected = [
        "GUIDE.md:6: (#setup)",
        "GUIDE.md:6: (README.md)",
        "GUIDE.md:6: (crate::guide::nothing#x)",
        "docs/NOTES.md:4: (README.md)",
        "docs/NOTES.md:4: (../README.md#no-such-heading)",
        "docs/NOTES.md:4: (#nope)",
        "docs/NOTES.md:4: ()",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (problem, start) in found.iter().zip(expected) {
        assert!(problem.starts_with(start), "{problem} is not {start}");
    }
}
