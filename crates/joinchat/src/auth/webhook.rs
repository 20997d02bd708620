//! Dataverse's webhook calls authenticate with a shared key, sent as its
//! registration says: `?code=<key>` (WebhookKey) or in a header (HttpHeader).
//! The key is compared in constant time, over SHA-256 digests so that not
//! even its length shows in the timing.

use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

use crate::config::DataverseWebhook;

/// Whether one of the presented keys (the `code` query value, the header's
/// value) is the configured key. Every candidate is compared, present or not.
pub fn key_matches(webhook: &DataverseWebhook, candidates: &[Option<&str>]) -> bool {
    let expected = digest(&SHA256, webhook.key.expose().as_bytes());
    let mut matched = subtle::Choice::from(0);
    for candidate in candidates {
        let presented = digest(&SHA256, candidate.unwrap_or_default().as_bytes());
        let same = expected.as_ref().ct_eq(presented.as_ref());
        // An absent or empty candidate never matches, whatever the key.
        let present = subtle::Choice::from(u8::from(candidate.is_some_and(|c| !c.is_empty())));
        matched |= same & present;
    }
    matched.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, DEFAULT_WEBHOOK_HEADER};

    #[test]
    fn only_the_exact_key_in_either_place_is_accepted() {
        let webhook = DataverseWebhook {
            key: Secret::new("0123456789abcdef-key"),
            header: DEFAULT_WEBHOOK_HEADER.into(),
        };
        let table: [(&[Option<&str>], bool); 8] = [
            (&[Some("0123456789abcdef-key"), None], true),
            (&[None, Some("0123456789abcdef-key")], true),
            (&[Some("wrong"), Some("0123456789abcdef-key")], true),
            (&[None, None], false),
            (&[Some(""), Some("")], false),
            (&[Some("0123456789abcdef-ke"), None], false),
            (&[Some("0123456789abcdef-key "), None], false),
            (&[Some("0123456789ABCDEF-KEY"), None], false),
        ];
        for (candidates, expected) in table {
            assert_eq!(
                key_matches(&webhook, candidates),
                expected,
                "{candidates:?}"
            );
        }
    }
}
