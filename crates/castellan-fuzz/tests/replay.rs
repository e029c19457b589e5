//! The stable fuzz harness (part of `cargo test --workspace`; no nightly, no cargo-fuzz):
//! every file of `fuzz/corpus/<target>/` is replayed through the same entry point the cargo-fuzz
//! target calls, then a bounded, seeded mutation run derives new inputs from those seeds — bit
//! flips, interesting bytes and tokens, deleted, duplicated and spliced ranges, truncation, and
//! nesting amplification (an opener repeated hundreds to thousands of times, or the whole input
//! wrapped that deep). The run is deterministic: the same seed gives the same inputs, so a
//! failure reproduces. A failing input is written to the system temp directory and named in the
//! panic message; add it to the corpus once fixed.
//!
//! `CASTELLAN_FUZZ_ITERS` (default 5000 per target, about 1–2 s each in a debug build) and `CASTELLAN_FUZZ_SEED` change the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use castellan_fuzz::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "{target}: the corpus needs a handful of seeds"
    );
    out
}

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const MAX_INPUT: usize = 64 * 1024;
const BYTES: &[u8] = b"(){}[]'\",.&=%+/:@!*? \n\t\\\x00\xff";
const TOKENS: &[&str] = &[
    "(",
    ")",
    " and ",
    " or ",
    "not ",
    " AND ",
    " OR ",
    "NOT ",
    "!",
    "any(x:",
    "x/",
    " eq ",
    " in (",
    "''",
    "@Resource[",
    "] StringLike '",
    "ActionMatches{'",
    "'}",
    "{'a','b'}",
    "{\"a\":",
    "[",
    "]",
    "}",
    ",",
    "\"\"",
    "null",
    "1e999",
    "&",
    "=",
    "%",
    "%2",
    "%F0%9F",
    "+",
    ".",
    "..",
    "/",
    "/providers/",
    "/subscriptions/",
    "eyJ",
    "\u{10FFFF}",
    "\u{FEFF}",
];
const OPENERS: &[&str] = &["(", "!", "NOT ", "not ", "[", "{\"a\":", "x/any(y:", "/a"];

fn mutate(rng: &mut Rng, seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].1.clone();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = BYTES[rng.below(BYTES.len())];
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let i = rng.below(len + 1);
                d.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                d.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk: Vec<u8> = d[i..i + n].to_vec();
                for _ in 0..1 + rng.below(8) {
                    d.splice(i..i, chunk.iter().copied());
                }
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())].1;
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            6 => {
                // Nesting amplification: an opener repeated, at a random place…
                let o = OPENERS[rng.below(OPENERS.len())].as_bytes();
                let k = 100 + rng.below(3000);
                let i = rng.below(len + 1);
                let rep: Vec<u8> = o.iter().copied().cycle().take(o.len() * k).collect();
                d.splice(i..i, rep);
            }
            7 => {
                // …or the whole input wrapped that deep, balanced.
                let (open, close): (&[u8], &[u8]) = match rng.below(4) {
                    0 => (b"(", b")"),
                    1 => (b"[", b"]"),
                    2 => (b"{\"a\":", b"}"),
                    _ => (b"not (", b")"),
                };
                let k = 30 + rng.below(2000);
                let mut w = open.repeat(k);
                w.extend_from_slice(&d);
                w.extend_from_slice(&close.repeat(k));
                d = w;
            }
            _ if len > 0 => d.truncate(rng.below(len)),
            _ => {}
        }
        d.truncate(MAX_INPUT);
    }
    d
}

fn run_one(target: &str, what: &str, data: &[u8]) {
    let r = std::panic::catch_unwind(|| assert!(castellan_fuzz::run(target, data)));
    if r.is_err() {
        let path = std::env::temp_dir().join(format!(
            "castellan-fuzz-{target}-{}.bin",
            what.replace(['/', ' '], "_")
        ));
        std::fs::write(&path, data).unwrap();
        panic!(
            "fuzz target '{target}' failed on {what}; input saved to {} (replay: cargo +nightly fuzz run {target} {})",
            path.display(),
            path.display()
        );
    }
}

fn replay_and_mutate(target: &str) {
    let seeds = seeds(target);
    for (name, data) in &seeds {
        run_one(target, &format!("corpus file {name}"), data);
    }
    let iters: usize = std::env::var("CASTELLAN_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let seed: u64 = std::env::var("CASTELLAN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00C0_FFEE_D00D_F00D);
    // Per-target stream, so adding a target does not change the others' inputs.
    let mut rng = Rng(seed ^ (target.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for i in 0..iters {
        let input = mutate(&mut rng, &seeds);
        run_one(target, &format!("mutation {i} (seed {seed})"), &input);
    }
}

#[test]
fn every_target_has_a_corpus_and_a_test() {
    assert_eq!(
        TARGETS,
        [
            "jwt",
            "odata_filter",
            "abac",
            "form",
            "arm_id",
            "ca_policy",
            "saml",
            "dynamic_rule",
            "domain",
            "arm_pim",
            "license",
            "group_pim",
            "invitation"
        ]
    );
    for t in TARGETS {
        assert!(corpus_dir(t).is_dir(), "fuzz/corpus/{t} is missing");
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/fuzz_targets")
            .join(format!("{t}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
    }
    assert!(!castellan_fuzz::run("nonesuch", b""));
}

#[test]
fn jwt() {
    replay_and_mutate("jwt");
}

#[test]
fn odata_filter() {
    replay_and_mutate("odata_filter");
}

#[test]
fn abac() {
    replay_and_mutate("abac");
}

#[test]
fn form() {
    replay_and_mutate("form");
}

#[test]
fn arm_id() {
    replay_and_mutate("arm_id");
}

#[test]
fn ca_policy() {
    replay_and_mutate("ca_policy");
}

#[test]
fn saml() {
    replay_and_mutate("saml");
}

#[test]
fn dynamic_rule() {
    replay_and_mutate("dynamic_rule");
}

#[test]
fn domain() {
    replay_and_mutate("domain");
}

#[test]
fn arm_pim() {
    replay_and_mutate("arm_pim");
}

#[test]
fn license() {
    replay_and_mutate("license");
}

#[test]
fn group_pim() {
    replay_and_mutate("group_pim");
}

#[test]
fn invitation() {
    replay_and_mutate("invitation");
}
