//! Who gets which role (`--roles`, `--default-role`). Each rule is
//! `ROLE=WHO`, where WHO is a login or an email (exact), `@domain` (any
//! email at that domain), `group:NAME` (a sign-on whose groups claim holds
//! NAME) or `*` (anyone signed in). A person gets the highest role of the
//! rules they match, else the default role. Without rules, everyone who
//! logs in is an admin, as everyone is in Flower.

use super::Role;

/// What a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Who {
    Exact(String),
    Domain(String),
    Group(String),
    Anyone,
}

/// The person, as far as the rules care.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The login (basic auth) or the sign-on's preferred name.
    pub name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRules {
    rules: Vec<(Role, Who)>,
    /// For whoever matches no rule; `None`: they may not come in.
    default: Option<Role>,
}

impl Default for RoleRules {
    fn default() -> RoleRules {
        RoleRules {
            rules: Vec::new(),
            default: Some(Role::Viewer),
        }
    }
}

/// `viewer`, `operator`, `admin` or `none`.
pub fn parse_default(s: &str) -> Result<Option<Role>, String> {
    match s.trim() {
        "none" => Ok(None),
        other => Role::parse(other)
            .map(Some)
            .ok_or_else(|| format!("{other:?} is not a role: viewer, operator, admin or none")),
    }
}

impl RoleRules {
    pub fn parse(items: &[String], default: Option<Role>) -> Result<RoleRules, String> {
        let mut rules = Vec::new();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            let (role, who) = item.split_once('=').ok_or_else(|| {
                format!("{item:?} is not ROLE=WHO (as operator=group:ops or admin=ann@example.com)")
            })?;
            let role = Role::parse(role.trim()).ok_or_else(|| {
                format!("{role:?} (in {item:?}) is not a role: viewer, operator or admin")
            })?;
            let who = match who.trim() {
                "" => return Err(format!("{item:?} names nobody")),
                "*" => Who::Anyone,
                w => match (w.strip_prefix("group:"), w.strip_prefix('@')) {
                    (Some(""), _) | (_, Some("")) => return Err(format!("{item:?} names nobody")),
                    (Some(group), _) => Who::Group(group.to_string()),
                    (_, Some(domain)) => Who::Domain(domain.to_ascii_lowercase()),
                    _ => Who::Exact(w.to_string()),
                },
            };
            rules.push((role, who));
        }
        Ok(RoleRules { rules, default })
    }

    /// Whether any rule was given (without, everyone is an admin).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The role of `who`; `None`: they may not come in.
    pub fn role_for(&self, who: &Identity) -> Option<Role> {
        if self.rules.is_empty() {
            return Some(Role::Admin);
        }
        let email = who.email.as_deref().map(str::to_ascii_lowercase);
        let matches = |rule: &Who| match rule {
            Who::Anyone => true,
            Who::Exact(x) => *x == who.name || who.email.as_deref() == Some(x.as_str()),
            Who::Domain(d) => email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, domain)| domain == d),
            Who::Group(g) => who.groups.iter().any(|mine| mine == g),
        };
        self.rules
            .iter()
            .filter(|(_, rule)| matches(rule))
            .map(|(role, _)| *role)
            .max()
            .or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(items: &[&str], default: Option<Role>) -> RoleRules {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        RoleRules::parse(&items, default).unwrap()
    }

    fn person(name: &str, email: Option<&str>, groups: &[&str]) -> Identity {
        Identity {
            name: name.into(),
            email: email.map(str::to_string),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn the_highest_matching_rule_gives_the_role() {
        let r = rules(
            &[
                "operator=group:celery-operators",
                "admin=ann",
                "viewer=@Example.com",
                "admin=root@ops.example.com",
            ],
            None,
        );
        assert_eq!(r.role_for(&person("ann", None, &[])), Some(Role::Admin));
        let op = person("bob", Some("bob@example.com"), &["celery-operators"]);
        assert_eq!(r.role_for(&op), Some(Role::Operator));
        let viewer = person("cy", Some("CY@EXAMPLE.COM"), &["other"]);
        assert_eq!(r.role_for(&viewer), Some(Role::Viewer));
        let root = person("root", Some("root@ops.example.com"), &[]);
        assert_eq!(r.role_for(&root), Some(Role::Admin));
        assert_eq!(r.role_for(&person("eve", Some("eve@evil.com"), &[])), None);
        let with_default = rules(&["admin=ann"], Some(Role::Viewer));
        assert_eq!(
            with_default.role_for(&person("eve", None, &[])),
            Some(Role::Viewer)
        );
    }

    #[test]
    fn without_rules_everyone_let_in_is_an_admin_as_in_flower() {
        let r = RoleRules::default();
        assert_eq!(r.role_for(&person("x", None, &[])), Some(Role::Admin));
    }

    #[test]
    fn malformed_rules_say_what_is_wrong() {
        for bad in ["admin", "boss=ann", "admin=", "admin=group:", "admin=@"] {
            let e = RoleRules::parse(&[bad.to_string()], None).unwrap_err();
            assert!(
                e.contains(bad.split('=').next().unwrap_or(bad)),
                "{bad}: {e}"
            );
        }
        assert_eq!(parse_default("none"), Ok(None));
        assert_eq!(parse_default("operator"), Ok(Some(Role::Operator)));
        assert!(parse_default("root").is_err());
    }
}
