//! Who sees what of a connected chat: a pure function from the facts about one user, one
//! record and one chat to a decision, following the behaviour table in docs/behaviour.md.
//!
//! This module must not fetch the facts (no I/O, no store, no clock): callers gather them and
//! every rule stays a row of a test table.

use serde::Serialize;

/// What is known about one user, one record and one of its connected chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    /// The user can read the record.
    pub can_read: bool,
    /// The user has write access to the record.
    pub can_write: bool,
    /// The admin turned Join chat on for the record's type.
    pub join_enabled: bool,
    /// The user is already a member of the chat.
    pub is_member: bool,
}

/// How the chat is shown to that user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decision {
    /// Nothing about the record or the chat is revealed.
    Hidden,
    /// Already in the chat: offer to open it.
    Member,
    /// The user may join.
    Joinable,
    /// Listed but locked, with the causes.
    Locked {
        type_disabled: bool,
        read_only: bool,
    },
}

pub fn decide(facts: Situation) -> Decision {
    let Situation {
        can_read,
        can_write,
        join_enabled,
        is_member,
    } = facts;
    // Write access without read access cannot happen in Dataverse; if the facts say so,
    // something upstream is wrong, and revealing nothing is the only safe answer.
    if !can_read {
        return Decision::Hidden;
    }
    if is_member {
        return Decision::Member;
    }
    if can_write && join_enabled {
        return Decision::Joinable;
    }
    Decision::Locked {
        type_disabled: !join_enabled,
        read_only: !can_write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision as D;

    #[test]
    #[rustfmt::skip]
    fn every_row_of_the_behaviour_table() {
        let locked = |type_disabled, read_only| D::Locked { type_disabled, read_only };
        let table = [
            // read  write  enabled member  expected
            (false, false, false, false, D::Hidden),
            (false, false, false, true,  D::Hidden),
            (false, false, true,  false, D::Hidden),
            (false, false, true,  true,  D::Hidden),
            (false, true,  false, false, D::Hidden),
            (false, true,  false, true,  D::Hidden),
            (false, true,  true,  false, D::Hidden),
            (false, true,  true,  true,  D::Hidden),
            (true,  false, false, false, locked(true, true)),
            (true,  false, false, true,  D::Member),
            (true,  false, true,  false, locked(false, true)),
            (true,  false, true,  true,  D::Member),
            (true,  true,  false, false, locked(true, false)),
            (true,  true,  false, true,  D::Member),
            (true,  true,  true,  false, D::Joinable),
            (true,  true,  true,  true,  D::Member),
        ];
        for (can_read, can_write, join_enabled, is_member, expected) in table {
            let facts = Situation { can_read, can_write, join_enabled, is_member };
            assert_eq!(decide(facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn a_locked_chat_always_names_a_cause() {
        for bits in 0u8..16 {
            let facts = Situation {
                can_read: bits & 8 != 0,
                can_write: bits & 4 != 0,
                join_enabled: bits & 2 != 0,
                is_member: bits & 1 != 0,
            };
            if let D::Locked {
                type_disabled,
                read_only,
            } = decide(facts)
            {
                assert!(type_disabled || read_only, "{facts:?}");
            }
        }
    }
}
