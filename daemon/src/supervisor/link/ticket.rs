//! One registered request's side of the link: its id, then one exchange (send, wait for the
//! answer within the worker's silence allowance), and what dropping it early does (unregister,
//! or abandon and maybe cancel).
//!
//! Guarantees: a ticket dropped before its frame is queued leaves nothing behind; one dropped
//! while its request is in flight abandons it (see `Link::abandon`). Trusts: the link's table.

use std::time::Duration;

use stockade_ipc::{encode_to_vec, RequestId, ToSupervisor, ToWorker};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{AskError, Link};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TicketState {
    /// In the table, its frame not queued: dropping it unregisters it.
    Registered,
    /// Queued: dropping it abandons (and maybe cancels) it.
    Sent,
    /// Answered, or failed for good: dropping it does nothing.
    Done,
}

/// One registered request: its id (to build the message with), then its exchange.
pub struct Ticket<'a> {
    pub(super) link: &'a Link,
    pub(super) id: RequestId,
    pub(super) cancellable: bool,
    pub(super) state: TicketState,
    pub(super) answer: oneshot::Receiver<ToSupervisor>,
    /// Run once the frame is queued (see [`Ticket::on_queued`]).
    pub(super) queued: Option<Box<dyn FnOnce() + Send>>,
}

impl Ticket<'_> {
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Runs `queued` once the exchange's frame is in the link's outbox, whose frames the worker
    /// reads in order: what is queued after it reaches the worker after it. Dropped unrun if the
    /// frame never is.
    pub fn on_queued(&mut self, queued: impl FnOnce() + Send + 'static) {
        self.queued = Some(Box::new(queued));
    }

    /// Sends `message` (which must carry [`Ticket::id`]) and waits for its answer, for at most
    /// `wall` plus [`GRACE`] of the worker's silence.
    pub async fn exchange(
        self,
        message: ToWorker,
        wall: Duration,
    ) -> Result<ToSupervisor, AskError> {
        let frame = self.encode(&message)?;
        drop(message);
        self.send_and_wait(frame, wall).await
    }

    /// [`Ticket::exchange`], the caller keeping `message` (to place its job again should the
    /// process die before the request started; see `stockade_ipc::marks`).
    pub async fn exchange_keeping(
        self,
        message: &ToWorker,
        wall: Duration,
    ) -> Result<ToSupervisor, AskError> {
        let frame = self.encode(message)?;
        self.send_and_wait(frame, wall).await
    }

    fn encode(&self, message: &ToWorker) -> Result<Vec<u8>, AskError> {
        debug_assert_eq!(message.request_id(), Some(self.id));
        // An error drops the ticket, which unregisters it.
        encode_to_vec(message).map_err(|e| AskError::Unencodable(e.to_string()))
    }

    async fn send_and_wait(
        mut self,
        frame: Vec<u8>,
        wall: Duration,
    ) -> Result<ToSupervisor, AskError> {
        if self.link.outbox.push(frame).is_err() {
            self.state = TicketState::Done;
            return Err(AskError::Lost(self.lost_because()));
        }
        self.state = TicketState::Sent;
        if let Some(queued) = self.queued.take() {
            queued();
        }
        let sent = Instant::now();
        loop {
            let since = sent.max(self.link.table().last_heard);
            let deadline = since + wall + self.link.grace;
            match tokio::time::timeout_at(deadline, &mut self.answer).await {
                Ok(Ok(answer)) => {
                    self.state = TicketState::Done;
                    return Ok(answer);
                }
                Ok(Err(_)) => {
                    self.state = TicketState::Done;
                    return Err(AskError::Lost(self.lost_because()));
                }
                // The worker spoke since: its silence starts again.
                Err(_) if self.link.table().last_heard > since => continue,
                Err(_) => {
                    self.state = TicketState::Done;
                    return Err(AskError::Timeout);
                }
            }
        }
    }

    fn lost_because(&self) -> String {
        self.link
            .table()
            .closed_because
            .clone()
            .unwrap_or_else(|| "the worker's socket closed".into())
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        match self.state {
            TicketState::Registered => {
                // Dropped after the table's lock: what it keeps may take other locks.
                let gone = self.link.table().pending.remove(&self.id);
                drop(gone);
            }
            TicketState::Sent => self.link.abandon(self.id, self.cancellable),
            TicketState::Done => {}
        }
    }
}
