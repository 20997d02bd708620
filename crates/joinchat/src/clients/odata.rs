//! OData query syntax, as the Dataverse client writes it: `$filter` clauses
//! whose string literals follow the OData ABNF (`'…'`, a `'` inside written
//! `''`), so typed text can never end a literal early and add clauses of its
//! own; and query values percent-encoded so they can never end the value
//! (`&`, `#`) either.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters escaped inside a path segment or query value: all but ASCII
/// letters, digits, `-`, `_` and `.`.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// `'text'`, every `'` doubled.
pub fn string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `column eq 'text'`.
pub fn eq(column: &str, text: &str) -> String {
    format!("{column} eq {}", string(text))
}

/// `contains(column,'text')`.
pub fn contains(column: &str, text: &str) -> String {
    format!("contains({column},{})", string(text))
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
mod tests {
    use proptest::prelude::*;

    use super::*;

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

    /// Text meant to break out: quotes, parentheses, OData words, `&`, `%`.
    fn hostile() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just("'".to_owned()),
            Just("''".to_owned()),
            Just("')".to_owned()),
            Just(" or 1 eq 1 or ".to_owned()),
            Just(" and ".to_owned()),
            Just("&$top=5000".to_owned()),
            Just("%27".to_owned()),
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
        fn clauses_keep_their_shape_whatever_the_text(a in hostile(), b in hostile()) {
            let filter = all(&[contains("fullname", &a), eq("name", &b)]);
            let (literals, outside) = read(&filter).expect("every literal is closed");
            prop_assert_eq!(literals, vec![a, b]);
            prop_assert_eq!(outside, "contains(fullname,) and name eq ");
        }

        #[test]
        fn an_encoded_value_is_unreserved_characters_and_escapes_only(text in hostile()) {
            let encoded = encode(&contains("name", &text));
            prop_assert!(
                encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.%".contains(&b)),
                "{}", encoded
            );
            let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
            prop_assert_eq!(decoded, contains("name", &text));
        }
    }

    #[test]
    fn the_reader_sees_a_break_out_when_quotes_are_not_doubled() {
        // The property above can fail: unescaped, this text adds a clause.
        let naive = format!("name eq '{}'", "x' or name ne 'x");
        let (_, outside) = read(&naive).unwrap();
        assert!(outside.contains(" or "), "{outside}");
        assert_eq!(string("O'Brien"), "'O''Brien'");
    }
}
