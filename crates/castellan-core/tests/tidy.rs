//! Tidy checks: the walls between crates, re-checked on every test run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn crate_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

/// The dependency names in the `[dependencies]` table of a crate's Cargo.toml.
fn deps(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(crate_dir(name).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deps = l == "[dependencies]";
            continue;
        }
        if in_deps && !l.is_empty() && !l.starts_with('#') {
            if let Some((k, _)) = l.split_once('=') {
                out.push(k.trim().split('.').next().unwrap().to_string());
            }
        }
    }
    out
}

fn check_forbidden(name: &str, forbidden: &[&str]) {
    let d = deps(name);
    assert!(!d.is_empty(), "{name}: no dependencies parsed");
    for f in forbidden {
        assert!(
            !d.iter().any(|x| x == f),
            "{name} must not depend on `{f}` (see docs/architecture.md)"
        );
    }
}

#[test]
fn core_has_no_io_http_sql_json_clock_or_randomness() {
    check_forbidden(
        "castellan-core",
        &[
            "tokio",
            "axum",
            "hyper",
            "tower",
            "sqlx",
            "reqwest",
            "serde_json",
            "rand",
            "getrandom",
            "castellan-wire",
            "castellan-store",
            "castellan-server",
        ],
    );
}

#[test]
fn wire_knows_no_http_framework_or_sql() {
    check_forbidden(
        "castellan-wire",
        &[
            "tokio",
            "axum",
            "hyper",
            "tower",
            "sqlx",
            "reqwest",
            "castellan-store",
            "castellan-server",
        ],
    );
}

#[test]
fn store_knows_no_http_or_wire() {
    check_forbidden(
        "castellan-store",
        &[
            "axum",
            "hyper",
            "tower",
            "reqwest",
            "castellan-wire",
            "castellan-server",
        ],
    );
}

#[test]
fn cli_does_not_reach_the_store() {
    check_forbidden("castellan-cli", &["castellan-store", "sqlx"]);
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_has_a_header() {
    for c in [
        "castellan-core",
        "castellan-wire",
        "castellan-store",
        "castellan-server",
        "castellan-cli",
    ] {
        let mut files = Vec::new();
        rs_files(&crate_dir(c).join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            assert!(
                first.starts_with("//!"),
                "{} must open with a `//!` comment saying what the module owns",
                f.display()
            );
        }
    }
}

#[test]
fn core_source_never_reads_the_clock() {
    let mut files = Vec::new();
    rs_files(&crate_dir("castellan-core").join("src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for banned in [
            "SystemTime::now",
            "Instant::now",
            "std::fs::",
            "std::net::",
            "thread_rng",
            "OsRng",
        ] {
            assert!(
                !text.contains(banned),
                "{} uses `{banned}`: core takes time and randomness as arguments",
                f.display()
            );
        }
    }
}

#[test]
fn fuzz_entry_points_reach_only_core_and_wire() {
    check_forbidden(
        "castellan-fuzz",
        &[
            "castellan-store",
            "castellan-server",
            "tokio",
            "axum",
            "hyper",
            "sqlx",
            "reqwest",
        ],
    );
    let mut files = Vec::new();
    rs_files(&crate_dir("castellan-fuzz").join("src"), &mut files);
    rs_files(&crate_dir("castellan-fuzz").join("tests"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} must open with a `//!` comment saying what the module owns",
            f.display()
        );
    }
}

/// One error table: AADSTS, ARM and Graph errors are built from `core::error::TABLE` (through
/// `Code::aadsts`/`Code::arm`/`GraphError::of` and the named constructors), never as struct
/// literals elsewhere, and no HTTP status is chosen for them outside the table.
#[test]
fn errors_are_built_only_from_the_table() {
    let mut files = Vec::new();
    for krate in [
        "castellan-core",
        "castellan-wire",
        "castellan-store",
        "castellan-server",
    ] {
        rs_files(&crate_dir(krate).join("src"), &mut files);
    }
    assert!(files.len() > 20);
    for f in files {
        let path = f.display().to_string();
        if path.ends_with("castellan-core/src/error.rs")
            || path.ends_with("castellan-wire/src/errors.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            for ty in ["AadstsError", "ArmError", "GraphError"] {
                let lit = format!("{ty} {{");
                let t = line.trim_start();
                let declares = t.contains("fn ") || t.starts_with("impl") || t.contains("for ");
                assert!(
                    !line.contains(&lit) || declares,
                    "{path}:{}: `{ty}` built as a struct literal; add a row to core::error's table",
                    i + 1
                );
            }
        }
    }
}

/// Layering inside core: `model` is at the bottom (it names no flow, policy, use case or
/// engine), and the ABAC condition language does not reach back into the RBAC engine that
/// uses it.
#[test]
fn model_is_at_the_bottom_and_abac_does_not_import_rbac() {
    let src = crate_dir("castellan-core").join("src");
    let mut files = Vec::new();
    rs_files(&src.join("model"), &mut files);
    assert!(files.len() > 5);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for up in [
            "crate::flow",
            "crate::policy",
            "crate::ops",
            "crate::azure_rbac",
            "crate::abac",
        ] {
            assert!(
                !code.contains(up),
                "{} imports `{up}`: model must not depend upward",
                f.display()
            );
        }
    }
    let abac = std::fs::read_to_string(src.join("abac.rs")).unwrap();
    assert!(
        !abac.contains("crate::azure_rbac"),
        "abac imports azure_rbac: the two would form a cycle"
    );
}
