//! What a person typed to the bot, as a `Command`: mentions, HTML entities, courtesy words,
//! case and quotes are tolerated; every input yields a command, `Unknown` included.
//!
//! This module owns the command grammar and the help text. It must not look anything up:
//! whether a record type is switched on, or a name matches a record, is decided elsewhere.

use crate::domain::{EntityType, RecordId};

/// One request typed to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// Show the chats connected to a record. `join` says the person typed "join chat …";
    /// either way joining happens only on the card's Join button.
    Chats {
        join: bool,
        entity: EntityType,
        target: RecordQuery,
    },
    /// A chats command without the record: ask which one.
    MissingTarget {
        entity: Option<EntityType>,
    },
    /// A record type the bot does not support (empty when none was given): list the ones it does.
    UnknownEntity {
        word: String,
    },
    /// An admin turns Join chat on or off for a record type.
    SetJoinChat {
        entity: EntityType,
        enabled: bool,
    },
    JoinChatSettings,
    /// Anything else; answered with help.
    Unknown,
}

/// How the person named the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordQuery {
    Id(RecordId),
    /// Part of the record's name, trimmed, without quotes, at most `MAX_NAME_CHARS` characters.
    Name(String),
}

/// Longer names are cut: no record name in Dynamics 365 is this long, and the name is
/// echoed back in answers.
pub const MAX_NAME_CHARS: usize = 200;

pub fn parse(text: &str) -> Command {
    let cleaned = decode_entities(&strip_markup(&strip_mentions(text)));
    let mut words = Words::new(&cleaned);
    words.trim_courtesy();
    if words.is_done() {
        return Command::Help;
    }
    parse_help(&words)
        .or_else(|| parse_settings(&words))
        .or_else(|| parse_switch(&words))
        .or_else(|| parse_chats(&words))
        .unwrap_or(Command::Unknown)
}

/// Removes every `<at>…</at>` mention (the bot's own, or anyone's), text included.
pub fn strip_mentions(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find("<at") {
        let start = at + found;
        let after_name = &lower[start + 3..];
        if !after_name.starts_with(['>', ' ']) {
            // `<attachment>` or similar: not a mention.
            out.push_str(&text[at..start + 3]);
            at = start + 3;
            continue;
        }
        out.push_str(&text[at..start]);
        out.push(' ');
        at = match lower[start..].find("</at>") {
            Some(close) => start + close + "</at>".len(),
            // An unclosed mention: drop its opening tag only.
            None => lower[start..]
                .find('>')
                .map_or(text.len(), |end| start + end + 1),
        };
    }
    out.push_str(&text[at..]);
    out
}

/// The help answer: every command with an example.
pub fn help_text() -> String {
    let types = EntityType::ALL
        .iter()
        .map(|entity| entity.display_name())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "I show the Teams chats connected to your Dynamics 365 records, and let you join them.\n\n\
         - **join chat for** *record type* *name or id* — the record's connected chats, with a \
         **Join** button where you may join. Example: `join chat for lead Contoso Coffee`\n\
         - **chats for** *record type* *name or id* — the same list. Example: \
         `chats for opportunity 8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b`\n\
         - **help** — this message\n\n\
         For admins:\n\n\
         - **enable join chat for** *record type* — let people with write access join. \
         Example: `enable join chat for leads`\n\
         - **disable join chat for** *record type* — Example: `disable join chat for cases`\n\
         - **join chat settings** — which record types have Join chat on\n\n\
         Record types: {types}. A name matches every record whose name contains it."
    )
}

// ---- grammar ----------------------------------------------------------------------------

const CHAT_WORDS: &[&str] = &["chat", "chats"];
const LOOK_VERBS: &[&str] = &[
    "show", "list", "find", "get", "see", "view", "display", "open", "search",
];
const ARTICLES: &[&str] = &["a", "an", "the", "my", "this", "that", "all", "any"];
const SETTINGS_WORDS: &[&str] = &["settings", "setting", "config", "configuration", "status"];

fn parse_help(words: &Words) -> Option<Command> {
    let help = matches!(
        words.key(0),
        Some("help" | "commands" | "usage" | "menu" | "?")
    ) || words.matches_all(&["what", "can", "you", "do"])
        || words.matches_all(&["how", "does", "this", "work"]);
    help.then_some(Command::Help)
}

fn parse_settings(words: &Words) -> Option<Command> {
    let mut words = words.clone();
    words.eat(LOOK_VERBS);
    words.eat(&["me"]);
    words.eat(ARTICLES);
    words.eat_join_chat();
    let settings = words.eat(SETTINGS_WORDS) && words.is_done();
    settings.then_some(Command::JoinChatSettings)
}

fn parse_switch(words: &Words) -> Option<Command> {
    let mut words = words.clone();
    let enabled = if words.eat(&["enable", "activate", "allow"])
        || words.eat_phrase(&["turn", "on"])
        || words.eat_phrase(&["switch", "on"])
    {
        true
    } else if words.eat(&["disable", "deactivate", "block"])
        || words.eat_phrase(&["turn", "off"])
        || words.eat_phrase(&["switch", "off"])
    {
        false
    } else {
        return None;
    };
    words.eat(ARTICLES);
    if !words.eat_join_chat() {
        return None;
    }
    words.eat(&["for", "on", "of", "in"]);
    words.eat(ARTICLES);
    let Some((word, rest)) = words.next_entity_word() else {
        return Some(Command::UnknownEntity {
            word: String::new(),
        });
    };
    let Some(entity) = EntityType::parse(&word) else {
        return Some(Command::UnknownEntity { word });
    };
    words.eat(&["records", "record", "type", "types"]);
    if !rest.is_empty() || !words.is_done() {
        return None;
    }
    Some(Command::SetJoinChat { entity, enabled })
}

fn parse_chats(words: &Words) -> Option<Command> {
    let mut words = words.clone();
    let join_verb = words.eat(&["join"]);
    if !join_verb && words.eat(LOOK_VERBS) {
        words.eat(&["me"]);
    }
    words.eat(ARTICLES);
    words.eat(&["connected", "linked"]);
    let chat_word = words.eat(CHAT_WORDS);
    let joinchat_word = !chat_word && words.eat(&["joinchat"]);
    let join = join_verb || joinchat_word;
    if !join && !chat_word {
        return None;
    }
    // "join lead Contoso" leaves out the word chat; accept it only when a record type follows.
    let bare_join = join_verb && !chat_word && !joinchat_word;
    if !words.eat_phrase(&["connected", "to"]) && !words.eat_phrase(&["linked", "to"]) {
        words.eat(&["for", "of", "on", "about", "with", "from", "in", "to"]);
    }
    words.eat(ARTICLES);
    let Some((word, rest_of_word)) = words.next_entity_word() else {
        return (!bare_join).then_some(Command::MissingTarget { entity: None });
    };
    let Some(entity) = EntityType::parse(&word) else {
        // "join Contoso" is too far from any command to guess at; "join chat for ticket 7"
        // clearly names a record type we do not support.
        return (!bare_join).then_some(Command::UnknownEntity { word });
    };
    words.eat(&["record"]);
    if !words.eat_phrase(&["with", "name"]) && !words.eat_phrase(&["with", "id"]) {
        words.eat(&["named", "called", "titled"]);
    }
    // "lead id 8f14e45f-…" gives the id; "lead ID Systems" names a record.
    if let [id_word, guid] = words.rest() {
        if key_of(id_word) == "id" && RecordId::parse(guid).is_ok() {
            words.eat(&["id"]);
        }
    }
    let mut target = rest_of_word;
    for word in words.rest() {
        if !target.is_empty() {
            target.push(' ');
        }
        target.push_str(word);
    }
    match record_query(&target) {
        Some(target) => Some(Command::Chats {
            join,
            entity,
            target,
        }),
        None => Some(Command::MissingTarget {
            entity: Some(entity),
        }),
    }
}

/// The record as typed: a GUID (braces allowed) is an id, anything else part of a name.
fn record_query(raw: &str) -> Option<RecordQuery> {
    const QUOTES: &[char] = &['"', '\'', '`', '“', '”', '‘', '’', '«', '»', '„'];
    let unquoted = raw
        .trim_start_matches(QUOTES)
        .trim_end_matches(QUOTES)
        .trim();
    if unquoted.is_empty() {
        return None;
    }
    if let Ok(id) = RecordId::parse(unquoted) {
        return Some(RecordQuery::Id(id));
    }
    let name: String = unquoted.chars().take(MAX_NAME_CHARS).collect();
    Some(RecordQuery::Name(name.trim_end().to_owned()))
}

// ---- words ------------------------------------------------------------------------------

/// The typed words, with a cursor. Matching is on lower-cased words without surrounding
/// punctuation; the record name is taken from the original words.
#[derive(Clone)]
struct Words<'a> {
    original: Vec<&'a str>,
    keys: Vec<String>,
    at: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Words<'a> {
        let original: Vec<&str> = text.split_whitespace().collect();
        let keys = original.iter().map(|word| key_of(word)).collect();
        Words {
            original,
            keys,
            at: 0,
        }
    }

    /// Drops greetings and polite words around the command, and closing punctuation.
    fn trim_courtesy(&mut self) {
        const LEADING: &[&[&str]] = &[
            &["please"],
            &["pls"],
            &["plz"],
            &["kindly"],
            &["hey"],
            &["hi"],
            &["hello"],
            &["ok"],
            &["okay"],
            &["so"],
            &["can", "you"],
            &["could", "you"],
            &["would", "you"],
            &["will", "you"],
            &["can", "i"],
            &["could", "i"],
            &["may", "i"],
            &["i", "want", "to"],
            &["i'd", "like", "to"],
            &["i", "would", "like", "to"],
            &["let", "me"],
        ];
        const TRAILING: &[&[&str]] = &[
            &["please"],
            &["pls"],
            &["plz"],
            &["thanks"],
            &["thx"],
            &["thank", "you"],
        ];
        loop {
            let before = (self.at, self.original.len());
            self.strip_closing_punctuation();
            for phrase in LEADING {
                self.eat_phrase(phrase);
            }
            for phrase in TRAILING {
                let keys = &self.keys[self.at..];
                if keys.len() >= phrase.len()
                    && keys[keys.len() - phrase.len()..]
                        .iter()
                        .zip(phrase.iter())
                        .all(|(key, word)| key == word)
                {
                    let keep = self.original.len() - phrase.len();
                    self.original.truncate(keep);
                    self.keys.truncate(keep);
                }
            }
            if (self.at, self.original.len()) == before {
                return;
            }
        }
    }

    fn strip_closing_punctuation(&mut self) {
        while let Some(last) = self.original.last().copied() {
            let trimmed = last.trim_end_matches(['?', '!', '.', ',', ';']);
            if trimmed.len() == last.len() || self.original.len() <= self.at {
                return;
            }
            if trimmed.is_empty() {
                self.original.pop();
                self.keys.pop();
            } else {
                *self.original.last_mut().expect("not empty") = trimmed;
                *self.keys.last_mut().expect("not empty") = key_of(trimmed);
            }
        }
    }

    fn is_done(&self) -> bool {
        self.at >= self.original.len()
    }

    fn key(&self, offset: usize) -> Option<&str> {
        self.keys.get(self.at + offset).map(String::as_str)
    }

    fn matches_all(&self, phrase: &[&str]) -> bool {
        self.keys.len() - self.at == phrase.len() && self.starts_with(phrase)
    }

    fn starts_with(&self, phrase: &[&str]) -> bool {
        phrase
            .iter()
            .enumerate()
            .all(|(offset, word)| self.key(offset) == Some(word))
    }

    /// Consumes the next word when it is one of `options`.
    fn eat(&mut self, options: &[&str]) -> bool {
        let found = self.key(0).is_some_and(|key| options.contains(&key));
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_phrase(&mut self, phrase: &[&str]) -> bool {
        let found = self.starts_with(phrase);
        if found {
            self.at += phrase.len();
        }
        found
    }

    /// "join chat", "join chats" or "joinchat".
    fn eat_join_chat(&mut self) -> bool {
        self.eat_phrase(&["join", "chat"])
            || self.eat_phrase(&["join", "chats"])
            || self.eat(&["joinchat"])
    }

    /// The next word as a record-type word, and what followed a colon in it
    /// (`lead:Contoso` names the record type and starts the name).
    fn next_entity_word(&mut self) -> Option<(String, String)> {
        let word = *self.original.get(self.at)?;
        self.at += 1;
        let (entity, rest) = word.split_once(':').unwrap_or((word, ""));
        let entity = entity.trim_matches(|c: char| !c.is_alphanumeric());
        Some((entity.to_owned(), rest.to_owned()))
    }

    fn rest(&self) -> &[&'a str] {
        &self.original[self.at.min(self.original.len())..]
    }
}

fn key_of(word: &str) -> String {
    let trimmed = word.trim_matches([',', ':', ';', '!', '.']);
    let trimmed = if trimmed.is_empty() { word } else { trimmed };
    trimmed.to_lowercase().replace('’', "'")
}

// ---- markup -----------------------------------------------------------------------------

/// Teams may wrap typed text in simple HTML; these tags carry no words.
fn strip_markup(text: &str) -> String {
    const TAGS: &[&str] = &["p", "div", "span", "br", "b", "i", "strong", "em", "u"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let candidate = &rest[open + 1..];
        let name_start = candidate.strip_prefix('/').unwrap_or(candidate);
        let name_len = name_start
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(name_start.len());
        let name = name_start[..name_len].to_ascii_lowercase();
        let close = candidate.find('>');
        match close {
            Some(close) if TAGS.contains(&name.as_str()) => {
                out.push(' ');
                rest = &candidate[close + 1..];
            }
            _ => {
                out.push('<');
                rest = candidate;
            }
        }
    }
    out.push_str(rest);
    out
}

/// HTML character references (named and numeric: `&amp;`, `&#39;`, `&#x27;`, …)
/// as Teams writes typed text, decoded once: `&amp;lt;` stays `&lt;`.
fn decode_entities(text: &str) -> String {
    let decoded = html_escape::decode_html_entities(text);
    decoded
        .chars()
        .map(|c| match c {
            '\u{a0}' | '\u{200b}' | '\u{feff}' => ' ',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntityType as E;

    const GUID: &str = "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b";

    fn chats(join: bool, entity: E, name: &str) -> Command {
        Command::Chats {
            join,
            entity,
            target: RecordQuery::Name(name.to_owned()),
        }
    }

    fn chats_by_id(join: bool, entity: E) -> Command {
        Command::Chats {
            join,
            entity,
            target: RecordQuery::Id(RecordId::parse(GUID).unwrap()),
        }
    }

    fn unknown_entity(word: &str) -> Command {
        Command::UnknownEntity {
            word: word.to_owned(),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn chats_commands() {
        let upper = GUID.to_uppercase();
        let braced = format!("join chat for lead {{{upper}}}");
        let plain_id = format!("chats for opportunity {GUID}");
        let quoted_id = format!("join chat for lead \"{{{GUID}}}\"");
        let with_id = format!("show chats for opportunity with id {GUID}");
        let id_word = format!("join chat for lead id {{{GUID}}}");
        let table = [
            ("join chat for lead Contoso Coffee", chats(true, E::Lead, "Contoso Coffee")),
            ("Join Chat For Lead Contoso Coffee", chats(true, E::Lead, "Contoso Coffee")),
            ("JOIN CHAT FOR LEADS contoso", chats(true, E::Lead, "contoso")),
            ("<at>JoinChat</at> join chat for lead Contoso", chats(true, E::Lead, "Contoso")),
            ("<at>Join Chat Bot</at>&nbsp;join chat for lead Contoso", chats(true, E::Lead, "Contoso")),
            ("join&nbsp;chat&nbsp;for&nbsp;lead&nbsp;Contoso", chats(true, E::Lead, "Contoso")),
            ("join chat for lead Contoso\n", chats(true, E::Lead, "Contoso")),
            ("  join   chat\nfor  lead \t Contoso   Coffee  ", chats(true, E::Lead, "Contoso Coffee")),
            ("join chat lead Contoso", chats(true, E::Lead, "Contoso")),
            ("join chats for opportunity Big Deal", chats(true, E::Opportunity, "Big Deal")),
            ("join a chat for the opportunity Big Deal", chats(true, E::Opportunity, "Big Deal")),
            ("join the chat of account Fabrikam", chats(true, E::Account, "Fabrikam")),
            ("joinchat for contact Jo Park", chats(true, E::Contact, "Jo Park")),
            ("join lead Contoso", chats(true, E::Lead, "Contoso")),
            ("join chat for case Broken espresso machine", chats(true, E::Incident, "Broken espresso machine")),
            ("join chat for incident Broken", chats(true, E::Incident, "Broken")),
            ("join chat for opp Big Deal", chats(true, E::Opportunity, "Big Deal")),
            ("join chat for lead: Contoso", chats(true, E::Lead, "Contoso")),
            ("join chat for lead:Contoso Coffee", chats(true, E::Lead, "Contoso Coffee")),
            ("join chat for lead named Contoso", chats(true, E::Lead, "Contoso")),
            ("join chat for lead called \"Contoso Coffee\"", chats(true, E::Lead, "Contoso Coffee")),
            ("join chat for lead “Contoso Coffee”", chats(true, E::Lead, "Contoso Coffee")),
            ("join chat for lead 'Contoso'", chats(true, E::Lead, "Contoso")),
            ("join chat for lead with name Contoso", chats(true, E::Lead, "Contoso")),
            ("join chat for account ID Systems", chats(true, E::Account, "ID Systems")),
            ("join chat for account Name Partners", chats(true, E::Account, "Name Partners")),
            ("join chat for lead Contoso?", chats(true, E::Lead, "Contoso")),
            ("join chat for lead Contoso.", chats(true, E::Lead, "Contoso")),
            ("join chat for lead Contoso, please", chats(true, E::Lead, "Contoso")),
            ("please join chat for lead Contoso", chats(true, E::Lead, "Contoso")),
            ("hey, can you join chat for lead Contoso please?", chats(true, E::Lead, "Contoso")),
            ("Hi! Could you please show chats for account Fabrikam? Thanks", chats(false, E::Account, "Fabrikam")),
            ("I'd like to join chat for lead Contoso", chats(true, E::Lead, "Contoso")),
            ("can i join chat for lead Contoso", chats(true, E::Lead, "Contoso")),
            ("chats for lead Contoso", chats(false, E::Lead, "Contoso")),
            ("chat for lead Contoso", chats(false, E::Lead, "Contoso")),
            ("Chats for Leads Contoso", chats(false, E::Lead, "Contoso")),
            ("show chats for lead Contoso", chats(false, E::Lead, "Contoso")),
            ("show me the chats for lead Contoso", chats(false, E::Lead, "Contoso")),
            ("list chats of account Fabrikam", chats(false, E::Account, "Fabrikam")),
            ("show connected chats for account Fabrikam", chats(false, E::Account, "Fabrikam")),
            ("chats connected to account Fabrikam", chats(false, E::Account, "Fabrikam")),
            ("<p>chats for contacts Jo</p>", chats(false, E::Contact, "Jo")),
            ("chats for account A &amp; B Ltd", chats(false, E::Account, "A & B Ltd")),
            ("chats for account O&#39;Brien &#x26; Sons", chats(false, E::Account, "O'Brien & Sons")),
            ("chats for account Caf&eacute; &#8212; Ltd", chats(false, E::Account, "Café — Ltd")),
            ("chats for account A &amp;lt; B", chats(false, E::Account, "A &lt; B")),
            ("chats for account Fabrikam, Inc.", chats(false, E::Account, "Fabrikam, Inc")),
            ("chats for account O'Brien & Sons", chats(false, E::Account, "O'Brien & Sons")),
            ("chats for lead Café Crème", chats(false, E::Lead, "Café Crème")),
            ("chats for lead join chat", chats(false, E::Lead, "join chat")),
            (braced.as_str(), chats_by_id(true, E::Lead)),
            (plain_id.as_str(), chats_by_id(false, E::Opportunity)),
            (quoted_id.as_str(), chats_by_id(true, E::Lead)),
            (with_id.as_str(), chats_by_id(false, E::Opportunity)),
            (id_word.as_str(), chats_by_id(true, E::Lead)),
        ];
        for (text, expected) in table {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn incomplete_or_unsupported_requests() {
        let missing = |entity| Command::MissingTarget { entity };
        let table = [
            ("join chat for lead", missing(Some(E::Lead))),
            ("join chat for leads?", missing(Some(E::Lead))),
            ("join chat for lead please", missing(Some(E::Lead))),
            ("join chat for lead \"\"", missing(Some(E::Lead))),
            ("chats for opportunity", missing(Some(E::Opportunity))),
            ("join chat for lead named", missing(Some(E::Lead))),
            ("join chat", missing(None)),
            ("join chat for", missing(None)),
            ("chats", missing(None)),
            ("show chats", missing(None)),
            ("<at>Bot</at> join chat", missing(None)),
            ("join chat for ticket 42", unknown_entity("ticket")),
            ("chats for Tickets Printer", unknown_entity("Tickets")),
            ("join chat for Contoso", unknown_entity("Contoso")),
            ("show chats for quote Q-1", unknown_entity("quote")),
            ("enable join chat for tickets", unknown_entity("tickets")),
            ("enable join chat", unknown_entity("")),
        ];
        for (text, expected) in table {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn admin_commands() {
        let set = |entity, enabled| Command::SetJoinChat { entity, enabled };
        let table = [
            ("enable join chat for leads", set(E::Lead, true)),
            ("Enable Join Chat for Lead", set(E::Lead, true)),
            ("disable join chat for opportunity", set(E::Opportunity, false)),
            ("disable join chat for opportunities.", set(E::Opportunity, false)),
            ("<at>JoinChat</at> enable join chat for cases", set(E::Incident, true)),
            ("please enable joinchat for accounts", set(E::Account, true)),
            ("turn on join chat for contacts", set(E::Contact, true)),
            ("turn off join chat for contacts", set(E::Contact, false)),
            ("switch off the join chat for lead records", set(E::Lead, false)),
            ("enable join chat leads", set(E::Lead, true)),
            ("join chat settings", Command::JoinChatSettings),
            ("Join Chat Settings", Command::JoinChatSettings),
            ("settings", Command::JoinChatSettings),
            ("show join chat settings", Command::JoinChatSettings),
            ("show me the settings", Command::JoinChatSettings),
            ("joinchat settings?", Command::JoinChatSettings),
            ("<at>Bot</at>&nbsp;settings", Command::JoinChatSettings),
        ];
        for (text, expected) in table {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn help_and_everything_else() {
        let table = [
            ("help", Command::Help),
            ("HELP", Command::Help),
            ("help?", Command::Help),
            ("help me", Command::Help),
            ("<at>JoinChat</at> help", Command::Help),
            ("can you help", Command::Help),
            ("what can you do?", Command::Help),
            ("commands", Command::Help),
            ("", Command::Help),
            ("   \n ", Command::Help),
            ("<at>JoinChat</at>", Command::Help),
            ("&nbsp;", Command::Help),
            ("hi", Command::Help),
            ("hello!", Command::Help),
            ("?", Command::Help),
            ("thanks", Command::Help),
            ("what's the weather", Command::Unknown),
            ("join the team", Command::Unknown),
            ("join Contoso deal room", Command::Unknown),
            ("enable everything", Command::Unknown),
            ("enable join chat for leads and accounts", Command::Unknown),
            ("settings for leads", Command::Unknown),
            ("leads", Command::Unknown),
            ("<script>alert(1)</script>", Command::Unknown),
            ("🙂", Command::Unknown),
        ];
        for (text, expected) in table {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let name = "é".repeat(500);
        let Command::Chats {
            target: RecordQuery::Name(cut),
            ..
        } = parse(&format!("chats for lead {name}"))
        else {
            panic!("a chats command");
        };
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    #[rustfmt::skip]
    fn mentions_are_stripped_with_their_text() {
        let table = [
            ("<at>JoinChat</at> help", "  help"),
            ("<AT>JoinChat</AT> help", "  help"),
            ("hi <at>Sam Lee</at> and <at>Jo</at>!", "hi   and  !"),
            ("<at id=\"0\">Bot</at>help", " help"),
            ("<at>unclosed help", " unclosed help"),
            ("<attachment> stays", "<attachment> stays"),
            ("no mention", "no mention"),
            ("", ""),
            ("é <at>Zoë</at> ü", "é   ü"),
        ];
        for (text, expected) in table {
            assert_eq!(strip_mentions(text), expected, "{text:?}");
        }
    }

    #[test]
    fn help_names_every_command_with_an_example() {
        let help = help_text();
        for needle in [
            "join chat for lead Contoso Coffee",
            "chats for opportunity",
            "help",
            "enable join chat for leads",
            "disable join chat for cases",
            "join chat settings",
        ] {
            assert!(help.contains(needle), "{needle}");
        }
        for entity in EntityType::ALL {
            assert!(help.contains(entity.display_name()), "{entity}");
        }
        // Every example in the help parses to what it shows.
        for example in help.split('`').skip(1).step_by(2) {
            assert!(
                !matches!(parse(example), Command::Unknown | Command::Help),
                "{example}"
            );
        }
    }

    /// Whatever arrives, parsing answers (never panics) and keeps names short.
    #[test]
    fn any_text_parses_without_panicking() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        const PIECES: &[&str] = &[
            "join",
            "chat",
            "chats",
            "for",
            "lead",
            "leads",
            "case",
            "opportunity",
            "enable",
            "disable",
            "settings",
            "help",
            "<at>",
            "</at>",
            "<at id=\"0\">",
            "&nbsp;",
            "&amp;",
            "&#",
            "\"",
            "'",
            "“",
            "”",
            "{",
            "}",
            "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b",
            "-",
            " ",
            "  ",
            "\n",
            "\t",
            "é",
            "日本",
            "🔒",
            "<",
            ">",
            "/",
            "?",
            "please",
            "x",
        ];
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let words = rng.gen_range(0..40);
            let text: String = (0..words)
                .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
                .collect();
            if let Command::Chats {
                target: RecordQuery::Name(name),
                ..
            } = parse(&text)
            {
                assert!(name.chars().count() <= MAX_NAME_CHARS, "{text:?}");
                assert!(!name.trim().is_empty(), "{text:?}");
            }
        }
        let long = "join chat for lead ".to_owned() + &"a".repeat(10_000);
        assert!(matches!(parse(&long), Command::Chats { .. }));
    }
}
