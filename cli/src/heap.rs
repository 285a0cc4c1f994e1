//! How the process's allocator treats the large buffers a checkpoint frees.

/// The largest allocation glibc serves from its heap once this tuning is on: its own ceiling
/// for the mmap threshold on a 64-bit system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;
/// How much free memory may sit at the top of the heap before glibc gives it back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 256 << 20;

/// Keeps freed large buffers in the heap for the next checkpoint to reuse.
///
/// Every checkpoint builds and drops megabytes of Arrow columns and Parquet pages. By default
/// glibc maps each large buffer on its own, unmaps it when freed and trims the top of the heap,
/// so the next checkpoint faults every page in again (about 13 k page faults per 4 M events in
/// the engine bench). An operator's own `GLIBC_TUNABLES` for malloc win over this.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
            tracing::debug!("malloc tuned by GLIBC_TUNABLES; leaving it as it is");
            return;
        }
        // SAFETY: mallopt only changes glibc's malloc parameters; it is called before the
        // runtime starts its threads.
        let set = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        };
        if !set {
            tracing::warn!(
                "could not tune malloc to keep freed buffers; checkpoints will fault more pages in"
            );
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Bytes glibc holds in separately mapped blocks.
    fn mapped_bytes() -> usize {
        // SAFETY: mallinfo2 only reads malloc's statistics.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    #[test]
    fn a_large_buffer_comes_from_the_heap() {
        super::keep_freed_buffers();
        let size = 24 << 20;
        let before = mapped_bytes();
        let buffer = vec![1u8; size];
        let during = mapped_bytes();
        assert!(
            during < before + size,
            "a {size}-byte buffer was mapped on its own ({before} -> {during} mapped bytes)"
        );
        assert_eq!(buffer.iter().map(|b| *b as usize).sum::<usize>(), size);
    }
}
