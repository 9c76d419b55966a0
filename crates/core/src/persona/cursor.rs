//! Sync cursors: how far this device has read each mailbox.
//!
//! ```
//! use phantom_core::mailbox::MailboxAddress;
//! use phantom_core::persona::SyncCursor;
//! use phantom_core::wire::WireRecord;
//!
//! let cursor = SyncCursor { mailbox: MailboxAddress::from_bytes([1; 32]), position: 42 };
//! assert_eq!(SyncCursor::decode(&cursor.encode()?)?, cursor);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use crate::mailbox::MailboxAddress;
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// How far this device has read one mailbox.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SyncCursor {
    /// The mailbox read; the vault keeps one cursor per mailbox.
    pub mailbox: MailboxAddress,
    /// The last mailbox position this device has processed.
    pub position: u64,
}

impl WireRecord for SyncCursor {
    const MIN_LEN: usize = 32 + 8;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.mailbox.as_bytes());
        w.put_u64(self.position);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            mailbox: MailboxAddress::from_bytes(r.array("mailbox")?),
            position: r.u64("position")?,
        })
    }
}
