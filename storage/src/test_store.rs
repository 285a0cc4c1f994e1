//! An in-memory object store with the faults real servers have, for the checkpoint store's
//! tests: create-only puts taken as overwrites, and calls that hang.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use crate::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every put overwrites, whatever its mode says.
    IgnoreCreateOnly,
    /// The next stalled calls hang before doing anything.
    StallBefore,
    /// The next stalled calls do their work, then hang before answering.
    StallAfterWriting,
}

#[derive(Debug)]
pub struct FaultyStore {
    inner: InMemory,
    fault: Fault,
    stalls: AtomicUsize,
    stall_for: Mutex<Duration>,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({:?})", self.fault)
    }
}

impl FaultyStore {
    /// A location on a new faulty store, and the store to steer it.
    pub fn location(fault: Fault) -> (Location, Arc<FaultyStore>) {
        let store = Arc::new(FaultyStore {
            inner: InMemory::new(),
            fault,
            stalls: AtomicUsize::new(0),
            stall_for: Mutex::new(Duration::ZERO),
        });
        let location = Location {
            store: store.clone(),
            prefix: Path::default(),
            display: "s3://bucket at http://faulty-s3:9000".into(),
            local_root: None,
        };
        (location, store)
    }

    /// The next `calls` calls hang for `duration`.
    pub fn stall_next(&self, calls: usize, duration: Duration) {
        *self.stall_for.lock().unwrap_or_else(|e| e.into_inner()) = duration;
        self.stalls.store(calls, Ordering::SeqCst);
    }

    async fn maybe_stall(&self, before: bool) {
        let stalls_here = match self.fault {
            Fault::StallBefore => before,
            Fault::StallAfterWriting => !before,
            Fault::IgnoreCreateOnly => false,
        };
        if !stalls_here {
            return;
        }
        let take = self
            .stalls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if take.is_ok() {
            let d = *self.stall_for.lock().unwrap_or_else(|e| e.into_inner());
            tokio::time::sleep(d).await;
        }
    }

    async fn around<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        self.maybe_stall(true).await;
        let out = call.await;
        self.maybe_stall(false).await;
        out
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let opts = match self.fault {
            Fault::IgnoreCreateOnly => PutOptions::default(),
            _ => opts,
        };
        self.around(self.inner.put_opts(location, payload, opts))
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.around(self.inner.get_opts(location, options)).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let stalls = self.fault == Fault::StallBefore
            && self
                .stalls
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        let inner = self.inner.list(prefix);
        if !stalls {
            return inner;
        }
        let d = *self.stall_for.lock().unwrap_or_else(|e| e.into_inner());
        let slept = futures::stream::once(tokio::time::sleep(d)).filter_map(|()| async { None });
        Box::pin(slept.chain(inner))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
