//! Sign-on with OpenID Connect: the authorization-code flow (with PKCE,
//! state and nonce) against any provider that publishes its discovery
//! document; Flower's Google and Okta providers are this flow at their
//! issuers. The `openidconnect` crate does the protocol and verifies the id
//! token (signature from the provider's keys, issuer, audience, expiry,
//! nonce); this module adds only discovery on first use (and again when
//! the provider signs with a key it had not published then), the claims
//! celadon reads (email, name, groups), and Flower's `--auth` check.

use std::sync::Arc;

use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
        CoreTokenIntrospectionResponse, CoreTokenType,
    },
    reqwest,
};
use serde::{Deserialize, Serialize};

use super::{email::EmailPattern, roles::Identity};

/// The claims beyond the standard ones, by name: where the groups are is
/// configurable (`--oidc-groups-claim`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OtherClaims(std::collections::BTreeMap<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The most groups a session keeps (its cookie must stay under the
/// browsers' 4 KB).
const MAX_GROUPS: usize = 50;

/// How to reach the provider, from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer; its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    /// The claim (in the id token or from the userinfo endpoint) that
    /// lists the person's groups.
    pub groups_claim: String,
    /// `--auth`: who may sign on at all.
    pub allowed: Option<EmailPattern>,
}

/// What a sign-on went through, kept in a short-lived private cookie
/// between the redirect to the provider and the way back.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Pending {
    pub state: String,
    nonce: String,
    verifier: String,
    pub redirect_uri: String,
    /// Where to go once signed on (a path on this server).
    pub next: String,
}

impl Pending {
    pub fn new(
        state: String,
        nonce: String,
        verifier: String,
        redirect_uri: String,
        next: String,
    ) -> Pending {
        Pending {
            state,
            nonce,
            verifier,
            redirect_uri,
            next,
        }
    }

    /// The PKCE verifier the sign-on's challenge was made from.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignOnError {
    #[error("the sign-on provider could not be reached or read: {0}")]
    Provider(String),
    #[error("the sign-on answer does not belong to the sign-on this browser started")]
    State,
    #[error("the sign-on provider refused: {0}")]
    Refused(String),
    #[error("the id token is not valid: {0}")]
    Token(String),
    #[error("access denied to {0:?}: the --auth pattern does not allow this address")]
    NotAllowed(String),
    #[error("the sign-on gave no email, which --auth needs")]
    NoEmail,
}

/// The provider, discovered once and kept.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Oidc, SignOnError> {
        let http = reqwest::ClientBuilder::new()
            // The protocol forbids following redirects (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| SignOnError::Provider(e.to_string()))?;
        Ok(Oidc {
            config,
            http,
            client: tokio::sync::Mutex::new(None),
        })
    }

    /// The client, discovering the provider on first use (and again after
    /// a failure), so celadon starts while the provider is down.
    async fn client(&self) -> Result<Arc<Client>, SignOnError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SignOnError::Provider(format!("issuer: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SignOnError::Provider(error_chain(&e)))?;
        let client = Arc::new(Client::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        ));
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The provider discovered again (its keys read again), unless another
    /// sign-on already did so since `stale` was discovered.
    async fn rediscover(&self, stale: &Arc<Client>) -> Result<Arc<Client>, SignOnError> {
        {
            let mut slot = self.client.lock().await;
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, stale)) {
                *slot = None;
            }
        }
        self.client().await
    }

    /// Where to send the browser to sign on, and what to remember until it
    /// comes back.
    pub async fn start(
        &self,
        redirect_uri: String,
        next: String,
    ) -> Result<(String, Pending), SignOnError> {
        let client = self.client().await?;
        let redirect = RedirectUrl::new(redirect_uri.clone())
            .map_err(|e| SignOnError::Provider(format!("redirect URI: {e}")))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_redirect_uri(std::borrow::Cow::Owned(redirect))
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                redirect_uri,
                next,
            },
        ))
    }

    /// The person, from the provider's `code` for the
    /// sign-on `pending` started.
    pub async fn finish(&self, pending: Pending, code: String) -> Result<Identity, SignOnError> {
        let client = self.client().await?;
        let redirect = RedirectUrl::new(pending.redirect_uri.clone())
            .map_err(|e| SignOnError::Provider(format!("redirect URI: {e}")))?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignOnError::Provider(e.to_string()))?
            .set_redirect_uri(std::borrow::Cow::Owned(redirect))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SignOnError::Refused(error_chain(&e)))?;
        let id_token = openidconnect::TokenResponse::id_token(&tokens)
            .ok_or_else(|| SignOnError::Token("the provider sent no id token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let verified = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .cloned();
        let (client, claims) = match verified {
            // Signed with a key the provider published after celadon read
            // its keys (it rotated them): read them again, once.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let client = self.rediscover(&client).await?;
                let claims = id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| SignOnError::Token(error_chain(&e)))?
                    .clone();
                (client, claims)
            }
            other => (
                client,
                other.map_err(|e| SignOnError::Token(error_chain(&e)))?,
            ),
        };
        let mut email = claims.email().map(|e| e.to_string());
        let mut name = claims
            .preferred_username()
            .map(|n| n.to_string())
            .or_else(|| email.clone())
            .unwrap_or_else(|| claims.subject().to_string());
        let mut groups = groups(claims.additional_claims(), &self.config.groups_claim);
        // Providers that conform strictly put email and groups in the
        // userinfo answer only.
        if (email.is_none() || groups.is_none())
            && let Ok(request) = client.user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )
        {
            match request
                .request_async::<OtherClaims, _, CoreGenderClaim>(&self.http)
                .await
            {
                Ok(info) => {
                    email = email.or_else(|| info.email().map(|e| e.to_string()));
                    if let Some(n) = info.preferred_username() {
                        name = n.to_string();
                    }
                    groups = groups.or_else(|| {
                        self::groups(info.additional_claims(), &self.config.groups_claim)
                    });
                }
                Err(error) => tracing::warn!(
                    error = %error_chain(&error),
                    "the sign-on provider's userinfo could not be read; going on with the id token's claims"
                ),
            }
        }
        if let Some(allowed) = &self.config.allowed {
            let email = email.as_deref().ok_or(SignOnError::NoEmail)?;
            if !allowed.matches(email) {
                return Err(SignOnError::NotAllowed(email.to_string()));
            }
        }
        Ok(Identity {
            name,
            email,
            groups: groups.unwrap_or_default(),
        })
    }
}

/// The groups claim: a list of strings, or one string.
fn groups(claims: &OtherClaims, name: &str) -> Option<Vec<String>> {
    let value = claims.0.get(name)?;
    let list = match value {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .take(MAX_GROUPS)
            .collect(),
        _ => return None,
    };
    Some(list)
}

/// An error and its causes, in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
