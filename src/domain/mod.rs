//! Typed values parsed at the edge. Nothing here knows about Diesel or actix.

pub mod api_key;
pub mod audit;
pub mod bulk;
pub mod ids;
pub mod key_format;
pub mod key_list;
pub mod leak;
pub mod policy;
pub mod project;
pub mod two_factor;
pub mod user;
pub mod webhook;

/// Why a piece of input was refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Whether a piece of free text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Names and addresses: one line, without tabs.
    One,
    /// A description: line breaks (`\n`, `\r\n`) and tabs are fine.
    Many,
}

/// Bidi embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069): they make text
/// display in another order than it is stored, so a name could pass for another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuses what free text may not carry: control characters (C0, DEL and C1; PostgreSQL cannot
/// even store NUL), except the line breaks and tabs of [`Lines::Many`], and bidi controls.
/// Other invisible characters (zero-width joiners, soft hyphens) stay: emoji and some scripts
/// need them. `what` begins the message: "The name", "A display name".
pub fn check_text(text: &str, what: &str, lines: Lines) -> Result<(), Invalid> {
    for c in text.chars() {
        let allowed = match c {
            '\n' | '\t' => lines == Lines::Many,
            '\r' => lines == Lines::Many,
            _ => !c.is_control(),
        };
        if !allowed {
            return Err(Invalid::new(match lines {
                Lines::One => {
                    format!("{what} may not contain tabs, line breaks or other control characters.")
                }
                Lines::Many => format!(
                    "{what} may not contain control characters (line breaks and tabs are fine)."
                ),
            }));
        }
        if is_bidi_control(c) {
            return Err(Invalid::new(format!(
                "{what} may not contain characters that change the direction of text \
                 (U+202A to U+202E, U+2066 to U+2069)."
            )));
        }
    }
    Ok(())
}

/// Each field's problem, collected so that one answer lists them all. `F` names a field: a
/// form's field name, or an enum of the fields a parser knows.
#[derive(Debug)]
pub struct FieldErrors<F>(Vec<(F, String)>);

impl<F> Default for FieldErrors<F> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<F: Copy + PartialEq> FieldErrors<F> {
    pub fn add(&mut self, field: F, message: impl std::fmt::Display) {
        self.0.push((field, message.to_string()));
    }
    pub fn get(&self, field: F) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Runs a parser and records its message under `field` when it fails.
    pub fn check<T>(&mut self, field: F, parsed: Result<T, Invalid>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }
    pub fn into_vec(self) -> Vec<(F, String)> {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_line_text_refuses_every_control_character() {
        assert!(check_text("backend – prod ✓ 👩‍👩‍👧", "The name", Lines::One).is_ok());
        for bad in [
            "a\0b",
            "a\tb",
            "a\nb",
            "a\r\nb",
            "a\rb",
            "\u{1b}[31m",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
        ] {
            let refused = check_text(bad, "The name", Lines::One).unwrap_err();
            assert_eq!(
                refused.to_string(),
                "The name may not contain tabs, line breaks or other control characters.",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn many_line_text_allows_line_breaks_and_tabs_only() {
        assert!(
            check_text(
                "one\ntwo\r\nthree\tfour\rfive",
                "The description",
                Lines::Many
            )
            .is_ok()
        );
        for bad in ["a\0b", "\u{7}", "\u{7f}", "\u{9b}"] {
            let refused = check_text(bad, "The description", Lines::Many).unwrap_err();
            assert_eq!(
                refused.to_string(),
                "The description may not contain control characters (line breaks and tabs are fine).",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bidi_overrides_and_isolates_are_refused_but_marks_and_joiners_are_not() {
        for bad in [
            "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}", "\u{2067}",
            "\u{2068}", "\u{2069}",
        ] {
            for lines in [Lines::One, Lines::Many] {
                let refused = check_text(&format!("abc{bad}def"), "The name", lines).unwrap_err();
                assert!(refused.to_string().contains("direction of text"), "{bad:?}");
            }
        }
        // Left-to-right and right-to-left marks, zero-width joiners and spaces are ordinary text.
        for fine in [
            "\u{200E}", "\u{200F}", "\u{200D}", "\u{200B}", "\u{AD}", "שלום",
        ] {
            assert!(check_text(fine, "The name", Lines::One).is_ok(), "{fine:?}");
        }
    }
}
