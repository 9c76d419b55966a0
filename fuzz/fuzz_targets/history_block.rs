//! A history block's contents. A block that does not match its manifest hash is refused
//! before anything reads it, so the fuzzer would never get past the hash: here each input
//! is sealed as a genuine block of a one-block manifest, as a hostile device of the same
//! persona could send it, so the parser behind the authentication is what gets fuzzed.
#![no_main]
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use libfuzzer_sys::fuzz_target;
use phantom_sync::history::import::HistoryImport;
use phantom_sync::history::manifest::{BlockEntry, Manifest};
use phantom_sync::history::TransferId;
use phantom_sync::persona::ConversationId;
use phantom_sync::secret::Secret;
use sha2::{Digest, Sha256};

const KEY: [u8; 32] = [7; 32];
const TRANSFER: TransferId = TransferId::from_bytes([9; 16]);

fuzz_target!(|input: (u32, u64, u64, &[u8])| {
    let (messages, first_ms, last_ms, plaintext) = input;
    let mut aad = b"phantom-sync history v1".to_vec();
    aad.extend_from_slice(TRANSFER.as_bytes());
    aad.extend_from_slice(&0u32.to_be_bytes());
    let nonce = [3u8; 24];
    let Ok(sealed) = XChaCha20Poly1305::new(&KEY.into()).encrypt(
        &XNonce::from(nonce),
        Payload {
            msg: plaintext,
            aad: &aad,
        },
    ) else {
        return;
    };
    let block = [nonce.as_slice(), &sealed].concat();
    let manifest = Manifest {
        transfer_id: TRANSFER,
        blocks: vec![BlockEntry {
            hash: Sha256::digest(&block).into(),
            conversation_id: ConversationId::from_bytes([1; 16]),
            first_ms,
            last_ms,
            messages,
            bytes: block.len() as u32,
        }],
    };
    let mut import = HistoryImport::new(manifest, Secret::from_bytes(KEY));
    let _ = import.accept(0, &block);
    let _ = import.accept(0, &block[1..]);
});
