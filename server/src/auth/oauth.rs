//! Flower's GitHub and GitLab sign-on (`flower/views/auth.py`), which are
//! plain OAuth2 (no id token): the authorization-code flow (the `oauth2`
//! crate, with state and PKCE), then the provider's own API for who signed
//! on, read as Flower reads it:
//! - GitHub (`FLOWER_GITHUB_OAUTH_DOMAIN`, default `github.com`): scope
//!   `user:email`; the verified addresses from
//!   `https://api.<domain>/user/emails` that `--auth` allows;
//! - GitLab (`FLOWER_GITLAB_OAUTH_DOMAIN`, default `gitlab.com`): scope
//!   `read_api`; the email of `https://<domain>/api/v4/user`, and, with
//!   `FLOWER_GITLAB_AUTH_ALLOWED_GROUPS`, membership (at
//!   `FLOWER_GITLAB_MIN_ACCESS_LEVEL`, default 20) of one of them. The
//!   groups' full paths are also the person's groups for `--roles`.

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl, basic::BasicClient, reqwest,
};
use serde::Deserialize;

use super::{
    email::EmailPattern,
    oidc::{Pending, SignOnError},
    roles::Identity,
};

/// Groups a session keeps at most (its cookie stays under 4 KB).
const MAX_GROUPS: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flavour {
    GitHub {
        domain: String,
    },
    GitLab {
        domain: String,
        allowed_groups: Vec<String>,
        min_access_level: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthConfig {
    pub flavour: Flavour,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub allowed: Option<EmailPattern>,
}

pub struct OAuth {
    config: OAuthConfig,
    http: reqwest::Client,
}

/// One of GitHub's `/user/emails`.
#[derive(Debug, Deserialize)]
struct GitHubEmail {
    email: String,
    #[serde(default)]
    verified: bool,
}

/// GitLab's `/api/v4/user`, as far as it is read.
#[derive(Debug, Deserialize)]
struct GitLabUser {
    username: Option<String>,
    email: Option<String>,
}

/// One of GitLab's `/api/v4/groups`.
#[derive(Debug, Deserialize)]
struct GitLabGroup {
    full_path: String,
}

impl Flavour {
    fn urls(&self) -> (String, String) {
        match self {
            Flavour::GitHub { domain } => (
                format!("https://{domain}/login/oauth/authorize"),
                format!("https://{domain}/login/oauth/access_token"),
            ),
            Flavour::GitLab { domain, .. } => (
                format!("https://{domain}/oauth/authorize"),
                format!("https://{domain}/oauth/token"),
            ),
        }
    }

    fn scope(&self) -> &'static str {
        match self {
            Flavour::GitHub { .. } => "user:email",
            Flavour::GitLab { .. } => "read_api",
        }
    }
}

impl OAuth {
    pub fn new(config: OAuthConfig) -> Result<OAuth, SignOnError> {
        let http = reqwest::ClientBuilder::new()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .user_agent("celadon")
            .build()
            .map_err(|e| SignOnError::Provider(e.to_string()))?;
        Ok(OAuth { config, http })
    }

    fn client(
        &self,
        redirect_uri: &str,
    ) -> Result<
        BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        SignOnError,
    > {
        let (auth, token) = self.config.flavour.urls();
        let bad = |e: oauth2::url::ParseError| SignOnError::Provider(e.to_string());
        let mut client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(AuthUrl::new(auth).map_err(bad)?)
            .set_token_uri(TokenUrl::new(token).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).map_err(bad)?)
            // Flower sends the client's credentials in the body.
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &self.config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    pub fn start(
        &self,
        redirect_uri: String,
        next: String,
    ) -> Result<(String, Pending), SignOnError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client(&redirect_uri)?
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(self.config.flavour.scope().into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending::new(
            state.secret().clone(),
            String::new(),
            verifier.secret().clone(),
            redirect_uri,
            next,
        );
        Ok((url.to_string(), pending))
    }

    pub async fn finish(&self, pending: Pending, code: String) -> Result<Identity, SignOnError> {
        let token = self
            .client(&pending.redirect_uri)?
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier().to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| SignOnError::Refused(e.to_string()))?;
        let token = token.access_token().secret();
        match &self.config.flavour {
            Flavour::GitHub { domain } => {
                let emails: Vec<GitHubEmail> = self
                    .get(
                        &format!("https://api.{domain}/user/emails"),
                        &format!("token {token}"),
                    )
                    .await?;
                let email = github_email(emails, self.config.allowed.as_ref())?;
                Ok(Identity {
                    name: email.clone(),
                    email: Some(email),
                    groups: Vec::new(),
                })
            }
            Flavour::GitLab {
                domain,
                allowed_groups,
                min_access_level,
            } => {
                let bearer = format!("Bearer {token}");
                let user: GitLabUser = self
                    .get(&format!("https://{domain}/api/v4/user"), &bearer)
                    .await?;
                let groups: Vec<GitLabGroup> = self
                    .get(
                        &format!(
                            "https://{domain}/api/v4/groups?min_access_level={min_access_level}"
                        ),
                        &bearer,
                    )
                    .await?;
                gitlab_identity(user, groups, allowed_groups, self.config.allowed.as_ref())
            }
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        authorization: &str,
    ) -> Result<T, SignOnError> {
        let response = self
            .http
            .get(url)
            .header("authorization", authorization)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| SignOnError::Provider(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(SignOnError::Refused(format!(
                "{url} answered {} (does the OAuth app may read email addresses and groups?)",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| SignOnError::Provider(format!("{url}: {e}")))
    }
}

/// Flower's choice among GitHub's addresses: a verified one `--auth`
/// allows (lower-cased).
fn github_email(
    emails: Vec<GitHubEmail>,
    allowed: Option<&EmailPattern>,
) -> Result<String, SignOnError> {
    let verified: Vec<String> = emails
        .into_iter()
        .filter(|e| e.verified)
        .map(|e| e.email.to_lowercase())
        .collect();
    // Flower takes the last one that passes.
    let chosen = verified
        .iter()
        .rfind(|e| allowed.is_none_or(|p| p.matches(e)))
        .cloned();
    match (chosen, verified.first()) {
        (Some(email), _) => Ok(email),
        (None, Some(email)) => Err(SignOnError::NotAllowed(email.clone())),
        (None, None) => Err(SignOnError::NoEmail),
    }
}

/// Flower's check of a GitLab user: `--auth` on their email and, with
/// allowed groups, membership of one.
fn gitlab_identity(
    user: GitLabUser,
    groups: Vec<GitLabGroup>,
    allowed_groups: &[String],
    allowed: Option<&EmailPattern>,
) -> Result<Identity, SignOnError> {
    let email = user.email.ok_or(SignOnError::NoEmail)?;
    if allowed.is_some_and(|p| !p.matches(&email)) {
        return Err(SignOnError::NotAllowed(email));
    }
    let groups: Vec<String> = groups
        .into_iter()
        .map(|g| g.full_path)
        .take(MAX_GROUPS)
        .collect();
    if !allowed_groups.is_empty() && !groups.iter().any(|g| allowed_groups.contains(g)) {
        return Err(SignOnError::NotAllowed(format!(
            "{email} (in none of FLOWER_GITLAB_AUTH_ALLOWED_GROUPS)"
        )));
    }
    Ok(Identity {
        name: user.username.unwrap_or_else(|| email.clone()),
        email: Some(email),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(json: &str) -> Vec<GitHubEmail> {
        serde_json::from_str(json).unwrap()
    }

    /// GitHub's documented answer to `GET /user/emails`.
    const GITHUB_EMAILS: &str = r#"[
        {"email": "octocat@github.com", "verified": true, "primary": true, "visibility": "public"},
        {"email": "Octo@Example.com", "verified": true, "primary": false, "visibility": null},
        {"email": "unverified@example.com", "verified": false, "primary": false, "visibility": null}
    ]"#;

    #[test]
    fn a_verified_github_address_that_auth_allows_is_the_person() {
        let any = github_email(emails(GITHUB_EMAILS), None).unwrap();
        assert_eq!(
            any, "octo@example.com",
            "the last verified, as Flower pops it"
        );
        let pattern = EmailPattern::parse(".*@example.com").unwrap();
        let chosen = github_email(emails(GITHUB_EMAILS), Some(&pattern)).unwrap();
        assert_eq!(chosen, "octo@example.com", "lower-cased, as Flower");
        let only_unverified = EmailPattern::parse("unverified@example.com").unwrap();
        assert!(matches!(
            github_email(emails(GITHUB_EMAILS), Some(&only_unverified)),
            Err(SignOnError::NotAllowed(_))
        ));
        assert!(matches!(
            github_email(Vec::new(), None),
            Err(SignOnError::NoEmail)
        ));
    }

    #[test]
    fn a_gitlab_user_needs_an_allowed_email_and_one_allowed_group() {
        let user = || -> GitLabUser {
            serde_json::from_str(
                r#"{"id": 1, "username": "ann", "email": "ann@example.com", "name": "Ann"}"#,
            )
            .unwrap()
        };
        let groups = || -> Vec<GitLabGroup> {
            serde_json::from_str(r#"[{"id": 9, "full_path": "ops/celery", "name": "celery"}, {"id": 3, "full_path": "dev", "name": "dev"}]"#)
                .unwrap()
        };
        let who = gitlab_identity(user(), groups(), &[], None).unwrap();
        assert_eq!(who.name, "ann");
        assert_eq!(who.groups, vec!["ops/celery", "dev"]);
        let allowed = ["ops/celery".to_string()];
        assert!(gitlab_identity(user(), groups(), &allowed, None).is_ok());
        let elsewhere = ["finance".to_string()];
        assert!(matches!(
            gitlab_identity(user(), groups(), &elsewhere, None),
            Err(SignOnError::NotAllowed(_))
        ));
        let other = EmailPattern::parse(".*@other.org").unwrap();
        assert!(matches!(
            gitlab_identity(user(), groups(), &[], Some(&other)),
            Err(SignOnError::NotAllowed(_))
        ));
    }

    #[test]
    fn the_sign_on_goes_to_the_providers_own_pages_with_state_and_pkce() {
        let oauth = OAuth::new(OAuthConfig {
            flavour: Flavour::GitHub {
                domain: "github.example.com".into(),
            },
            client_id: "abc".into(),
            client_secret: Some("s".into()),
            allowed: None,
        })
        .unwrap();
        let (url, pending) = oauth
            .start("https://celadon.example.com/login".into(), "/tasks".into())
            .unwrap();
        assert!(
            url.starts_with("https://github.example.com/login/oauth/authorize?"),
            "{url}"
        );
        for part in [
            "client_id=abc",
            "scope=user%3Aemail",
            "code_challenge_method=S256",
            &format!("state={}", pending.state),
            "redirect_uri=https%3A%2F%2Fceladon.example.com%2Flogin",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        assert!(!url.contains("client_secret"), "{url}");
    }
}
