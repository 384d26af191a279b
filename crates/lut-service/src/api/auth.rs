//! Bearer tokens: a cache of the catalog's token hashes (re-read every few seconds so
//! `lut tokens` reaches a running server) and the middleware checking each request.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use lut_store::tokens::{self, NewToken, Permission, TokenRecord};
use lut_store::{now_millis, Catalog};

use super::error::ApiError;
use super::AppState;

/// The setting claimed by the process that creates the first manage token.
const BOOTSTRAP_KEY: &str = "tokens.bootstrapped";

pub struct TokenCache {
    refresh: Duration,
    inner: RwLock<(Instant, Arc<Vec<TokenRecord>>)>,
}

impl TokenCache {
    pub fn new(refresh: Duration, initial: Vec<TokenRecord>) -> Self {
        TokenCache {
            refresh,
            inner: RwLock::new((Instant::now(), Arc::new(initial))),
        }
    }

    fn current(&self, catalog: &dyn Catalog) -> Arc<Vec<TokenRecord>> {
        {
            let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if g.0.elapsed() < self.refresh {
                return g.1.clone();
            }
        }
        match catalog.tokens() {
            Ok(list) => {
                let list = Arc::new(list);
                *self.inner.write().unwrap_or_else(|e| e.into_inner()) =
                    (Instant::now(), list.clone());
                list
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read tokens; using the cached ones");
                self.inner
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .1
                    .clone()
            }
        }
    }

    /// The token presented, if it is known and active. Every stored hash is compared in
    /// constant time, so timing does not tell how close a guess was.
    pub fn authenticate(&self, catalog: &dyn Catalog, presented: &str) -> Option<TokenRecord> {
        let h = tokens::hash(presented);
        let list = self.current(catalog);
        let mut found = None;
        for t in list.iter() {
            if tokens::hashes_equal(h.as_bytes(), t.hash.as_bytes()) {
                found = Some(t);
            }
        }
        let now = now_millis();
        found.filter(|t| t.is_active(now)).cloned()
    }
}

/// At the first start of a catalog without tokens, creates one manage token and returns
/// its plaintext (to be shown once). Two processes starting together create at most one.
pub fn bootstrap(catalog: &dyn Catalog) -> lut_store::Result<Option<String>> {
    let nonce = tokens::generate().1;
    if catalog.setting_or_init(BOOTSTRAP_KEY, &nonce)? != nonce {
        return Ok(None);
    }
    if !catalog.tokens()?.is_empty() {
        return Ok(None);
    }
    let (plain, hash) = tokens::generate();
    let rec = catalog.add_token(&NewToken {
        hash,
        permission: Permission::Manage,
        description: Some("created at first start".into()),
        created_at: now_millis(),
        expires_at: None,
    })?;
    // No token or user made this one: the server did, at its first start.
    let server = lut_store::Actor {
        id: "system:serve".into(),
        description: Some("first start".into()),
    };
    // The token exists now: failing here would lose the only manage token, whose value is
    // shown nowhere else. A missing audit entry is the smaller harm.
    if let Err(e) = catalog.append_audit(
        &lut_store::NewAuditEntry::new(&server, "token.create")
            .target(rec.id.to_string())
            .details(serde_json::json!({ "permission": rec.permission })),
    ) {
        tracing::error!(error = %e, "cannot record the first token in the audit log");
    }
    Ok(Some(plain))
}

/// The authenticated caller, for handlers.
#[derive(Clone, Debug)]
pub struct Caller(pub TokenRecord);

async fn check(state: &AppState, req: &mut Request, needed: Permission) -> Result<(), ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
    let st = state.clone();
    let token = token.to_string();
    let rec =
        tokio::task::spawn_blocking(move || st.tokens.authenticate(st.catalog.as_ref(), &token))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked token"))?;
    if !rec.permission.allows(needed) {
        return Err(ApiError::forbidden(format!(
            "this needs a {needed} token; this token has {} permission",
            rec.permission
        )));
    }
    // The id (never the token) names the caller in the request's log lines.
    tracing::Span::current().record("token_id", rec.id);
    req.extensions_mut().insert(Caller(rec));
    Ok(())
}

pub async fn require_read(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check(&state, &mut req, Permission::Read).await?;
    Ok(next.run(req).await)
}

pub async fn require_manage(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check(&state, &mut req, Permission::Manage).await?;
    // Every successful change made with a manage token goes into the audit log.
    match super::audit::Pending::of(&mut req).await {
        Some(pending) => Ok(pending.record(&state, next.run(req).await).await),
        None => Ok(next.run(req).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_creates_one_manage_token_once() {
        let dir = tempfile::tempdir().unwrap();
        let cat = lut_store::SqliteCatalog::open(&dir.path().join("c.sqlite")).unwrap();
        let token = bootstrap(&cat).unwrap().expect("first start makes a token");
        assert!(bootstrap(&cat).unwrap().is_none(), "only once");
        let log = cat.audit(&lut_store::AuditFilter::default()).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].actor.as_str(), log[0].action.as_str()),
            ("system:serve", "token.create")
        );
        let list = cat.tokens().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].permission, Permission::Manage);
        let cache = TokenCache::new(Duration::from_secs(60), list);
        assert_eq!(
            cache.authenticate(&cat, &token).map(|t| t.permission),
            Some(Permission::Manage)
        );
        assert!(cache.authenticate(&cat, "lut_wrong").is_none());
    }
}
