//! Issue 21's adversary: a malicious device holding everything a linked device of a persona
//! holds — the persona as pairing handed it over (vault passphrase, prekeys, contacts,
//! conversation keys), its device keys, its Olm account and sessions, every mailbox it has
//! read — that writes with the protocol's encoders (PROTOCOL §12–13) instead of the honest
//! state machines, so nothing our own code refuses to do limits it.

use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use phantom_sync::mailbox::keys::{MailboxKeys, MailboxSeed};
use phantom_sync::mailbox::Transmit;
use phantom_sync::messaging::messenger::profile_keys;
use phantom_sync::messaging::sealed::{encrypt_content, Content, InboxItem, SealedMessage};
use phantom_sync::messaging::sealed_sender::SealingSecret;
use phantom_sync::messaging::sessions::DeviceSessions;
use phantom_sync::persona::{DeviceKeys, Persona};
use phantom_sync::roster::{Roster, RosterDevice, SignedRoster};
use phantom_sync::testing::SeededRng;
use phantom_sync::wire::Reader;
use sha2::Sha256;

pub struct MaliciousDevice {
    pub persona: Persona,
    pub keys: DeviceKeys,
    /// Its Olm account and sessions, taken from the device's saved state.
    sessions: DeviceSessions,
    /// Itself as the roster listed it.
    pub entry: RosterDevice,
    /// The seed that reads the persona's profile, from the roster it held.
    profile_read: [u8; 32],
    rng: SeededRng,
}

impl MaliciousDevice {
    /// What a device's storage gives away: its persona, keys and saved messaging state.
    pub fn steal(persona: &Persona, keys: &DeviceKeys, snapshot: &[u8], seed: u64) -> Self {
        // The saved state begins with "MS", its version, then the Olm pickle.
        let version = snapshot.get(2).copied().unwrap_or_default();
        let mut r = Reader::new(snapshot);
        r.magic_and_version(b"MS", version)
            .expect("a messenger snapshot");
        let pickle = r.var_bytes("sessions", 16 << 20).expect("the Olm pickle");
        let sessions = DeviceSessions::from_pickle(pickle).expect("the Olm account");
        let roster = SignedRoster::decode(r.var_bytes("roster", 4096).expect("the roster"))
            .and_then(|signed| signed.claimed())
            .expect("a roster");
        let sealing_key = SealingSecret::derive(&keys.identity_seed).public_key();
        let entry = sessions.roster_device(keys.device_id, &keys.name, 0, sealing_key);
        Self {
            persona: persona.clone(),
            keys: keys.clone(),
            sessions,
            entry,
            profile_read: roster.profile_read,
            rng: SeededRng::new(seed),
        }
    }

    /// The Ed25519 keys it can make from what it holds: each kind of secret (the vault
    /// passphrase, its device key, a prekey, a conversation key) as a key, and through the
    /// persona identity derivation (PROTOCOL §7) as if it were the root key it lacks.
    pub fn signing_keys(&self) -> Vec<SigningKey> {
        let persona = &self.persona;
        assert!(
            persona.authority.is_none(),
            "a linked device has no root key"
        );
        let mut secrets = vec![
            *persona.database_passphrase.expose(),
            *self.keys.identity_seed.expose(),
        ];
        secrets.extend(
            persona
                .prekey_bundles
                .first()
                .map(|bundle| *bundle.signed_prekey.secret.expose()),
        );
        secrets.extend(
            persona
                .conversations
                .first()
                .map(|c| *c.conversation_key.expose()),
        );
        let mut keys = Vec::new();
        for secret in secrets {
            let mut derived = [0u8; 32];
            Hkdf::<Sha256>::new(None, &secret)
                .expand(b"phantom-sync persona identity v1", &mut derived)
                .expect("32 bytes");
            keys.push(SigningKey::from_bytes(&secret));
            keys.push(SigningKey::from_bytes(&derived));
        }
        keys
    }

    /// `roster` signed by each key it holds, straight from the encoding (PROTOCOL §12).
    pub fn forge(&self, roster: &Roster) -> Vec<SignedRoster> {
        self.signing_keys()
            .iter()
            .map(|key| sign_as(roster, key))
            .collect()
    }

    /// A roster of the persona listing this device alone, at `epoch`, reading `inbox`.
    pub fn roster_of_its_own(&self, epoch: u64, inbox: MailboxSeed) -> Roster {
        Roster {
            persona_key: self.persona.persona_key,
            epoch,
            inbox,
            profile_read: self.profile_read,
            devices: vec![self.entry.clone()],
        }
    }

    /// The rosters published where contacts and devices look for them. Only the identity
    /// key it lacks writes there, so only a node that takes anything stores them.
    pub fn publish(&self, rosters: &[SignedRoster]) -> Vec<Transmit> {
        self.publish_with(rosters, |signed| {
            profile_keys(&signed.claimed().expect("a roster"))
        })
    }

    /// The rosters published with the persona's identity key, taken some other way (a
    /// stolen recovery code): nodes store them like the genuine ones.
    pub fn publish_as(&self, rosters: &[SignedRoster], identity: &SigningKey) -> Vec<Transmit> {
        self.publish_with(rosters, |_| {
            MailboxKeys::signed_by(identity, &self.profile_read)
        })
    }

    fn publish_with(
        &self,
        rosters: &[SignedRoster],
        keys: impl Fn(&SignedRoster) -> MailboxKeys,
    ) -> Vec<Transmit> {
        rosters
            .iter()
            .map(|signed| Transmit {
                mailbox: keys(signed),
                bytes: InboxItem::PublishedRoster(signed.clone())
                    .encode()
                    .expect("encodes"),
            })
            .collect()
    }

    /// Each roster sealed as an announcement (content kind 3) to `devices`, into `inbox`.
    pub fn announce(
        &mut self,
        rosters: &[SignedRoster],
        devices: &[RosterDevice],
        inbox: MailboxSeed,
    ) -> Vec<Transmit> {
        rosters
            .iter()
            .map(|signed| self.seal(&Content::Roster(signed.clone()), devices, inbox))
            .collect()
    }

    /// `content` sealed to `devices` with its own Olm sessions, as PROTOCOL §13 says.
    pub fn seal(
        &mut self,
        content: &Content,
        devices: &[RosterDevice],
        inbox: MailboxSeed,
    ) -> Transmit {
        let sender_device = self.sessions.identity_key();
        let encrypted = encrypt_content(
            content,
            &self.persona.persona_key,
            &sender_device,
            &mut self.rng,
        )
        .expect("encrypts");
        let key = encrypted.key.to_bytes();
        let seals = devices
            .iter()
            .map(|device| self.sessions.seal(device, key.as_ref()).expect("sealed"))
            .collect();
        let bytes = InboxItem::Sealed(SealedMessage {
            sender_persona: self.persona.persona_key,
            sender_device,
            seals,
            nonce: encrypted.nonce,
            body: encrypted.body,
        })
        .encode()
        .expect("encodes");
        Transmit {
            mailbox: inbox.keys(),
            bytes,
        }
    }

    /// Whether anything in `envelopes` is sealed to it: a seal for its Olm key, or a
    /// header its sealing secret opens.
    pub fn can_open_any(&self, envelopes: &[phantom_sync::mailbox::envelope::Envelope]) -> bool {
        let own = self.sessions.identity_key();
        let sealing = SealingSecret::derive(&self.keys.identity_seed);
        envelopes
            .iter()
            .any(|envelope| match InboxItem::decode(envelope.as_bytes()) {
                Ok(InboxItem::Sealed(message)) => message.seal_for(&own).is_some(),
                Ok(InboxItem::SenderSealed(message)) => message.open(&sealing, &own).is_some(),
                _ => false,
            })
    }
}

/// `roster` signed by `key`, straight from the encoding (PROTOCOL §12): with the persona's
/// own key — a stolen recovery code — it is as good as the owner's.
pub fn sign_as(roster: &Roster, key: &SigningKey) -> SignedRoster {
    let bytes = roster.encode().expect("encodes");
    let signature = key.sign(&[b"phantom-sync roster v1".as_slice(), &bytes].concat());
    SignedRoster::decode(&[b"PS\x01".as_slice(), &signature.to_bytes(), &bytes].concat())
        .expect("well formed")
}
