//! Denies logins that ask for the configured audience, and logins that ask
//! for no audience at all, with `end_users_not_allowed`. Every `audience`
//! value in the query and the body is checked, so a repeated parameter or a
//! second copy in the body cannot slip the forbidden one past the rule.
//!
//! Configuration: `audience`, the API identifier end users may not get a
//! token for.

use rulehost_guest::{Config, Context, Decision, Rule, RuleError, User, export_rule};

/// The description given to a refused login.
const DENIAL: &str = "end_users_not_allowed";

struct DenyAudience;

impl Rule for DenyAudience {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let forbidden = config.require("audience")?;
        let audiences = context.requested_audiences();
        if audiences.is_empty() || audiences.contains(&forbidden) {
            Ok(Decision::deny(DENIAL))
        } else {
            Ok(Decision::Allow)
        }
    }
}

export_rule!(DenyAudience);

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_guest::testing;

    fn decide(query: &[(&str, &str)], body: &[(&str, &str)]) -> Decision {
        let mut context = testing::context();
        context.request.query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        context.request.body = body
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_pairs([("audience", "http://todoapi2.api")]);
        DenyAudience::evaluate(&testing::user(), &context, &config).unwrap()
    }

    fn is_denied(decision: &Decision) -> bool {
        matches!(decision, Decision::Deny(denial) if denial.description == DENIAL)
    }

    #[test]
    fn denies_the_configured_audience_from_the_query() {
        assert!(is_denied(&decide(
            &[("audience", "http://todoapi2.api")],
            &[]
        )));
    }

    #[test]
    fn denies_the_configured_audience_from_the_body() {
        assert!(is_denied(&decide(
            &[],
            &[("audience", "http://todoapi2.api")]
        )));
    }

    #[test]
    fn denies_when_no_audience_is_requested() {
        assert!(is_denied(&decide(&[], &[])));
        assert!(is_denied(&decide(&[("audience", "")], &[])));
    }

    #[test]
    fn allows_another_audience() {
        assert_eq!(
            decide(&[("audience", "https://billing.api")], &[]),
            Decision::Allow
        );
    }

    #[test]
    fn an_audience_anywhere_in_the_request_is_checked() {
        let forbidden = "http://todoapi2.api";
        assert!(is_denied(&decide(
            &[("audience", "https://billing.api")],
            &[("audience", forbidden)]
        )));
        assert!(is_denied(&decide(
            &[("audience", "https://billing.api"), ("audience", forbidden)],
            &[]
        )));
        assert_eq!(
            decide(&[("audience", "")], &[("audience", "https://billing.api")]),
            Decision::Allow
        );
    }

    #[test]
    fn missing_configuration_is_an_error() {
        let result =
            DenyAudience::evaluate(&testing::user(), &testing::context(), &Config::default());
        assert!(result.unwrap_err().to_string().contains("audience"));
    }
}
