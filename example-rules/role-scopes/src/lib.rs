//! Narrows the access token's scopes to what the user's roles grant.
//!
//! Configuration: each key is a role name and its value the space-separated
//! scopes that role may receive. The access token's scopes become the
//! requested scopes (in the order requested) that at least one of the user's
//! roles grants; a user with no granting role gets no scopes. When that is
//! already the token's scope list, the rule allows without an edit.

use rulehost_guest::{Config, Context, Decision, Modify, Rule, RuleError, User, export_rule};

struct RoleScopes;

/// Whether any of `roles` is granted `scope` by the configuration.
fn granted(config: &Config, roles: &[String], scope: &str) -> bool {
    roles
        .iter()
        .filter_map(|role| config.get(role))
        .any(|grants| grants.split_whitespace().any(|grant| grant == scope))
}

impl Rule for RoleScopes {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let scopes: Vec<&str> = context
            .requested_scopes()
            .into_iter()
            .filter(|scope| granted(config, &context.roles, scope))
            .collect();
        if scopes == context.access_token.scopes {
            return Ok(Decision::Allow);
        }
        Ok(Modify::new().replace_scopes(scopes).into())
    }
}

export_rule!(RoleScopes);

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_guest::{Edit, testing};

    /// The access token's scopes after the rule, starting from `openid`.
    fn scopes_for(roles: &[&str], requested: &str) -> Vec<String> {
        let mut context = testing::context();
        context.access_token.scopes = vec!["openid".into()];
        context.roles = roles.iter().map(|r| r.to_string()).collect();
        context
            .request
            .body
            .push(("scope".into(), requested.into()));
        let config = Config::from_pairs([
            ("admin", "read:todos write:todos delete:todos"),
            ("editor", "read:todos write:todos"),
            ("viewer", "read:todos"),
        ]);
        match RoleScopes::evaluate(&testing::user(), &context, &config).unwrap() {
            Decision::Modify(edits) => match edits.as_slice() {
                [Edit::ReplaceScopes(scopes)] => scopes.clone(),
                other => panic!("unexpected edits {other:?}"),
            },
            Decision::Allow => context.access_token.scopes,
            other => panic!("unexpected decision {other:?}"),
        }
    }

    #[test]
    fn keeps_only_granted_scopes_in_requested_order() {
        let scopes = scopes_for(&["viewer"], "openid write:todos read:todos");
        assert_eq!(scopes, ["read:todos"]);
    }

    #[test]
    fn unions_the_grants_of_all_roles() {
        let scopes = scopes_for(&["viewer", "editor"], "delete:todos write:todos read:todos");
        assert_eq!(scopes, ["write:todos", "read:todos"]);
    }

    #[test]
    fn a_user_without_roles_gets_no_scopes() {
        assert!(scopes_for(&[], "read:todos").is_empty());
        assert!(scopes_for(&["unknown-role"], "read:todos").is_empty());
    }

    #[test]
    fn allows_without_an_edit_when_nothing_changes() {
        let mut context = testing::context();
        context.access_token.scopes = vec!["read:todos".into()];
        context.roles = vec!["viewer".into()];
        context
            .request
            .query
            .push(("scope".into(), "read:todos".into()));
        let config = Config::from_pairs([("viewer", "read:todos")]);
        let decision = RoleScopes::evaluate(&testing::user(), &context, &config).unwrap();
        assert_eq!(decision, Decision::Allow);
    }

    #[test]
    fn never_adds_a_scope_that_was_not_requested() {
        assert_eq!(scopes_for(&["admin"], "read:todos"), ["read:todos"]);
    }
}
