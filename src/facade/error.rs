//! Errors as JS sees them: an `Error` whose `name` is `PhantomSyncError` and whose `code`
//! is the stable code of the Rust error (`"invitation_expired"`, `"tampered"`, …), with
//! typed fields where a code has them: `retryAfterSecs` (`wrong_pin`, `too_many_attempts`).

use wasm_bindgen::JsValue;

use crate::device::DeviceError;
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

/// A typed error on its way to JS. Boxed: every `Result` the facade passes around stays
/// a pointer wide.
#[derive(Debug)]
pub struct FacadeError(Box<ErrorFields>);

#[derive(Debug)]
struct ErrorFields {
    code: &'static str,
    message: String,
    /// When the next attempt may be made (a PIN after wrong ones).
    retry_after_secs: Option<u64>,
}

impl FacadeError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorFields {
            code,
            message: message.into(),
            retry_after_secs: None,
        }))
    }

    pub fn code(&self) -> &'static str {
        self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl From<VaultError> for FacadeError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Unlock(inner) => inner.into(),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

impl From<UnlockError> for FacadeError {
    fn from(error: UnlockError) -> Self {
        let retry_after_secs = match error {
            UnlockError::WrongPin {
                retry_after_secs, ..
            }
            | UnlockError::TooManyAttempts { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        let mut facade = Self::new(error.code(), error.to_string());
        facade.0.retry_after_secs = retry_after_secs;
        facade
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
    DeviceError,
    PairingError,
    InvitationError,
    PersonaError,
    RecoveryError,
    QrError,
    SchemaError,
    StoreError,
    WireError,
    MessagingError,
    RosterError,
    DataChannelError,
    VaultExportError
);

impl From<FacadeError> for JsValue {
    fn from(error: FacadeError) -> Self {
        let js_error = js_sys::Error::new(&error.0.message);
        js_error.set_name("PhantomSyncError");
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&js_error, &"code".into(), &error.0.code.into());
        if let Some(secs) = error.0.retry_after_secs {
            let _ =
                js_sys::Reflect::set(&js_error, &"retryAfterSecs".into(), &(secs as f64).into());
        }
        js_error.into()
    }
}
