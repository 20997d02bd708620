//! The slice of OData the bot uses against Dataverse: `$filter` with `eq`,
//! `contains` and `and`; `$select`; `$expand` of one navigation property;
//! `$top`. Rows are JSON objects; evaluating a query never does I/O.
//!
//! String comparisons ignore case, as Dataverse's SQL collation does, and
//! `contains` is SQL's `LIKE '%…%'`: `%`, `_` and `[…]` in its text are
//! wildcards, `[%]`, `[_]` and `[[]` their literal selves. Anything outside
//! this slice is an error, so a drifting client fails loudly.

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
            Clause::Contains { text, .. } => value.as_str().is_some_and(|v| like_contains(v, text)),
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One element of a `LIKE` pattern.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// `%`: any run of characters, none included.
    Any,
    /// `_`: exactly one character.
    One,
    /// `[abc]`, `[a-f]`, `[^…]`: one character in (or not in) the set.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Literal(char),
}

/// Whether `value` contains `text` as Dataverse evaluates `contains`: the text
/// becomes the SQL pattern `%text%` (Power Apps docs, "Use wildcard characters
/// in conditions for string values": `%`, `_`, `[]` and `[^]` are wildcards in
/// `contains`, and a wildcard in brackets is a literal), case-insensitively.
pub(crate) fn like_contains(value: &str, text: &str) -> bool {
    let mut pattern = vec![Piece::Any];
    pattern.extend(pieces(&text.to_lowercase()));
    pattern.push(Piece::Any);
    let value: Vec<char> = value.to_lowercase().chars().collect();
    like(&value, &pattern)
}

fn pieces(text: &str) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let piece = match chars[index] {
            '%' => Piece::Any,
            '_' => Piece::One,
            '[' => match chars[index + 1..].iter().position(|c| *c == ']') {
                // `[]` is no set: its `]` closes nothing, so both are literal.
                Some(0) | None => Piece::Literal('['),
                Some(length) => {
                    let inner = &chars[index + 1..index + 1 + length];
                    index += length + 1;
                    set(inner)
                }
            },
            other => Piece::Literal(other),
        };
        pieces.push(piece);
        index += 1;
    }
    pieces
}

fn set(inner: &[char]) -> Piece {
    let (negated, inner) = match inner {
        ['^', rest @ ..] if !rest.is_empty() => (true, rest),
        _ => (false, inner),
    };
    let mut ranges = Vec::new();
    let mut index = 0;
    while index < inner.len() {
        if index + 2 < inner.len() && inner[index + 1] == '-' {
            ranges.push((inner[index], inner[index + 2]));
            index += 3;
        } else {
            ranges.push((inner[index], inner[index]));
            index += 1;
        }
    }
    Piece::Set { negated, ranges }
}

/// Classic wildcard matching, one row of the table at a time.
fn like(value: &[char], pattern: &[Piece]) -> bool {
    // matched[j]: the value so far matches the first j pieces.
    let mut matched = vec![false; pattern.len() + 1];
    matched[0] = true;
    for j in 0..pattern.len() {
        if pattern[j] == Piece::Any && matched[j] {
            matched[j + 1] = true;
        }
    }
    for c in value {
        let mut next = vec![false; pattern.len() + 1];
        for (j, piece) in pattern.iter().enumerate() {
            next[j + 1] = match piece {
                Piece::Any => next[j] || matched[j + 1],
                Piece::One => matched[j],
                Piece::Literal(expected) => matched[j] && c == expected,
                Piece::Set { negated, ranges } => {
                    let inside = ranges.iter().any(|(low, high)| low <= c && c <= high);
                    matched[j] && inside != *negated
                }
            };
        }
        matched = next;
    }
    matched[pattern.len()]
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
    fn contains_treats_sql_wildcards_as_sql_does() {
        #[rustfmt::skip]
        let table: &[(&str, &str, bool)] = &[
            // value, contains text, matches
            ("Contoso Coffee", "coffee", true),
            ("Contoso Coffee", "tea", false),
            ("Contoso Coffee", "", true),
            ("Contoso Coffee", "c_ff", true),       // `_` is any one character
            ("Contoso Coffee", "con%fee", true),    // `%` is any run
            ("Contoso Coffee", "[bc]offee", true),  // a set
            ("Contoso Coffee", "[^c]offee", false), // a negated set
            ("Contoso Coffee", "[a-d]on", true),    // a range
            ("Acme_2024", "e_2", true),
            ("Acme-2024", "e[_]2", false),          // `[_]` is a literal underscore
            ("Acme_2024", "e[_]2", true),
            ("100% Acme", "0[%] a", true),          // `[%]` is a literal percent
            ("100 Acme", "0[%] a", false),
            ("[Beta] Acme", "[[]beta]", true),      // `[[]` is a literal bracket
            ("Beta Acme", "[[]beta]", false),
            ("a]b", "a]b", true),                   // a lone `]` is itself
            ("a[b", "a[b", true),                   // so is an unclosed `[`
        ];
        for (value, text, expected) in table {
            assert_eq!(
                like_contains(value, text),
                *expected,
                "{value:?} contains {text:?}"
            );
        }
    }

    #[test]
    fn operators_outside_the_slice_are_refused() {
        assert!(parse_filter("statecode ne 0").is_err());
        assert!(parse_filter("name eq 'a' or name eq 'b'").is_err());
        assert!(parse_filter("name eq 'it's'").is_err());
    }
}
