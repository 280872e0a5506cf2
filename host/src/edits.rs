//! Applies the edits a rule returns to the login records, and writes the
//! final records back into the request JSON.
//!
//! Edits are checked as they are applied: a claim or metadata value that is
//! not valid JSON, metadata that is not an object, or a scope with white space
//! in it is an [`InvalidEdit`], which fails the evaluation closed.

use serde_json::{Map, Value};

use crate::bindings::{Claim, Edit, Multifactor};
use crate::records::LoginRecords;

/// An edit a rule returned that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEdit(String);

/// Which parts of the records the edits touched, so that only those are
/// written back and everything else is returned exactly as it was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Touched {
    app_metadata: bool,
    user_metadata: bool,
    id_token: bool,
    access_token: bool,
    multifactor: bool,
}

/// Applies `edit` to `records`, noting in `touched` what it changed.
pub fn apply(
    edit: Edit,
    records: &mut LoginRecords,
    touched: &mut Touched,
) -> Result<(), InvalidEdit> {
    let context = &mut records.context;
    match edit {
        Edit::SetIdTokenClaim(claim) => {
            set_claim(&mut context.id_token_claims, claim)?;
            touched.id_token = true;
        }
        Edit::RemoveIdTokenClaim(name) => {
            context.id_token_claims.retain(|claim| claim.name != name);
            touched.id_token = true;
        }
        Edit::SetAccessTokenClaim(claim) => {
            if claim.name == "scope" {
                return Err(InvalidEdit(
                    "the access-token claim `scope` is set with replace-scopes, not as a claim"
                        .into(),
                ));
            }
            set_claim(&mut context.access_token.claims, claim)?;
            touched.access_token = true;
        }
        Edit::RemoveAccessTokenClaim(name) => {
            context
                .access_token
                .claims
                .retain(|claim| claim.name != name);
            touched.access_token = true;
        }
        Edit::ReplaceScopes(scopes) => {
            if let Some(bad) = scopes
                .iter()
                .find(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                return Err(InvalidEdit(format!(
                    "scope {bad:?} is empty or contains white space"
                )));
            }
            context.access_token.scopes = scopes;
            touched.access_token = true;
        }
        Edit::ReplaceAppMetadata(metadata) => {
            check_object(&metadata, "app metadata")?;
            records.user.app_metadata = metadata;
            touched.app_metadata = true;
        }
        Edit::ReplaceUserMetadata(metadata) => {
            check_object(&metadata, "user metadata")?;
            records.user.user_metadata = metadata;
            touched.user_metadata = true;
        }
        Edit::RequireMultifactor(multifactor) => {
            if multifactor.provider.is_empty() {
                return Err(InvalidEdit("the multifactor provider is empty".into()));
            }
            context.multifactor = Some(multifactor);
            touched.multifactor = true;
        }
    }
    Ok(())
}

fn set_claim(claims: &mut Vec<Claim>, claim: Claim) -> Result<(), InvalidEdit> {
    if claim.name.is_empty() {
        return Err(InvalidEdit("a claim name is empty".into()));
    }
    parse_json(
        &claim.value,
        &format!("the value of claim {:?}", claim.name),
    )?;
    match claims
        .iter_mut()
        .find(|existing| existing.name == claim.name)
    {
        Some(existing) => existing.value = claim.value,
        None => claims.push(claim),
    }
    Ok(())
}

fn parse_json(text: &str, what: &str) -> Result<Value, InvalidEdit> {
    serde_json::from_str(text)
        .map_err(|error| InvalidEdit(format!("{what} is not valid JSON: {error}")))
}

fn check_object(text: &str, what: &str) -> Result<(), InvalidEdit> {
    match parse_json(text, what)? {
        Value::Object(_) => Ok(()),
        _ => Err(InvalidEdit(format!("{what} must be a JSON object"))),
    }
}

/// Writes the touched parts of `records` into `request`, which must be the
/// request the records were read from.
pub fn write_back(request: &mut Value, records: &LoginRecords, touched: Touched) {
    let user = &mut request["user"];
    if touched.app_metadata {
        user["app_metadata"] = json_of(&records.user.app_metadata);
    }
    if touched.user_metadata {
        user["user_metadata"] = json_of(&records.user.user_metadata);
    }
    let context = &mut request["context"];
    if touched.id_token {
        context["idToken"] = Value::Object(claims_object(&records.context.id_token_claims));
    }
    if touched.access_token {
        let token = &records.context.access_token;
        let mut object = claims_object(&token.claims);
        let scope = if records.scope_as_string {
            Value::String(token.scopes.join(" "))
        } else {
            Value::from(token.scopes.clone())
        };
        object.insert("scope".into(), scope);
        context["accessToken"] = Value::Object(object);
    }
    if let (
        true,
        Some(Multifactor {
            provider,
            allow_remember_browser,
        }),
    ) = (touched.multifactor, &records.context.multifactor)
    {
        context["multifactor"] = serde_json::json!({
            "provider": provider,
            "allowRememberBrowser": allow_remember_browser,
        });
    }
}

fn claims_object(claims: &[Claim]) -> Map<String, Value> {
    claims
        .iter()
        .map(|claim| (claim.name.clone(), json_of(&claim.value)))
        .collect()
}

/// Parses JSON text that [`apply`] has already checked.
fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({
            "user": {"user_id": "auth0|1", "app_metadata": {"a": 1}, "extra": [1, 2]},
            "context": {
                "clientID": "app", "request": {"ip": "203.0.113.7"},
                "idToken": {"keep": true}, "accessToken": {"scope": "openid read", "x": 1},
                "unmodelled": {"kept": "as sent"}
            }
        })
    }

    fn claim(name: &str, value: &str) -> Claim {
        Claim {
            name: name.into(),
            value: value.into(),
        }
    }

    fn applied(edits: Vec<Edit>) -> Result<Value, InvalidEdit> {
        let mut request = request();
        let mut records = LoginRecords::from_request(&request).unwrap();
        let mut touched = Touched::default();
        for edit in edits {
            apply(edit, &mut records, &mut touched)?;
        }
        write_back(&mut request, &records, touched);
        Ok(request)
    }

    #[test]
    fn no_edit_returns_the_request_unchanged() {
        assert_eq!(applied(vec![]).unwrap(), request());
    }

    #[test]
    fn sets_replaces_and_removes_claims() {
        let result = applied(vec![
            Edit::SetIdTokenClaim(claim("https://x/roles", r#"["admin"]"#)),
            Edit::SetIdTokenClaim(claim("keep", "false")),
            Edit::SetAccessTokenClaim(claim("https://x/plan", r#""gold""#)),
            Edit::RemoveAccessTokenClaim("x".into()),
        ])
        .unwrap();
        assert_eq!(
            result["context"]["idToken"],
            json!({"keep": false, "https://x/roles": ["admin"]})
        );
        assert_eq!(
            result["context"]["accessToken"],
            json!({"https://x/plan": "gold", "scope": "openid read"})
        );
        assert_eq!(result["context"]["unmodelled"], json!({"kept": "as sent"}));
        assert_eq!(result["user"]["extra"], json!([1, 2]));
    }

    #[test]
    fn scopes_keep_the_form_they_were_sent_in() {
        let result = applied(vec![Edit::ReplaceScopes(vec!["read".into()])]).unwrap();
        assert_eq!(result["context"]["accessToken"]["scope"], json!("read"));
    }

    #[test]
    fn replaces_metadata_and_sets_multifactor() {
        let result = applied(vec![
            Edit::ReplaceAppMetadata(r#"{"b":2}"#.into()),
            Edit::RequireMultifactor(Multifactor {
                provider: "any".into(),
                allow_remember_browser: true,
            }),
        ])
        .unwrap();
        assert_eq!(result["user"]["app_metadata"], json!({"b": 2}));
        assert_eq!(
            result["context"]["multifactor"],
            json!({"provider": "any", "allowRememberBrowser": true})
        );
    }

    #[test]
    fn refuses_invalid_edits() {
        let invalid = [
            Edit::SetIdTokenClaim(claim("a", "{not json")),
            Edit::SetIdTokenClaim(claim("", "1")),
            Edit::SetAccessTokenClaim(claim("scope", r#""admin""#)),
            Edit::ReplaceScopes(vec!["read write".into()]),
            Edit::ReplaceAppMetadata("[1]".into()),
            Edit::ReplaceUserMetadata("nope".into()),
        ];
        for edit in invalid {
            assert!(
                applied(vec![edit.clone()]).is_err(),
                "{edit:?} was accepted"
            );
        }
    }
}
