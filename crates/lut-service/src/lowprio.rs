//! Table builds run on their own threads at a lower CPU priority than enrichment.
//!
//! A build (a sync, an upload, a rollback) is seconds of CPU; enrichment is what users
//! wait for. On a machine with as many busy threads as cores, the scheduler would split
//! the CPU evenly, so every swap slowed enrichment down (the benchmark's target 3 measured
//! 40 % on 2 cores with back-to-back swaps). A build thread with a nice value of
//! [`BUILD_NICE`] gets about a tenth of a contended core, and all of an idle one, so swaps
//! cost enrichment little while a quiet server still builds at full speed.
//!
//! Each build gets a fresh thread (a build costs far more than a thread start) because an
//! unprivileged process cannot lower a thread's nice value again, so a lowered pool thread
//! could never go back to serving requests.

/// How much nicer than the rest of the process build threads run (nice values go up to
/// 19, the lowest priority).
pub const BUILD_NICE: i32 = 10;

/// Runs `f` on a new low-priority thread and waits for it without blocking the runtime.
/// A panic in `f` comes back as an `Err` with its message.
pub async fn run<T, F>(f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("lut-build".into())
        .spawn(move || {
            lower_priority();
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a build thread: {e}"));
    }
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(panic)) => Err(panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the build panicked".into())),
        Err(_) => Err("the build thread ended without a result".into()),
    }
}

/// Lowers the calling thread's priority by [`BUILD_NICE`] relative to what it inherited
/// (a server started under `nice -n 5` builds at 15, not 10; Linux nice values are per
/// thread). Failure is harmless: the build then runs at the thread's priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: getpriority/setpriority with PRIO_PROCESS and who = 0 read and change only
    // the calling thread's nice value; they touch no memory of ours. getpriority can
    // return -1 as a valid value, which the clamp handles like any other.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        let _ = libc::setpriority(libc::PRIO_PROCESS, 0, (now + BUILD_NICE).min(19));
    }
}

/// The calling thread's nice value (for tests).
#[cfg(all(test, target_os = "linux"))]
fn current_nice() -> i32 {
    // SAFETY: getpriority only reads the calling thread's nice value.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_run_at_a_lower_priority_and_the_caller_keeps_its_own() {
        let before = current_nice();
        let inside = run(current_nice).await.unwrap();
        assert_eq!(inside, (before + BUILD_NICE).min(19));
        assert_eq!(current_nice(), before, "the calling thread is untouched");
    }

    #[tokio::test]
    async fn a_panic_comes_back_as_an_error() {
        let e = run(|| -> u8 { panic!("bad rows") }).await.unwrap_err();
        assert_eq!(e, "bad rows");
    }
}
