//! Flower's `--auth`: which emails may sign on. Its three forms, as
//! Flower 2.2 reads them (`flower/views/auth.py`): a list `a@x|b@y`, one
//! address, or one address with a single `*` in its local part
//! (`.*@example.com`), which stands for any run of the characters an
//! address may hold. No regular expression engine is involved.

/// A validated `--auth` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailPattern(String);

/// The characters Flower lets a `*` stand for.
fn allowed_in_local_part(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c)
}

impl EmailPattern {
    /// Flower's `validate_auth_option`: at most one `*`, not with `|`, and
    /// never in the domain.
    pub fn parse(pattern: &str) -> Result<EmailPattern, String> {
        let stars = pattern.matches('*').count();
        let domain = pattern.rsplit_once('@').map_or(pattern, |(_, d)| d);
        if stars > 1 || (stars == 1 && (pattern.contains('|') || domain.contains('*'))) {
            return Err(format!(
                "{pattern:?} is not an email pattern: one address, a|b|c, or one * in the \
                 part before the @ (as .*@example.com)"
            ));
        }
        Ok(EmailPattern(pattern.to_string()))
    }

    pub fn matches(&self, email: &str) -> bool {
        let pattern = self.0.as_str();
        if pattern.contains('|') {
            return pattern.split('|').any(|a| a == email);
        }
        let Some((before, after)) = pattern.split_once('*') else {
            return pattern == email;
        };
        // Flower escapes the pattern, then replaces `\.\*` (so a `.*`;
        // a lone `*` stays a literal star).
        let Some(before) = before.strip_suffix('.') else {
            return pattern == email;
        };
        email.len() >= before.len() + after.len()
            && email.starts_with(before)
            && email.ends_with(after)
            && email[before.len()..email.len() - after.len()]
                .chars()
                .all(allowed_in_local_part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flowers_three_forms_match_as_flower_matches_them() {
        let domain = EmailPattern::parse(".*@example.com").unwrap();
        assert!(domain.matches("ann@example.com"));
        assert!(domain.matches("a.b+c@example.com"));
        assert!(!domain.matches("ann@example.com.evil"));
        assert!(!domain.matches("ann@evil.com"));
        assert!(
            !domain.matches("a@b@example.com"),
            "@ is not a local-part character"
        );
        let list = EmailPattern::parse("ann@x.org|bob@y.org").unwrap();
        assert!(list.matches("bob@y.org"));
        assert!(!list.matches("ann@y.org"));
        let one = EmailPattern::parse("ann@x.org").unwrap();
        assert!(one.matches("ann@x.org") && !one.matches("ann@x.org2"));
        let prefix = EmailPattern::parse("ops.*@x.org").unwrap();
        assert!(prefix.matches("ops-night@x.org") && !prefix.matches("dev@x.org"));
    }

    #[test]
    fn patterns_flower_refuses_are_refused() {
        for bad in ["*@*.com", ".*@x.org|b@y.org", "ann@*.org"] {
            assert!(EmailPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
