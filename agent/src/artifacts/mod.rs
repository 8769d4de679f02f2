//! Artifact file selection and packaging: pure pattern semantics ([`pattern`]), reading the
//! disk safely ([`collect`], [`beneath`]), and writing ZIPs or folders ([`package`]). The UPLOAD_ARTIFACTS
//! phase that drives them is [`crate::engine::upload`].

pub mod beneath;
pub mod collect;
pub mod package;
pub mod pattern;
pub mod s3;
