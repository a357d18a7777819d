//! `GET /docs`: an HTML reference rendered from the OpenAPI document (`/openapi.json`),
//! so it says what the document says. One self-contained page: no script, no font, no
//! request to anywhere (it is read on closed networks too).

use std::fmt::Write;

use serde_json::Value;

const STYLE: &str = "body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#fff}\
header{background:#16324f;color:#fff;padding:1.2rem 2rem}header h1{margin:0;font-size:1.4rem}\
header p{margin:.3rem 0 0;opacity:.85}main{display:flex;gap:2rem;padding:1.5rem 2rem}\
nav{min-width:17rem;font-size:.9rem}nav ul{list-style:none;padding:0;margin:0 0 1rem}\
nav a{color:#16324f;text-decoration:none}nav a:hover{text-decoration:underline}\
section.op{border:1px solid #d8dee4;border-radius:6px;margin:0 0 1.2rem;padding:.8rem 1rem}\
.m{display:inline-block;min-width:3.5rem;font-weight:600;font-family:monospace;padding:0 .4rem;border-radius:4px;color:#fff}\
.get{background:#1f6feb}.post{background:#2da44e}.put{background:#bf8700}.delete{background:#cf222e}\
code,.path{font-family:ui-monospace,Menlo,monospace}.path{font-size:1.05rem;font-weight:600}\
table{border-collapse:collapse;margin:.4rem 0 .8rem;font-size:.9rem}\
th,td{border:1px solid #d8dee4;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}\
h2{font-size:1.2rem;margin:1.6rem 0 .6rem}h3{font-size:1rem;margin:.6rem 0 .3rem}.lock{color:#9a6700}";

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn anchor(method: &str, path: &str) -> String {
    format!(
        "{method}-{}",
        path.trim_matches('/')
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    )
}

/// A schema, briefly: a reference's name, a type, an array of something.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema[key].as_array() {
            let sep = if key == "allOf" { " & " } else { " | " };
            return parts.iter().map(type_of).collect::<Vec<_>>().join(sep);
        }
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    };
    if ty.contains("array") {
        return format!("array of {}", type_of(&schema["items"]));
    }
    let mut out = if ty.is_empty() {
        "any".to_owned()
    } else {
        esc(&ty)
    };
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| esc(&v.to_string())).collect();
        let _ = write!(out, ": {}", values.join(", "));
    }
    let bounds: Vec<String> = [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
    ]
    .iter()
    .filter_map(|(k, label)| schema[*k].as_f64().map(|n| format!("{label} {n}")))
    .collect();
    if !bounds.is_empty() {
        let _ = write!(out, " ({})", bounds.join(", "));
    }
    out
}

fn text(v: &Value) -> String {
    esc(v.as_str().unwrap_or(""))
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let locked = op["security"].as_array().is_some_and(|s| !s.is_empty());
    let _ = write!(
        out,
        "<section class=\"op\" id=\"{}\"><span class=\"m {method}\">{}</span> <span class=\"path\">{}</span>{}",
        anchor(method, path),
        method.to_ascii_uppercase(),
        esc(path),
        if locked { " <span class=\"lock\">🔒</span>" } else { "" }
    );
    if let Some(s) = op["summary"].as_str() {
        let _ = write!(out, "<p><strong>{}</strong></p>", esc(s));
    }
    if let Some(d) = op["description"].as_str() {
        let _ = write!(out, "<p>{}</p>", esc(d));
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&p["name"]),
                text(&p["in"]),
                type_of(&p["schema"]),
                if p["required"] == true { "yes" } else { "no" },
                text(&p["description"])
            );
        }
        out.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        out.push_str("<h3>Request body</h3><table><tr><th>media type</th><th>schema</th></tr>");
        for (media, c) in content {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                esc(media),
                type_of(&c["schema"])
            );
        }
        out.push_str("</table>");
    }
    if let Some(responses) = op["responses"].as_object() {
        out.push_str(
            "<h3>Responses</h3><table><tr><th>status</th><th>description</th><th>schema</th></tr>",
        );
        for (status, r) in responses {
            let schema = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| type_of(&c["schema"]))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{schema}</td></tr>",
                esc(status),
                text(&r["description"])
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

/// The page for an OpenAPI document (as JSON).
pub fn render(doc: &Value) -> String {
    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
    let title = text(&doc["info"]["title"]);
    let mut nav = String::from("<h3>Routes</h3><ul>");
    let mut body = String::from("<h2>Routes</h2>");
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let _ = write!(
                    nav,
                    "<li><a href=\"#{}\">{} {}</a></li>",
                    anchor(method, path),
                    method.to_ascii_uppercase(),
                    esc(path)
                );
                operation(&mut body, method, path, op);
            }
        }
    }
    nav.push_str("</ul><h3>Schemas</h3><ul>");
    body.push_str("<h2>Schemas</h2>");
    let schemas = doc["components"]["schemas"].as_object().unwrap_or(&empty);
    for (name, schema) in schemas {
        let _ = write!(nav, "<li><a href=\"#schema-{0}\">{0}</a></li>", esc(name));
        let _ = write!(
            body,
            "<section class=\"op\" id=\"schema-{0}\"><span class=\"path\">{0}</span>",
            esc(name)
        );
        if let Some(d) = schema["description"].as_str() {
            let _ = write!(body, "<p>{}</p>", esc(d));
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match schema["properties"].as_object() {
            Some(props) => {
                body.push_str("<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>");
                for (field, p) in props {
                    let _ = write!(
                        body,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        type_of(p),
                        if required.contains(&field.as_str()) {
                            "yes"
                        } else {
                            "no"
                        },
                        text(&p["description"])
                    );
                }
                body.push_str("</table>");
            }
            None => {
                let _ = write!(body, "<p>{}</p>", type_of(schema));
            }
        }
        body.push_str("</section>");
    }
    nav.push_str("</ul>");
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title} API reference</title><style>{STYLE}</style></head>\
<body><header><h1>{title} API reference</h1><p>{}</p><p>Version {} · generated from <a style=\"color:#fff\" href=\"/openapi.json\">/openapi.json</a></p></header>\
<main><nav>{nav}</nav><div>{body}</div></main></body></html>",
        text(&doc["info"]["description"]),
        text(&doc["info"]["version"]),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn every_operation_and_schema_is_on_the_page_and_text_is_escaped() {
        let doc = json!({
            "info": {"title": "t", "version": "1", "description": "<b>d</b>"},
            "paths": {
                "/a/b": {"get": {"summary": "S", "parameters": [{"name": "x", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1}}],
                          "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}},
                         "post": {"security": [{"token": []}], "responses": {}}}
            },
            "components": {"schemas": {"Thing": {"type": "object", "required": ["n"], "properties": {"n": {"type": "array", "items": {"type": "string"}}}}}}
        });
        let page = render(&doc);
        assert!(page.contains("GET /a/b") && page.contains("POST /a/b"));
        assert!(page.contains("id=\"schema-Thing\""));
        assert!(page.contains("array of string"));
        assert!(page.contains("integer (≥ 1)"));
        assert!(page.contains("&lt;b&gt;d&lt;/b&gt;") && !page.contains("<b>d</b>"));
        assert!(!page.contains("<script"));
    }
}
