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
#[derive(Debug, Clone, Default)]
pub enum Source {
    /// The build image has no catalog: CodeBuild's `Skipping install of runtimes…`.
    #[default]
    Unsupported,
    Catalog(Catalog, Origin),
    /// The catalog exists but cannot be read: DOWNLOAD_SOURCE fails with this.
    Broken(String),
}

/// Where a catalog came from, for the hint after a selection error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--runtimes FILE`.
    File(String),
    /// The build image's [`IMAGE_CATALOG`].
    Image,
    /// [`host::catalog`]: the version managers of this machine.
    Host,
}

impl Origin {
    /// Said after CodeBuild's error message: where the list came from and how to change it.
    pub fn hint(&self) -> String {
        match self {
            Origin::File(path) => format!("(the catalog is {path})"),
            Origin::Image => format!("(the catalog is the image's {IMAGE_CATALOG})"),
            Origin::Host => format!(
                "(the catalog is what runspec found installed on this machine by {}; \
                 `runspec runtimes` prints it, and `--runtimes FILE` gives another)",
                host::MANAGERS
            ),
        }
    }
}
