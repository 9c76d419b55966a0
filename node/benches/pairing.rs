//! Pairing benchmark (not a test): from a decoded QR code to Completed on both devices,
//! through five local `phantom-node` processes — the request, the persona payload and the
//! import confirmation each stored by a quorum of nodes and read back from them. Human
//! time (reading and picking the words) is left out. Beside it, the floor: the same state
//! machines, vault import and roster update with the bytes handed over directly.
//! Run with `scripts/bench.sh`, or `cargo bench -p phantom-node --bench pairing`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use phantom_core::messaging::Messenger;
use phantom_core::pairing::invitation::PairingInvitation;
use phantom_core::pairing::{PairingEvent, SourcePairing, TargetPairing};
use phantom_core::persona::{DeviceKeys, Persona};
use phantom_core::vault::store::MemoryStore;
use phantom_core::vault::unlock::MemoryKeyring;
use phantom_core::vault::Vault;
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::testing::SeededRng;
use phantom_mailbox::transport::{MailboxCursor, MailboxTransport};
use phantom_mailbox::{MailboxAddress, Transmit};
use phantom_network::client::MailboxClient;
use phantom_node::testnet::Network;

const SAMPLES: usize = 50;
const NOW: u64 = 1_767_225_600;

/// Moves bytes between the two devices: through the network, or handed over directly.
trait Courier {
    async fn carry(&mut self, transmit: Transmit) -> Vec<u8>;
}

struct Direct;

impl Courier for Direct {
    async fn carry(&mut self, transmit: Transmit) -> Vec<u8> {
        transmit.bytes
    }
}

/// A put by one device's client, and a fetch of the same mailbox by the other's.
struct ThroughNodes<'a> {
    source: &'a MailboxClient,
    target: &'a MailboxClient,
    to_source: bool,
    /// How far the receiving device has read each mailbox.
    cursors: HashMap<MailboxAddress, MailboxCursor>,
}

impl Courier for ThroughNodes<'_> {
    async fn carry(&mut self, transmit: Transmit) -> Vec<u8> {
        let (sender, receiver) = if self.to_source {
            (self.target, self.source)
        } else {
            (self.source, self.target)
        };
        self.to_source = !self.to_source;
        let mailbox = transmit.mailbox;
        let envelope = Envelope::new(transmit.bytes).expect("fits");
        MailboxTransport::put(sender, &mailbox, envelope)
            .await
            .expect("stored");
        let cursor = self.cursors.entry(mailbox.address()).or_default();
        let fetched = MailboxTransport::fetch(receiver, &mailbox, cursor, Duration::from_secs(10))
            .await
            .expect("fetched");
        fetched
            .into_iter()
            .next()
            .expect("the envelope")
            .into_bytes()
    }
}

/// One link, from the scanned invitation to the roster with the new device; returns its time.
async fn link(
    courier: &mut impl Courier,
    persona: &Persona,
    source_state: &[u8],
    source_keys: &DeviceKeys,
    rng: &mut SeededRng,
) -> Duration {
    let mut source = SourcePairing::new();
    let invitation: PairingInvitation = source.generate_invitation(NOW, rng).expect("invites");
    let mut messenger = Messenger::restore(persona, source_keys, source_state).expect("restores");
    let roster = messenger.signed_roster().clone();
    let laptop = DeviceKeys::generate("Laptop", NOW, rng).expect("keys");
    let keyring = MemoryKeyring::generate(rng);

    let start = Instant::now();
    let mut target = TargetPairing::new();
    let words = target
        .accept_invitation(&invitation, "Laptop", NOW + 1, rng)
        .expect("answers");
    let request = courier
        .carry(target.poll_transmit().expect("a request"))
        .await;
    source.receive(&request, NOW + 2, rng).expect("accepted");
    let choice = source.word_choice().expect("a choice");
    let pick = choice
        .candidates()
        .iter()
        .position(|c| *c == words)
        .expect("offered");
    source
        .approve(pick, persona, &roster, NOW + 3)
        .expect("approved");
    let payload = courier
        .carry(source.poll_transmit().expect("the payload"))
        .await;
    let PairingEvent::PersonaReceived(received) = target.receive(&payload, NOW + 3).expect("opens")
    else {
        panic!("the persona");
    };
    Vault::import(
        MemoryStore::new(),
        &received.persona,
        laptop.clone(),
        &keyring,
        rng,
    )
    .await
    .expect("imported");
    let joined = Messenger::join(&received.persona, &laptop, &received.roster).expect("joins");
    target
        .confirm_import(joined.roster_entry(NOW + 4))
        .expect("confirmed");
    let ack = courier
        .carry(target.poll_transmit().expect("the ack"))
        .await;
    let PairingEvent::LinkCompleted(device) = source.receive(&ack, NOW + 5, rng).expect("ack")
    else {
        panic!("completed");
    };
    messenger.add_device(device, rng).expect("on the roster");
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let network = Network::start(binary, dir.path(), 5);
    let (source_client, target_client) = (network.client(), network.client());

    let mut rng = SeededRng::new(88);
    let persona = Persona::create("Ada", NOW, &mut rng).expect("persona");
    let phone = DeviceKeys::generate("Phone", NOW, &mut rng).expect("keys");
    let mut messenger = Messenger::create(&persona, &phone, NOW, &mut rng).expect("created");
    messenger.outbox_mut().take_envelopes();
    let state = messenger.snapshot().expect("a snapshot");

    let mut through_nodes = Vec::with_capacity(SAMPLES);
    let mut floor = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES + 3 {
        let mut courier = ThroughNodes {
            source: &source_client,
            target: &target_client,
            to_source: true,
            cursors: HashMap::new(),
        };
        let networked = link(&mut courier, &persona, &state, &phone, &mut rng).await;
        let direct = link(&mut Direct, &persona, &state, &phone, &mut rng).await;
        // The first links open connections and fill routing tables.
        if n >= 3 {
            through_nodes.push(networked);
            floor.push(direct);
        }
    }
    let (p50, floor_p50) = (median(through_nodes), median(floor));
    println!(
        "BENCH pairing nodes=5 samples={SAMPLES} decoded_qr_to_completed_p50_ms={:.1} crypto_floor_p50_ms={:.2} ratio_to_floor={:.1}",
        p50.as_secs_f64() * 1000.0,
        floor_p50.as_secs_f64() * 1000.0,
        p50.as_secs_f64() / floor_p50.as_secs_f64().max(f64::EPSILON),
    );
}
