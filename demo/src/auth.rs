//! Bearer-token check for the protected endpoint.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::error_response;

/// Why a request was not let in; the two cases map to 401 and 403.
#[derive(Debug, PartialEq)]
pub(crate) enum AuthError {
    /// No usable `Authorization: Bearer ...` header: the client did not try.
    Missing,
    /// A bearer token was sent but it is not the configured one.
    Invalid,
}

/// Checks `Authorization: Bearer <expected>`.
pub(crate) fn check_bearer(headers: &HeaderMap, expected: &str) -> Result<(), AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(AuthError::Missing)?;
    // The scheme name is case-insensitive (RFC 9110 section 11.1).
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Missing);
    }
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Invalid)
    }
}

/// Compares without an early exit, so response time does not reveal how
/// much of a guessed token was right. The length still leaks; for a demo
/// token that is an accepted trade-off against pulling in a crypto crate.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            Self::Missing => {
                let mut response = error_response(StatusCode::UNAUTHORIZED, "missing bearer token");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::Invalid => error_response(StatusCode::FORBIDDEN, "invalid token"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(authorization: Option<&str>) -> Result<(), AuthError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        check_bearer(&headers, "s3cret")
    }

    #[test]
    fn bearer_cases() {
        assert_eq!(check(Some("Bearer s3cret")), Ok(()));
        assert_eq!(check(Some("bearer s3cret")), Ok(()));
        assert_eq!(check(None), Err(AuthError::Missing));
        assert_eq!(check(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(check(Some("Basic czNjcmV0")), Err(AuthError::Missing));
        assert_eq!(check(Some("Bearer s3cre")), Err(AuthError::Invalid));
        assert_eq!(check(Some("Bearer s3cret!")), Err(AuthError::Invalid));
        assert_eq!(check(Some("Bearer S3cret")), Err(AuthError::Invalid));
    }

    #[test]
    fn constant_time_eq_matches_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
