//! `runtime-versions`: where a build's runtime catalog comes from and how a buildspec's
//! selections resolve against it (R-PH-02, R-PH-03).
//!
//! - [`catalog`]: CodeBuild's runtimes.yml format, read and written (pure).
//! - [`select`]: the selection forms and CodeBuild's error messages (pure).
//! - [`host`]: a catalog derived from the version managers installed on this machine.
//!
//! The catalog of a build: `--runtimes FILE` when given; in a Docker build the image's own
//! `/codebuild/image/config/runtimes.yml` (CodeBuild's images carry one; an image without it
//! does not support runtime selection); on the host, [`host::catalog`].

pub mod catalog;
pub mod host;
pub mod select;

pub use catalog::Catalog;

/// Where CodeBuild's images keep their catalog.
pub const IMAGE_CATALOG: &str = "/codebuild/image/config/runtimes.yml";

/// The catalog a build selects from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The build image has no catalog: CodeBuild's `Skipping install of runtimes…`.
    Unsupported,
    Catalog(Catalog),
    /// The catalog exists but cannot be read: DOWNLOAD_SOURCE fails with this.
    Broken(String),
}
