//! The document as served: JSON for `/openapi.json`, and a self-contained
//! HTML page made from it for `/docs`.

use std::fmt::Write as _;

use serde_json::Value;
use utoipa::openapi::OpenApi;

/// The document as served: JSON for `/openapi.json`, HTML for `/docs`.
pub struct Docs {
    pub json: String,
    pub html: String,
}

impl Docs {
    pub fn new(doc: OpenApi) -> Self {
        let mut value = serde_json::to_value(&doc).unwrap_or_default();
        // utoipa 5 serializes a link's `operationId` as `operation_id`
        // (and `operationRef`, `requestBody` likewise): renamed here.
        for item in value["paths"].as_object_mut().into_iter().flatten() {
            for op in item.1.as_object_mut().into_iter().flatten() {
                for response in op.1["responses"].as_object_mut().into_iter().flatten() {
                    // `get_mut`, not indexing, which would add `"links": null`
                    // to every answer (not a links map).
                    let links = response.1.get_mut("links").and_then(Value::as_object_mut);
                    for link in links.into_iter().flatten() {
                        if let Some(link) = link.1.as_object_mut() {
                            for (from, to) in [
                                ("operation_id", "operationId"),
                                ("operation_ref", "operationRef"),
                                ("request_body", "requestBody"),
                            ] {
                                if let Some(v) = link.remove(from) {
                                    link.insert(to.to_owned(), v);
                                }
                            }
                        }
                    }
                }
            }
        }
        Docs {
            html: render(&value),
            json: serde_json::to_string_pretty(&value).unwrap_or_default(),
        }
    }
}

/// HTML-escapes `text`.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Prose of the document: escaped, with `code` spans as `<code>`.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&esc(part));
            out.push_str("</code>");
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

/// `#/components/schemas/Name` as a link to the schema's section.
fn schema_link(schema: &Value) -> String {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            format!("<a href=\"#schema-{0}\">{0}</a>", esc(name))
        }
        None => format!("<code>{}</code>", esc(&schema.to_string())),
    }
}

/// The page of `/docs`: every operation with its security, body and
/// answers, then every schema. No script and no style (so that it shows the
/// same under any Content-Security-Policy), nothing from elsewhere.
pub fn render(doc: &Value) -> String {
    let mut html = String::new();
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{0}</title></head><body>\n<h1>{0} <small>{1}</small></h1>\n<p>{2}</p>\n\
         <p>Generated from the server's code; the same document as JSON: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {3}).</p>\n",
        esc(title),
        esc(doc["info"]["version"].as_str().unwrap_or("")),
        prose(doc["info"]["description"].as_str().unwrap_or("")),
        esc(doc["openapi"].as_str().unwrap_or("")),
    );
    html.push_str("<h2>Operations</h2>\n<ul>\n");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let operations: Vec<(String, String, Value)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(method, _)| {
                    ["get", "post", "put", "delete", "patch"].contains(&method.as_str())
                })
                .map(|(method, op)| (path.clone(), method.clone(), op.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (path, method, op) in &operations {
        let _ = writeln!(
            html,
            "<li><a href=\"#{0}\"><span class=\"method\">{1}</span> {2}</a> — {3}</li>",
            esc(op["operationId"].as_str().unwrap_or("")),
            esc(&method.to_uppercase()),
            esc(path),
            prose(op["summary"].as_str().unwrap_or("")),
        );
    }
    html.push_str("</ul>\n");
    for (path, method, op) in &operations {
        let _ = write!(
            html,
            "<section id=\"{0}\"><hr><h3><span class=\"method\">{1}</span> <code>{2}</code></h3>\n<p>{3}</p>\n",
            esc(op["operationId"].as_str().unwrap_or("")),
            esc(&method.to_uppercase()),
            esc(path),
            prose(
                op["description"]
                    .as_str()
                    .or(op["summary"].as_str())
                    .unwrap_or("")
            ),
        );
        if let Some(security) = op["security"].as_array() {
            let schemes: Vec<String> = security
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|s| s.keys().cloned())
                .collect();
            let _ = writeln!(
                html,
                "<p>Authorization: <code>Bearer</code> ({})</p>",
                esc(&schemes.join(", "))
            );
        }
        if let Some(parameters) = op["parameters"].as_array() {
            html.push_str("<p>Parameters:</p><ul>");
            for parameter in parameters {
                let _ = write!(
                    html,
                    "<li><code>{}</code> (in {}): {}</li>",
                    esc(parameter["name"].as_str().unwrap_or("")),
                    esc(parameter["in"].as_str().unwrap_or("")),
                    prose(parameter["description"].as_str().unwrap_or("")),
                );
            }
            html.push_str("</ul>\n");
        }
        if let Some(content) = op["requestBody"]["content"].as_object() {
            for (media, body) in content {
                let _ = writeln!(
                    html,
                    "<p>Body (<code>{}</code>): {}</p>",
                    esc(media),
                    schema_link(&body["schema"])
                );
            }
        }
        html.push_str(
            "<table border=\"1\" cellpadding=\"4\"><tr><th>status</th><th>answer</th><th>meaning</th></tr>\n",
        );
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            let bodies: Vec<String> = response["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(media, c)| {
                    format!("{} <code>{}</code>", schema_link(&c["schema"]), esc(media))
                })
                .collect();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                bodies.join("<br>"),
                prose(response["description"].as_str().unwrap_or("")),
            );
        }
        html.push_str("</table></section>\n");
    }
    html.push_str("<h2>Schemas</h2>\n");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            html,
            "<section id=\"schema-{0}\"><h3>{0}</h3><pre>{1}</pre></section>",
            esc(name),
            esc(&serde_json::to_string_pretty(schema).unwrap_or_default()),
        );
    }
    html.push_str("</body></html>\n");
    html
}
