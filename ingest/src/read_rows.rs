//! The load's one pass over the file, on a blocking thread: bytes hashed as they are read, rows
//! decoded into batches (or rejects), both sent to the writer as they fill.

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::Sender;

use crate::decode::RowDecoder;
use crate::dialect::Dialect;
use crate::error::IngestError;
use crate::rejects::RejectsBuilder;
use crate::sample::BOM;

/// A load's progress, shared with whoever shows it.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub size: AtomicU64,
    pub bytes_read: AtomicU64,
    pub rows: AtomicU64,
    pub rejected: AtomicU64,
}

/// What the reader sends the writer.
pub enum Chunk {
    Rows(RecordBatch),
    Rejects(RecordBatch),
}

/// How the pass ended.
#[derive(Debug)]
pub struct ReadSummary {
    pub sha256: String,
    pub rows: u64,
    pub rejected: u64,
}

/// The rows of one load: where they go and when to stop.
pub struct RowPass {
    pub source_name: String,
    pub dialect: Dialect,
    pub decoder: RowDecoder,
    pub rejects: RejectsBuilder,
    pub batch_rows: usize,
    pub max_rejects: Option<u64>,
    pub progress: Arc<LoadProgress>,
}

/// Counts and hashes every byte read through it, the byte order mark included.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    progress: Arc<LoadProgress>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.progress
            .bytes_read
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl RowPass {
    /// Reads `input` to its end, sending full batches to `out`. Stops with
    /// [`IngestError::TooManyRejects`] past `max_rejects`, or quietly when the writer is gone.
    pub fn run(
        mut self,
        input: Box<dyn Read + Send>,
        out: Sender<Chunk>,
    ) -> Result<ReadSummary, IngestError> {
        let failed = |e: &dyn std::fmt::Display| IngestError::Read {
            source_name: self.source_name.clone(),
            reason: e.to_string(),
        };
        let mut hashing = BufReader::with_capacity(
            1 << 20,
            HashingReader {
                inner: input,
                hash: Sha256::new(),
                progress: self.progress.clone(),
            },
        );
        if hashing.fill_buf().map_err(|e| failed(&e))?.starts_with(BOM) {
            hashing.consume(BOM.len());
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.dialect.delimiter)
            .quote(self.dialect.quote)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(&mut hashing);
        let mut record = csv::ByteRecord::new();
        let (mut rows, mut rejected) = (0u64, 0u64);
        let mut first = true;
        let send = |chunk: Chunk| out.blocking_send(chunk).is_ok();
        loop {
            let more = reader
                .read_byte_record(&mut record)
                .map_err(|e| failed(&e))?;
            if !more {
                break;
            }
            if std::mem::take(&mut first) && self.dialect.header {
                continue;
            }
            match self.decoder.push(&record) {
                Ok(()) => rows += 1,
                Err(reject) => {
                    rejected += 1;
                    let line = record.position().map_or(0, |p| p.line());
                    if self.max_rejects.is_some_and(|max| rejected > max) {
                        return Err(IngestError::TooManyRejects {
                            max: self.max_rejects.unwrap_or_default(),
                            line,
                            reason: match reject.column {
                                Some(c) => format!("column `{c}`: {}", reject.reason),
                                None => reject.reason,
                            },
                        });
                    }
                    self.rejects.push(line, &reject, &record);
                }
            }
            if self.decoder.rows() >= self.batch_rows {
                if !send(Chunk::Rows(self.decoder.finish()?)) {
                    break;
                }
                self.progress.rows.store(rows, Ordering::Relaxed);
                self.progress.rejected.store(rejected, Ordering::Relaxed);
            }
            if self.rejects.rows() >= self.batch_rows
                && !send(Chunk::Rejects(self.rejects.finish()?))
            {
                break;
            }
        }
        drop(reader);
        // Bytes after the last record (none for a well-formed file) are part of its content.
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| failed(&e))?;
        if self.decoder.rows() > 0 {
            send(Chunk::Rows(self.decoder.finish()?));
        }
        if self.rejects.rows() > 0 {
            send(Chunk::Rejects(self.rejects.finish()?));
        }
        self.progress.rows.store(rows, Ordering::Relaxed);
        self.progress.rejected.store(rejected, Ordering::Relaxed);
        let hash = hashing.into_inner().hash.finalize();
        Ok(ReadSummary {
            sha256: hex::encode(hash),
            rows,
            rejected,
        })
    }
}
