//! Denies logins of users whose email address is not verified.
//!
//! Configuration (optional): `description`, the text the caller receives as
//! `error_description`; by default "Please verify your email before logging in.".

use rulehost_guest::{Config, Context, Decision, Rule, RuleError, User, export_rule};

/// The description given when the configuration names none.
const DEFAULT_DESCRIPTION: &str = "Please verify your email before logging in.";

struct RequireVerifiedEmail;

impl Rule for RequireVerifiedEmail {
    fn evaluate(user: &User, _context: &Context, config: &Config) -> Result<Decision, RuleError> {
        if user.email_verified {
            return Ok(Decision::Allow);
        }
        let description = config.get("description").unwrap_or(DEFAULT_DESCRIPTION);
        Ok(Decision::deny_with_code("unverified_email", description))
    }
}

export_rule!(RequireVerifiedEmail);

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_guest::testing;

    fn decide(verified: bool, config: &Config) -> Decision {
        let mut user = testing::user();
        user.email_verified = verified;
        RequireVerifiedEmail::evaluate(&user, &testing::context(), config).unwrap()
    }

    #[test]
    fn allows_verified_users() {
        assert_eq!(decide(true, &Config::default()), Decision::Allow);
    }

    #[test]
    fn denies_unverified_users_with_the_default_text() {
        let decision = decide(false, &Config::default());
        assert_eq!(
            decision,
            Decision::deny_with_code("unverified_email", DEFAULT_DESCRIPTION)
        );
    }

    #[test]
    fn uses_the_configured_description() {
        let config = Config::from_pairs([("description", "verify first")]);
        assert_eq!(
            decide(false, &config),
            Decision::deny_with_code("unverified_email", "verify first")
        );
    }
}
