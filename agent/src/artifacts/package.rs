//! Writes collected files as a ZIP or as a plain folder (packaging NONE), streaming file data
//! (memory stays flat whatever the size), and checksums the ZIP (R-ART-07).

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::collect::{CollectedFile, FileKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub sha256: String,
    pub md5: String,
}

/// Writes `files` into a new ZIP at `dest`.
pub fn write_zip(files: &[CollectedFile], dest: &Path) -> io::Result<()> {
    let zip = ZipWriter::new(BufWriter::new(File::create(dest)?));
    write_zip_into(files, zip)?.flush()
}

/// Writes `files` as a ZIP into any writer, without seeking (data descriptors), so it can be
/// streamed straight into an upload. Returns the writer.
pub fn write_zip_stream<W: Write>(files: &[CollectedFile], out: W) -> io::Result<W> {
    Ok(write_zip_into(files, ZipWriter::new_stream(out))?.into_inner())
}

fn write_zip_into<W: Write + std::io::Seek>(files: &[CollectedFile], mut zip: ZipWriter<W>) -> io::Result<W> {
    for f in files {
        match &f.kind {
            FileKind::Symlink(target) => {
                let meta = fs::symlink_metadata(&f.source)?;
                zip.add_symlink(&f.dest, target.to_string_lossy(), options(&meta, CompressionMethod::Stored))
                    .map_err(io::Error::other)?;
            }
            FileKind::Regular => {
                // Metadata and data from the one file that was opened under the source root.
                let mut file = f.open()?;
                let meta = file.metadata()?;
                let method = if compressible(&mut file, meta.len())? {
                    CompressionMethod::Deflated
                } else {
                    CompressionMethod::Stored
                };
                zip.start_file(&f.dest, options(&meta, method)).map_err(io::Error::other)?;
                io::copy(&mut file, &mut zip)?;
            }
        }
    }
    zip.finish().map_err(io::Error::other)
}

fn options(meta: &fs::Metadata, method: CompressionMethod) -> SimpleFileOptions {
    let mut options = SimpleFileOptions::default()
        .compression_method(method)
        .unix_permissions(meta.permissions().mode() & 0o7777)
        .large_file(meta.len() >= u32::MAX as u64);
    if let Some(t) = meta.modified().ok().and_then(zip_time) {
        options = options.last_modified_time(t);
    }
    options
}

/// Files whose first 64 KiB do not shrink by at least 5% (archives, images, binaries) are stored
/// rather than deflated: deflating them costs most of the packaging time and saves nothing.
/// Reads the sample from `file` and rewinds it.
fn compressible(file: &mut File, len: u64) -> io::Result<bool> {
    const SAMPLE: usize = 64 * 1024;
    if len < SAMPLE as u64 {
        return Ok(true);
    }
    let mut sample = vec![0u8; SAMPLE];
    let n = file.read(&mut sample)?;
    file.seek(io::SeekFrom::Start(0))?;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::with_capacity(SAMPLE), flate2::Compression::fast());
    if enc.write_all(&sample[..n]).is_err() {
        return Ok(true);
    }
    Ok(enc.finish().map(|out| out.len() * 100 < n * 95).unwrap_or(true))
}

fn zip_time(t: std::time::SystemTime) -> Option<zip::DateTime> {
    let dt = time::OffsetDateTime::from(t);
    zip::DateTime::try_from(time::PrimitiveDateTime::new(dt.date(), dt.time())).ok()
}

/// Copies `files` into the folder `dest` (packaging NONE), keeping relative paths.
pub fn write_folder(files: &[CollectedFile], dest: &Path) -> io::Result<()> {
    fs::create_dir_all(dest)?;
    for f in files {
        let target = dest.join(&f.dest);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        match &f.kind {
            FileKind::Symlink(link) => symlink(link, &target)?,
            FileKind::Regular => {
                let mut from = f.open()?;
                let mode = from.metadata()?.permissions().mode() & 0o7777;
                let mut to = File::create(&target)?;
                io::copy(&mut from, &mut to)?;
                to.set_permissions(fs::Permissions::from_mode(mode))?;
            }
        }
    }
    Ok(())
}

/// SHA-256 and MD5 of a file, read once in large chunks.
pub fn checksums(path: &Path) -> io::Result<Checksums> {
    checksums_of(File::open(path)?)
}

/// SHA-256 and MD5 of what `file` holds.
pub fn checksums_of(file: File) -> io::Result<Checksums> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
    }
    Ok(Checksums { sha256: hex(&sha.finalize()), md5: hex(&md5.finalize()) })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_of_known_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, "abc").unwrap();
        let c = checksums(&p).unwrap();
        assert_eq!(c.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(c.md5, "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn incompressible_files_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let text = "all work and no play\n".repeat(20_000);
        fs::write(dir.path().join("text"), &text).unwrap();
        let mut noise = vec![0u8; 200_000];
        let mut x: u64 = 88172645463325252;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        fs::write(dir.path().join("noise"), &noise).unwrap();
        let files: Vec<CollectedFile> = ["text", "noise"]
            .iter()
            .map(|n| CollectedFile {
                root: dir.path().into(),
                source: dir.path().join(n),
                dest: n.to_string(),
                kind: FileKind::Regular,
            })
            .collect();
        let bytes = write_zip_stream(&files, Vec::new()).unwrap();
        let mut z = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        assert_eq!(z.by_name("text").unwrap().compression(), CompressionMethod::Deflated);
        let mut stored = z.by_name("noise").unwrap();
        assert_eq!(stored.compression(), CompressionMethod::Stored);
        let mut back = Vec::new();
        stored.read_to_end(&mut back).unwrap();
        assert_eq!(back, noise);
    }

    #[test]
    fn a_file_swapped_for_a_link_after_listing_is_not_read() {
        // The race: listed as a regular file, then replaced by a link to a host file before the
        // ZIP (or the folder) is written.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("shadow"), "HOST SECRET").unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("dist")).unwrap();
        fs::write(src.path().join("dist/app.txt"), "app").unwrap();
        fs::write(src.path().join("dist/ok.txt"), "ok").unwrap();
        let c =
            super::super::collect::collect(src.path(), "dist", &["**/*".into()], &[], false, false).unwrap();
        assert_eq!(c.files.len(), 2);
        fs::remove_file(src.path().join("dist/app.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("shadow"), src.path().join("dist/app.txt")).unwrap();
        let e = write_zip_stream(&c.files, Vec::new()).unwrap_err();
        assert!(e.to_string().contains("app.txt` was not read: it leads out of the source directory"), "{e}");
        let out = tempfile::tempdir().unwrap();
        let e = write_folder(&c.files, &out.path().join("f")).unwrap_err();
        assert!(e.to_string().contains("leads out"), "{e}");
        for entry in walkdir::WalkDir::new(out.path()) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                assert_ne!(fs::read_to_string(entry.path()).unwrap(), "HOST SECRET");
            }
        }
        // A directory swapped for a link out, too.
        fs::remove_file(src.path().join("dist/app.txt")).unwrap();
        fs::rename(src.path().join("dist"), src.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), src.path().join("dist")).unwrap();
        fs::write(outside.path().join("ok.txt"), "HOST SECRET").unwrap();
        assert!(write_zip_stream(&c.files[1..], Vec::new()).is_err());
    }

    #[test]
    fn streamed_zips_read_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "alpha").unwrap();
        let files = vec![CollectedFile {
            root: dir.path().into(),
            source: dir.path().join("a"),
            dest: "x/a".into(),
            kind: FileKind::Regular,
        }];
        let bytes = write_zip_stream(&files, Vec::new()).unwrap();
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        let mut s = String::new();
        archive.by_name("x/a").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "alpha");
    }

    #[test]
    fn zip_round_trip_keeps_content_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let files = vec![
            CollectedFile {
                root: dir.path().into(),
                source: dir.path().join("run.sh"),
                dest: "bin/run.sh".into(),
                kind: FileKind::Regular,
            },
            CollectedFile {
                root: dir.path().into(),
                source: dir.path().join("run.sh"),
                dest: "bin/alias".into(),
                kind: FileKind::Symlink("run.sh".into()),
            },
        ];
        let out = dir.path().join("a.zip");
        write_zip(&files, &out).unwrap();
        let mut archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
        let mut f = archive.by_name("bin/run.sh").unwrap();
        assert_eq!(f.unix_mode().unwrap() & 0o777, 0o755);
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "#!/bin/sh\necho hi\n");
        drop(f);
        assert!(archive.by_name("bin/alias").unwrap().is_symlink());
    }
}
