//! Two devices that message each other over real nodes, as the app's outbox and inbox do.

use std::collections::HashSet;
use std::time::Duration;

use libp2p::Multiaddr;
use phantom_core::messaging::{MessagingEvent, Messenger};
use phantom_core::persona::{DeviceKeys, Persona};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::testing::SeededRng;
use phantom_mailbox::transport::{MailboxCursor, MailboxTransport};
use phantom_network::client::{connect_native, MailboxClient};
use phantom_network::Replication;

pub const NOW: u64 = 1_767_225_600;

/// A device: its messenger, its client, its cursor on its inbox, and the texts it read.
pub struct Device {
    pub messenger: Messenger,
    client: MailboxClient,
    cursor: MailboxCursor,
    pub read: HashSet<String>,
}

impl Device {
    pub fn new(name: &str, addresses: &[Multiaddr], rng: &mut SeededRng) -> Device {
        let persona = Persona::create(name, NOW, rng).expect("persona");
        let keys = DeviceKeys::generate("device", NOW, rng).expect("device");
        let mut messenger = Messenger::create(&persona, &keys, NOW, rng).expect("messenger");
        messenger.outbox_mut().take_envelopes();
        Device {
            messenger,
            client: connect_native(addresses, Replication::default()).expect("a client"),
            cursor: MailboxCursor::default(),
            read: HashSet::new(),
        }
    }

    /// Stores everything the messenger has to send, trying each put again (as the app's
    /// outbox does) until a quorum holds it; returns how many tries failed.
    pub async fn flush(&mut self) -> usize {
        let mut failed = 0;
        for transmit in self.messenger.outbox_mut().take_envelopes() {
            let envelope = Envelope::new(transmit.bytes).expect("fits");
            loop {
                match MailboxTransport::put(&self.client, &transmit.mailbox, envelope.clone()).await
                {
                    Ok(()) => break,
                    Err(_) if failed < 200 => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(error) => panic!("a put failed 200 times: {error}"),
                }
            }
        }
        failed
    }

    /// Reads the inbox once, waiting up to `wait` for something new.
    pub async fn read_inbox(&mut self, wait: Duration, rng: &mut SeededRng) {
        let inbox = self.messenger.roster().inbox.keys();
        let Ok(envelopes) =
            MailboxTransport::fetch(&self.client, &inbox, &mut self.cursor, wait).await
        else {
            return;
        };
        for envelope in envelopes {
            let Ok(events) = self.messenger.receive(inbox.address(), &envelope, rng) else {
                continue;
            };
            for event in events {
                if let MessagingEvent::Message { message, .. } = event {
                    self.read.insert(message.body);
                }
            }
        }
    }
}

/// Alice and Bob, each a contact of the other, everything they had to send stored: the
/// two devices, Bob's and Alice's persona keys as the other knows them, and how many put
/// tries failed on the way.
pub async fn alice_and_bob(
    addresses: &[Multiaddr],
    rng: &mut SeededRng,
) -> (Device, Device, [u8; 32], [u8; 32], usize) {
    let mut alice = Device::new("Alice", addresses, rng);
    let mut bob = Device::new("Bob", addresses, rng);
    let bob_card = bob.messenger.contact_card().expect("card");
    let to_bob = alice.messenger.add_contact(&bob_card, rng).expect("added");
    let alice_card = alice.messenger.contact_card().expect("card");
    let to_alice = bob.messenger.add_contact(&alice_card, rng).expect("added");
    let failed_puts = alice.flush().await + bob.flush().await;
    (alice, bob, to_bob, to_alice, failed_puts)
}
