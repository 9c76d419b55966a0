//! Helpers shared by the integration tests, natively and in the browser.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use phantom_sync::pairing::invitation::PairingInvitation;
use phantom_sync::pairing::{PairingEvent, SourcePairing, TargetPairing, Transmit};
use phantom_sync::persona::Persona;
use phantom_sync::testing::SeededRng;

pub const NOW: u64 = 1_767_225_600;

/// A source with a persona and a fresh invitation, and a target that scanned it.
pub struct Pair {
    pub rng: SeededRng,
    pub persona: Persona,
    pub source: SourcePairing,
    pub target: TargetPairing,
    pub invitation: PairingInvitation,
}

impl Pair {
    pub fn new(seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let persona = Persona::create("Ada", NOW - 86_400, &mut rng).expect("a persona");
        let mut source = SourcePairing::new();
        let invitation = source
            .generate_invitation(NOW, &mut rng)
            .expect("an invitation");
        Self {
            rng,
            persona,
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

pub mod messaging_suite;
pub mod vault_suite;
