//! The request JSON, in the shapes Auth0 documents for a rule's `user` and
//! `context` objects, turned into the contract's typed records.
//!
//! Only what the contract models is read; everything else stays in the
//! original JSON, which [`crate::edits`] writes the final records back into.
//! Required fields: `user.user_id`, `context.clientID` and
//! `context.request.ip`. Every other field may be absent or `null`, but when
//! present it must have the documented type; a wrong one is an
//! [`InputError`] naming the field's path.

use serde_json::{Map, Value};

use crate::bindings::{
    AccessToken, AuthenticationMethod, Claim, Client, Connection, Context, Geo, Identity, Request,
    Stats, User,
};

/// A request field that is missing or has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct InputError {
    /// Where the field is, for example `context.request.geoip.latitude`.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The records a chain starts from, read from one request.
#[derive(Debug, Clone)]
pub struct LoginRecords {
    /// The user.
    pub user: User,
    /// The context.
    pub context: Context,
    /// Whether `context.accessToken.scope` was sent as one space-separated
    /// string rather than an array; scopes are written back the same way.
    pub scope_as_string: bool,
}

impl LoginRecords {
    /// Reads the records from a request `{"user": {...}, "context": {...}}`.
    pub fn from_request(request: &Value) -> Result<Self, InputError> {
        let root = Object::root(request)?;
        let user = read_user(&root.required_object("user")?)?;
        let context_object = root.required_object("context")?;
        let (access_token, scope_as_string) = read_access_token(&context_object)?;
        let context = read_context(&context_object, access_token)?;
        Ok(Self {
            user,
            context,
            scope_as_string,
        })
    }
}

fn read_user(user: &Object<'_>) -> Result<User, InputError> {
    Ok(User {
        user_id: user.required_id("user_id")?,
        email: user.string("email")?,
        email_verified: user.bool("email_verified")?.unwrap_or(false),
        name: user.string("name")?,
        nickname: user.string("nickname")?,
        picture: user.string("picture")?,
        identities: user
            .objects("identities")?
            .iter()
            .map(read_identity)
            .collect::<Result<_, _>>()?,
        app_metadata: user.object_text("app_metadata")?,
        user_metadata: user.object_text("user_metadata")?,
    })
}

fn read_identity(identity: &Object<'_>) -> Result<Identity, InputError> {
    Ok(Identity {
        provider: identity.string("provider")?.unwrap_or_default(),
        connection: identity.string("connection")?.unwrap_or_default(),
        user_id: identity.id("user_id")?.unwrap_or_default(),
        is_social: identity.bool("isSocial")?.unwrap_or(false),
    })
}

fn read_context(context: &Object<'_>, access_token: AccessToken) -> Result<Context, InputError> {
    let authorization = context.object("authorization")?;
    let authentication = context.object("authentication")?;
    Ok(Context {
        tenant: context.string("tenant")?.unwrap_or_default(),
        client: Client {
            client_id: context.required_id("clientID")?,
            name: context.string("clientName")?.unwrap_or_default(),
            metadata: context.params("clientMetadata")?,
        },
        connection: Connection {
            id: context.string("connectionID")?,
            name: context.string("connection")?.unwrap_or_default(),
            strategy: context.string("connectionStrategy")?.unwrap_or_default(),
        },
        protocol: context.string("protocol")?.unwrap_or_default(),
        request: read_request(&context.required_object("request")?)?,
        stats: Stats {
            logins_count: match context.object("stats")? {
                Some(stats) => stats.u64("loginsCount")?.unwrap_or(0),
                None => 0,
            },
        },
        authentication_methods: match authentication {
            Some(authentication) => authentication
                .objects("methods")?
                .iter()
                .map(|method| {
                    Ok(AuthenticationMethod {
                        name: method.required_string("name")?,
                        timestamp: method.u64("timestamp")?,
                    })
                })
                .collect::<Result<_, InputError>>()?,
            None => Vec::new(),
        },
        roles: match &authorization {
            Some(authorization) => authorization.strings("roles")?,
            None => Vec::new(),
        },
        groups: match &authorization {
            Some(authorization) => authorization.strings("groups")?,
            None => Vec::new(),
        },
        id_token_claims: match context.object("idToken")? {
            Some(id_token) => id_token.claims(|_| true),
            None => Vec::new(),
        },
        access_token,
        multifactor: None,
    })
}

fn read_request(request: &Object<'_>) -> Result<Request, InputError> {
    Ok(Request {
        ip: request.required_string("ip")?,
        hostname: request.string("hostname")?,
        user_agent: request.string("userAgent")?,
        query: request.params("query")?,
        body: request.params("body")?,
        geo: request
            .object("geoip")?
            .map(|geo| read_geo(&geo))
            .transpose()?,
    })
}

fn read_geo(geo: &Object<'_>) -> Result<Geo, InputError> {
    Ok(Geo {
        country_code: geo.string("country_code")?,
        country_code3: geo.string("country_code3")?,
        country_name: geo.string("country_name")?,
        city_name: geo.string("city_name")?,
        latitude: geo.f64("latitude")?,
        longitude: geo.f64("longitude")?,
        time_zone: geo.string("time_zone")?,
        continent_code: geo.string("continent_code")?,
    })
}

/// The access token's claims and scopes, and whether `scope` was a string.
fn read_access_token(context: &Object<'_>) -> Result<(AccessToken, bool), InputError> {
    let Some(token) = context.object("accessToken")? else {
        return Ok((
            AccessToken {
                claims: Vec::new(),
                scopes: Vec::new(),
            },
            false,
        ));
    };
    let (scopes, scope_as_string) = match token.get("scope") {
        None => (Vec::new(), false),
        Some(Value::String(scope)) => (scope.split_whitespace().map(str::to_owned).collect(), true),
        Some(_) => (token.strings("scope")?, false),
    };
    let claims = token.claims(|name| name != "scope");
    Ok((AccessToken { claims, scopes }, scope_as_string))
}

/// A JSON object being read, with its path for error messages.
struct Object<'a> {
    path: String,
    fields: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    fn root(value: &'a Value) -> Result<Self, InputError> {
        match value {
            Value::Object(fields) => Ok(Self {
                path: String::new(),
                fields,
            }),
            other => Err(InputError {
                path: "$".into(),
                problem: format!("expected an object, found {}", kind(other)),
            }),
        }
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, key: &str, problem: impl Into<String>) -> InputError {
        InputError {
            path: self.path_of(key),
            problem: problem.into(),
        }
    }

    fn mistyped(&self, key: &str, expected: &str, found: &Value) -> InputError {
        self.error(key, format!("expected {expected}, found {}", kind(found)))
    }

    /// The field's value; `null` counts as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.fields.get(key).filter(|value| !value.is_null())
    }

    fn object(&self, key: &str) -> Result<Option<Object<'a>>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Object {
                path: self.path_of(key),
                fields,
            })),
            Some(other) => Err(self.mistyped(key, "an object", other)),
        }
    }

    fn required_object(&self, key: &str) -> Result<Object<'a>, InputError> {
        self.object(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    fn string(&self, key: &str) -> Result<Option<String>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.mistyped(key, "a string", other)),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, InputError> {
        self.string(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    /// An identifier, which some providers send as a number.
    fn id(&self, key: &str) -> Result<Option<String>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(self.mistyped(key, "a string or a number", other)),
        }
    }

    fn required_id(&self, key: &str) -> Result<String, InputError> {
        match self.id(key)? {
            Some(id) if !id.is_empty() => Ok(id),
            Some(_) => Err(self.error(key, "must not be empty")),
            None => Err(self.error(key, "is required")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.mistyped(key, "a boolean", other)),
        }
    }

    fn u64(&self, key: &str) -> Result<Option<u64>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => number.as_u64().map(Some).ok_or_else(|| {
                self.error(
                    key,
                    format!("expected a whole number from 0 to 2^64-1, found {number}"),
                )
            }),
            Some(other) => Err(self.mistyped(key, "a whole number", other)),
        }
    }

    fn f64(&self, key: &str) -> Result<Option<f64>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => Ok(number.as_f64()),
            Some(other) => Err(self.mistyped(key, "a number", other)),
        }
    }

    fn array(&self, key: &str) -> Result<&'a [Value], InputError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.mistyped(key, "an array", other)),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, InputError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(self.mistyped(&format!("{key}[{index}]"), "a string", other)),
            })
            .collect()
    }

    fn objects(&self, key: &str) -> Result<Vec<Object<'a>>, InputError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::Object(fields) => Ok(Object {
                    path: format!("{}[{index}]", self.path_of(key)),
                    fields,
                }),
                other => Err(self.mistyped(&format!("{key}[{index}]"), "an object", other)),
            })
            .collect()
    }

    /// A JSON object field as JSON text, `{}` when absent.
    fn object_text(&self, key: &str) -> Result<String, InputError> {
        match self.get(key) {
            None => Ok("{}".into()),
            Some(value @ Value::Object(_)) => Ok(value.to_string()),
            Some(other) => Err(self.mistyped(key, "an object", other)),
        }
    }

    /// An object of parameters as key and value pairs: a string value is
    /// taken as it is, an array gives one pair per element, anything else
    /// travels as JSON text.
    fn params(&self, key: &str) -> Result<Vec<(String, String)>, InputError> {
        let Some(params) = self.object(key)? else {
            return Ok(Vec::new());
        };
        let mut pairs = Vec::with_capacity(params.fields.len());
        for (name, value) in params.fields {
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    pairs.extend(items.iter().map(|item| (name.clone(), param_text(item))))
                }
                other => pairs.push((name.clone(), param_text(other))),
            }
        }
        Ok(pairs)
    }

    /// Every field accepted by `keep` as a claim.
    fn claims(&self, keep: impl Fn(&str) -> bool) -> Vec<Claim> {
        self.fields
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| Claim {
                name: name.clone(),
                value: value.to_string(),
            })
            .collect()
    }
}

fn param_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The JSON type of `value`, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"user": {"user_id": "auth0|1"}, "context": {"clientID": "app", "request": {"ip": "203.0.113.7"}}})
    }

    fn error_for(request: Value) -> InputError {
        LoginRecords::from_request(&request).unwrap_err()
    }

    #[test]
    fn reads_a_minimal_request_with_defaults() {
        let records = LoginRecords::from_request(&minimal()).unwrap();
        assert_eq!(records.user.user_id, "auth0|1");
        assert!(!records.user.email_verified);
        assert_eq!(records.user.app_metadata, "{}");
        assert_eq!(records.context.client.client_id, "app");
        assert_eq!(records.context.request.ip, "203.0.113.7");
        assert!(records.context.access_token.scopes.is_empty());
    }

    #[test]
    fn reads_the_auth0_shapes() {
        let request = json!({
            "user": {
                "user_id": "github|42", "email": "a@example.com", "email_verified": true,
                "identities": [{"provider": "github", "connection": "github", "user_id": 42, "isSocial": true}],
                "app_metadata": {"plan": "gold"}
            },
            "context": {
                "tenant": "acme", "clientID": "app", "clientName": "App",
                "clientMetadata": {"tier": "1"}, "connection": "github", "connectionStrategy": "github",
                "protocol": "oidc-basic-profile",
                "request": {
                    "ip": "203.0.113.7", "userAgent": "curl",
                    "query": {"audience": "http://todoapi2.api", "scope": "openid read:todos", "n": 3, "multi": ["a", "b"]},
                    "body": {}, "geoip": {"country_code": "NZ", "latitude": -36.8}
                },
                "stats": {"loginsCount": 7},
                "authentication": {"methods": [{"name": "pwd", "timestamp": 1434454643024u64}]},
                "authorization": {"roles": ["admin"]},
                "idToken": {"https://example.com/x": 1},
                "accessToken": {"scope": ["openid"], "https://example.com/y": "z"}
            }
        });
        let records = LoginRecords::from_request(&request).unwrap();
        assert_eq!(records.user.identities[0].user_id, "42");
        assert!(records.user.identities[0].is_social);
        assert_eq!(records.user.app_metadata, r#"{"plan":"gold"}"#);
        let context = &records.context;
        assert_eq!(context.client.metadata, [("tier".into(), "1".into())]);
        let query: Vec<(&str, &str)> = context
            .request
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert!(query.contains(&("audience", "http://todoapi2.api")));
        assert!(query.contains(&("n", "3")));
        assert!(query.contains(&("multi", "a")) && query.contains(&("multi", "b")));
        assert_eq!(
            context
                .request
                .geo
                .as_ref()
                .unwrap()
                .country_code
                .as_deref(),
            Some("NZ")
        );
        assert_eq!(context.stats.logins_count, 7);
        assert_eq!(
            context.authentication_methods[0].timestamp,
            Some(1434454643024)
        );
        assert_eq!(context.roles, ["admin"]);
        assert_eq!(context.id_token_claims[0].value, "1");
        assert_eq!(context.access_token.scopes, ["openid"]);
        assert_eq!(context.access_token.claims.len(), 1);
        assert!(!records.scope_as_string);
    }

    #[test]
    fn a_space_separated_scope_string_is_split_and_remembered() {
        let mut request = minimal();
        request["context"]["accessToken"] = json!({"scope": "openid  profile"});
        let records = LoginRecords::from_request(&request).unwrap();
        assert_eq!(records.context.access_token.scopes, ["openid", "profile"]);
        assert!(records.scope_as_string);
    }

    #[test]
    fn names_a_missing_required_field() {
        let mut request = minimal();
        request["user"].as_object_mut().unwrap().remove("user_id");
        assert_eq!(error_for(request).to_string(), "user.user_id: is required");
        assert_eq!(error_for(json!({"user": {"user_id": "x"}})).path, "context");
        let mut request = minimal();
        request["user"]["user_id"] = json!("");
        assert_eq!(
            error_for(request).to_string(),
            "user.user_id: must not be empty"
        );
    }

    #[test]
    fn names_a_mistyped_field_with_its_path() {
        let mut request = minimal();
        request["user"]["email_verified"] = json!("yes");
        assert_eq!(
            error_for(request).to_string(),
            "user.email_verified: expected a boolean, found a string"
        );
        let mut request = minimal();
        request["context"]["authorization"] = json!({"roles": ["a", 5]});
        assert_eq!(error_for(request).path, "context.authorization.roles[1]");
        let mut request = minimal();
        request["context"]["stats"] = json!({"loginsCount": -1});
        assert_eq!(error_for(request).path, "context.stats.loginsCount");
    }

    #[test]
    fn refuses_a_body_that_is_not_an_object() {
        assert_eq!(error_for(json!([1, 2])).path, "$");
    }
}
