//! The manual stays true to the binary: `docs/reference/options.md` holds the exact
//! output of `overdue --help`, every relative link of the Markdown files resolves, and
//! the docker-compose examples are well-formed and name only real options.
//!
//! When a branch adds or changes a flag, refresh the options page with
//! `OVERDUE_BLESS_DOCS=1 cargo test --test process docs::`.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

use crate::harness::BIN;

const OPTIONS_PAGE: &str = "docs/reference/options.md";
const HELP_BEGIN: &str = "<!-- help:begin: the output of `overdue --help`, kept equal to it by tests/process/docs.rs -->";
const HELP_END: &str = "<!-- help:end -->";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `overdue --help` as a user with no overdue configuration of their own sees it: the
/// environment is cleared but for `PATH`, so no variable shows up as a current value.
fn help_text() -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("--help").env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd.output().expect("run overdue --help");
    assert!(out.status.success(), "--help exited with {:?}", out.status);
    String::from_utf8(out.stdout).expect("--help is UTF-8")
}

/// The page with the help block replaced by `help`.
fn with_help_block(page: &str, help: &str) -> Option<String> {
    let begin = page.find(HELP_BEGIN)?;
    let end = page[begin..].find(HELP_END)? + begin;
    let mut help = help.to_owned();
    if !help.ends_with('\n') {
        help.push('\n');
    }
    Some(format!(
        "{}{HELP_BEGIN}\n```text\n{help}```\n{}",
        &page[..begin],
        &page[end..]
    ))
}

/// A line-by-line account of where two texts differ, for a failure message.
fn line_diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        if e == a {
            continue;
        }
        if let Some(e) = e {
            out.push_str(&format!("line {:>3} - {e}\n", i + 1));
        }
        if let Some(a) = a {
            out.push_str(&format!("line {:>3} + {a}\n", i + 1));
        }
        shown += 1;
        if shown == 20 {
            out.push_str("…\n");
            break;
        }
    }
    out
}

#[test]
fn the_options_page_holds_the_exact_output_of_help() {
    let path = repo().join(OPTIONS_PAGE);
    let page = std::fs::read_to_string(&path).expect("read the options page");
    let help = help_text();
    let wanted = with_help_block(&page, &help).unwrap_or_else(|| {
        panic!("{OPTIONS_PAGE} has no block between `{HELP_BEGIN}` and `{HELP_END}`")
    });
    if wanted == page {
        return;
    }
    if std::env::var_os("OVERDUE_BLESS_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &wanted).expect("rewrite the options page");
        eprintln!("{OPTIONS_PAGE}: the --help block was rewritten");
        return;
    }
    panic!(
        "{OPTIONS_PAGE} differs from `overdue --help` (- the page, + --help):\n{}\n\
         Refresh it with: OVERDUE_BLESS_DOCS=1 cargo test --test process docs::",
        line_diff(&page, &wanted)
    );
}

/// README.md, CHANGELOG.md and every Markdown file under docs/.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read a docs directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = repo();
    let mut files = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    walk(&root.join("docs"), &mut files);
    files
}

/// The text outside fenced code blocks and inline code spans, line by line.
fn prose_lines(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            lines.push(String::new());
            continue;
        }
        if fenced {
            lines.push(String::new());
            continue;
        }
        let mut kept = String::new();
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                kept.push(c);
            }
        }
        lines.push(kept);
    }
    lines
}

/// The targets of the inline links `[text](target)` of one line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(close) = after.find(')') else { break };
        let target = after[..close].split_whitespace().next().unwrap_or("");
        targets.push(target.to_owned());
        rest = &after[close..];
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (with GitHub's `-1`, `-2` for repeats).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').replace('`', "");
        let base = slug(&heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

#[test]
fn every_relative_link_of_the_manual_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("read a Markdown file");
        let shown = file
            .strip_prefix(repo())
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in prose_lines(&text).iter().enumerate() {
            for target in link_targets(line) {
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let resolved = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().expect("a file's directory").join(path)
                };
                if !resolved.exists() {
                    broken.push(format!("{shown}:{}: {target} (no such file)", n + 1));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if resolved.extension().is_some_and(|e| e == "md") {
                    let linked = std::fs::read_to_string(&resolved).expect("read a linked file");
                    if !anchors(&linked).contains(anchor) {
                        broken.push(format!("{shown}:{}: {target} (no such heading)", n + 1));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} relative links found: is the walk right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_sees_a_broken_link_and_a_missing_heading() {
    let lines = prose_lines("see [a](x.md#one) and `[b](not-a-link)`\n```\n[c](d)\n```\n");
    assert_eq!(link_targets(&lines[0]), vec!["x.md#one".to_owned()]);
    assert!(lines.iter().skip(1).all(|l| link_targets(l).is_empty()));
    let anchors =
        anchors("# The `--help` page\n## Limits and status codes\n## Limits and status codes\n");
    assert!(anchors.contains("the---help-page"));
    assert!(anchors.contains("limits-and-status-codes"));
    assert!(anchors.contains("limits-and-status-codes-1"));
    assert!(!anchors.contains("limits"));
}

/// Every environment variable `--help` names, plus those overdue reads beside its
/// options (`PORT`, `RUST_LOG`, `NO_COLOR`).
fn overdue_variables() -> BTreeSet<String> {
    let help = help_text();
    let mut vars: BTreeSet<String> = ["PORT", "RUST_LOG", "NO_COLOR"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rest = help.as_str();
    while let Some(at) = rest.find("[env: ") {
        let after = &rest[at + 6..];
        let end = after
            .find(['=', ']'])
            .expect("an [env: NAME] of --help ends");
        vars.insert(after[..end].to_owned());
        rest = &after[end..];
    }
    assert!(
        vars.contains("OVERDUE_STORE"),
        "--help names no OVERDUE_STORE: {vars:?}"
    );
    vars
}

fn compose(file: &str) -> Value {
    let path = repo().join("docs/examples/compose").join(file);
    let text = std::fs::read_to_string(&path).expect("read a compose example");
    let mut doc: Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
    doc.apply_merge()
        .unwrap_or_else(|e| panic!("{file}: a merge key (<<) does not apply: {e}"));
    doc
}

fn service<'a>(doc: &'a Value, file: &str, name: &str) -> &'a Value {
    doc.get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("{file} has no service {name}"))
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(text_of).collect::<Vec<_>>().join(" "),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// An overdue service: built from the repository's Dockerfile, with a healthcheck on a
/// probe, and only real overdue variables in its environment.
fn check_overdue_service(doc: &Value, file: &str, name: &str, vars: &BTreeSet<String>) {
    let svc = service(doc, file, name);
    let build = svc
        .get("build")
        .unwrap_or_else(|| panic!("{file}: {name} is not built from the repository"));
    let context = build
        .get("context")
        .map(text_of)
        .unwrap_or_else(|| text_of(build));
    let dockerfile = repo().join("docs/examples/compose").join(&context).join(
        build
            .get("dockerfile")
            .map(text_of)
            .unwrap_or_else(|| "Dockerfile".into()),
    );
    assert!(
        dockerfile.is_file(),
        "{file}: {name} builds from {}, which is not the repository's Dockerfile",
        dockerfile.display()
    );
    assert!(svc.get("image").is_some(), "{file}: {name} names no image");
    let check = svc
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .map(text_of)
        .unwrap_or_else(|| panic!("{file}: {name} has no healthcheck"));
    assert!(
        check.contains("/readyz") || check.contains("/livez"),
        "{file}: {name}'s healthcheck probes neither /readyz nor /livez: {check}"
    );
    let env = svc
        .get("environment")
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("{file}: {name} has no environment mapping"));
    for key in env.keys() {
        let key = text_of(key);
        assert!(
            vars.contains(&key),
            "{file}: {name} sets {key}, which overdue does not read (known: {vars:?})"
        );
    }
}

fn ports(doc: &Value, file: &str, name: &str) -> String {
    service(doc, file, name)
        .get("ports")
        .map(text_of)
        .unwrap_or_else(|| panic!("{file}: {name} publishes no port"))
}

#[test]
fn the_single_node_compose_example_is_well_formed() {
    let file = "single-node.yml";
    let doc = compose(file);
    let vars = overdue_variables();
    check_overdue_service(&doc, file, "overdue", &vars);
    assert!(
        ports(&doc, file, "overdue").contains(":4000"),
        "{file}: port 4000 not published"
    );
    let volumes = service(&doc, file, "overdue").get("volumes").map(text_of);
    assert!(
        volumes.is_some_and(|v| v.contains(":/data")),
        "{file}: the SQLite file's /data is not a volume"
    );
}

#[test]
fn the_redis_tls_sentinel_and_cluster_compose_examples_are_well_formed() {
    let vars = overdue_variables();
    for (file, names, scheme) in [
        ("redis-tls.yml", &["overdue"][..], "rediss://"),
        (
            "redis-sentinel.yml",
            &["overdue-1", "overdue-2"][..],
            "redis+sentinel://",
        ),
        (
            "redis-cluster.yml",
            &["overdue-1", "overdue-2"][..],
            "redis+cluster://",
        ),
    ] {
        let doc = compose(file);
        for name in names {
            check_overdue_service(&doc, file, name, &vars);
            let store = service(&doc, file, name)
                .get("environment")
                .and_then(|e| e.get("OVERDUE_STORE"))
                .map(text_of)
                .unwrap_or_default();
            assert!(
                store.starts_with(scheme),
                "{file}: {name} stores in {store:?}"
            );
        }
    }
}

#[test]
fn the_redis_replicas_compose_example_is_well_formed() {
    let file = "redis-replicas.yml";
    let doc = compose(file);
    let vars = overdue_variables();
    let redis = text_of(
        service(&doc, file, "redis")
            .get("command")
            .unwrap_or_else(|| panic!("{file}: redis has no command")),
    );
    assert!(
        redis.contains("--appendonly yes") && redis.contains("--appendfsync everysec"),
        "{file}: redis does not run with AOF everysec: {redis}"
    );
    for name in ["overdue-1", "overdue-2", "overdue-3"] {
        check_overdue_service(&doc, file, name, &vars);
        let store = service(&doc, file, name)
            .get("environment")
            .and_then(|e| e.get("OVERDUE_STORE"))
            .map(text_of)
            .unwrap_or_default();
        assert!(
            store.starts_with("redis://redis:6379"),
            "{file}: {name} stores in {store:?}"
        );
    }
    assert!(
        ports(&doc, file, "proxy").contains(":4000"),
        "{file}: the proxy publishes no 4000"
    );
    let haproxy = std::fs::read_to_string(repo().join("docs/examples/compose/haproxy.cfg"))
        .expect("read haproxy.cfg beside the compose example");
    assert!(
        haproxy.contains("option httpchk GET /readyz"),
        "haproxy.cfg does not check /readyz"
    );
    for name in ["overdue-1", "overdue-2", "overdue-3"] {
        assert!(
            haproxy.contains(&format!("{name}:4000 check")),
            "haproxy.cfg lacks {name}"
        );
    }
}
