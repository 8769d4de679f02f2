//! Opening a file under a root directory so that what is opened is under it, whatever happened
//! to the path since it was listed.
//!
//! Collecting artifacts, cache paths and reports lists files first and reads them later; a
//! build (or a container, whose files the host reads) can swap a listed file for a symbolic link
//! to a host file in between. The open itself therefore resolves the path inside the root:
//! `openat2` with `RESOLVE_BENEATH` (no absolute links, no `..` out, no magic links), and on
//! kernels without `openat2` (before Linux 5.6) one component at a time with `O_NOFOLLOW`, which
//! refuses every link. What was opened must be a regular file.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::Mode;

/// Opens `rel` under `root` (a canonical path) for reading. Errors say why in words a build log
/// can carry.
pub fn open(root: &Path, rel: &Path) -> io::Result<File> {
    let dir = nix::fcntl::open(root, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(io::Error::from)?;
    match open_at(&dir, rel) {
        // An absolute link that points back inside (`ln -s "$PWD/a" b`): its target, resolved
        // now, is opened beneath the root again; a link swapped in meanwhile is still refused.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && e.to_string().ends_with(OUT) => {
            let target = root.join(rel).canonicalize().map_err(|_| e)?;
            match target.strip_prefix(root) {
                Ok(inside) if inside != rel => open_at(&dir, inside),
                _ => Err(refused(rel, OUT)),
            }
        }
        other => other,
    }
}

const OUT: &str = "it leads out of the source directory";

fn open_at(root: &OwnedFd, rel: &Path) -> io::Result<File> {
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refused(rel, "the path leaves the source directory"));
    }
    // Non-blocking: opening a FIFO swapped in would otherwise wait for a writer forever.
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(root, rel, how) {
        Ok(fd) => fd,
        Err(Errno::EXDEV) => return Err(refused(rel, OUT)),
        Err(Errno::ENOSYS) => open_components(root, rel, flags)?,
        Err(e) => return Err(io::Error::from(e)),
    };
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(refused(rel, "it is not a regular file"));
    }
    Ok(file)
}

/// The fallback: each directory opened from the last one without following links.
fn open_components(root: &OwnedFd, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Err(refused(rel, "it is not a file"));
    };
    let mut dir: Option<OwnedFd> = None;
    for d in dirs {
        let at = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
        let next = openat(
            at,
            *d,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| link_error(rel, e))?;
        dir = Some(next);
    }
    let at = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
    openat(at, *last, flags | OFlag::O_NOFOLLOW, Mode::empty()).map_err(|e| link_error(rel, e))
}

fn link_error(rel: &Path, e: Errno) -> io::Error {
    match e {
        Errno::ELOOP | Errno::ENOTDIR => refused(rel, "it is a symbolic link (not followed on this kernel)"),
        e => io::Error::from(e),
    }
}

fn refused(rel: &Path, why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, format!("`{}` was not read: {why}", rel.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn only_regular_files_under_the_root_open() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir(r.join("d")).unwrap();
        std::fs::write(r.join("d/file"), "inside").unwrap();
        symlink("d/file", r.join("rel-link")).unwrap();
        symlink(r.join("d/file"), r.join("abs-inside")).unwrap();
        symlink(outside.path().join("secret"), r.join("abs-out")).unwrap();
        symlink(
            "../../../../../../../../../../../..".to_string()
                + &outside.path().join("secret").display().to_string(),
            r.join("rel-out"),
        )
        .unwrap();
        symlink(outside.path(), r.join("dir-out")).unwrap();
        nix::unistd::mkfifo(&r.join("fifo"), Mode::S_IRWXU).unwrap();
        let read = |rel: &str| std::io::read_to_string(open(r, Path::new(rel))?);
        assert_eq!(read("d/file").unwrap(), "inside");
        assert_eq!(read("rel-link").unwrap(), "inside");
        assert_eq!(read("abs-inside").unwrap(), "inside");
        for rel in ["abs-out", "rel-out", "dir-out/secret", "../x", "/etc/passwd"] {
            let e = read(rel).unwrap_err();
            assert!(!e.to_string().contains("host secret"), "{rel}");
            assert!(e.kind() != io::ErrorKind::NotFound || rel == "../x", "{rel}: {e}");
        }
        assert!(read("fifo").unwrap_err().to_string().contains("not a regular file"));
        assert!(read("d").unwrap_err().to_string().contains("not a regular file"));
    }

    #[test]
    fn the_fallback_refuses_every_link() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir(r.join("d")).unwrap();
        std::fs::write(r.join("d/file"), "inside").unwrap();
        symlink("d", r.join("dl")).unwrap();
        symlink("d/file", r.join("fl")).unwrap();
        let dir = nix::fcntl::open(r, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK;
        assert!(open_components(&dir, Path::new("d/file"), flags).is_ok());
        assert!(open_components(&dir, Path::new("dl/file"), flags).is_err());
        assert!(open_components(&dir, Path::new("fl"), flags).is_err());
    }
}
