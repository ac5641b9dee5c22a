//! What can go wrong in the billing application's own work, as a typed
//! [`BillingError`]: its settings (budget, alert channels), its output and
//! the store and price table under it. It knows no exit code and no hint:
//! the command line maps each variant to those in [`crate::error`].

use super::prices::PriceError;
use crate::config::ConfigError;
use crate::store::StoreError;

/// A `Result` whose error is a [`BillingError`].
pub type Result<T, E = BillingError> = std::result::Result<T, E>;

/// Why the billing application could not do what it was asked. Setting
/// errors name the setting, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// `MONTHLY_BUDGET_USD` is not a positive amount.
    #[error("MONTHLY_BUDGET_USD={0:?} is not a positive amount")]
    Budget(String),
    /// `ALERT_BUDGET_THRESHOLDS` is not a list of percentages.
    #[error("ALERT_BUDGET_THRESHOLDS={0:?} is not a list of percentages")]
    Thresholds(String),
    /// `ALERT_SPIKE_FACTOR` is not a number above 1.
    #[error("ALERT_SPIKE_FACTOR={0:?} is not a number above 1")]
    SpikeFactor(String),
    /// An email setting is given without the server to send through.
    #[error("ALERT_EMAIL_TO or ALERT_EMAIL_FROM is set without ALERT_SMTP_URL")]
    EmailWithoutServer,
    /// `ALERT_SMTP_URL` does not read (the reason never quotes it).
    #[error("ALERT_SMTP_URL {0}")]
    SmtpUrl(String),
    /// `ALERT_SMTP_URL` is set but a companion setting is not.
    #[error("ALERT_SMTP_URL is set but {0} is not")]
    MissingEmailSetting(&'static str),
    /// An email setting holds something that is not an address.
    #[error("{name}: {text:?} is not an email address")]
    NotAnAddress {
        /// The setting.
        name: &'static str,
        /// What it holds.
        text: String,
    },
    /// `ALERT_EMAIL_TO` names nobody.
    #[error("ALERT_EMAIL_TO names no recipient")]
    NoRecipient,
    /// The alert email could not be put together.
    #[error("cannot build the alert email: {0}")]
    BuildEmail(String),
    /// A webhook setting is not an http(s) URL (its value is never said).
    #[error("{0} is not an http(s) URL")]
    WebhookUrl(&'static str),
    /// Output could not be written.
    #[error("cannot write output: {0}")]
    Write(#[source] std::io::Error),
    /// A general setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The price table cannot be used.
    #[error(transparent)]
    Prices(#[from] PriceError),
    /// The store refused a read or a write.
    #[error(transparent)]
    Store(#[from] StoreError),
}
