//! Events for the IM server (`domain::event`): written to the outbox in the transaction
//! of their change (`store::outbox`), published by the relay.

pub mod relay;

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes the outbox relay right after a commit that wrote events.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn committed(&self) {
        self.0.notify_one();
    }

    pub async fn wait(&self) {
        self.0.notified().await
    }
}
