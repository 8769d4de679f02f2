//! Artifacts to S3 (R-ART-07): CodeBuild's key layout, the `codebuild-buildarn` metadata, and
//! uploads that keep memory flat whatever the size.
//!
//! - A ZIP is written on a blocking thread straight into fixed-size parts that flow through a
//!   bounded channel to a multipart upload (a small one becomes a single PUT). At most
//!   [`PARTS_IN_FLIGHT`] + 2 parts are in memory.
//! - Every part and every small object carries `Content-MD5`, so S3 rejects a corrupted body
//!   (the body is not also hashed for the signature: that would read every byte once more);
//!   after completion the object's ETag is checked against the one computed locally, and a
//!   mismatch deletes the object: a wrong artifact is never left behind.
//! - Failed requests are retried by the SDK with backoff; a multipart upload that still fails is
//!   aborted, so no partial object appears.
//! - Folders (packaging NONE) upload many files in parallel.

use std::io::{self, Read, Write};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::collect::{CollectedFile, FileKind};
use super::package::{self, Checksums};

/// Part size for multipart uploads; objects up to this size are one PUT.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts being uploaded at once for one object.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Small files uploaded at once for a folder.
const FILES_IN_FLIGHT: usize = 16;
/// Files up to this size are read whole and sent in one PUT; bigger ones stream in parts.
const SMALL_FILE: u64 = 1024 * 1024;

/// The object key CodeBuild uses: `path / [build-id] / name` (R-ART-07). A name of `/` means
/// the files go to the path itself.
pub fn object_key(path: Option<&str>, build_id: Option<&str>, name: &str) -> String {
    [path.unwrap_or(""), build_id.unwrap_or(""), name]
        .iter()
        .flat_map(|s| s.split('/'))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("cannot upload s3://{bucket}/{key}: {message}")]
    Upload { bucket: String, key: String, message: String },
    #[error("cannot read the artifact files: {0}")]
    Read(#[from] io::Error),
}

/// What was uploaded.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub checksums: Checksums,
    pub size: u64,
}

/// One part of a stream, with its MD5.
struct Part {
    number: i32,
    bytes: Bytes,
    md5: [u8; 16],
}

/// A `Write` that cuts what it receives into parts and sends them into the channel, hashing the
/// whole stream on the way.
struct PartWriter {
    tx: mpsc::Sender<Part>,
    buf: Vec<u8>,
    next: i32,
    sha256: Sha256,
    md5: Md5,
    size: u64,
}

impl PartWriter {
    fn new(tx: mpsc::Sender<Part>) -> Self {
        PartWriter {
            tx,
            buf: Vec::with_capacity(PART_SIZE),
            next: 1,
            sha256: Sha256::new(),
            md5: Md5::new(),
            size: 0,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let bytes = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PART_SIZE)));
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        let part = Part { number: self.next, bytes, md5 };
        self.next += 1;
        self.tx.blocking_send(part).map_err(|_| io::Error::other("the upload stopped"))
    }

    /// Sends the last part and returns the checksums of everything written.
    fn finish(mut self) -> io::Result<Uploaded> {
        if !self.buf.is_empty() || self.next == 1 {
            self.send()?;
        }
        Ok(Uploaded {
            checksums: Checksums { sha256: hex(&self.sha256.finalize()), md5: hex(&self.md5.finalize()) },
            size: self.size,
        })
    }
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.sha256.update(data);
        self.md5.update(data);
        self.size += data.len() as u64;
        let mut rest = data;
        while !rest.is_empty() {
            let room = PART_SIZE - self.buf.len();
            let take = room.min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == PART_SIZE {
                self.send()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ETag S3 gives an object made of these parts: the MD5 of one PUT, or
/// `md5(concat(part md5s))-N` for a multipart upload.
fn expected_etag(part_md5s: &[[u8; 16]], multipart: bool) -> String {
    if !multipart {
        return hex(&part_md5s[0]);
    }
    let mut all = Md5::new();
    for m in part_md5s {
        all.update(m);
    }
    format!("{}-{}", hex(&all.finalize()), part_md5s.len())
}

/// Told how many bytes were just stored, for a progress display.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Uploads artifacts to S3 for one build.
#[derive(Clone)]
pub struct S3Uploader {
    client: aws_sdk_s3::Client,
    build_arn: String,
    progress: Option<Progress>,
    /// Multipart uploads started and not yet completed or aborted: what an upload cut short by
    /// the build's timeout or a stop leaves, for [`S3Uploader::abort_unfinished`].
    open: Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
}

impl S3Uploader {
    pub fn new(client: aws_sdk_s3::Client, build_arn: impl Into<String>) -> Self {
        S3Uploader { client, build_arn: build_arn.into(), progress: None, open: Default::default() }
    }

    /// Aborts the multipart uploads an upload that was dropped midway left open, so no
    /// partial object or billed parts stay behind. Bounded: a few seconds per upload.
    pub async fn abort_unfinished(&self) {
        let open: Vec<_> = std::mem::take(&mut *self.open.lock().unwrap_or_else(|e| e.into_inner()));
        for (bucket, key, upload_id) in open {
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.abort(&bucket, &key, &upload_id),
            )
            .await;
        }
    }

    fn opened(&self, bucket: &str, key: &str, upload_id: &str, open: bool) {
        let mut list = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open {
            list.push((bucket.to_string(), key.to_string(), upload_id.to_string()));
        } else {
            list.retain(|(_, _, id)| id != upload_id);
        }
    }

    /// Reports stored bytes to `progress` (the CLI draws a bar on a terminal).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    fn stored(&self, bytes: usize) {
        if let Some(p) = &self.progress {
            p(bytes as u64);
        }
    }

    fn error(&self, bucket: &str, key: &str, message: impl std::fmt::Display) -> S3Error {
        S3Error::Upload { bucket: bucket.to_string(), key: key.to_string(), message: message.to_string() }
    }

    /// Streams `files` as a ZIP to `s3://bucket/key`; returns the checksums of the ZIP.
    pub async fn upload_zip(
        &self,
        files: Vec<CollectedFile>,
        bucket: &str,
        key: &str,
    ) -> Result<Uploaded, S3Error> {
        self.upload_stream(bucket, key, move |w| package::write_zip_stream(&files, w)).await
    }

    /// Streams a file to `s3://bucket/key` (multipart when it is big).
    pub async fn upload_file(
        &self,
        path: &std::path::Path,
        bucket: &str,
        key: &str,
    ) -> Result<Uploaded, S3Error> {
        let path = path.to_path_buf();
        self.upload_stream(bucket, key, move |mut w| {
            io::copy(&mut std::fs::File::open(path)?, &mut w)?;
            Ok(w)
        })
        .await
    }

    /// Uploads whatever `produce` writes, in parts, with backpressure.
    async fn upload_stream<F>(&self, bucket: &str, key: &str, produce: F) -> Result<Uploaded, S3Error>
    where
        F: FnOnce(PartWriter) -> io::Result<PartWriter> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Part>(1);
        let producer = tokio::task::spawn_blocking(move || produce(PartWriter::new(tx))?.finish());
        let first = rx.recv().await;
        let second = match first {
            Some(_) => rx.recv().await,
            None => None,
        };
        let outcome = match (first, second) {
            (Some(only), None) => self.put_single(bucket, key, only).await,
            (Some(a), Some(b)) => self.put_multipart(bucket, key, a, b, &mut rx).await,
            (None, _) => Err(self.error(bucket, key, "nothing was produced")),
        };
        // Dropping the receiver stops a producer that is still writing.
        drop(rx);
        let produced = producer.await.map_err(|e| self.error(bucket, key, e))?;
        // S3's own error first: a producer stopped by a failed upload only says "stopped".
        outcome?;
        Ok(produced?)
    }

    async fn put_single(&self, bucket: &str, key: &str, part: Part) -> Result<(), S3Error> {
        let len = part.bytes.len();
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .metadata("codebuild-buildarn", &self.build_arn)
            .content_md5(STANDARD.encode(part.md5))
            .body(ByteStream::from(part.bytes))
            .customize()
            // Content-MD5 already protects the body; signing it too would hash every byte again.
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| self.error(bucket, key, crate::aws::error_text(&e)))?;
        self.stored(len);
        self.verify(bucket, key, out.e_tag(), &expected_etag(&[part.md5], false)).await
    }

    async fn put_multipart(
        &self,
        bucket: &str,
        key: &str,
        a: Part,
        b: Part,
        rx: &mut mpsc::Receiver<Part>,
    ) -> Result<(), S3Error> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .metadata("codebuild-buildarn", &self.build_arn)
            .send()
            .await
            .map_err(|e| self.error(bucket, key, crate::aws::error_text(&e)))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        self.opened(bucket, key, &upload_id, true);
        let result = self.finish_multipart(bucket, key, &upload_id, a, b, rx).await;
        self.opened(bucket, key, &upload_id, false);
        result
    }

    async fn finish_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        a: Part,
        b: Part,
        rx: &mut mpsc::Receiver<Part>,
    ) -> Result<(), S3Error> {
        let upload_id = upload_id.to_string();
        let result = self.upload_parts(bucket, key, &upload_id, a, b, rx).await;
        match result {
            Ok(parts) => {
                let md5s: Vec<[u8; 16]> = parts.iter().map(|(_, m)| *m).collect();
                let completed = CompletedMultipartUpload::builder()
                    .set_parts(Some(parts.into_iter().map(|(p, _)| p).collect()))
                    .build();
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(completed)
                    .send()
                    .await;
                let expected = expected_etag(&md5s, true);
                match done {
                    Ok(out) => self.verify(bucket, key, out.e_tag(), &expected).await,
                    Err(e) => {
                        // The completion may have taken effect with its answer lost on the way
                        // (a retry then finds no upload): the stored object decides.
                        let head = self.client.head_object().bucket(bucket).key(key).send().await;
                        if head.as_ref().ok().and_then(|h| h.e_tag()).map(|t| t.trim_matches('"'))
                            == Some(&expected)
                        {
                            return Ok(());
                        }
                        self.abort(bucket, key, &upload_id).await;
                        Err(self.error(bucket, key, crate::aws::error_text(&e)))
                    }
                }
            }
            Err(e) => {
                self.abort(bucket, key, &upload_id).await;
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        a: Part,
        b: Part,
        rx: &mut mpsc::Receiver<Part>,
    ) -> Result<Vec<(CompletedPart, [u8; 16])>, S3Error> {
        let mut tasks: JoinSet<Result<(CompletedPart, [u8; 16]), S3Error>> = JoinSet::new();
        let mut done = Vec::new();
        let mut pending = vec![a, b];
        loop {
            while tasks.len() < PARTS_IN_FLIGHT {
                let part = match pending.pop() {
                    Some(p) => p,
                    None => match rx.recv().await {
                        Some(p) => p,
                        None => break,
                    },
                };
                let (client, bucket, key, upload_id) =
                    (self.client.clone(), bucket.to_string(), key.to_string(), upload_id.to_string());
                let progress = self.progress.clone();
                tasks.spawn(async move {
                    let len = part.bytes.len() as u64;
                    let out = client
                        .upload_part()
                        .bucket(&bucket)
                        .key(&key)
                        .upload_id(&upload_id)
                        .part_number(part.number)
                        .content_md5(STANDARD.encode(part.md5))
                        .body(ByteStream::from(part.bytes))
                        .customize()
                        .disable_payload_signing()
                        .send()
                        .await
                        .map_err(|e| S3Error::Upload { bucket, key, message: crate::aws::error_text(&e) })?;
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    if let Some(p) = progress {
                        p(len);
                    }
                    Ok((CompletedPart::builder().part_number(part.number).e_tag(etag).build(), part.md5))
                });
                pending.sort_by_key(|p| std::cmp::Reverse(p.number));
            }
            match tasks.join_next().await {
                Some(joined) => done.push(joined.map_err(|e| self.error(bucket, key, e))??),
                None => break,
            }
        }
        done.sort_by_key(|(p, _)| p.part_number());
        Ok(done)
    }

    /// Aborts a multipart upload until S3 no longer knows it: a part still in flight when the
    /// first abort lands can be stored after it (S3's documentation says to list the parts
    /// and abort again), and stored parts are billed until they are gone.
    async fn abort(&self, bucket: &str, key: &str, upload_id: &str) {
        for attempt in 0..5u32 {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
                .await;
            let listed = self.client.list_parts().bucket(bucket).key(key).upload_id(upload_id).send().await;
            match listed {
                // NoSuchUpload (or any error): nothing is left that this upload can reach.
                Err(_) => return,
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await,
            }
        }
        tracing::warn!(
            "multipart upload {upload_id} of s3://{bucket}/{key} could not be aborted; S3 lifecycle rules can remove it"
        );
    }

    /// The object S3 stored must be the one we sent; if not, it is removed.
    async fn verify(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        expected: &str,
    ) -> Result<(), S3Error> {
        let got = etag.unwrap_or_default().trim_matches('"');
        if got == expected {
            return Ok(());
        }
        let _ = self.client.delete_object().bucket(bucket).key(key).send().await;
        Err(self.error(
            bucket,
            key,
            format!("the stored object's ETag {got} is not the expected {expected}; it was deleted"),
        ))
    }

    /// Uploads a folder (packaging NONE) under `prefix`, many files at once. Returns the count.
    pub async fn upload_folder(
        &self,
        files: Vec<CollectedFile>,
        bucket: &str,
        prefix: &str,
    ) -> Result<usize, S3Error> {
        let limit = Arc::new(Semaphore::new(FILES_IN_FLIGHT));
        let mut tasks: JoinSet<Result<(), S3Error>> = JoinSet::new();
        let count = files.len();
        for f in files {
            let key = object_key(Some(prefix), None, &f.dest);
            // Opened once, under the source root; what is uploaded is what was opened.
            let opened = match f.kind {
                FileKind::Regular => Some(f.open()?),
                FileKind::Symlink(_) => None,
            };
            let size = match &opened {
                Some(file) => file.metadata()?.len(),
                None => 0,
            };
            if let Some(mut file) = opened.filter(|_| size > SMALL_FILE) {
                // Big files one at a time, each with its own bounded part pipeline.
                self.upload_stream(bucket, &key, move |mut w| {
                    io::copy(&mut file, &mut w)?;
                    Ok(w)
                })
                .await?;
                continue;
            }
            let permit = limit.clone().acquire_owned().await.map_err(|e| self.error(bucket, &key, e))?;
            let this = self.clone();
            let task_bucket = bucket.to_string();
            tasks.spawn(async move {
                let _permit = permit;
                let bytes = read_small(&f)?;
                let md5: [u8; 16] = Md5::digest(&bytes).into();
                this.put_single(&task_bucket, &key, Part { number: 1, bytes, md5 }).await
            });
            // Surface failures early instead of after every file was tried.
            while let Some(joined) = tasks.try_join_next() {
                joined.map_err(|e| self.error(bucket, prefix, e))??;
            }
        }
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|e| self.error(bucket, prefix, e))??;
        }
        Ok(count)
    }
}

/// A small file's content; a kept symlink is stored as its target path, as `zip` does.
fn read_small(f: &CollectedFile) -> io::Result<Bytes> {
    match &f.kind {
        FileKind::Symlink(target) => Ok(Bytes::from(target.to_string_lossy().into_owned())),
        FileKind::Regular => {
            let mut v = Vec::new();
            f.open()?.read_to_end(&mut v)?;
            Ok(Bytes::from(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout() {
        // R-ART-07: path / build-id / name; `/` as the name means the path itself.
        let table = [
            (Some("builds"), Some("proj:1234"), "app.zip", "builds/proj:1234/app.zip"),
            (None, None, "app.zip", "app.zip"),
            (Some("/a/b/"), None, "out", "a/b/out"),
            (Some("a"), None, "/", "a"),
            (Some(""), Some("id"), "x/y.zip", "id/x/y.zip"),
        ];
        for (path, id, name, want) in table {
            assert_eq!(object_key(path, id, name), want, "{path:?} {id:?} {name}");
        }
    }

    #[test]
    fn multipart_etag() {
        let a: [u8; 16] = Md5::digest(b"a").into();
        assert_eq!(expected_etag(&[a], false), "0cc175b9c0f1b6a831c399e269772661");
        let b: [u8; 16] = Md5::digest(b"b").into();
        let mut both = Vec::new();
        both.extend_from_slice(&a);
        both.extend_from_slice(&b);
        assert_eq!(expected_etag(&[a, b], true), format!("{}-2", hex(&Md5::digest(&both))));
    }

    #[test]
    fn part_writer_cuts_fixed_parts_and_hashes_everything() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let writer = std::thread::spawn(move || {
            let mut w = PartWriter::new(tx);
            let chunk = vec![7u8; 3 * 1024 * 1024];
            for _ in 0..6 {
                w.write_all(&chunk).unwrap();
            }
            w.finish().unwrap()
        });
        let mut sizes = Vec::new();
        rt.block_on(async {
            while let Some(p) = rx.recv().await {
                sizes.push((p.number, p.bytes.len()));
            }
        });
        let up = writer.join().unwrap();
        assert_eq!(sizes, [(1, PART_SIZE), (2, PART_SIZE), (3, 18 * 1024 * 1024 - 2 * PART_SIZE)]);
        assert_eq!(up.size, 18 * 1024 * 1024);
        assert_eq!(up.checksums.sha256, hex(&Sha256::digest(vec![7u8; 18 * 1024 * 1024])));
    }
}
