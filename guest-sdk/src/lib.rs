//! The Rust guest SDK for rulehost: write an access rule as one plain function.
//!
//! A rule is a type implementing [`Rule`]; [`export_rule!`] turns it into the
//! `evaluate` export of the `rulehost:rule` WIT world. The SDK hands the rule
//! its [`Config`] (the `[rule.config]` strings from `rules.toml`) and offers
//! helpers for what most rules need: the requested audience and scopes
//! ([`Context::requested_audience`], [`Context::requested_scopes`]) and
//! building decisions ([`Decision::deny`], [`Modify`]).
//!
//! ```no_run
//! use rulehost_guest::{Config, Context, Decision, Rule, RuleError, User, export_rule};
//!
//! struct DenyTodoApi;
//!
//! impl Rule for DenyTodoApi {
//!     fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
//!         let audience = config.require("audience")?;
//!         if context.requested_audiences().contains(&audience) {
//!             return Ok(Decision::deny("end_users_not_allowed"));
//!         }
//!         Ok(Decision::Allow)
//!     }
//! }
//!
//! export_rule!(DenyTodoApi);
//! ```
//!
//! Rules are built with `cargo build --target wasm32-wasip2 --release`. They
//! also build for the host target, so their logic can be unit-tested with
//! `cargo test` by calling [`Rule::evaluate`] with a [`Config::from_pairs`].

mod config;
mod context;
mod decision;
mod error;
pub mod testing;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "rule",
        pub_export_macro: true,
        export_macro_name: "__export_rule_world",
        default_bindings_module: "rulehost_guest::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::rulehost::rule::types::{
    AccessToken, AuthenticationMethod, Claim, Client, Connection, Context, Decision, Denial, Edit,
    Geo, Identity, Multifactor, Request, Stats, User,
};
pub use config::{Config, MissingConfig};
pub use decision::{DEFAULT_DENIAL_CODE, Modify};
pub use error::RuleError;
pub use serde_json;

/// An access rule: decides on one login from the user, the context and the
/// rule's configuration.
///
/// Returning `Err` fails the evaluation closed: the login is refused with a
/// server error that names the rule and carries the error's text.
pub trait Rule {
    /// Decide on one login.
    fn evaluate(user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError>;
}

/// Exports a [`Rule`] as this component's `evaluate` function. Use it once,
/// at the top level of the rule's crate.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        const _: () = {
            struct RulehostExport;

            impl $crate::bindings::Guest for RulehostExport {
                fn evaluate(
                    user: $crate::User,
                    context: $crate::Context,
                ) -> ::core::result::Result<$crate::Decision, ::std::string::String> {
                    let config = $crate::Config::from_host();
                    <$rule as $crate::Rule>::evaluate(&user, &context, &config)
                        .map_err(|error| error.to_string())
                }
            }

            $crate::bindings::__export_rule_world!(RulehostExport);
        };
    };
}
