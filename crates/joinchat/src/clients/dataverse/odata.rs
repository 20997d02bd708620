//! The OData text the Dataverse client writes into a `$filter`: string
//! literals, and the text of `contains()` with SQL `LIKE`'s wildcards made
//! literal, so that a typed name matches itself and nothing else.

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

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn wildcards_and_quotes_are_made_literal() {
        #[rustfmt::skip]
        let table = [
            ("Contoso", "Contoso"),
            ("100% Acme", "100[%] Acme"),
            ("Acme_2024", "Acme[_]2024"),
            ("[Beta] Acme", "[[]Beta] Acme"),
            ("O'Brien", "O''Brien"),
            ("%_[]'", "[%][_][[]]''"),
        ];
        for (text, literal) in table {
            assert_eq!(like_literal(text), literal, "{text}");
        }
    }
}
