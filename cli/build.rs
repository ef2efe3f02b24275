//! Generates the typed API client from `docs/openapi/openapi.yaml` (ADR 0021): one constant per
//! operation (method, path template, query parameters, body, success status and content type),
//! a query struct per operation that reads a query string, and one method per operation on
//! `Client` taking the path parameters in order. Nothing about the API's URLs is hand-written in
//! the CLI: a changed document changes (or breaks the build of) the CLI.

use std::fmt::Write as _;
use std::path::Path;

use serde_yaml::Value;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let document = Path::new(&manifest).join("../docs/openapi/openapi.yaml");
    println!("cargo:rerun-if-changed={}", document.display());
    let text = std::fs::read_to_string(&document)
        .unwrap_or_else(|e| panic!("reading {}: {e}", document.display()));
    let doc: Value = serde_yaml::from_str(&text).expect("docs/openapi/openapi.yaml is YAML");
    let code = generate(&doc);
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("client.rs");
    std::fs::write(out, code).expect("writing the generated client");
}

struct Param {
    name: String,
    kind: &'static str,
    description: String,
}

struct Op {
    id: String,
    method: String,
    path: String,
    summary: String,
    path_params: Vec<String>,
    query: Vec<Param>,
    body: &'static str,
    status: u16,
    content: String,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn snake(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        match c {
            '.' | '-' => out.push('_'),
            c if c.is_ascii_uppercase() => {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
    }
    out
}

fn camel(id: &str) -> String {
    snake(id)
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    let paths = doc
        .get("paths")
        .and_then(Value::as_mapping)
        .expect("the document has paths");
    for (path, item) in paths {
        let path = path.as_str().expect("path").to_owned();
        let Some(item) = item.as_mapping() else {
            continue;
        };
        for (method, op) in item {
            let method = method.as_str().expect("method").to_uppercase();
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                continue;
            }
            let id = str_of(op, "operationId").to_owned();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            let mut path_params = Vec::new();
            let mut query = Vec::new();
            for p in op
                .get("parameters")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let name = str_of(p, "name").to_owned();
                match str_of(p, "in") {
                    "path" => path_params.push(name),
                    "query" => {
                        let schema = p.get("schema").cloned().unwrap_or(Value::Null);
                        let kind = match str_of(&schema, "type") {
                            "boolean" => "bool",
                            "integer" => "i64",
                            _ => "String",
                        };
                        query.push(Param {
                            name,
                            kind,
                            description: str_of(p, "description").to_owned(),
                        });
                    }
                    other => panic!("{id}: parameter in {other} is not supported"),
                }
            }
            // The template's order is the methods' argument order.
            let mut in_template = Vec::new();
            for piece in path.split('{').skip(1) {
                let name = piece.split('}').next().unwrap_or("").to_owned();
                assert!(
                    path_params.contains(&name),
                    "{id}: {{{name}}} is not a declared path parameter"
                );
                in_template.push(name);
            }
            let body = match op.get("requestBody") {
                None => "Body::None",
                Some(b) if b.get("required").and_then(Value::as_bool) == Some(true) => {
                    "Body::Required"
                }
                Some(_) => "Body::Optional",
            };
            let responses = op
                .get("responses")
                .and_then(Value::as_mapping)
                .expect("responses");
            let (status, content) = responses
                .iter()
                .find_map(|(code, r)| {
                    let code = code.as_str()?;
                    let status: u16 = code.parse().ok()?;
                    (200..300).contains(&status).then(|| {
                        let content = r
                            .get("content")
                            .and_then(Value::as_mapping)
                            .and_then(|m| m.keys().next())
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        (status, content)
                    })
                })
                .unwrap_or_else(|| panic!("{id} has no success response"));
            ops.push(Op {
                id,
                method,
                path: path.clone(),
                summary: str_of(op, "summary").to_owned(),
                path_params: in_template,
                query,
                body,
                status,
                content,
            });
        }
    }
    ops.sort_by(|a, b| a.id.cmp(&b.id));
    ops
}

fn generate(doc: &Value) -> String {
    let ops = operations(doc);
    let mut s = String::new();
    s.push_str("// Generated by cli/build.rs from docs/openapi/openapi.yaml. Do not edit.\n\n");
    s.push_str("/// Every operation of the document, sorted by operationId.\n");
    s.push_str("pub(crate) const OPERATIONS: &[Operation] = &[\n");
    for op in &ops {
        let _ = writeln!(
            s,
            "    Operation {{ id: {id:?}, method: {m:?}, path: {p:?}, summary: {su:?}, query: &[{q}], body: {b}, status: {st}, content: {c:?} }},",
            id = op.id,
            m = op.method,
            p = op.path,
            su = op.summary,
            q = op
                .query
                .iter()
                .map(|q| format!("{:?}", q.name))
                .collect::<Vec<_>>()
                .join(", "),
            b = op.body,
            st = op.status,
            c = op.content,
        );
    }
    s.push_str("];\n\n");
    for (i, op) in ops.iter().enumerate() {
        if op.query.is_empty() {
            continue;
        }
        let name = camel(&op.id) + "Query";
        let _ = writeln!(s, "/// The query string of `{}`.", op.id);
        s.push_str("#[derive(Debug, Clone, Default)]\n");
        let _ = writeln!(s, "pub(crate) struct {name} {{");
        for q in &op.query {
            let _ = writeln!(s, "    /// {}", q.description.replace('\n', " "));
            let _ = writeln!(s, "    pub(crate) {}: Option<{}>,", snake(&q.name), q.kind);
        }
        s.push_str("}\n\n");
        let _ = writeln!(s, "impl {name} {{");
        s.push_str("    fn pairs(&self) -> Vec<(&'static str, String)> {\n");
        s.push_str("        let mut out = Vec::new();\n");
        for q in &op.query {
            let _ = writeln!(
                s,
                "        if let Some(v) = &self.{} {{ out.push(({:?}, v.to_string())); }}",
                snake(&q.name),
                q.name
            );
        }
        s.push_str("        out\n    }\n}\n\n");
        let _ = i;
    }
    s.push_str("impl Client {\n");
    for (i, op) in ops.iter().enumerate() {
        let mut args = String::new();
        let mut values = Vec::new();
        for p in &op.path_params {
            let _ = write!(args, ", {}: &str", snake(p));
            values.push(format!("({:?}, {})", p, snake(p)));
        }
        let query = if op.query.is_empty() {
            "Vec::new()".to_owned()
        } else {
            let _ = write!(args, ", query: &{}Query", camel(&op.id));
            "query.pairs()".to_owned()
        };
        let body = match op.body {
            "Body::None" => "None".to_owned(),
            "Body::Required" => {
                args.push_str(", body: &serde_json::Value");
                "Some(body)".to_owned()
            }
            _ => {
                args.push_str(", body: Option<&serde_json::Value>");
                "body".to_owned()
            }
        };
        let _ = writeln!(
            s,
            "    /// `{} {}` ({}): {}",
            op.method, op.path, op.id, op.summary
        );
        let _ = writeln!(
            s,
            "    pub(crate) async fn {}(&self{args}) -> Result<reqwest::Response, Error> {{",
            snake(&op.id)
        );
        let _ = writeln!(
            s,
            "        self.send(&OPERATIONS[{i}], &[{}], {query}, {body}).await",
            values.join(", ")
        );
        s.push_str("    }\n");
    }
    s.push_str("}\n");
    s
}
