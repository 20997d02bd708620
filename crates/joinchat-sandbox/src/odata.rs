//! The slice of OData the bot uses against Dataverse: `$filter` with `eq`,
//! `contains` and `and`; `$select`; `$expand` of one navigation property;
//! `$top`. Rows are JSON objects; evaluating a query never does I/O.
//!
//! String comparisons ignore case, as Dataverse's SQL collation does. Anything
//! outside this slice is an error, so a drifting client fails loudly.

use serde_json::{Map, Value};

/// One `$filter` term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    Eq { column: String, value: Literal },
    Contains { column: String, text: String },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Text(String),
    Number(i64),
    Bool(bool),
    Null,
}

/// The query options of one request.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub select: Option<Vec<String>>,
    pub filter: Vec<Clause>,
    pub expand: Option<String>,
    pub top: Option<usize>,
}

impl Query {
    /// Parses the query string options; `allowed_extra` names the parameter
    /// aliases (like `@tid`) the caller handles itself.
    pub fn parse(pairs: &[(String, String)], allowed_extra: &[&str]) -> Result<Query, String> {
        let mut query = Query::default();
        for (name, value) in pairs {
            match name.as_str() {
                "$select" => {
                    query.select = Some(value.split(',').map(|c| c.trim().to_owned()).collect());
                }
                "$filter" => query.filter = parse_filter(value)?,
                "$expand" => {
                    let navigation = value.split('(').next().unwrap_or_default().trim();
                    query.expand = Some(navigation.to_owned());
                }
                "$top" => {
                    let top = value
                        .trim()
                        .parse()
                        .map_err(|_| format!("Invalid value '{value}' for $top."))?;
                    query.top = Some(top);
                }
                other if allowed_extra.contains(&other) => {}
                other => {
                    return Err(format!(
                        "The query parameter '{other}' is not supported by the simulated Dataverse."
                    ))
                }
            }
        }
        Ok(query)
    }
}

/// A `$filter` made of `and`-joined `column eq literal` and
/// `contains(column,'text')` terms, each optionally in parentheses.
pub(crate) fn parse_filter(text: &str) -> Result<Vec<Clause>, String> {
    split_and(text)
        .into_iter()
        .map(|term| parse_term(term.trim()))
        .collect()
}

fn split_and(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut in_quote = false;
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\'' => in_quote = !in_quote,
            b'(' if !in_quote => depth += 1,
            b')' if !in_quote => depth = depth.saturating_sub(1),
            b' ' if !in_quote && depth == 0 => {
                let rest = &text[index..];
                if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(" and ") {
                    terms.push(&text[start..index]);
                    index += 5;
                    start = index;
                    continue;
                }
            }
            _ => {}
        }
        index += 1;
    }
    terms.push(&text[start..]);
    terms
}

fn parse_term(term: &str) -> Result<Clause, String> {
    let unsupported =
        || format!("The $filter term '{term}' is not supported by the simulated Dataverse.");
    if let Some(inner) = term.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        return parse_term(inner.trim());
    }
    if term.len() > 9 && term[..9].eq_ignore_ascii_case("contains(") {
        let inner = term[9..].strip_suffix(')').ok_or_else(unsupported)?;
        let (column, literal) = inner.split_once(',').ok_or_else(unsupported)?;
        let Literal::Text(text) = parse_literal(literal.trim()).ok_or_else(unsupported)? else {
            return Err(unsupported());
        };
        return Ok(Clause::Contains {
            column: column.trim().to_owned(),
            text,
        });
    }
    let mut parts = term.splitn(3, ' ');
    let (Some(column), Some(operator), Some(literal)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(unsupported());
    };
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let value = parse_literal(literal.trim()).ok_or_else(unsupported)?;
    Ok(Clause::Eq {
        column: column.trim().to_owned(),
        value,
    })
}

/// `'text'` (with `''` for a quote), a number, `true`/`false`/`null`, or a bare GUID.
fn parse_literal(text: &str) -> Option<Literal> {
    if let Some(quoted) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        // Inside, a lone quote would have ended the literal.
        if quoted.replace("''", "").contains('\'') {
            return None;
        }
        return Some(Literal::Text(quoted.replace("''", "'")));
    }
    match text {
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        "null" => return Some(Literal::Null),
        _ => {}
    }
    if let Ok(number) = text.parse() {
        return Some(Literal::Number(number));
    }
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|guid| Literal::Text(guid.hyphenated().to_string()))
}

/// Whether `row` satisfies every clause. An unknown column is an error.
pub(crate) fn matches(
    row: &Map<String, Value>,
    clauses: &[Clause],
    type_name: &str,
) -> Result<bool, String> {
    for clause in clauses {
        let column = match clause {
            Clause::Eq { column, .. } | Clause::Contains { column, .. } => column,
        };
        let value = row
            .get(column)
            .ok_or_else(|| unknown_property(column, type_name))?;
        let holds = match clause {
            Clause::Eq { value: literal, .. } => equals(value, literal),
            Clause::Contains { text, .. } => value
                .as_str()
                .is_some_and(|v| v.to_lowercase().contains(&text.to_lowercase())),
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn equals(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::String(v), Literal::Text(t)) => v.to_lowercase() == t.to_lowercase(),
        (Value::Number(v), Literal::Number(n)) => v.as_i64() == Some(*n),
        (Value::Bool(v), Literal::Bool(b)) => v == b,
        (Value::Null, Literal::Null) => true,
        _ => false,
    }
}

pub(crate) fn unknown_property(column: &str, type_name: &str) -> String {
    format!(
        "Could not find a property named '{column}' on type 'Microsoft.Dynamics.CRM.{type_name}'."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_of_several_terms_parses_with_quotes_and_guids() {
        let clauses = parse_filter(
            "contains(fullname,'O''Brien and sons') and statecode eq 0 and azureactivedirectoryobjectid eq 8F14E45F-CEEA-467F-A0C5-1B2D3E4F5A6B",
        )
        .unwrap();
        assert_eq!(
            clauses,
            vec![
                Clause::Contains {
                    column: "fullname".into(),
                    text: "O'Brien and sons".into()
                },
                Clause::Eq {
                    column: "statecode".into(),
                    value: Literal::Number(0)
                },
                Clause::Eq {
                    column: "azureactivedirectoryobjectid".into(),
                    value: Literal::Text("8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b".into())
                },
            ]
        );
    }

    #[test]
    fn operators_outside_the_slice_are_refused() {
        assert!(parse_filter("statecode ne 0").is_err());
        assert!(parse_filter("name eq 'a' or name eq 'b'").is_err());
        assert!(parse_filter("name eq 'it's'").is_err());
    }
}
