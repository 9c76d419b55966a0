//! A new device's pairing in progress, kept across a reload before the device has a vault
//! to keep it in: wrapped by the device key in the `meta` store, where the vault will be.
//!
//! ```
//! use phantom_core::vault::pending;
//! use phantom_core::vault::store::MemoryStore;
//! use phantom_core::vault::unlock::MemoryKeyring;
//! # let mut rng = phantom_core::testing::SeededRng::new(4);
//! let (store, keyring) = (MemoryStore::new(), MemoryKeyring::generate(&mut rng));
//! pollster::block_on(async {
//!     pending::save(&store, &keyring, b"a pairing snapshot").await?;
//!     let kept = pending::load(&store, &keyring).await?;
//!     assert_eq!(kept.as_deref().map(|b| b.as_slice()), Some(&b"a pairing snapshot"[..]));
//!     pending::forget(&store).await?;
//!     assert!(pending::load(&store, &keyring).await?.is_none());
//!     Ok::<(), phantom_core::vault::VaultError>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use zeroize::Zeroizing;

use crate::vault::store::{RawStore, StoreName, WriteOp};
use crate::vault::unlock::DeviceKeyring;
use crate::vault::VaultError;

const PENDING_PAIRING_ID: &[u8] = b"pending_pairing";

/// Keeps `snapshot` in place of any earlier one.
pub async fn save(
    store: &impl RawStore,
    keyring: &impl DeviceKeyring,
    snapshot: &[u8],
) -> Result<(), VaultError> {
    let wrapped = keyring.wrap(snapshot).await?;
    let put = WriteOp::put(StoreName::Meta, PENDING_PAIRING_ID, &wrapped);
    Ok(store.write(vec![put]).await?)
}

/// The snapshot kept, if any. One the device key no longer opens fails with the
/// keyring's error and stays until [`forget`] drops it.
pub async fn load(
    store: &impl RawStore,
    keyring: &impl DeviceKeyring,
) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    match store.get(StoreName::Meta, PENDING_PAIRING_ID).await? {
        Some(wrapped) => Ok(Some(keyring.unwrap(&wrapped).await?)),
        None => Ok(None),
    }
}

/// Drops the snapshot kept, if any.
pub async fn forget(store: &impl RawStore) -> Result<(), VaultError> {
    let delete = WriteOp::Delete {
        store: StoreName::Meta,
        key: PENDING_PAIRING_ID.to_vec(),
    };
    Ok(store.write(vec![delete]).await?)
}
