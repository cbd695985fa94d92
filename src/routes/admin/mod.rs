//! Administration: users and projects. Administrators only.

pub mod page;
pub mod projects;
pub mod users;

use crate::auth::current_user::CurrentUser;
use crate::error::AppError;

pub fn require_admin(user: &CurrentUser) -> Result<(), AppError> {
    if user.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
