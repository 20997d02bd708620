//! The OData text the Dataverse client writes into a `$filter`: string
//! literals (OData ABNF: `'…'`, a `'` inside written `''`), so typed text can
//! never end a literal early and add clauses of its own; the text of
//! `contains()` with SQL `LIKE`'s wildcards made literal, so that a typed name
//! matches itself and nothing else; and query values percent-encoded, so they
//! can never end the value (`&`, `#`) either.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters escaped inside a path segment or query value: all but ASCII
/// letters, digits, `-`, `_` and `.`.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// `text` as a literal inside `contains()`, which Dataverse runs as SQL's
/// `LIKE`: its wildcards `%`, `_` and `[` are bracketed (`[%]`, `[_]`, `[[]`;
/// Power Apps docs, "Use wildcard characters in conditions for string
/// values"), and a quote is doubled for OData.
pub fn like_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => literal.push_str("[%]"),
            '_' => literal.push_str("[_]"),
            '[' => literal.push_str("[[]"),
            '\'' => literal.push_str("''"),
            other => literal.push(other),
        }
    }
    literal
}

/// `'text'`, every `'` doubled.
pub fn string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `column eq 'text'`.
pub fn eq(column: &str, text: &str) -> String {
    format!("{column} eq {}", string(text))
}

/// `contains(column,'text')`, the text matching itself only.
pub fn contains(column: &str, text: &str) -> String {
    format!("contains({column},'{}')", like_literal(text))
}

/// The clauses joined with `and`.
pub fn all(clauses: &[String]) -> String {
    clauses.join(" and ")
}

/// A path segment or query value, percent-encoded.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY).to_string()
}

#[cfg(test)]
#[path = "odata_tests.rs"]
mod tests;
