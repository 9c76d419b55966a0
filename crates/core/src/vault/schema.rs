//! The vault's schema version and what happens when it differs.
//!
//! The version is stored in the meta store and is also the IndexedDB database version, so
//! the browser creates the object stores of [`StoreName::ALL`] on first open. A vault written
//! by a newer build is refused untouched ([`SchemaError::Newer`]); an older one is brought
//! up to date by [`migrate`], one step per version, inside one atomic write.
//!
//! ```
//! use phantom_core::vault::schema::{self, SchemaError, SCHEMA_VERSION, SCHEMA_VERSION_ID};
//! use phantom_core::vault::store::{MemoryStore, RawStore, StoreName, WriteOp};
//!
//! let store = MemoryStore::new();
//! pollster::block_on(async {
//!     assert_eq!(schema::stored_version(&store).await?, None, "an empty store");
//!     // A vault of schema 1 is brought up to date...
//!     let v1 = WriteOp::put(StoreName::Meta, SCHEMA_VERSION_ID, &1u32.to_be_bytes());
//!     store.write(vec![v1]).await?;
//!     schema::migrate(&store, 1).await?;
//!     assert_eq!(schema::stored_version(&store).await?, Some(SCHEMA_VERSION));
//!     // ...and one a newer build wrote is refused.
//!     let newer = SCHEMA_VERSION + 1;
//!     assert_eq!(schema::migrate(&store, newer).await, Err(SchemaError::Newer { found: newer }));
//!     Ok::<(), SchemaError>(())
//! })?;
//! # Ok::<(), SchemaError>(())
//! ```
//!
//! [`StoreName::ALL`]: crate::vault::store::StoreName::ALL

use thiserror::Error;

use crate::vault::store::{RawStore, StoreError, StoreName, WriteOp};

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 2;
/// Meta record holding the schema version (a big-endian `u32`, not secret).
pub const SCHEMA_VERSION_ID: &[u8] = b"schema_version";

/// Why the vault's schema could not be read or brought up to date.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// The vault's schema is newer than [`SCHEMA_VERSION`]: a newer build wrote it, and it
    /// is left untouched.
    #[error("this vault was written by a newer version (schema {found}, this build reads {SCHEMA_VERSION}); update the app")]
    Newer {
        /// The schema version stored.
        found: u32,
    },
    /// The schema version record is not a 4-byte big-endian number.
    #[error("the schema version record is damaged")]
    Malformed,
    /// An older schema that no step of [`migrate`] starts from.
    #[error("schema {found} cannot be migrated by this build")]
    Unsupported {
        /// The schema version stored.
        found: u32,
    },
    /// Reading or writing the meta store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SchemaError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            SchemaError::Newer { .. } => "newer_schema",
            SchemaError::Malformed => "schema_malformed",
            SchemaError::Unsupported { .. } => "unsupported_schema",
            SchemaError::Store(inner) => inner.code(),
        }
    }
}

/// The stored schema version, or `None` for an empty store.
pub async fn stored_version(store: &impl RawStore) -> Result<Option<u32>, SchemaError> {
    match store.get(StoreName::Meta, SCHEMA_VERSION_ID).await? {
        None => Ok(None),
        Some(bytes) => {
            let bytes: [u8; 4] = bytes.try_into().map_err(|_| SchemaError::Malformed)?;
            Ok(Some(u32::from_be_bytes(bytes)))
        }
    }
}

/// The write that records the current schema version.
pub fn version_op() -> WriteOp {
    WriteOp::put(
        StoreName::Meta,
        SCHEMA_VERSION_ID,
        &SCHEMA_VERSION.to_be_bytes(),
    )
}

/// Brings a vault of schema `found` to [`SCHEMA_VERSION`], one step per version, each
/// step together with [`version_op`] in one write.
///
/// - 1 → 2: adds the `history` store, which opening the database at version 2 has
///   created; nothing moves.
pub async fn migrate(store: &impl RawStore, found: u32) -> Result<(), SchemaError> {
    match found {
        SCHEMA_VERSION => Ok(()),
        newer if newer > SCHEMA_VERSION => Err(SchemaError::Newer { found }),
        1 => Ok(store.write(vec![version_op()]).await?),
        _ => Err(SchemaError::Unsupported { found }),
    }
}
