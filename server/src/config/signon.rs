//! The sign-on and role options, as given, and what they resolve to once
//! all are read: an OpenID Connect provider (named by `--oidc-issuer`, or
//! one of Flower's providers that speaks it), and the role rules.

use crate::auth::{
    Role,
    email::EmailPattern,
    oauth::{Flavour, OAuthConfig},
    oidc::OidcConfig,
    redact::Redactor,
    roles::{self, RoleRules},
};

/// Flower's provider classes celadon signs on with, and their issuers.
const GOOGLE: &str = "flower.views.auth.GoogleAuth2LoginHandler";
const OKTA: &str = "flower.views.auth.OktaLoginHandler";
const GITHUB: &str = "flower.views.auth.GithubLoginHandler";
const GITLAB: &str = "flower.views.auth.GitLabLoginHandler";

#[derive(Clone, Debug, PartialEq, Default)]
pub struct SignOnOptions {
    pub provider: Option<String>,
    pub issuer: Option<String>,
    /// `FLOWER_OAUTH2_OKTA_BASE_URL`.
    pub okta_base_url: Option<String>,
    /// `FLOWER_GITHUB_OAUTH_DOMAIN`, `FLOWER_GITLAB_OAUTH_DOMAIN`,
    /// `FLOWER_GITLAB_AUTH_ALLOWED_GROUPS`, `FLOWER_GITLAB_MIN_ACCESS_LEVEL`.
    pub github_domain: Option<String>,
    pub gitlab_domain: Option<String>,
    pub gitlab_groups: Option<String>,
    pub gitlab_min_access_level: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub allowed: Option<EmailPattern>,
    pub cookie_secret: Option<String>,
    pub scopes: Vec<String>,
    pub groups_claim: String,
    pub roles: Vec<String>,
    pub default_role: Option<Role>,
    /// `--redact`.
    pub redact: Vec<String>,
    /// The options given that mean something only with a provider.
    pub needs_provider: Vec<&'static str>,
}

/// What sign-on and roles resolve to.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SignOnConfig {
    pub oidc: Option<OidcConfig>,
    /// Flower's GitHub or GitLab sign-on (never with `oidc`).
    pub oauth: Option<OAuthConfig>,
    /// `--oauth2-redirect-uri`; else `<scheme>://<host><prefix>/login`
    /// from each request.
    pub redirect_uri: Option<String>,
    pub cookie_secret: Option<String>,
    pub roles: RoleRules,
    /// `--redact`: what viewers do not see of task data.
    pub redact: Redactor,
}

impl SignOnOptions {
    pub fn new() -> SignOnOptions {
        SignOnOptions {
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            groups_claim: "groups".into(),
            default_role: Some(Role::Viewer),
            ..SignOnOptions::default()
        }
    }

    pub fn resolve(mut self) -> Result<SignOnConfig, String> {
        // Flower's own providers let in only whom --auth names (without it,
        // no one); their accounts are anyone's to make, so celadon asks for
        // it at start rather than let everyone, or no one, in.
        if let Some(p @ (GOOGLE | OKTA | GITHUB | GITLAB)) = self.provider.as_deref()
            && self.allowed.is_none()
        {
            return Err(format!(
                "--auth-provider={p} needs --auth (the emails that may sign on, as \
                 .*@example.com): without it Flower lets no one in"
            ));
        }
        let oauth = self.oauth()?;
        if let Some(oauth) = oauth {
            return Ok(SignOnConfig {
                oidc: None,
                oauth: Some(oauth),
                redirect_uri: self.redirect_uri.filter(|u| !u.is_empty()),
                cookie_secret: self.cookie_secret.filter(|s| !s.is_empty()),
                roles: RoleRules::parse(&self.roles, self.default_role)?,
                redact: Redactor::parse(&self.redact).map_err(|e| format!("--redact: {e}"))?,
            });
        }
        let named = match (&self.provider, &self.issuer) {
            (Some(p), _) => format!("--auth-provider={p}"),
            (None, Some(_)) => "--oidc-issuer".to_string(),
            (None, None) => String::new(),
        };
        let issuer = match (self.provider.as_deref(), self.issuer) {
            (None | Some(""), None) => None,
            (None | Some("") | Some("oidc"), Some(issuer)) => Some(issuer),
            (Some("oidc"), None) => {
                return Err("--auth-provider=oidc needs --oidc-issuer (the provider's URL)".into());
            }
            (Some(GOOGLE), None) => Some("https://accounts.google.com".into()),
            (Some(OKTA), None) => {
                let base = self.okta_base_url.ok_or(
                    "Okta sign-on needs FLOWER_OAUTH2_OKTA_BASE_URL (as https://example.okta.com/oauth2)",
                )?;
                // Flower's base URL is the issuer's, with `/oauth2` for
                // Okta's own authorization server.
                let base = base.trim_end_matches('/');
                Some(base.strip_suffix("/oauth2").unwrap_or(base).to_string())
            }
            (Some(other), None) => {
                return Err(format!(
                    "{other:?} is not a sign-on provider celadon knows: oidc (with \
                     --oidc-issuer), {GOOGLE}, {OKTA}, {GITHUB} or {GITLAB}"
                ));
            }
            (Some(p), Some(_)) => {
                return Err(format!(
                    "--oidc-issuer goes with --auth-provider=oidc, not {p}"
                ));
            }
        };
        let oidc = match issuer {
            // Asking for a sign-on check without a sign-on would leave
            // celadon more open than its configuration says.
            None if !self.needs_provider.is_empty() => {
                return Err(format!(
                    "--{} means something only with a sign-on provider (--auth-provider, \
                     --oidc-issuer), and none is given",
                    self.needs_provider.join(", --").replace('_', "-")
                ));
            }
            None => None,
            Some(issuer) => Some(OidcConfig {
                issuer,
                client_id: self.client_id.ok_or_else(|| {
                    format!("sign-on ({named}) needs --oauth2-key (the client id)")
                })?,
                client_secret: self.client_secret,
                scopes: self.scopes,
                groups_claim: self.groups_claim,
                allowed: self.allowed,
            }),
        };
        Ok(SignOnConfig {
            oidc,
            oauth: None,
            redirect_uri: self.redirect_uri.filter(|u| !u.is_empty()),
            cookie_secret: self.cookie_secret.filter(|s| !s.is_empty()),
            roles: RoleRules::parse(&self.roles, self.default_role)?,
            redact: Redactor::parse(&self.redact).map_err(|e| format!("--redact: {e}"))?,
        })
    }
}

impl SignOnOptions {
    /// Flower's GitHub or GitLab sign-on, when `--auth-provider` names it.
    fn oauth(&mut self) -> Result<Option<OAuthConfig>, String> {
        let flavour = match self.provider.as_deref() {
            Some(GITHUB) => Flavour::GitHub {
                domain: self.github_domain.take().unwrap_or_else(|| "github.com".into()),
            },
            Some(GITLAB) => Flavour::GitLab {
                domain: self.gitlab_domain.take().unwrap_or_else(|| "gitlab.com".into()),
                allowed_groups: self
                    .gitlab_groups
                    .take()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect(),
                min_access_level: match self.gitlab_min_access_level.take() {
                    None => 20,
                    Some(level) => level.trim().parse().map_err(|_| {
                        format!("FLOWER_GITLAB_MIN_ACCESS_LEVEL={level:?} is not a GitLab access level (10, 20, 30, 40, 50)")
                    })?,
                },
            },
            _ => return Ok(None),
        };
        if self.issuer.is_some() {
            return Err("--oidc-issuer goes with --auth-provider=oidc".into());
        }
        Ok(Some(OAuthConfig {
            flavour,
            client_id: self.client_id.take().ok_or_else(|| {
                format!(
                    "sign-on (--auth-provider={}) needs --oauth2-key (the client id)",
                    self.provider.as_deref().unwrap_or_default()
                )
            })?,
            client_secret: self.client_secret.take(),
            allowed: self.allowed.take(),
        }))
    }
}

/// `--default-role`.
pub fn default_role(s: &str) -> Result<Option<Role>, String> {
    roles::parse_default(s)
}
