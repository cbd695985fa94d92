//! What a bulk action on the API Keys tab asks for (SPEC §9): which change, and to which keys.
//! Parsed once at the edge; nothing here knows Diesel or actix.

use std::collections::BTreeSet;

use super::Invalid;
use super::ids::KeyId;

/// The most keys one request may change. A page shows 50; this leaves room for scripts and
/// keeps one transaction's locks, audit rows and notices bounded.
pub const MAX_KEYS: usize = 1000;

/// The three buttons above the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    SwitchOff,
    SwitchOn,
    Revoke,
}

impl BulkAction {
    /// The form's `action` values: `off`, `on`, `revoke`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "off" => Ok(Self::SwitchOff),
            "on" => Ok(Self::SwitchOn),
            "revoke" => Ok(Self::Revoke),
            _ => Err(Invalid::new(
                "Choose Switch off, Switch on or Revoke selected.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SwitchOff => "off",
            Self::SwitchOn => "on",
            Self::Revoke => "revoke",
        }
    }

    /// The switch position the action sets; `None` for a revocation.
    pub fn enabled(self) -> Option<bool> {
        match self {
            Self::SwitchOff => Some(false),
            Self::SwitchOn => Some(true),
            Self::Revoke => None,
        }
    }
}

/// The keys one request names: distinct ids, in ascending order (the order rows are locked
/// in, so two bulk requests never wait on each other crosswise), at most [`MAX_KEYS`].
/// It may be empty: the buttons were pressed with nothing ticked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySelection(Vec<KeyId>);

impl KeySelection {
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, Invalid> {
        let mut ids = BTreeSet::new();
        let mut named = 0usize;
        for value in values {
            named += 1;
            let id = value.trim().parse::<KeyId>().map_err(|()| {
                Invalid::new(format!(
                    "“{}” is not a key id. Nothing was changed.",
                    value.chars().take(40).collect::<String>()
                ))
            })?;
            ids.insert(id);
        }
        if named > MAX_KEYS {
            return Err(Invalid::new(format!(
                "At most {MAX_KEYS} keys can be changed at once; this request named {named}. \
                 Nothing was changed."
            )));
        }
        Ok(Self(ids.into_iter().collect()))
    }

    pub fn ids(&self) -> &[KeyId] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_is_distinct_and_ordered() {
        let s = KeySelection::parse(["7", "3", "7", " 5 "]).unwrap_or_default();
        assert_eq!(s.ids(), &[KeyId(3), KeyId(5), KeyId(7)]);
    }

    #[test]
    fn a_selection_refuses_what_is_not_an_id() {
        for bad in ["", "0", "-1", "+2", "abc", "1.5", "99999999999999999999"] {
            assert!(KeySelection::parse([bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_selection_has_a_ceiling() {
        let ids: Vec<String> = (1..=MAX_KEYS + 1).map(|i| i.to_string()).collect();
        let err = KeySelection::parse(ids.iter().map(String::as_str)).err();
        assert!(err.is_some_and(|e| e.0.contains("At most 1000 keys")));
        let ids: Vec<String> = (1..=MAX_KEYS).map(|i| i.to_string()).collect();
        assert_eq!(
            KeySelection::parse(ids.iter().map(String::as_str))
                .map(|s| s.len())
                .ok(),
            Some(MAX_KEYS)
        );
    }

    #[test]
    fn actions_are_spelled_as_the_form_sends_them() {
        for a in [
            BulkAction::SwitchOff,
            BulkAction::SwitchOn,
            BulkAction::Revoke,
        ] {
            assert_eq!(BulkAction::parse(a.as_str()), Ok(a));
        }
        assert!(BulkAction::parse("delete").is_err());
    }
}
