//! glibc's allocator, tuned for a long-running server with many small cached objects.
//!
//! Two defaults cost Keyward most of its memory target (issue #8: 100 000 cached keys within
//! 64 MiB). Measured with `tests/load/memory.sh` after 100 000 keys were verified once each, the
//! resident set was 89.8 MiB untuned, 55.0 MiB with the fixed threshold alone and 50.0 MiB with
//! both settings.
//!
//! - The mmap threshold is dynamic: once a large block (Argon2's 19 MiB working memory at sign-in)
//!   is freed, later blocks up to that size come from the heap and stay resident after they are
//!   freed. A fixed threshold hands each such block back to the system when it is freed.
//! - Each thread that allocates may get an arena of its own (up to eight per core), and freed
//!   memory in one arena is not reused by another: the key states read through on blocking
//!   threads fragmented across them. Two arenas suffice for two workers and a pool.
//!
//! An operator's own `MALLOC_MMAP_THRESHOLD_` or `MALLOC_ARENA_MAX` is left in force.

/// Blocks from this size up are mapped on their own and returned when freed (glibc's default).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: libc::c_int = 2;

/// Call first thing in `main`, before any other thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (env, param, value) in [
        (
            "MALLOC_MMAP_THRESHOLD_",
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD,
        ),
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENA_MAX),
    ] {
        if std::env::var_os(env).is_none() {
            // SAFETY: mallopt only sets allocator parameters; it is called before other threads
            // exist, and glibc validates the values (returning 0 on a rejected one).
            let accepted = unsafe { libc::mallopt(param, value) };
            if accepted == 0 {
                eprintln!("keyward: glibc rejected mallopt({param}, {value})");
            }
        }
    }
}
