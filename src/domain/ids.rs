//! Row ids, one type per table, so a key's id can never be passed where a user's is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! row_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// Ids arrive in URLs: only a positive decimal number names a row.
        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s.parse::<i64>() {
                    Ok(n) if n > 0 && !s.starts_with('+') => Ok(Self(n)),
                    _ => Err(()),
                }
            }
        }
    )*};
}

row_id! {
    /// An API key (`api_keys.id`).
    KeyId;
    /// A person who signs in (`users.id`).
    UserId;
    /// An environment of a project (`environments.id`).
    EnvironmentId;
    /// A project (`projects.id`).
    ProjectId;
    /// A webhook endpoint of an environment (`webhook_endpoints.id`).
    WebhookId;
    /// One event's delivery to one endpoint (`webhook_deliveries.id`).
    DeliveryId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_numbers_are_ids() {
        assert_eq!("42".parse::<KeyId>(), Ok(KeyId(42)));
        for bad in ["0", "-1", "+1", "1e3", "abc", "", "99999999999999999999"] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
    }
}
