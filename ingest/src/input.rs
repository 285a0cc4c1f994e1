//! Where a CSV file is read from: a local path, or an object in S3 (`s3://bucket/key`, with
//! the `AWS_*` settings Floe's warehouses use). Ranges are read for the sample; the load reads
//! the file once, as a stream, so memory stays bounded whatever its size.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::IngestError;

/// A CSV file to load, and the name reports and the rejects table give it.
pub struct CsvInput {
    place: Place,
    name: String,
}

enum Place {
    Local(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        path: ObjectPath,
    },
}

/// Chunks of an object stream buffered between the download and the reader.
const STREAM_CHUNKS_AHEAD: usize = 8;

impl CsvInput {
    /// `location`: a path, `file:///…`, or `s3://bucket/key`.
    pub fn open(location: &str) -> Result<Self, IngestError> {
        let local = location
            .strip_prefix("file://")
            .or((!location.contains("://")).then_some(location));
        let place = match local {
            Some(path) => Place::Local(PathBuf::from(path)),
            None => {
                let opened =
                    floe_storage::open_location(location).map_err(|e| IngestError::Read {
                        source_name: location.to_owned(),
                        reason: e.to_string(),
                    })?;
                Place::Object {
                    store: opened.store,
                    path: opened.prefix,
                }
            }
        };
        Ok(Self {
            place,
            name: location.to_owned(),
        })
    }

    /// The same file under another name: an upload's own file name rather than the path of
    /// the temporary file holding it.
    pub fn named(self, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..self
        }
    }

    /// The file as the user named it.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    fn failed(&self, reason: impl ToString) -> IngestError {
        IngestError::Read {
            source_name: self.name(),
            reason: reason.to_string(),
        }
    }

    /// The file's size in bytes.
    pub async fn size(&self) -> Result<u64, IngestError> {
        match &self.place {
            Place::Local(path) => tokio::fs::metadata(path)
                .await
                .map(|m| m.len())
                .map_err(|e| self.failed(e)),
            Place::Object { store, path } => store
                .head(path)
                .await
                .map(|m| m.size)
                .map_err(|e| self.failed(e)),
        }
    }

    /// Bytes `start..end` of the file.
    pub async fn read_range(&self, start: u64, end: u64) -> Result<Bytes, IngestError> {
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                let read = tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
                    use std::io::{Seek, SeekFrom};
                    let mut file = std::fs::File::open(&path)?;
                    file.seek(SeekFrom::Start(start))?;
                    let mut buf = Vec::with_capacity((end - start) as usize);
                    file.take(end - start).read_to_end(&mut buf)?;
                    Ok(Bytes::from(buf))
                })
                .await
                .map_err(|e| self.failed(e))?;
                read.map_err(|e| self.failed(e))
            }
            Place::Object { store, path } => store
                .get_range(path, start..end)
                .await
                .map_err(|e| self.failed(e)),
        }
    }

    /// The whole file as a blocking reader, to be read off the async runtime. An object is
    /// downloaded by a task of the runtime this is called on, a few chunks ahead.
    pub async fn reader(&self) -> Result<Box<dyn Read + Send>, IngestError> {
        match &self.place {
            Place::Local(path) => {
                let file = std::fs::File::open(path).map_err(|e| self.failed(e))?;
                Ok(Box::new(file))
            }
            Place::Object { store, path } => {
                let mut stream = store
                    .get(path)
                    .await
                    .map_err(|e| self.failed(e))?
                    .into_stream();
                let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHUNKS_AHEAD);
                tokio::spawn(async move {
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(std::io::Error::other);
                        let failed = chunk.is_err();
                        if tx.send(chunk).await.is_err() || failed {
                            break;
                        }
                    }
                });
                Ok(Box::new(ChunkReader {
                    chunks: rx,
                    current: Bytes::new(),
                }))
            }
        }
    }
}

/// A blocking reader over chunks sent by a download task.
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                // The download ended: the stream is over.
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
