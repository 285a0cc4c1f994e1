//! The gateway's optional bearer token: read once at start from a file or an environment
//! variable, compared in constant time, and never written to a log or an answer.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_error::ApiError;

/// The token clients must present as `Authorization: Bearer <token>`.
pub struct BearerToken(Vec<u8>);

impl BearerToken {
    /// The first line of `file`.
    pub fn from_file(file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the token file {}", file.display()))?;
        Self::new(text.lines().next().unwrap_or_default())
            .with_context(|| format!("the token file {}", file.display()))
    }

    pub fn from_env(variable: &str) -> anyhow::Result<Self> {
        let text = std::env::var(variable)
            .with_context(|| format!("reading the token from ${variable}"))?;
        Self::new(&text).with_context(|| format!("the token in ${variable}"))
    }

    fn new(token: &str) -> anyhow::Result<Self> {
        let token = token.trim();
        anyhow::ensure!(!token.is_empty(), "the token is empty");
        Ok(Self(token.as_bytes().to_vec()))
    }

    /// Whether `presented` is the token, taking the same time wherever they first differ.
    fn admits(&self, presented: &[u8]) -> bool {
        presented.len() == self.0.len()
            && presented
                .iter()
                .zip(&self.0)
                .fold(0u8, |differ, (a, b)| differ | (a ^ b))
                == 0
    }
}

/// Lets a request through only with the token.
pub async fn require_token(
    State(token): State<Arc<BearerToken>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(presented) if token.admits(presented.trim().as_bytes()) => next.run(request).await,
        Some(_) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "the bearer token is not valid").into_response()
        }
        None => {
            let mut answer = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this gateway needs `Authorization: Bearer <token>`",
            )
            .into_response();
            answer
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            answer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_itself_is_admitted() {
        let token = BearerToken::new(" s3cret\n").expect("a token");
        assert!(token.admits(b"s3cret"));
        assert!(!token.admits(b"s3cre"));
        assert!(!token.admits(b"s3creT"));
        assert!(!token.admits(b""));
        assert!(BearerToken::new("  ").is_err());
    }
}
