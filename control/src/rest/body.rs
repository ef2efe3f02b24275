//! The JSON body extractor: content type, size, syntax, types and unknown fields all fail with
//! an [`ApiError`] that names the field and what to fix.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;

/// The largest request body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body of type `T`, strictly parsed: unknown fields are refused.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// An optional JSON body: an empty body gives `None`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

/// No body: an empty one (or `{}`) is accepted, anything else is a `KN-422`.
#[derive(Debug)]
pub struct NoBody;

impl<S> FromRequest<S> for NoBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match OptionalJson::<serde_json::Value>::from_request(req, state).await? {
            OptionalJson(None) => Ok(NoBody),
            OptionalJson(Some(v)) if v.as_object().is_some_and(|o| o.is_empty()) => Ok(NoBody),
            OptionalJson(Some(_)) => Err(ApiError::invalid(
                "body",
                "this operation takes no body; send none",
            )),
        }
    }
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match OptionalJson::<T>::from_request(req, state).await? {
            OptionalJson(Some(value)) => Ok(Json(value)),
            OptionalJson(None) => Err(ApiError::bad_request(
                "this endpoint needs a JSON body; see /api/v1/openapi.json for its fields",
            )),
        }
    }
}

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                super::error::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::bad_request(format!("cannot read the request body: {rejection}"))
            }
        })?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !content_type.as_deref().is_some_and(is_json) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the body must be JSON with Content-Type: application/json (got {})",
                    content_type.as_deref().unwrap_or("no Content-Type")
                ),
            ));
        }
        parse(&bytes).map(|value| OptionalJson(Some(value)))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
}

/// Parses `bytes` as `T`, refusing unknown fields; errors name the field path.
///
/// A body that is not JSON at all is a malformed request: `400 KN-400`, saying where it broke
/// (line and column, also in `details`). Well-formed JSON of the wrong shape, a wrong type or
/// an unknown field is `422 KN-422` naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The syntax of the whole body first, whatever its shape: `nope`, `[1,` and `"abc` are not
    // JSON, and must not be reported as a wrong type.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(syntax_error(&e));
    }
    // serde also reads a struct from a JSON array (by position); every body here is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("body", "must be a JSON object ({...})"));
    }
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = {
        let mut record =
            |path: serde_ignored::Path<'_>| unknown.push(path.to_string().replace(".?", ""));
        let ignoring = serde_ignored::Deserializer::new(&mut de, &mut record);
        serde_path_to_error::deserialize::<_, T>(ignoring)
    };
    let value = match result {
        Ok(value) => value,
        Err(err) => {
            let path = err.path().to_string().replace(".?", "");
            let inner = err.into_inner();
            return Err(classify(&path, &inner));
        }
    };
    de.end().map_err(|e| syntax_error(&e))?;
    if let Some(field) = unknown.first() {
        return Err(ApiError::invalid(
            field,
            "unknown field; remove it (see /api/v1/openapi.json for the allowed fields)",
        ));
    }
    Ok(value)
}

/// 400: where the body stopped being JSON (serde's message ends with the line and column).
fn syntax_error(err: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the body is not valid JSON: {err}"))
        .with_details(json!({"line": err.line(), "column": err.column()}))
}

fn classify(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => syntax_error(err),
        Category::Data => {
            let field = if path == "." { "body" } else { path };
            // serde's message ends with " at line L column C"; the field path says more.
            let text = err.to_string();
            let why = text
                .rsplit_once(" at line ")
                .map_or(text.as_str(), |(head, _)| head);
            ApiError::invalid(field, in_json_words(why))
        }
    }
}

/// serde's words for types (`i32`, `a sequence`, `struct Quota`) in JSON's, which are the
/// user's: "expected i32" becomes "expected an integer".
fn in_json_words(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected i8", "expected an integer"),
        ("expected i16", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected u8", "expected an integer of 0 or more"),
        ("expected u16", "expected an integer of 0 or more"),
        ("expected u32", "expected an integer of 0 or more"),
        ("expected u64", "expected an integer of 0 or more"),
        ("expected usize", "expected an integer of 0 or more"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected an object"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: object"),
        ("invalid type: floating point", "invalid type: number"),
        ("invalid value: floating point", "invalid value: number"),
    ];
    let mut out = message.to_owned();
    for (from, to) in WORDS {
        // Whole words only: `expected u8` must not rewrite `expected u80...`.
        let mut rewritten = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(from) {
            let after = &rest[at + from.len()..];
            rewritten.push_str(&rest[..at]);
            if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                rewritten.push_str(from);
            } else {
                rewritten.push_str(to);
            }
            rest = after;
        }
        rewritten.push_str(rest);
        out = rewritten;
    }
    // `expected struct Quota` / `expected enum Role`: the shape, not our type's name.
    for (prefix, shape) in [
        ("expected struct ", "an object"),
        ("expected enum ", "one of the documented values"),
    ] {
        if let Some(at) = out.find(prefix) {
            let tail = &out[at + prefix.len()..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out = format!("{}expected {shape}{}", &out[..at], &tail[end..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        owners: Vec<String>,
        #[serde(default)]
        quota: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        cpu: Option<String>,
    }

    fn err(body: &str) -> ApiError {
        parse::<Sample>(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn type_errors_speak_json_not_rust() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            count: Option<i32>,
            size: Option<u32>,
            ratio: Option<f64>,
            list: Option<Vec<String>>,
            inner: Option<Inner>,
        }
        let cases = [
            (
                r#"{"count": "x"}"#,
                r#"invalid type: string "x", expected an integer"#,
            ),
            (
                r#"{"count": 1.5}"#,
                "invalid type: number `1.5`, expected an integer",
            ),
            (
                r#"{"size": -1}"#,
                "invalid value: integer `-1`, expected an integer of 0 or more",
            ),
            (
                r#"{"ratio": "x"}"#,
                r#"invalid type: string "x", expected a number"#,
            ),
            (
                r#"{"list": "x"}"#,
                r#"invalid type: string "x", expected an array"#,
            ),
            (
                r#"{"inner": 5}"#,
                "invalid type: integer `5`, expected an object",
            ),
            (r#"{"list": {}}"#, "invalid type: object, expected an array"),
        ];
        for (body, message) in cases {
            let e = parse::<Typed>(body.as_bytes()).expect_err(body);
            assert_eq!(e.status.as_u16(), 422, "{body}");
            let why = e.details["reason"].as_str().unwrap_or_default().to_owned();
            assert_eq!(why, message, "{body}: {e}");
        }
        assert_eq!(in_json_words("expected u80"), "expected u80");
        assert_eq!(
            in_json_words("expected i32 or null"),
            "expected an integer or null"
        );
    }

    #[test]
    fn syntax_errors_are_400_and_data_errors_422_naming_the_field() {
        let cases = [
            ("{", 400, None),
            ("{\"name\": \"a\"} trailing", 400, None),
            ("{\"owners\": []}", 422, Some("body")),
            ("{\"name\": 5}", 422, Some("name")),
            ("{\"name\": \"a\", \"owners\": [1]}", 422, Some("owners[0]")),
            ("{\"name\": \"a\", \"extra\": 1}", 422, Some("extra")),
            (
                "{\"name\": \"a\", \"quota\": {\"gpu\": \"1\"}}",
                422,
                Some("quota.gpu"),
            ),
            ("[]", 422, Some("body")),
            ("[\"a\", [], null]", 422, Some("body")),
            ("null", 422, Some("body")),
            ("\"a string\"", 422, Some("body")),
            ("-12", 422, Some("body")),
            ("true", 422, Some("body")),
            ("<xml/>", 400, None),
            // Issue 15: not JSON at all, though it starts like JSON would.
            ("not json", 400, None),
            ("nope", 400, None),
            ("this is text", 400, None),
            ("false alarm", 400, None),
            ("-", 400, None),
            ("12 monkeys", 400, None),
            ("[1,", 400, None),
            ("[\"a\"", 400, None),
            ("\"unterminated", 400, None),
            ("   ", 400, None),
            ("{\"name\": \"a\",}", 400, None),
        ];
        for (body, status, field) in cases {
            let e = err(body);
            assert_eq!(e.status.as_u16(), status, "{body}: {e}");
            if let Some(field) = field {
                assert_eq!(e.details["field"], field, "{body}: {e}");
            }
        }
    }

    #[test]
    fn syntax_errors_say_where_the_body_broke() {
        let e = err("{\"name\": \"a\",\n \"owners\": [\"x\" \"y\"]}");
        assert_eq!(e.code(), "KN-400");
        assert_eq!(
            e.message,
            "the body is not valid JSON: expected `,` or `]` at line 2 column 17"
        );
        assert_eq!(e.details, json!({"line": 2, "column": 17}));
        let e = err("not json");
        assert_eq!(
            (e.code(), e.message.as_str()),
            (
                "KN-400".into(),
                "the body is not valid JSON: expected ident at line 1 column 2"
            )
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let e = err("{}");
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
    }
}
