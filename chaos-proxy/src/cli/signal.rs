//! SIGINT and SIGTERM for every long command (`docker stop`, systemd and
//! Kubernetes send SIGTERM): the first asks the command to wind down (write what it
//! has, print the totals), a second one exits at once with status 130.

use std::future::Future;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Exit status after a second signal (128 + SIGINT, what a shell reports for Ctrl-C).
pub const EXIT_FORCED: i32 = 130;

/// Resolves on the first SIGINT or SIGTERM, after printing one line, and leaves a
/// watcher behind that exits the process at once on the next one.
///
/// The handlers are installed when this is called, not when the future is first
/// polled, so a signal that arrives in between is not lost (once installed, the
/// default action of the signal no longer applies).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let handlers = install();
    async move {
        let Some((mut int, mut term)) = handlers else {
            return std::future::pending().await;
        };
        let name = next(&mut int, &mut term).await;
        eprintln!("{name}: shutting down (send it again to quit at once)");
        tokio::spawn(async move {
            let name = next(&mut int, &mut term).await;
            eprintln!("{name} again: exiting now, nothing more is written");
            std::process::exit(EXIT_FORCED);
        });
    }
}

fn install() -> Option<(Signal, Signal)> {
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(int), Ok(term)) => Some((int, term)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("warning: cannot handle SIGINT/SIGTERM ({e}); a signal ends the run at once");
            None
        }
    }
}

async fn next(int: &mut Signal, term: &mut Signal) -> &'static str {
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// A shutdown request shared by the tasks of one command: set once, by the first
/// signal, and seen by everyone who waits on it.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Starts listening for the first signal now.
    pub fn on_signal() -> Shutdown {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let signalled = shutdown_signal();
        tokio::spawn(async move {
            signalled.await;
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    /// Resolves once shutdown is asked for (never, if the sender is gone first).
    pub async fn wait(mut self) {
        if self.0.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
