//! What the sans-IO side needs from the network: put an envelope into a mailbox, and fetch
//! what is new — waiting for it, which is how a device subscribes. [`MemoryTransport`]
//! serves unit tests; the libp2p client (`network::client`) is the real one.
//!
//! ```
//! use std::time::Duration;
//! use phantom_mailbox::transport::{MailboxCursor, MailboxTransport, MemoryTransport};
//! use phantom_mailbox::{envelope::Envelope, keys::MailboxKeys};
//!
//! let network = MemoryTransport::default();
//! let mailbox = MailboxKeys::shared(&[1; 32]);
//! let mut cursor = MailboxCursor::default();
//! pollster::block_on(async {
//!     network.put(&mailbox, Envelope::new(b"hi".to_vec())?).await?;
//!     assert_eq!(network.fetch(&mailbox, &mut cursor, Duration::ZERO).await?.len(), 1);
//!     assert!(network.fetch(&mailbox, &mut cursor, Duration::ZERO).await?.is_empty());
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use thiserror::Error;

use crate::envelope::{Envelope, EnvelopeId};
use crate::keys::MailboxKeys;
use crate::MailboxAddress;

/// Why a put or a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The mailbox's nodes could not be found or did not answer; the text says why, for logs.
    #[error("the mailbox network is unreachable: {0}")]
    Unreachable(String),
    /// Fewer nodes than the write quorum stored the envelope: keep it and put it again.
    #[error("too few nodes stored the envelope")]
    NotStored,
}

impl TransportError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Unreachable(_) => "network_unreachable",
            TransportError::NotStored => "quorum_not_reached",
        }
    }
}

/// Envelope ids a cursor remembers, so a copy from a node that was behind is not read twice.
const REMEMBERED_IDS: usize = 4096;

/// How far a device has read a mailbox: a position per node, since each node numbers the
/// envelopes it holds on its own, and the ids of the envelopes read lately.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxCursor {
    positions: BTreeMap<Vec<u8>, u64>,
    seen: VecDeque<EnvelopeId>,
}

impl MailboxCursor {
    /// True the first time an envelope is seen through this cursor.
    pub fn first_sight(&mut self, envelope: &Envelope) -> bool {
        let id = envelope.id();
        if self.seen.contains(&id) {
            return false;
        }
        if self.seen.len() == REMEMBERED_IDS {
            self.seen.pop_front();
        }
        self.seen.push_back(id);
        true
    }

    /// How far the node whose peer id is `node` has been read: the number to fetch after,
    /// 0 for a node never read.
    pub fn position(&self, node: &[u8]) -> u64 {
        self.positions.get(node).copied().unwrap_or(0)
    }

    /// The nodes this cursor has a position for.
    pub fn nodes(&self) -> impl Iterator<Item = &[u8]> {
        self.positions.keys().map(Vec::as_slice)
    }

    /// Moves forward only: a node that answers with an older position changes nothing.
    pub fn advance(&mut self, node: &[u8], position: u64) {
        let entry = self.positions.entry(node.to_vec()).or_insert(0);
        *entry = (*entry).max(position);
    }
}

/// The network as a device's sans-IO code sees it: mailboxes to put envelopes into and
/// fetch them from.
#[allow(async_fn_in_trait)]
pub trait MailboxTransport {
    /// Puts `envelope` into the mailbox `mailbox` names, which it must be able to write to.
    async fn put(&self, mailbox: &MailboxKeys, envelope: Envelope) -> Result<(), TransportError>;

    /// One answer's worth of envelopes not yet read through `cursor`, which moves past
    /// them, and whether more are waiting. With a `wait` and nothing new, the answer comes
    /// when something arrives or the wait ends. A reader that must not hold a whole
    /// mailbox at once reads it this way.
    async fn fetch_page(
        &self,
        mailbox: &MailboxKeys,
        cursor: &mut MailboxCursor,
        wait: Duration,
    ) -> Result<FetchedPage, TransportError>;

    /// Every envelope not yet read through `cursor` (up to [`MAX_PAGES_PER_FETCH`] answers).
    async fn fetch(
        &self,
        mailbox: &MailboxKeys,
        cursor: &mut MailboxCursor,
        wait: Duration,
    ) -> Result<Vec<Envelope>, TransportError> {
        self.fetch_some(mailbox, cursor, wait, usize::MAX).await
    }

    /// Envelopes not yet read through `cursor`, answer by answer until there are no more or
    /// at least `enough` came. An answer that fails after others keeps what they brought
    /// (the cursor has moved past it); only a first failure is an error.
    async fn fetch_some(
        &self,
        mailbox: &MailboxKeys,
        cursor: &mut MailboxCursor,
        wait: Duration,
        enough: usize,
    ) -> Result<Vec<Envelope>, TransportError> {
        let mut envelopes = Vec::new();
        let mut wait = wait;
        for _ in 0..MAX_PAGES_PER_FETCH {
            match self.fetch_page(mailbox, cursor, wait).await {
                Ok(page) => {
                    envelopes.extend(page.envelopes);
                    if !page.more || envelopes.len() >= enough {
                        break;
                    }
                }
                Err(error) if envelopes.is_empty() => return Err(error),
                Err(_) => break,
            }
            wait = Duration::ZERO;
        }
        Ok(envelopes)
    }
}

/// Answers one [`MailboxTransport::fetch`] reads at most; the rest waits for the next.
pub const MAX_PAGES_PER_FETCH: usize = 64;

/// What one [`MailboxTransport::fetch_page`] brought.
#[derive(Debug, Default)]
pub struct FetchedPage {
    /// Envelopes not read before through the cursor, each once.
    pub envelopes: Vec<Envelope>,
    /// Whether a node holds more than it answered with.
    pub more: bool,
}

/// One in-memory "node" for unit tests; a wait returns at once.
#[derive(Debug, Default)]
pub struct MemoryTransport {
    mailboxes: RefCell<HashMap<MailboxAddress, Vec<Envelope>>>,
}

const MEMORY_NODE: &[u8] = b"memory";

impl MailboxTransport for MemoryTransport {
    async fn put(&self, mailbox: &MailboxKeys, envelope: Envelope) -> Result<(), TransportError> {
        let mut mailboxes = self.mailboxes.borrow_mut();
        let held = mailboxes.entry(mailbox.address()).or_default();
        if !held.contains(&envelope) {
            held.push(envelope);
        }
        Ok(())
    }

    async fn fetch_page(
        &self,
        mailbox: &MailboxKeys,
        cursor: &mut MailboxCursor,
        _wait: Duration,
    ) -> Result<FetchedPage, TransportError> {
        let mailboxes = self.mailboxes.borrow();
        let held = mailboxes
            .get(&mailbox.address())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let start = usize::try_from(cursor.position(MEMORY_NODE)).unwrap_or(usize::MAX);
        let new: Vec<Envelope> = held
            .iter()
            .skip(start)
            .filter(|envelope| cursor.first_sight(envelope))
            .cloned()
            .collect();
        cursor.advance(MEMORY_NODE, held.len() as u64);
        Ok(FetchedPage {
            envelopes: new,
            more: false,
        })
    }
}
