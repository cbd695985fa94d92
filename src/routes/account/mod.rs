//! `/account`: a person's own password, two-factor sign-in and sessions (SPEC §14), and the
//! steps an account must take before anything else (`/account/required`).

pub mod page;
pub mod password;
pub mod required;
pub mod sessions;
pub mod two_factor;
