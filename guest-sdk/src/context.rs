//! Read helpers on the login records: the requested audience and scopes,
//! request parameters, roles and metadata.

use crate::{Context, RuleError, User};

/// The first value of `name` in a list of request parameters.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

impl Context {
    /// The first value of the query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        param(&self.request.query, name)
    }

    /// The first value of the body parameter `name`.
    pub fn body_param(&self, name: &str) -> Option<&str> {
        param(&self.request.body, name)
    }

    /// The parameter `name` from the query, or from the body when the query
    /// does not carry it: where a login request puts `audience` and `scope`.
    pub fn request_param(&self, name: &str) -> Option<&str> {
        self.query_param(name).or_else(|| self.body_param(name))
    }

    /// Every non-empty value of the parameter `name`, from the query and then
    /// the body, repeats included. Rules that refuse a value should check
    /// all of them: an auth server may read another copy than the first.
    pub fn request_params_all(&self, name: &str) -> Vec<&str> {
        let request = &self.request;
        (request.query.iter().chain(request.body.iter()))
            .filter(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Every audience the login names, from the query and the body: see
    /// [`Context::request_params_all`].
    pub fn requested_audiences(&self) -> Vec<&str> {
        self.request_params_all("audience")
    }

    /// The audience (API identifier) the login asks a token for, if any.
    /// An empty `audience` parameter counts as none.
    pub fn requested_audience(&self) -> Option<&str> {
        self.request_param("audience")
            .filter(|audience| !audience.is_empty())
    }

    /// The scopes the login asks for: the space-separated `scope` parameter,
    /// in the order given, without empty entries or repeats.
    pub fn requested_scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = Vec::new();
        for scope in self
            .request_param("scope")
            .unwrap_or_default()
            .split_whitespace()
        {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes
    }

    /// Whether the user has the role `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|candidate| candidate == role)
    }

    /// The calling application's metadata value for `key`.
    pub fn client_metadata(&self, key: &str) -> Option<&str> {
        param(&self.client.metadata, key)
    }
}

impl User {
    /// The app metadata parsed as JSON.
    pub fn app_metadata_json(&self) -> Result<serde_json::Value, RuleError> {
        Ok(serde_json::from_str(&self.app_metadata)?)
    }

    /// The user metadata parsed as JSON.
    pub fn user_metadata_json(&self) -> Result<serde_json::Value, RuleError> {
        Ok(serde_json::from_str(&self.user_metadata)?)
    }
}
