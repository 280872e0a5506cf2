//! Building decisions: denials and lists of edits.

use serde_json::Value;

use crate::{Claim, Decision, Denial, Edit, Multifactor};

/// The `error` code a denial carries unless the rule picks another.
pub const DEFAULT_DENIAL_CODE: &str = "access_denied";

impl Decision {
    /// Refuse the login with the code `access_denied` and this description,
    /// which the caller receives as `error_description`.
    pub fn deny(description: impl Into<String>) -> Self {
        Self::deny_with_code(DEFAULT_DENIAL_CODE, description)
    }

    /// Refuse the login with this `error` code and description.
    pub fn deny_with_code(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Deny(Denial {
            code: code.into(),
            description: description.into(),
        })
    }
}

impl Claim {
    /// A claim named `name` whose value is `value`, for example
    /// `Claim::new("https://example.com/plan", "gold")`.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            name: name.into(),
            value: value.into().to_string(),
        }
    }
}

/// A list of edits under construction; it becomes [`Decision::Modify`], or
/// [`Decision::Allow`] when it holds no edit.
///
/// ```
/// use rulehost_guest::{Decision, Modify};
/// let decision: Decision = Modify::new()
///     .set_id_token_claim("https://example.com/roles", vec!["admin"])
///     .replace_scopes(["read:todos"])
///     .into();
/// assert!(matches!(decision, Decision::Modify(edits) if edits.len() == 2));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Modify {
    edits: Vec<Edit>,
}

impl Modify {
    /// An empty list of edits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no edit has been added.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Add any edit.
    pub fn edit(mut self, edit: Edit) -> Self {
        self.edits.push(edit);
        self
    }

    /// Set a claim on the ID token.
    pub fn set_id_token_claim(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.edit(Edit::SetIdTokenClaim(Claim::new(name, value)))
    }

    /// Remove a claim from the ID token.
    pub fn remove_id_token_claim(self, name: impl Into<String>) -> Self {
        self.edit(Edit::RemoveIdTokenClaim(name.into()))
    }

    /// Set a claim on the access token.
    pub fn set_access_token_claim(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.edit(Edit::SetAccessTokenClaim(Claim::new(name, value)))
    }

    /// Remove a claim from the access token.
    pub fn remove_access_token_claim(self, name: impl Into<String>) -> Self {
        self.edit(Edit::RemoveAccessTokenClaim(name.into()))
    }

    /// Replace the access token's scopes.
    pub fn replace_scopes<S: Into<String>>(self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.edit(Edit::ReplaceScopes(
            scopes.into_iter().map(Into::into).collect(),
        ))
    }

    /// Replace the user's app metadata with a JSON object.
    pub fn replace_app_metadata(self, metadata: Value) -> Self {
        self.edit(Edit::ReplaceAppMetadata(metadata.to_string()))
    }

    /// Replace the user's user metadata with a JSON object.
    pub fn replace_user_metadata(self, metadata: Value) -> Self {
        self.edit(Edit::ReplaceUserMetadata(metadata.to_string()))
    }

    /// Require a second factor from `provider` (for example `any`).
    pub fn require_multifactor(
        self,
        provider: impl Into<String>,
        allow_remember_browser: bool,
    ) -> Self {
        self.edit(Edit::RequireMultifactor(Multifactor {
            provider: provider.into(),
            allow_remember_browser,
        }))
    }
}

impl From<Modify> for Decision {
    fn from(modify: Modify) -> Self {
        if modify.edits.is_empty() {
            Decision::Allow
        } else {
            Decision::Modify(modify.edits)
        }
    }
}
