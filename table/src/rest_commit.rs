//! `RestCommits`: staged snapshots committed to an Iceberg REST catalog with the protocol's
//! commit request (`POST …/namespaces/{ns}/tables/{table}`: requirements and updates), which
//! the catalog applies atomically or refuses with 409.
//!
//! Authentication follows the catalog properties iceberg-catalog-rest reads: a `token`, or a
//! `credential` (`id:secret`) exchanged for one (OAuth2 client credentials at
//! `oauth2-server-uri`, by default `{uri}/v1/oauth/tokens`, with `scope`), plus `header.*`.

use std::collections::HashMap;

use iceberg::table::Table;
use iceberg::{Error, ErrorKind, Result};
use iceberg_catalog_rest::CommitTableRequest;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::catalog::CatalogConfig;
use crate::overwrite_commit::StagedSnapshot;

/// Commits staged snapshots to a REST catalog.
#[derive(Clone)]
pub struct RestCommits {
    http: reqwest::Client,
    /// `{uri}/v1[/{prefix}]`.
    base_url: String,
    props: HashMap<String, String>,
    uri: String,
    headers: HeaderMap,
}

impl std::fmt::Debug for RestCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No token or credential in logs.
        f.debug_struct("RestCommits")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn rest_error(what: &str) -> impl Fn(reqwest::Error) -> Error + '_ {
    move |e| Error::new(ErrorKind::Unexpected, what.to_owned()).with_source(e)
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(serde::Deserialize, Default)]
struct ConfigResponse {
    #[serde(default)]
    overrides: HashMap<String, String>,
    #[serde(default)]
    defaults: HashMap<String, String>,
}

impl RestCommits {
    /// Asks the catalog for its configuration (the path prefix of its tables).
    pub async fn connect(cfg: &CatalogConfig) -> Result<Self> {
        let uri = cfg.uri.trim_end_matches('/').to_owned();
        let mut headers = HeaderMap::new();
        for (key, value) in &cfg.properties {
            if let Some(name) = key.strip_prefix("header.") {
                let bad =
                    |_| Error::new(ErrorKind::DataInvalid, format!("bad header property {key}"));
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?,
                    HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?,
                );
            }
        }
        let mut commits = Self {
            http: reqwest::Client::new(),
            base_url: format!("{uri}/v1"),
            props: cfg.properties.clone(),
            uri,
            headers,
        };
        let mut request = commits
            .http
            .get(format!("{}/v1/config", commits.uri))
            .headers(commits.headers.clone());
        if !cfg.warehouse.is_empty() {
            request = request.query(&[("warehouse", cfg.warehouse.as_str())]);
        }
        if let Some(token) = commits.token().await? {
            request = request.bearer_auth(token);
        }
        let config: ConfigResponse = request
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(rest_error("GET /v1/config failed"))?
            .json()
            .await
            .map_err(rest_error("GET /v1/config: unreadable answer"))?;
        if let Some(prefix) = config
            .overrides
            .get("prefix")
            .or(config.defaults.get("prefix"))
            .filter(|p| !p.is_empty())
        {
            commits.base_url = format!("{}/v1/{prefix}", commits.uri);
        }
        Ok(commits)
    }

    /// The bearer token: the `token` property, or one fresh from the `credential`.
    async fn token(&self) -> Result<Option<String>> {
        if let Some(token) = self.props.get("token") {
            return Ok(Some(token.clone()));
        }
        let Some(credential) = self.props.get("credential") else {
            return Ok(None);
        };
        let (id, secret) = match credential.split_once(':') {
            Some((id, secret)) => (Some(id), secret),
            None => (None, credential.as_str()),
        };
        let endpoint = self
            .props
            .get("oauth2-server-uri")
            .cloned()
            .unwrap_or_else(|| format!("{}/v1/oauth/tokens", self.uri));
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
            (
                "scope",
                self.props.get("scope").map_or("catalog", String::as_str),
            ),
        ];
        if let Some(id) = id {
            form.push(("client_id", id));
        }
        let answer: TokenResponse = self
            .http
            .post(endpoint)
            .headers(self.headers.clone())
            .form(&form)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(rest_error("the OAuth2 token request failed"))?
            .json()
            .await
            .map_err(rest_error("the OAuth2 token answer is unreadable"))?;
        Ok(Some(answer.access_token))
    }

    /// Sends the commit request of `staged` for `base`'s table. 409 (a requirement failed) is
    /// [`ErrorKind::CatalogCommitConflicts`]; no answer or a server error leaves the outcome
    /// unknown (the caller re-reads the table).
    pub async fn commit(&self, base: &Table, staged: StagedSnapshot) -> Result<()> {
        let ident = base.identifier();
        let url = format!(
            "{}/namespaces/{}/tables/{}",
            self.base_url,
            ident.namespace().to_url_string(),
            ident.name()
        );
        let body = CommitTableRequest {
            identifier: Some(ident.clone()),
            requirements: staged.requirements,
            updates: staged.updates,
        };
        let mut request = self
            .http
            .post(url)
            .headers(self.headers.clone())
            .json(&body);
        if let Some(token) = self.token().await? {
            request = request.bearer_auth(token);
        }
        let answer = request
            .send()
            .await
            .map_err(rest_error("the commit request got no answer"))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        Err(match status.as_u16() {
            409 => Error::new(ErrorKind::CatalogCommitConflicts, text).with_retryable(true),
            404 => Error::new(ErrorKind::TableNotFound, text),
            code => Error::new(
                ErrorKind::Unexpected,
                format!("the commit request failed with HTTP {code}: {text}"),
            ),
        })
    }
}
