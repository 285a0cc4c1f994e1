//! File splits (`source.type = "files"`) as a [`SourceReader`].
//!
//! A reader reads its splits one after the other, the ones a checkpoint had begun first, then
//! the rest in path order (name archives in time order). A split waiting its turn is not yet
//! known to the window operator, so it does not hold the watermark back and the state stays the
//! size of what is being read, as with Flink's file source. The next split is opened before the
//! one read is finished, so the worker never looks finished between two files.
//!
//! Bounded (no `watch`): each split ends at the size it had when the job planned it, a last
//! line without newline included. Watching: a split read to its end is caught up (it turns
//! idle like a Kafka partition at its end) and its size is looked at again every
//! [`WATCH_EVERY`]; a last line without newline is taken once its file stopped growing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::files::FileSource;
use async_trait::async_trait;
use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::file_source::{long_line_reason, split_lines, LONG_LINE_KEPT_BYTES};
use object_store::path::Path;
use object_store::ObjectStoreExt;

use crate::batch_pool::BatchPool;
use crate::reader::{Next, ReadError, ReadEvent, SourceReader};

/// How often a watching reader with nothing left to read looks at its files' sizes again.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Bytes read per record a batch may hold: a batch of `max_batch` records reads about
/// `max_batch * BYTES_PER_RECORD` bytes.
const BYTES_PER_RECORD: usize = 256;

/// One split as the worker planned it.
#[derive(Debug, Clone)]
pub struct PlannedSplit {
    pub partition: i32,
    /// The file's path under the source's location.
    pub path: String,
    pub offset: i64,
    /// The file's size when planned: where a bounded read ends.
    pub size: i64,
    /// The window operator knows the split already (a checkpoint had begun it).
    pub opened: bool,
}

/// Everything a file reader needs to start.
pub struct FileReaderArgs {
    pub source: FileSource,
    /// In reading order.
    pub splits: Vec<PlannedSplit>,
    pub watch: bool,
    /// A longer line is a dead letter.
    pub max_line_bytes: u64,
    pub decoder: Arc<Decoder>,
    pub max_batch: usize,
    pub pool: BatchPool,
}

/// A split as its reader keeps it.
struct Split {
    partition: i32,
    /// Under the source's location.
    path: String,
    object: Path,
    next: i64,
    /// The size last seen (bounded: the end).
    size: i64,
    /// Watching: the size at which the bytes after the last newline waited for their file to
    /// stop growing.
    tail_waits_at: Option<i64>,
    /// The line at `next` is longer than `max_line_bytes`: its newline is looked for from here.
    long_line: Option<i64>,
    opened: bool,
    finished: bool,
}

/// Reads a worker's share of a file source's splits.
pub struct FileReader {
    args: FileReaderArgs,
    splits: Vec<Split>,
    /// Watching, with every split read: the files' sizes are looked at again before the next
    /// read.
    look_again: bool,
}

impl FileReader {
    pub fn new(args: FileReaderArgs) -> Self {
        let splits = args
            .splits
            .iter()
            .map(|s| Split {
                partition: s.partition,
                path: s.path.clone(),
                object: args.source.object(&s.path),
                next: s.offset,
                size: s.size,
                tail_waits_at: None,
                long_line: None,
                opened: s.opened,
                finished: false,
            })
            .collect();
        Self {
            args,
            splits,
            look_again: false,
        }
    }
}

#[async_trait]
impl SourceReader for FileReader {
    async fn start(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError> {
        // The worker must never look finished while splits wait: unless a checkpoint had begun
        // some, the first is opened at once.
        if !self.splits.iter().any(|s| s.opened) {
            open_next(self, events);
        }
        Ok(Next::Now)
    }

    async fn read(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError> {
        let state = self;
        if std::mem::take(&mut state.look_again) {
            look_again(state).await?;
        }
        let unread = state
            .splits
            .iter()
            .position(|s| s.opened && !s.finished && s.next < s.size);
        if let Some(at) = unread {
            read_chunk(state, at, events).await?;
        } else if !state.args.watch {
            // Bounded: the open splits are read to their ends. Splits open until one has bytes
            // to read (or none is left) before they finish, so the worker never looks done early.
            while open_next(state, events) {
                if state.splits.iter().any(|s| s.opened && s.next < s.size) {
                    break;
                }
            }
            for split in &mut state.splits {
                if split.opened && !split.finished && split.next >= split.size {
                    split.finished = true;
                    events.push(ReadEvent::Finished(split.partition));
                }
            }
            if state.splits.iter().all(|s| s.finished) {
                return Ok(Next::Never);
            }
        } else if !open_next(state, events) {
            let mut batch = state.args.pool.take();
            note_caught_up(state, &mut batch);
            events.push(ReadEvent::Batch(batch));
            state.look_again = true;
            return Ok(Next::After(WATCH_EVERY));
        }
        Ok(Next::Now)
    }

    async fn remove(&mut self, partitions: &[i32]) -> Result<(), ReadError> {
        self.splits.retain(|s| !partitions.contains(&s.partition));
        Ok(())
    }
}

/// Opens the first split not opened yet; `false` when there is none.
fn open_next(state: &mut FileReader, events: &mut Vec<ReadEvent>) -> bool {
    let Some(split) = state.splits.iter_mut().find(|s| !s.opened) else {
        return false;
    };
    split.opened = true;
    events.push(ReadEvent::Opened(split.partition, split.next));
    true
}

/// Reads the next bytes of split `at` and hands their lines on as one batch.
async fn read_chunk(
    state: &mut FileReader,
    at: usize,
    events: &mut Vec<ReadEvent>,
) -> Result<(), ReadError> {
    if state.splits[at].long_line.is_some() {
        return pass_long_line(state, at, events).await;
    }
    let watch = state.args.watch;
    let max_line = state.args.max_line_bytes;
    let want = state.args.max_batch.max(1) * BYTES_PER_RECORD;
    let split = &mut state.splits[at];
    let mut len = want as i64;
    let (bytes, to) = loop {
        let to = split.size.min(split.next.saturating_add(len));
        let bytes = state
            .args
            .source
            .store()
            .get_range(&split.object, split.next as u64..to as u64)
            .await?;
        let has_newline = memchr::memchr(b'\n', &bytes).is_some();
        if !has_newline && bytes.len() as u64 > max_line {
            split.long_line = Some(to);
            return Ok(());
        }
        // A line longer than the read: read more, up to the end of what is there.
        if to < split.size && !has_newline {
            len = len.saturating_mul(2).min(max_line as i64 + 1);
            continue;
        }
        break (bytes, to);
    };
    let at_size = to == split.size;
    let mut file_ends_here = at_size && (!watch || split.tail_waits_at == Some(split.size));
    if file_ends_here && !watch && bytes.last().is_some_and(|b| *b != b'\n') {
        // Bounded: the planned end cuts a line when the file grew since; it ends at the last
        // newline then, and the rest is read by a later run.
        file_ends_here = !grew(state, at).await?;
    }
    let split = &mut state.splits[at];
    let mut batch: Box<DecodedBatch> = state.args.pool.take();
    batch.read_at_ms = floe_common::clock::wall_clock_ms();
    let partition = split.partition;
    let decoder = &state.args.decoder;
    let next = split_lines(&bytes, split.next, file_ends_here, |offset, line| {
        if line.len() as u64 > max_line {
            long_line_dead_letter(
                &mut batch,
                partition,
                offset,
                line.len() as u64,
                line,
                max_line,
            );
        } else {
            decoder.decode_into(partition, offset, Some(line), &mut batch)
        }
    });
    batch.note_read_to(partition, next);
    if at_size && next < to {
        // Bytes after the last newline: watching, they wait until the file stops growing;
        // bounded, they are left to a later run.
        split.tail_waits_at = Some(split.size);
        split.size = next;
    }
    split.next = next;
    send(state, batch, events);
    Ok(())
}

/// Whether split `at`'s file is larger now than planned (bounded reads end at the planned size).
async fn grew(state: &FileReader, at: usize) -> Result<bool, ReadError> {
    let split = &state.splits[at];
    let now = state.args.source.store().head(&split.object).await?.size as i64;
    Ok(now != split.size)
}

/// Looks for the newline of an over-long line, one read at a time so memory stays bounded;
/// once found (or the file ends there), the line is a dead letter and reading goes on after it.
/// Until then the split's position stays at the line's start, so a restart looks again.
async fn pass_long_line(
    state: &mut FileReader,
    at: usize,
    events: &mut Vec<ReadEvent>,
) -> Result<(), ReadError> {
    let watch = state.args.watch;
    let want = (state.args.max_batch.max(1) * BYTES_PER_RECORD) as i64;
    let store = state.args.source.store();
    let split = &state.splits[at];
    let (Some(from), size) = (split.long_line, split.size) else {
        return Ok(());
    };
    let to = size.min(from.saturating_add(want));
    let found = if to > from {
        let bytes = store
            .get_range(&split.object, from as u64..to as u64)
            .await?;
        memchr::memchr(b'\n', &bytes).map(|i| from + i as i64)
    } else {
        None
    };
    let line_end = match found {
        Some(newline) => newline,
        None if to < size => {
            state.splits[at].long_line = Some(to);
            return Ok(());
        }
        None => {
            // At the end of what the file has: the line ends with the file once it is complete.
            let complete = if watch {
                split.tail_waits_at == Some(size)
            } else {
                !grew(state, at).await?
            };
            if !complete {
                // Watching, it waits to be looked at again like a last line without newline;
                // bounded, it is left to a later run.
                let split = &mut state.splits[at];
                split.long_line = watch.then_some(to);
                if watch {
                    split.tail_waits_at = Some(size);
                }
                split.size = split.next;
                return Ok(());
            }
            size
        }
    };
    let split = &mut state.splits[at];
    let line_len = line_end - split.next;
    let kept_to = split.next + line_len.min(LONG_LINE_KEPT_BYTES as i64);
    let kept = store
        .get_range(&split.object, split.next as u64..kept_to as u64)
        .await?;
    let max_line = state.args.max_line_bytes;
    let mut batch: Box<DecodedBatch> = state.args.pool.take();
    batch.read_at_ms = floe_common::clock::wall_clock_ms();
    long_line_dead_letter(
        &mut batch,
        split.partition,
        split.next,
        line_len as u64,
        &kept,
        max_line,
    );
    let next = (line_end + 1).min(split.size);
    batch.note_read_to(split.partition, next);
    split.next = next;
    split.long_line = None;
    send(state, batch, events);
    Ok(())
}

/// The dead letter of a line of `len` bytes over `max_line`, keeping the first bytes of `start`.
fn long_line_dead_letter(
    batch: &mut DecodedBatch,
    partition: i32,
    offset: i64,
    len: u64,
    start: &[u8],
    max_line: u64,
) {
    let kept = &start[..start.len().min(LONG_LINE_KEPT_BYTES as usize)];
    let reason = long_line_reason(len, max_line);
    batch.dead_letter(partition, offset, reason, Some(kept.to_vec()));
}

/// Hands on a batch read from the splits.
fn send(state: &FileReader, mut batch: Box<DecodedBatch>, events: &mut Vec<ReadEvent>) {
    note_caught_up(state, &mut batch);
    events.push(ReadEvent::Batch(batch));
}

/// Watching: every open split read to its end counts as caught up (it may turn idle), however
/// it got there (restored at its end, an empty file, readers held back meanwhile).
fn note_caught_up(state: &FileReader, batch: &mut DecodedBatch) {
    if !state.args.watch {
        return;
    }
    for split in &state.splits {
        if split.opened && split.next >= split.size {
            batch.note_caught_up(split.partition);
        }
    }
}

/// Watching with every split read (after [`WATCH_EVERY`]): looks at the sizes of the files
/// again (one listing, however many files).
async fn look_again(state: &mut FileReader) -> Result<(), ReadError> {
    let sizes: HashMap<String, u64> = state.args.source.list().await?.into_iter().collect();
    for split in &mut state.splits {
        let Some(size) = sizes.get(&split.path).map(|s| *s as i64) else {
            continue;
        };
        if let Some(waited_at) = split.tail_waits_at {
            if size == waited_at {
                // It stopped growing: its last line is complete.
                split.size = size;
                continue;
            }
            split.tail_waits_at = None;
        }
        split.size = split.size.max(size);
    }
    Ok(())
}
