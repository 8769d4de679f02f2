//! The buildspec fuzzer: mutated real-world-shaped buildspecs through parse → validate →
//! render, counting panics (and inputs that take too long). Shared by the bounded CI test
//! (`tests/fuzz.rs`) and the long run (`examples/fuzz_buildspec.rs`, `bench/fuzz.sh`).
//!
//! Mutations are the ones that found crashes before: byte flips, deletions, duplicated spans,
//! very long lines, deep nesting, plus YAML-significant tokens, indentation shifts, splices of
//! two seeds, aliases (including alias bombs) and unusual characters. A seeded PRNG makes every
//! run reproducible: `seed` and the input number name an input.

#![allow(dead_code, reason = "each includer uses part of it")]

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The seed corpus: every buildspec in the repository (the end-to-end corpus, the diagnostics
/// fixtures, the example) and the tests' own seeds.
pub fn seeds(repo: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["tests/corpus", "agent/tests/fixtures/buildspecs", "agent/tests/fuzz/seeds"] {
        for e in walkdir::WalkDir::new(repo.join(dir)).into_iter().filter_map(Result::ok) {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml" || x == "json" || x == "env") {
                files.push(p.to_path_buf());
            }
        }
    }
    files.push(repo.join("buildspec.example.yml"));
    files.sort();
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
}

/// YAML that changes structure when dropped in somewhere.
const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "-",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!binary ",
    "!custom ",
    "|",
    "|-",
    ">",
    ">+",
    "\t",
    "'",
    "\"",
    "#",
    "\n",
    "\n  ",
    "\n    - ",
    "~",
    "null",
    "? ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "\\",
    "\\u",
    "\\x0",
    "0x1F",
    "1e9999",
    "-.inf",
    ".nan",
    "0o777",
    "1_000",
    "2001-12-14",
    "yes",
    "on-failure: ",
    "RETRY-99999999999999999999-",
    "finally:\n",
    "commands:\n",
    "runtime-versions:\n",
    "plugin: ",
    "allow: { export: [",
    "${",
    "$(",
    "`",
    "\u{feff}",
    "\u{202e}",
    "\u{0}",
    "é",
    "𝔘",
    "\r\n",
    "\r",
    "version: 0.1\n",
    "version: 0.2\n",
    "batch:\n  build-graph:\n    - identifier: a\n",
    "artifacts:\n  files: ['**/*']\n  secondary-artifacts:\n",
    "reports:\n  r:\n    files: [x]\n",
    "env:\n  parameter-store:\n    X: /p\n",
    "cache:\n  key: k\n  paths: ['x/**/*']\n",
];

/// A PRNG for the mutations (xorshift64*: reproducible, and no dependency for eight lines).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// One mutation of `text` (bytes, then made valid UTF-8 lossily, as `read_to_string` would
/// refuse anything else and runspec only ever parses `str`).
pub fn mutate(rng: &mut Rng, text: &str, other: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = b.len().max(1);
        let at = rng.below(len).min(b.len());
        match rng.below(11) {
            0 => {
                // Byte flip.
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // Deletion of a span.
                let n = 1 + rng.below(64.min(len));
                let end = (at + n).min(b.len());
                b.drain(at..end);
            }
            2 => {
                // A duplicated span.
                let n = 1 + rng.below(256.min(len));
                let end = (at + n).min(b.len());
                let span: Vec<u8> = b[at..end].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, span);
            }
            3 => {
                // A very long line.
                // Mostly moderate; past 65,535 columns once in a while (where miette broke).
                let n =
                    if rng.below(8) == 0 { [70_000, 140_000][rng.below(2)] } else { 200 + rng.below(2_000) };
                let fill = [b'x', b' ', b'a', b':', b'\t'][rng.below(5)];
                b.splice(at..at, std::iter::repeat_n(fill, n));
            }
            4 => {
                // Deep nesting, flow or block.
                let depth = if rng.below(8) == 0 { 20_000 } else { [16, 64, 1_000][rng.below(3)] };
                let piece: Vec<u8> = match rng.below(3) {
                    0 => "[".repeat(depth).into_bytes(),
                    1 => "{a: ".repeat(depth).into_bytes(),
                    _ => (0..depth.min(2_000))
                        .map(|i| format!("\n{}- ", " ".repeat(i)))
                        .collect::<String>()
                        .into_bytes(),
                };
                b.splice(at..at, piece);
            }
            5 | 6 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.bytes());
            }
            7 => {
                // Indentation shift of one line.
                let line_start = b[..at].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
                if rng.below(2) == 0 {
                    b.splice(line_start..line_start, std::iter::repeat_n(b' ', 1 + rng.below(6)));
                } else if b.get(line_start) == Some(&b' ') {
                    b.remove(line_start);
                }
            }
            8 => {
                // A splice of another seed.
                let o = other.as_bytes();
                if !o.is_empty() {
                    let from = rng.below(o.len());
                    let n = 1 + rng.below(400.min(o.len() - from));
                    b.splice(at..at, o[from..from + n].iter().copied());
                }
            }
            9 => {
                // An alias bomb: each level refers to the one before nine times.
                let mut bomb = String::from("x0: &a0 [\"lol\"]\n");
                for i in 1..12 {
                    let refs: Vec<String> = (0..9).map(|_| format!("*a{}", i - 1)).collect();
                    bomb.push_str(&format!("x{i}: &a{i} [{}]\n", refs.join(",")));
                }
                b.splice(at..at, bomb.bytes());
            }
            _ => {
                // Truncation.
                b.truncate(at);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// An input that takes this long (release build) is a bug like a panic: a buildspec of at
/// most a few hundred KB must be checked in milliseconds.
pub const SLOW: Duration = Duration::from_secs(1);

/// What a run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub inputs: u64,
    pub panics: Vec<(u64, String, String)>,
    /// The slowest input and its time.
    pub slowest: (u64, Duration),
    /// Inputs that took longer than [`SLOW`].
    pub slow: Vec<(u64, Duration)>,
    pub elapsed: Duration,
}

/// Everything runspec does with a buildspec before running it: parse and validate, the
/// CodeBuild message, the JSON form, and the human rendering of every issue (unguarded, so a
/// renderer panic is seen).
pub fn exercise(text: &str) {
    let parsed = runspec::buildspec::parse("buildspec.yml", text);
    let d = &parsed.diagnostics;
    let _ = d.codebuild_message();
    let _ = d.to_json().to_string();
    // As many as the human rendering shows.
    for issue in d.issues.iter().take(50) {
        let _ = d.render_issue(issue, 100);
    }
    let _ = d.render(80);
    // The other files a user hands runspec: a project (JSON) and an env file.
    let _ = runspec::project::parse(text);
    let _ = runspec::env::parse_env_file(text);
}

/// The inputs of one seed, in order.
pub struct Inputs {
    seeds: Vec<String>,
    rng: Rng,
}

impl Inputs {
    pub fn new(repo: &Path, seed: u64) -> Inputs {
        Inputs { seeds: seeds(repo), rng: Rng::new(seed) }
    }

    pub fn next(&mut self) -> String {
        let a = &self.seeds[self.rng.below(self.seeds.len())];
        let o = &self.seeds[self.rng.below(self.seeds.len())];
        if self.rng.below(8) == 0 { a.clone() } else { mutate(&mut self.rng, a, o) }
    }
}

/// Runs inputs from `seed` until `inputs` are done or `budget` has passed.
pub fn run(repo: &Path, seed: u64, inputs: u64, budget: Duration, save_dir: Option<&Path>) -> Outcome {
    let seeds = seeds(repo);
    assert!(!seeds.is_empty(), "no seed buildspecs under {}", repo.display());
    // Panics are counted, not printed: the hook keeps the message and place.
    let last = Arc::new(Mutex::new(String::new()));
    let seen = last.clone();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        *seen.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
    }));
    let mut inputs_gen = Inputs { seeds, rng: Rng::new(seed) };
    let mut out = Outcome::default();
    let start = Instant::now();
    while out.inputs < inputs && start.elapsed() < budget {
        let input = inputs_gen.next();
        let t = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| exercise(&input)));
        let took = t.elapsed();
        if took > out.slowest.1 {
            out.slowest = (out.inputs, took);
        }
        if took > SLOW {
            out.slow.push((out.inputs, took));
        }
        if result.is_err() {
            let message = last.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(dir) = save_dir {
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::write(dir.join(format!("crash-{seed}-{}.yml", out.inputs)), &input);
            }
            out.panics.push((out.inputs, message, input.chars().take(200).collect()));
        }
        out.inputs += 1;
    }
    out.elapsed = start.elapsed();
    panic::set_hook(previous);
    out
}
