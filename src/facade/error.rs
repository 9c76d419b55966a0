//! Errors as JS sees them: an `Error` whose `name` is `PhantomSyncError` and whose `code`
//! is the stable code of the Rust error (`"invitation_expired"`, `"tampered"`, …).

use wasm_bindgen::JsValue;

use crate::drivers::data_channel::DataChannelError;
use crate::drivers::qr::QrError;
use crate::history::vault_export::VaultExportError;
use crate::messaging::MessagingError;
use crate::pairing::invitation::InvitationError;
use crate::pairing::PairingError;
use crate::persona::{PersonaError, RecoveryError};
use crate::roster::RosterError;
use crate::vault::schema::SchemaError;
use crate::vault::store::StoreError;
use crate::vault::unlock::UnlockError;
use crate::vault::VaultError;
use crate::wire::WireError;

/// A typed error on its way to JS.
#[derive(Debug)]
pub struct FacadeError {
    code: &'static str,
    message: String,
}

impl FacadeError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

macro_rules! from_coded_error {
    ($($error:ty),*) => {$(
        impl From<$error> for FacadeError {
            fn from(error: $error) -> Self {
                Self::new(error.code(), error.to_string())
            }
        }
    )*};
}

from_coded_error!(
    PairingError,
    InvitationError,
    PersonaError,
    RecoveryError,
    QrError,
    VaultError,
    SchemaError,
    StoreError,
    UnlockError,
    WireError,
    MessagingError,
    RosterError,
    DataChannelError,
    VaultExportError
);

impl From<FacadeError> for JsValue {
    fn from(error: FacadeError) -> Self {
        let js_error = js_sys::Error::new(&error.message);
        js_error.set_name("PhantomSyncError");
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&js_error, &"code".into(), &error.code.into());
        js_error.into()
    }
}
