//! Test fixtures (the `fixtures` feature, for this crate's own browser tests and
//! benchmarks only): a long history in a conversation without sending it message by message.

use rand_core::Rng;

use super::{rng, FacadeError, SyncManager};
use crate::messaging::messenger::contact_id;
use crate::persona::{Message, MessageId, Sender};
use crate::vault::MessageWrites;

/// Messages stored per vault transaction.
const BATCH: u32 = 1000;

impl SyncManager {
    /// Adds `count` messages from the conversation's contact, each `body_len` bytes, a second
    /// apart and ending now, to this device's conversation `conversation_id` (hex).
    pub async fn add_history_fixture(
        &self,
        conversation_id: &str,
        count: u32,
        body_len: usize,
    ) -> Result<(), FacadeError> {
        let conversation = super::messaging::conversation_from_hex(conversation_id)?;
        let peer = self.with_messenger(|m| {
            m.conversation(&conversation)
                .map(|log| log.peer)
                .ok_or(crate::messaging::MessagingError::UnknownConversation)
        })?;
        let now_ms = js_sys::Date::now() as u64;
        let mut rng = rng();
        // Made and stored a batch at a time, as a long-lived device would have them.
        let mut first = 0;
        while first < count {
            let batch: Vec<Message> = (first..count.min(first + BATCH))
                .map(|n| {
                    let mut id = [0u8; 16];
                    rng.fill_bytes(&mut id);
                    Message {
                        id: MessageId::from_bytes(id),
                        conversation_id: conversation,
                        sender: Sender::Contact(contact_id(&peer)),
                        sent_at_ms: now_ms - u64::from(count - n) * 1000,
                        body: format!("{n:>8} ").repeat(body_len / 9 + 1)[..body_len].to_owned(),
                    }
                })
                .collect();
            first += BATCH;
            self.with_messenger(|m| m.restore_messages(&conversation, batch.clone()))?;
            self.save_messaging(MessageWrites {
                live: &batch,
                ..MessageWrites::default()
            })
            .await?;
        }
        Ok(())
    }
}
