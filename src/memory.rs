//! How the process uses glibc's allocator (elsewhere these are no-ops).
//!
//! By default glibc raises its mmap threshold each time a large block is freed, so after a
//! listing the large buffers (COPY batches, records in flight) come from the threads'
//! arenas, which keep them when freed: a daemon that listed 10 000 orders idled at 47 MiB
//! instead of 16. With the threshold fixed, blocks from 128 KiB up are mapped on their own
//! and go back to the system when freed; what the arenas keep free is returned after each
//! pass.

/// Blocks of at least this many bytes are mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes the mmap threshold; call before any thread starts.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands the free pages the allocator's arenas keep back to the system.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free pages of the allocator's own arenas back; it takes
    // their locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
