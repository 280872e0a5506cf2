//! Denies logins from the configured application with `end_users_not_allowed`.
//!
//! Configuration: `client_id`, the client id of the application whose end
//! users may not log in.

use rulehost_guest::{Config, Context, Decision, Rule, RuleError, User, export_rule};

/// The description given to a refused login.
const DENIAL: &str = "end_users_not_allowed";

struct DenyClient;

impl Rule for DenyClient {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let forbidden = config.require("client_id")?;
        if context.client.client_id == forbidden {
            Ok(Decision::deny(DENIAL))
        } else {
            Ok(Decision::Allow)
        }
    }
}

export_rule!(DenyClient);

#[cfg(test)]
mod tests {
    use super::*;
    use rulehost_guest::testing;

    fn decide(client_id: &str) -> Decision {
        let mut context = testing::context();
        context.client.client_id = client_id.into();
        let config = Config::from_pairs([("client_id", "legacy-portal")]);
        DenyClient::evaluate(&testing::user(), &context, &config).unwrap()
    }

    #[test]
    fn denies_the_configured_client() {
        assert!(
            matches!(decide("legacy-portal"), Decision::Deny(denial) if denial.description == DENIAL)
        );
    }

    #[test]
    fn allows_other_clients() {
        assert_eq!(decide("mobile-app"), Decision::Allow);
        assert_eq!(decide("legacy-portal-2"), Decision::Allow);
    }

    #[test]
    fn missing_configuration_is_an_error() {
        let result =
            DenyClient::evaluate(&testing::user(), &testing::context(), &Config::default());
        assert!(result.unwrap_err().to_string().contains("client_id"));
    }
}
