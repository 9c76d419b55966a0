//! Helpers shared by the integration tests, natively and in the browser.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use phantom_sync::mailbox::keys::MailboxSeed;
use phantom_sync::pairing::invitation::PairingInvitation;
use phantom_sync::pairing::{PairingEvent, SourcePairing, TargetPairing, Transmit};
use phantom_sync::persona::Persona;
use phantom_sync::roster::{Roster, RosterDevice, SignedRoster};
use phantom_sync::testing::SeededRng;

pub const NOW: u64 = 1_767_225_600;

/// A source with a persona and a fresh invitation, and a target that scanned it.
pub struct Pair {
    pub rng: SeededRng,
    pub persona: Persona,
    /// The persona's roster, as the source sends it with the persona.
    pub roster: SignedRoster,
    pub source: SourcePairing,
    pub target: TargetPairing,
    pub invitation: PairingInvitation,
}

/// A one-device roster for `persona`, signed.
pub fn roster_of(persona: &Persona, rng: &mut SeededRng) -> SignedRoster {
    let identity = persona.authority_key().expect("the creating device");
    Roster::first(
        identity.verifying_key().to_bytes(),
        MailboxSeed::random(rng),
        [0x5e; 32],
    )
    .with_device(new_device(0x11))
    .and_then(|roster| roster.sign(&identity))
    .expect("a signed roster")
}

/// A device asking to join a roster (its keys are placeholders: tests of pairing do not
/// open sessions with it).
pub fn new_device(n: u8) -> RosterDevice {
    RosterDevice {
        device_id: phantom_sync::persona::DeviceId::from_bytes([n; 16]),
        name: "Laptop".into(),
        added_at: NOW,
        identity_key: curve25519_public(n),
        signing_key: ed25519_dalek::SigningKey::from_bytes(&[n.wrapping_add(1); 32])
            .verifying_key()
            .to_bytes(),
        fallback_key: curve25519_public(n.wrapping_add(2)),
        sealing_key: Some(curve25519_public(n.wrapping_add(3))),
    }
}

/// A real Curve25519 public key, the same for the same `n`.
fn curve25519_public(n: u8) -> [u8; 32] {
    let secret = vodozemac::Curve25519SecretKey::from_slice(&[n; 32]);
    vodozemac::Curve25519PublicKey::from(&secret).to_bytes()
}

impl Pair {
    pub fn new(seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let persona = Persona::create("Ada", NOW - 86_400, &mut rng).expect("a persona");
        let roster = roster_of(&persona, &mut rng);
        let mut source = SourcePairing::new();
        let invitation = source
            .generate_invitation(NOW, &mut rng)
            .expect("an invitation");
        Self {
            rng,
            persona,
            roster,
            source,
            target: TargetPairing::new(),
            invitation,
        }
    }

    /// The target scans; returns the request it sends.
    pub fn scan(&mut self) -> Transmit {
        self.target
            .accept_invitation(&self.invitation, "Laptop", NOW + 5, &mut self.rng)
            .expect("the target accepts the invitation");
        self.target.poll_transmit().expect("a sync request")
    }

    /// The source receives `request`.
    pub fn deliver_request(&mut self, request: &Transmit) -> PairingEvent {
        self.source
            .receive(&request.bytes, NOW + 6, &mut self.rng)
            .expect("the source accepts the request")
    }

    /// The user on the source picks the target's words: the persona leaves.
    pub fn approve_right(&mut self) {
        let choice = self.right_choice();
        self.source
            .approve(choice, &self.persona, &self.roster, NOW + 10)
            .expect("approved");
    }

    /// The index of the candidate that shows the target's words.
    pub fn right_choice(&self) -> usize {
        let words = self.target.words().expect("the target shows words");
        let choice = self.source.word_choice().expect("the source offers words");
        choice
            .candidates()
            .iter()
            .position(|candidate| *candidate == words)
            .expect("the target's words are among the candidates")
    }
}

pub mod attacker;
#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod link;
pub mod messaging_suite;
pub mod vault_suite;
