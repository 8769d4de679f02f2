//! `sha256sum`: a checksum manifest of the files matching glob patterns, in the format of
//! `sha256sum` (`<hex>  <path>` per line, sorted by path) so `sha256sum -c` can verify it; or,
//! with `check:`, verifies files against such a manifest.
//!
//! ```yaml
//! - plugin: ./plugins/sha256sum.wasm
//!   with: { files: ["target/release/app", "dist/**/*.js"], output: checksums.txt }
//!   allow: { write: true }
//! - plugin: ./plugins/sha256sum.wasm
//!   with: { check: checksums.txt }
//! ```
//!
//! Arguments: `files` (glob patterns relative to the source directory, `**` crosses
//! directories), `output` (manifest to write; needs `allow.write`; added to the primary
//! artifact), `check` (manifest to verify instead), `export` (a variable name that receives the
//! digest of a single matched file).

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use globset::{GlobBuilder, GlobSetBuilder};
use runspec_sdk::{Context, Error, Output, Plugin, log};
use sha2::{Digest, Sha256};

struct Sha256Sum;

impl Plugin for Sha256Sum {
    fn run(ctx: &Context) -> Result<Output, Error> {
        ctx.expect_args(&["files", "output", "check", "export"])?;
        if let Some(manifest) = ctx.arg_opt::<String>("check")? {
            return check(&manifest);
        }
        let patterns: Vec<String> = ctx.arg("files")?;
        let output: Option<String> = ctx.arg_opt("output")?;
        let export: Option<String> = ctx.arg_opt("export")?;
        let files = matching(&patterns, output.as_deref())?;
        if files.is_empty() {
            return Err(Error::Failed(format!("no file matches {}", patterns.join(" "))));
        }
        let mut manifest = String::new();
        let mut last = String::new();
        for f in &files {
            last = digest(Path::new(f))?;
            let _ = writeln!(manifest, "{last}  {f}");
        }
        print!("{manifest}");
        let mut out = Output::new(format!("{} file(s) hashed", files.len()));
        if let Some(path) = output {
            std::fs::write(&path, &manifest).map_err(|e| {
                Error::Failed(format!("cannot write {path}: {e} (the step needs `allow: {{ write: true }}`)"))
            })?;
            out = Output::new(format!("{} file(s) hashed into {path}", files.len())).artifact(path);
        }
        if let Some(name) = export {
            if files.len() != 1 {
                return Err(Error::InvalidArgs(format!(
                    "`export` needs exactly one matched file, {} matched",
                    files.len()
                )));
            }
            out = out.export(name, last);
        }
        Ok(out)
    }
}

/// Files under the working directory matching any pattern, sorted; `skip` (the manifest
/// itself) is left out.
fn matching(patterns: &[String], skip: Option<&str>) -> Result<Vec<String>, Error> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim_start_matches("./");
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::InvalidArgs(format!("bad pattern `{p}`: {e}")))?;
        set.add(glob);
    }
    let set = set.build().map_err(|e| Error::InvalidArgs(e.to_string()))?;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(".").follow_links(false) {
        let entry = entry.map_err(|e| Error::Internal(format!("walking the source directory: {e}")))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(".").unwrap_or(entry.path()).to_string_lossy().into_owned();
        if Some(rel.as_str()) == skip || !set.is_match(&rel) {
            continue;
        }
        out.push(rel);
    }
    out.sort();
    Ok(out)
}

fn digest(path: &Path) -> Result<String, Error> {
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::Failed(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn check(manifest: &str) -> Result<Output, Error> {
    let text = std::fs::read_to_string(manifest).map_err(|e| Error::Failed(format!("{manifest}: {e}")))?;
    let mut bad = Vec::new();
    let mut checked = 0;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Some((want, path)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
            return Err(Error::InvalidArgs(format!("{manifest}:{}: not a `<sha256>  <path>` line", n + 1)));
        };
        checked += 1;
        match digest(Path::new(path)) {
            Ok(got) if got.eq_ignore_ascii_case(want) => println!("{path}: OK"),
            Ok(_) => {
                println!("{path}: FAILED");
                bad.push(path.to_string());
            }
            Err(e) => {
                println!("{path}: FAILED open or read");
                log::warn(&e.to_string());
                bad.push(path.to_string());
            }
        }
    }
    if bad.is_empty() {
        Ok(Output::new(format!("{checked} file(s) match {manifest}")))
    } else {
        Err(Error::Failed(format!(
            "{} of {checked} file(s) do not match {manifest}: {}",
            bad.len(),
            bad.join(", ")
        )))
    }
}

runspec_sdk::export!(Sha256Sum);
