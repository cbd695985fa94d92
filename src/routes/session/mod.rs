pub mod code;
pub mod login;
pub mod logout;
