//! Messaging benchmark (not a test): send → visible on every linked device, through a local
//! network of five `phantom-node` processes. Run with `scripts/bench.sh`, or
//! `cargo bench -p phantom-node --bench messaging`.
//!
//! Alice (one device) writes to Bob, whose two devices each hold a waiting fetch on Bob's
//! inbox through their own client. A sample is the time from Alice's send (sealing
//! included) until both of Bob's devices have opened the message. Beside it: the same
//! send and the two opens with no network at all — the crypto floor.

use std::time::{Duration, Instant};

use phantom_core::messaging::{MessagingEvent, Messenger};
use phantom_core::persona::{DeviceKeys, Persona};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::testing::SeededRng;
use phantom_mailbox::transport::{MailboxCursor, MailboxTransport};
use phantom_mailbox::Transmit;
use phantom_network::client::MailboxClient;
use phantom_node::testnet::Network;

const SAMPLES: usize = 200;
const NOW: u64 = 1_767_225_600;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn put_all(client: &MailboxClient, transmits: Vec<Transmit>) {
    for transmit in transmits {
        let envelope = Envelope::new(transmit.bytes).expect("fits");
        MailboxTransport::put(client, &transmit.mailbox, envelope)
            .await
            .expect("stored");
    }
}

/// Reads Bob's inbox until a text arrives; returns when it was opened.
async fn until_text(
    client: &MailboxClient,
    device: &mut Messenger,
    cursor: &mut MailboxCursor,
) -> Instant {
    let inbox = device.roster().inbox.keys();
    loop {
        let envelopes = MailboxTransport::fetch(client, &inbox, cursor, Duration::from_secs(10))
            .await
            .expect("fetched");
        for envelope in envelopes {
            let events = device
                .receive(inbox.address(), &envelope, &mut SeededRng::new(0))
                .expect("opens");
            if events
                .iter()
                .any(|e| matches!(e, MessagingEvent::Message { .. }))
            {
                return Instant::now();
            }
        }
    }
}

struct Cast {
    alice: Messenger,
    bob_a: Messenger,
    bob_b: Messenger,
    rng: SeededRng,
}

/// Alice, and Bob with two devices, each knowing the others; returns what must be delivered.
fn cast() -> (Cast, Vec<Transmit>) {
    let mut rng = SeededRng::new(77);
    let make = |name: &str, rng: &mut SeededRng| {
        let persona = Persona::create(name, NOW, rng).expect("persona");
        let device = DeviceKeys::generate("device", NOW, rng).expect("device");
        (persona, device)
    };
    let (alice_persona, alice_device) = make("Alice", &mut rng);
    let mut alice = Messenger::create(&alice_persona, &alice_device, NOW, &mut rng).expect("alice");
    alice.outbox_mut().take_envelopes();
    let (bob_persona, laptop) = make("Bob", &mut rng);
    let mut bob_a = Messenger::create(&bob_persona, &laptop, NOW, &mut rng).expect("bob");
    bob_a.outbox_mut().take_envelopes();
    let tablet = DeviceKeys::generate("tablet", NOW, &mut rng).expect("device");
    let bob_b = Messenger::join(
        &bob_persona.for_linked_device(),
        &tablet,
        bob_a.signed_roster(),
    )
    .expect("join");
    bob_a
        .add_device(bob_b.roster_entry(NOW), &mut rng)
        .expect("added");
    let added = bob_a.outbox_mut().take_envelopes();
    (
        Cast {
            alice,
            bob_a,
            bob_b,
            rng,
        },
        added,
    )
}

/// The same message path with no network: seal once, open on both devices.
fn crypto_floor(samples: usize) -> Vec<Duration> {
    let (mut cast, added) = cast();
    for transmit in added {
        let mailbox = transmit.mailbox;
        let envelope = Envelope::new(transmit.bytes).expect("fits");
        let _ = cast
            .bob_b
            .receive(mailbox.address(), &envelope, &mut cast.rng);
    }
    let card = cast.bob_a.contact_card().expect("card");
    let bob = cast.alice.add_contact(&card, &mut cast.rng).expect("added");
    let mut floor = Vec::with_capacity(samples);
    for n in 0..samples {
        let start = Instant::now();
        cast.alice
            .send_text(
                &bob,
                &format!("message {n}"),
                NOW * 1000 + n as u64,
                &mut cast.rng,
            )
            .expect("sent");
        let transmits = cast.alice.outbox_mut().take_envelopes();
        let envelope = Envelope::new(transmits[0].bytes.clone()).expect("fits");
        cast.bob_a
            .receive(transmits[0].mailbox.address(), &envelope, &mut cast.rng)
            .expect("opens");
        cast.bob_b
            .receive(transmits[0].mailbox.address(), &envelope, &mut cast.rng)
            .expect("opens");
        floor.push(start.elapsed());
    }
    floor.sort();
    floor
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let network = Network::start(binary, dir.path(), 5);
    let (alice_client, a_client, b_client) = (network.client(), network.client(), network.client());

    let (mut cast, added) = cast();
    put_all(&a_client, added).await;
    let (mut cursor_a, mut cursor_b) = (MailboxCursor::default(), MailboxCursor::default());
    let inbox = cast.bob_a.roster().inbox.keys();
    for envelope in MailboxTransport::fetch(&b_client, &inbox, &mut cursor_b, Duration::ZERO)
        .await
        .expect("fetched")
    {
        let _ = cast
            .bob_b
            .receive(inbox.address(), &envelope, &mut cast.rng);
    }
    assert_eq!(cast.bob_b.roster().devices.len(), 2, "B is on the roster");
    let card = cast.bob_a.contact_card().expect("card");
    let bob = cast.alice.add_contact(&card, &mut cast.rng).expect("added");

    let mut latencies = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES + 5 {
        let Cast {
            alice,
            bob_a,
            bob_b,
            rng,
        } = &mut cast;
        let sending = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let sent = Instant::now();
            alice
                .send_text(&bob, &format!("message {n}"), NOW * 1000 + n as u64, rng)
                .expect("sent");
            let transmits = alice.outbox_mut().take_envelopes();
            put_all(&alice_client, transmits).await;
            sent
        };
        let (sent, seen_a, seen_b) = tokio::join!(
            sending,
            until_text(&a_client, bob_a, &mut cursor_a),
            until_text(&b_client, bob_b, &mut cursor_b),
        );
        // The first few open Olm sessions and warm the connections.
        if n >= 5 {
            latencies.push(seen_a.max(seen_b).saturating_duration_since(sent));
        }
    }
    latencies.sort();
    let floor = crypto_floor(SAMPLES);
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let floor_p50 = percentile(&floor, 0.5);
    println!(
        "BENCH messaging nodes=5 recipient_devices=2 samples={} send_to_visible_on_all_devices_p50_ms={:.1} p99_ms={:.1} crypto_floor_p50_ms={:.2} ratio_to_floor={:.1}",
        latencies.len(),
        millis(p50),
        millis(p99),
        millis(floor_p50),
        p50.as_secs_f64() / floor_p50.as_secs_f64().max(f64::EPSILON),
    );
}
