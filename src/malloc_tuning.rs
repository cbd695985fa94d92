//! glibc's allocator, tuned for a long-running server with many small cached objects.
//!
//! glibc's mmap threshold is dynamic: once a large block (Argon2's 19 MiB working memory at
//! sign-in) is freed, later blocks up to that size come from the heap and stay resident after
//! they are freed, and small objects allocated around them pin the heap's pages. A fixed
//! threshold hands each large block back to the system when it is freed.
//!
//! Measured with `tests/load/memory.sh` (issue #8: 100 000 keys verified once each, all cached,
//! target 64 MiB): 89.8 MiB resident untuned, 55.0 MiB with the fixed threshold. Limiting the
//! arenas to two as well gave 50.0 MiB, but then the two HTTP workers shared one arena and
//! contended for its lock (a futex call per ten verifies, seen with `perf`), so the number of
//! arenas is left to glibc.
//!
//! An operator's own `MALLOC_MMAP_THRESHOLD_` is left in force.

/// Blocks from this size up are mapped on their own and returned when freed (glibc's initial
/// value, kept instead of raised).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Call first thing in `main`, before any other thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it is called before other threads
        // exist, and glibc validates the value (returning 0 if it rejects it).
        let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if accepted == 0 {
            eprintln!("keyward: glibc rejected mallopt(M_MMAP_THRESHOLD, {MMAP_THRESHOLD})");
        }
    }
}
