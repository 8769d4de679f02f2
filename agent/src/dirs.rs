//! Where runspec keeps things between builds on this machine (pure lookups of the environment).
//!
//! - cache: `$RUNSPEC_CACHE_DIR`, else `$XDG_CACHE_HOME/runspec`, else `~/.cache/runspec`
//!   (compiled plugins, downloads, LOCAL build caches);
//! - state: `$RUNSPEC_STATE_DIR`, else `$XDG_STATE_HOME/runspec`, else `~/.local/state/runspec`
//!   (build numbers).

use std::path::PathBuf;

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The cache directory, if one can be named.
pub fn cache() -> Option<PathBuf> {
    var("RUNSPEC_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("runspec")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/runspec")))
}

/// A project's directory of the cache (its LOCAL caches: `cache.paths` archives, git objects).
pub fn project_cache(project: &str) -> Option<PathBuf> {
    cache().map(|c| c.join(project))
}

/// The state directory, if one can be named.
pub fn state() -> Option<PathBuf> {
    var("RUNSPEC_STATE_DIR")
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("runspec")))
        .or_else(|| var("HOME").map(|h| h.join(".local/state/runspec")))
}
