//! The filter builders, read back the way Dataverse reads them: an OData
//! tokenizer for the string literals, then SQL `LIKE` for `contains()`.
//! Whatever the typed text, it stays one literal, matches only itself, and
//! the clause keeps its shape.

use proptest::prelude::*;

use super::*;

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

/// Reads a filter as an OData parser does: the string literals (decoded)
/// and everything outside them. `None` when a literal is left open.
fn read(filter: &str) -> Option<(Vec<String>, String)> {
    let (mut literals, mut outside) = (Vec::new(), String::new());
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            outside.push(c);
            continue;
        }
        let mut literal = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    literal.push('\'');
                }
                '\'' => break,
                other => literal.push(other),
            }
        }
        literals.push(literal);
    }
    Some((literals, outside))
}

/// What a `LIKE` pattern matches when it holds no wildcard: its text with
/// each bracketed character unbracketed. `None` when a wildcard is left bare.
fn like_text(pattern: &str) -> Option<String> {
    let mut text = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' | '_' => return None,
            '[' => {
                let inner = chars.next()?;
                if chars.next()? != ']' {
                    return None;
                }
                text.push(inner);
            }
            other => text.push(other),
        }
    }
    Some(text)
}

/// Text meant to break out: quotes, parentheses, OData words, wildcards, `&`, `%`.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("'".to_owned()),
        Just("''".to_owned()),
        Just("')".to_owned()),
        Just(" or 1 eq 1 or ".to_owned()),
        Just(" and ".to_owned()),
        Just("&$top=5000".to_owned()),
        Just("%27".to_owned()),
        Just("_".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("#".to_owned()),
        any::<String>(),
    ];
    proptest::collection::vec(pieces, 0..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_literal_holds_exactly_the_text_and_nothing_escapes_it(text in hostile()) {
        let (literals, outside) = read(&string(&text)).expect("the literal is closed");
        prop_assert_eq!(literals, vec![text]);
        prop_assert_eq!(outside, "");
    }

    #[test]
    fn clauses_keep_their_shape_and_contains_matches_only_the_text(a in hostile(), b in hostile()) {
        let filter = all(&[contains("fullname", &a), eq("name", &b)]);
        let (literals, outside) = read(&filter).expect("every literal is closed");
        prop_assert_eq!(outside, "contains(fullname,) and name eq ");
        prop_assert_eq!(literals.len(), 2);
        prop_assert_eq!(like_text(&literals[0]), Some(a));
        prop_assert_eq!(&literals[1], &b);
    }

    #[test]
    fn an_encoded_value_is_unreserved_characters_and_escapes_only(text in hostile()) {
        let filter = contains("name", &text);
        let encoded = encode(&filter);
        prop_assert!(
            encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.%".contains(&b)),
            "{}", encoded
        );
        let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
        prop_assert_eq!(decoded, filter);
    }
}

#[test]
fn the_readers_see_a_break_out_when_the_text_is_not_made_literal() {
    // The properties above can fail: unescaped, this text adds a clause...
    let naive = format!("name eq '{}'", "x' or name ne 'x");
    let (_, outside) = read(&naive).unwrap();
    assert!(outside.contains(" or "), "{outside}");
    // ...and a bare wildcard matches more than the text.
    assert_eq!(like_text("100% Acme"), None);
    assert_eq!(string("O'Brien"), "'O''Brien'");
}
