//! Background work for views, in the shape gitui's `AsyncStatus` uses: a view starts a
//! future on the runtime, polls for its result in `tick`, and a new start supersedes (and
//! aborts) the one in flight, so a late answer for an old request is never shown.

use std::time::Instant;

use tokio::sync::oneshot;

use crate::web::BoxFuture;

/// One request slot of a view.
pub struct Task<T> {
    rx: Option<oneshot::Receiver<T>>,
    abort: Option<tokio::task::AbortHandle>,
    started: Option<Instant>,
}

impl<T> Default for Task<T> {
    fn default() -> Self {
        Task {
            rx: None,
            abort: None,
            started: None,
        }
    }
}

impl<T: Send + 'static> Task<T> {
    /// Starts `fut`, aborting the request in flight.
    pub fn start(&mut self, rt: &tokio::runtime::Handle, fut: BoxFuture<T>) {
        self.cancel();
        let (tx, rx) = oneshot::channel();
        let h = rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        self.abort = Some(h.abort_handle());
        self.rx = Some(rx);
        self.started = Some(Instant::now());
    }

    /// The result, once, when it has arrived.
    pub fn poll(&mut self) -> Option<T> {
        let rx = self.rx.as_mut()?;
        match rx.try_recv() {
            Ok(v) => {
                self.rx = None;
                self.abort = None;
                self.started = None;
                Some(v)
            }
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => {
                self.rx = None;
                self.started = None;
                None
            }
        }
    }

    /// When the request in flight started.
    pub fn busy_since(&self) -> Option<Instant> {
        self.started
    }

    pub fn is_busy(&self) -> bool {
        self.started.is_some()
    }

    /// Drops the request in flight (its future is aborted).
    pub fn cancel(&mut self) {
        if let Some(a) = self.abort.take() {
            a.abort();
        }
        self.rx = None;
        self.started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_start_supersedes_the_old_request() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut t: Task<u32> = Task::default();
        t.start(
            rt.handle(),
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                1
            }),
        );
        assert!(t.is_busy());
        t.start(rt.handle(), Box::pin(async { 2 }));
        rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(20)).await });
        assert_eq!(t.poll(), Some(2));
        assert!(!t.is_busy());
        t.start(rt.handle(), Box::pin(async { 3 }));
        t.cancel();
        rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(20)).await });
        assert_eq!(t.poll(), None);
    }
}
