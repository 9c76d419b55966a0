//! The browser's device keyring: a non-extractable AES-256-GCM WebCrypto key.
//!
//! The key is generated with `extractable: false` and kept as a `CryptoKey` object in its own
//! IndexedDB database, so page script can use it to wrap and unwrap the vault passphrase
//! but can never read it out. Clearing the site's data removes it, and with it the ability
//! to open the vault without relinking.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CryptoKey, IdbDatabase, IdbObjectStore, IdbRequest, IdbTransactionMode, SubtleCrypto,
};
use zeroize::Zeroizing;

use crate::drivers::indexeddb::{map_error, open_database, RequestWait};
use crate::vault::unlock::{DeviceKeyring, UnlockError};

const KEYRING_DATABASE: &str = "phantom-sync-keyring";
const KEYS_STORE: &str = "keys";
const IV_LEN: usize = 12;
const KEYRING_AAD: &[u8] = b"phantom-sync webcrypto keyring v1 ";

/// A device key that never leaves the browser's crypto implementation.
#[derive(Debug, Clone)]
pub struct WebCryptoKeyring {
    key: CryptoKey,
    /// Bound into every wrap, so one profile's blob does not open with another's key.
    associated_data: Vec<u8>,
}

/// The keyring database, closed when done with.
struct KeyringDatabase(IdbDatabase);

impl Drop for KeyringDatabase {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl WebCryptoKeyring {
    fn new(key: CryptoKey, profile: &str) -> Self {
        let mut associated_data = KEYRING_AAD.to_vec();
        associated_data.extend_from_slice(profile.as_bytes());
        Self {
            key,
            associated_data,
        }
    }

    /// The key of device profile `profile`, created on first use. Two tabs creating it at
    /// once end up with the same key: only the first one stored is kept.
    pub async fn load_or_create(profile: &str) -> Result<Self, UnlockError> {
        let db = keyring_database().await?;
        if let Some(key) = stored_key(&db.0, profile).await? {
            return Ok(Self::new(key, profile));
        }
        let key = generate_key().await?;
        if add_key(&db.0, profile, &key).await.is_err() {
            // Another tab stored a key first: use that one.
            let stored = stored_key(&db.0, profile).await?;
            return stored
                .map(|key| Self::new(key, profile))
                .ok_or_else(|| UnlockError::Keyring("the device key could not be stored".into()));
        }
        Ok(Self::new(key, profile))
    }

    /// The existing key of `profile`, if this browser still has it.
    pub async fn load(profile: &str) -> Result<Self, UnlockError> {
        let db = keyring_database().await?;
        stored_key(&db.0, profile)
            .await?
            .map(|key| Self::new(key, profile))
            .ok_or(UnlockError::DeviceKeyMissing)
    }

    /// Deletes the key of device profile `profile`: whatever it wrapped can no longer be
    /// opened, even from a copy of the vault.
    pub async fn delete(profile: &str) -> Result<(), UnlockError> {
        let db = keyring_database().await?;
        write_keys(&db.0, |store| store.delete(&JsValue::from_str(profile))).await
    }

    /// Whether the key is, as intended, impossible to export.
    pub fn is_extractable(&self) -> bool {
        self.key.extractable()
    }

    pub fn crypto_key(&self) -> &CryptoKey {
        &self.key
    }
}

impl DeviceKeyring for WebCryptoKeyring {
    async fn wrap(&self, secret: &[u8]) -> Result<Vec<u8>, UnlockError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|e| UnlockError::Keyring(e.to_string()))?;
        let promise = subtle()?
            .encrypt_with_object_and_u8_array(&self.aes_gcm(&iv)?, &self.key, secret)
            .map_err(keyring_error)?;
        let ciphertext = JsFuture::from(promise).await.map_err(keyring_error)?;
        let mut wrapped = iv.to_vec();
        wrapped.extend(Uint8Array::new(&ciphertext).to_vec());
        Ok(wrapped)
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnlockError> {
        let (iv, ciphertext) = wrapped
            .split_at_checked(IV_LEN)
            .ok_or(UnlockError::DeviceKeyRejected)?;
        let promise = subtle()?
            .decrypt_with_object_and_u8_array(&self.aes_gcm(iv)?, &self.key, ciphertext)
            .map_err(keyring_error)?;
        let plaintext = JsFuture::from(promise)
            .await
            .map_err(|_| UnlockError::DeviceKeyRejected)?;
        Ok(Zeroizing::new(Uint8Array::new(&plaintext).to_vec()))
    }
}

fn keyring_error(error: JsValue) -> UnlockError {
    let message = error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "WebCrypto failed".into());
    UnlockError::Keyring(message)
}

fn subtle() -> Result<SubtleCrypto, UnlockError> {
    let crypto =
        Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(keyring_error)?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).map_err(keyring_error)?;
    subtle.dyn_into().map_err(|_| {
        UnlockError::Keyring("WebCrypto needs a secure context (https or localhost)".into())
    })
}

impl WebCryptoKeyring {
    fn aes_gcm(&self, iv: &[u8]) -> Result<Object, UnlockError> {
        let algorithm = Object::new();
        let set = |name: &str, value: &JsValue| {
            Reflect::set(&algorithm, &name.into(), value).map_err(keyring_error)
        };
        set("name", &"AES-GCM".into())?;
        set("iv", &Uint8Array::from(iv))?;
        set(
            "additionalData",
            &Uint8Array::from(&self.associated_data[..]),
        )?;
        Ok(algorithm)
    }
}

async fn generate_key() -> Result<CryptoKey, UnlockError> {
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into()).map_err(keyring_error)?;
    Reflect::set(&algorithm, &"length".into(), &JsValue::from(256)).map_err(keyring_error)?;
    let usages: Array = ["encrypt", "decrypt"]
        .iter()
        .map(|u| JsValue::from_str(u))
        .collect();
    let promise = subtle()?
        .generate_key_with_object(&algorithm, false, &usages)
        .map_err(keyring_error)?;
    JsFuture::from(promise)
        .await
        .map_err(keyring_error)?
        .dyn_into()
        .map_err(|_| UnlockError::Keyring("generateKey returned no key".into()))
}

async fn keyring_database() -> Result<KeyringDatabase, UnlockError> {
    open_database(KEYRING_DATABASE, 1, &[KEYS_STORE])
        .await
        .map(KeyringDatabase)
        .map_err(|e| UnlockError::Keyring(e.to_string()))
}

/// The stored key; a stored value that is not a `CryptoKey` is damage, not absence.
async fn stored_key(db: &IdbDatabase, profile: &str) -> Result<Option<CryptoKey>, UnlockError> {
    let request = db
        .transaction_with_str_and_mode(KEYS_STORE, IdbTransactionMode::Readonly)
        .and_then(|tx| tx.object_store(KEYS_STORE))
        .and_then(|store| store.get(&JsValue::from_str(profile)))
        .map_err(|e| UnlockError::Keyring(map_error(&e).to_string()))?;
    let value = RequestWait::new(&request)
        .wait()
        .await
        .map_err(|e| UnlockError::Keyring(e.to_string()))?;
    if value.is_undefined() {
        return Ok(None);
    }
    value
        .dyn_into::<CryptoKey>()
        .map(Some)
        .map_err(|_| UnlockError::Keyring("the stored device key is damaged".into()))
}

/// Stores the key only if none is stored yet (`add`, not `put`).
async fn add_key(db: &IdbDatabase, profile: &str, key: &CryptoKey) -> Result<(), UnlockError> {
    write_keys(db, |store| {
        store.add_with_key(key, &JsValue::from_str(profile))
    })
    .await
}

/// Runs one write on the keys store and waits until it is done.
async fn write_keys(
    db: &IdbDatabase,
    write: impl FnOnce(&IdbObjectStore) -> Result<IdbRequest, JsValue>,
) -> Result<(), UnlockError> {
    let request = db
        .transaction_with_str_and_mode(KEYS_STORE, IdbTransactionMode::Readwrite)
        .and_then(|tx| tx.object_store(KEYS_STORE))
        .and_then(|store| write(&store))
        .map_err(|e| UnlockError::Keyring(map_error(&e).to_string()))?;
    RequestWait::new(&request)
        .wait()
        .await
        .map_err(|e| UnlockError::Keyring(e.to_string()))?;
    Ok(())
}
