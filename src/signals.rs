//! SIGINT and SIGTERM during `build`: the build stops staging the site and removes its staging
//! folder, then the process exits with 128 + the signal's number (130, 143), as shells expect.

use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that stopped a build, 0 while none has arrived.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// From now on SIGINT and SIGTERM stop builds ([`interrupt`]). With no staging folder in
/// progress the process exits at once; otherwise [`exit_if_received`] exits once the build has
/// removed its folder.
///
/// [`interrupt`]: mpk_registry::site::output::interrupt
#[cfg(unix)]
pub fn stop_builds_on_signals() -> anyhow::Result<()> {
    use mpk_registry::site::output;
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            // Before interrupting, so the build cannot return before the signal is known.
            let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
            if !output::interrupt() {
                eprintln!("interrupted by {}; no site was being staged", name(signal));
                std::process::exit(128 + signal);
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
pub fn stop_builds_on_signals() -> anyhow::Result<()> {
    Ok(())
}

/// When a signal arrived while the build ran, says what became of the site at `out` and exits
/// with 128 + the signal's number; else hands the build's result back.
pub fn exit_if_received<T>(result: anyhow::Result<T>, out: &Path) -> anyhow::Result<T> {
    let signal = RECEIVED.load(Ordering::SeqCst);
    if signal == 0 {
        return result;
    }
    let out = out.display();
    match result {
        // Only a build that put its site in place returns `Ok` once it had a staging folder.
        Ok(_) => eprintln!(
            "interrupted by {} as the new site was put in place at {out}",
            name(signal)
        ),
        Err(_) => eprintln!(
            "interrupted by {}: the build stopped and removed its staging folder; {out} is unchanged",
            name(signal)
        ),
    }
    std::process::exit(128 + signal)
}

fn name(signal: i32) -> String {
    match signal {
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        other => format!("signal {other}"),
    }
}
