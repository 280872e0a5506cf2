//! Adds the user's roles to the ID token and the access token as a
//! namespaced custom claim, `<namespace>roles`.
//!
//! Configuration: `namespace`, the claim prefix, for example
//! `https://example.com/`. Identity platforms drop non-namespaced custom
//! claims, so the namespace is required. A user with no roles gets no claim
//! and the rule allows without an edit.

use rulehost_guest::{Config, Context, Decision, Modify, Rule, RuleError, User, export_rule};

struct RolesClaim;

impl Rule for RolesClaim {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let claim = format!("{}roles", config.require("namespace")?);
        if context.roles.is_empty() {
            return Ok(Decision::Allow);
        }
        let roles = context.roles.clone();
        Ok(Modify::new()
            .set_id_token_claim(claim.clone(), roles.clone())
            .set_access_token_claim(claim, roles)
            .into())
    }
}

export_rule!(RolesClaim);

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_guest::{Claim, Edit, testing};

    #[test]
    fn sets_the_roles_claim_on_both_tokens() {
        let mut context = testing::context();
        context.roles = vec!["admin".into(), "editor".into()];
        let config = Config::from_pairs([("namespace", "https://example.com/")]);
        let decision = RolesClaim::evaluate(&testing::user(), &context, &config).unwrap();
        let claim = Claim {
            name: "https://example.com/roles".into(),
            value: r#"["admin","editor"]"#.into(),
        };
        assert_eq!(
            decision,
            Decision::Modify(vec![
                Edit::SetIdTokenClaim(claim.clone()),
                Edit::SetAccessTokenClaim(claim)
            ])
        );
    }

    #[test]
    fn a_user_without_roles_gets_no_claim() {
        let config = Config::from_pairs([("namespace", "https://example.com/")]);
        let decision =
            RolesClaim::evaluate(&testing::user(), &testing::context(), &config).unwrap();
        assert_eq!(decision, Decision::Allow);
    }

    #[test]
    fn missing_namespace_is_an_error() {
        let mut context = testing::context();
        context.roles = vec!["admin".into()];
        let result = RolesClaim::evaluate(&testing::user(), &context, &Config::default());
        assert!(result.unwrap_err().to_string().contains("namespace"));
    }
}
