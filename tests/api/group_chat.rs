//! A group chat is a shared room: what the bot posts there is seen by every
//! member, whatever they may read. The posted card names nothing beyond what
//! the asker typed; each viewer's refresh and the card's button give that
//! viewer their own view.

use serde_json::{json, Value};

use crate::cards::{cards, executes, words};
use crate::helpers::{spawn_app_with, StoreKind, TestApp};
use joinchat_sandbox::World;

const TEAM: &str = "19:hazel-team@thread.v2";
const ROOM: &str = "19:hazel-room@thread.v2";

/// Omar owns both Hazel Ridge leads and is in the deal room; Wes may write
/// the first, Rae only read it, Nina may read neither. All four share the
/// team chat, where Omar asks.
const WORLD: &str = r#"
join_chat = ["lead"]

[[users]]
key = "omar"
name = "Omar Haddad"

[[users]]
key = "wes"
name = "Wes Park"

[[users]]
key = "rae"
name = "Rae Cole"

[[users]]
key = "nina"
name = "Nina Berg"

[[records]]
entity = "lead"
name = "Hazel Ridge"
owner = "omar"
write = ["wes"]
read = ["rae"]

[[records]]
entity = "lead"
name = "Hazel Ridge annex"
owner = "omar"

[[records]]
entity = "account"
name = "Hazel team admin"
owner = "omar"

[[chats]]
id = "19:hazel-room@thread.v2"
topic = "Hazel Ridge deal room"
members = ["omar"]
connected_to = ["lead:Hazel Ridge"]

[[chats]]
id = "19:hazel-team@thread.v2"
topic = "Hazel team"
members = ["omar", "wes", "rae", "nina"]
connected_to = ["account:Hazel team admin"]
"#;

async fn spawn(store: StoreKind) -> TestApp {
    spawn_app_with(World::parse(WORLD, "group.toml").unwrap(), store, |_| {}).await
}

/// The one card the bot posted for `text` typed by `user` in `chat`.
async fn shared_card(app: &TestApp, user: &str, chat: &str, text: &str) -> Value {
    let answer = app.say_in(user, chat, text).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let mut posted = cards(&answer["activities"]);
    assert_eq!(posted.len(), 1, "{answer}");
    posted.pop().unwrap()
}

/// What `user` gets from the card's automatic refresh, and from its button.
async fn own_views(app: &TestApp, user: &str, card: &Value) -> (String, String) {
    let refresh = &card["refresh"]["action"];
    let by_refresh = app
        .control_post(
            &format!("users/{user}/invoke"),
            json!({"verb": refresh["verb"], "data": refresh["data"], "chat": TEAM}),
        )
        .await;
    let button = executes(card)
        .into_iter()
        .find(|action| action["verb"] == "show")
        .expect("a visible button for one's own view");
    let by_button = app
        .control_post(
            &format!("users/{user}/invoke"),
            json!({"verb": "show", "data": button["data"], "chat": TEAM}),
        )
        .await;
    assert_eq!(by_refresh["body"]["statusCode"], 200, "{by_refresh}");
    assert_eq!(by_button["body"]["statusCode"], 200, "{by_button}");
    (
        words(&by_refresh["body"]["value"]),
        words(&by_button["body"]["value"]),
    )
}

fn record_id(app: &TestApp, name: &str) -> String {
    app.world["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_shared_card_reveals_nothing_and_each_viewer_gets_their_own_view() {
    for store in [StoreKind::Memory, StoreKind::Redis] {
        let app = spawn(store).await;
        let card = shared_card(&app, "omar", TEAM, "chats for lead Hazel Ridge").await;
        let everything = card.to_string();
        let shown = words(&card);
        assert!(
            shown.contains("Hazel Ridge"),
            "the typed name is echoed: {shown}"
        );
        for secret in [
            "deal room",
            "annex",
            "member",
            "Hover over",
            "locked",
            "You joined",
            "Open chat",
        ] {
            assert!(!shown.contains(secret), "{secret:?} in {shown}");
        }
        for id in [
            record_id(&app, "Hazel Ridge"),
            record_id(&app, "Hazel Ridge annex"),
        ] {
            assert!(
                !everything.contains(&id),
                "the record id is in the card: {card}"
            );
        }
        assert!(!everything.contains(ROOM), "{card}");
        // Every member gets an automatic refresh.
        let user_ids = card["refresh"]["userIds"].as_array().expect("userIds");
        assert_eq!(user_ids.len(), 4, "{card}");

        let table = [
            ("omar", "You're a member"),
            ("wes", "Hover over to join this chat"),
            ("rae", "The chat is locked"),
            ("nina", "couldn't find"),
        ];
        for (user, expected) in table {
            let (by_refresh, by_button) = own_views(&app, user, &card).await;
            assert!(by_refresh.contains(expected), "{user}: {by_refresh}");
            assert!(by_button.contains(expected), "{user}: {by_button}");
        }
        let (nina, _) = own_views(&app, "nina", &card).await;
        assert!(!nina.contains("deal room"), "{nina}");
        assert!(app.graph_adds().await.is_empty());
    }
}

#[tokio::test]
async fn several_matches_in_a_group_chat_are_listed_only_to_each_viewer() {
    let app = spawn(StoreKind::Memory).await;
    let card = shared_card(&app, "omar", TEAM, "chats for lead Hazel").await;
    let shown = words(&card);
    assert!(
        !shown.contains("annex") && !shown.contains("Ridge"),
        "{shown}"
    );
    // Omar reads both leads: his own choice lists both.
    let (omar, _) = own_views(&app, "omar", &card).await;
    assert!(
        omar.contains("Hazel Ridge annex") && omar.contains("Hazel Ridge"),
        "{omar}"
    );
    // Wes reads one: he gets its chats, never the other's name.
    let (wes, _) = own_views(&app, "wes", &card).await;
    assert!(wes.contains("Hover over to join this chat"), "{wes}");
    assert!(!wes.contains("annex"), "{wes}");
    let (nina, _) = own_views(&app, "nina", &card).await;
    assert!(
        nina.contains("couldn't find") && !nina.contains("Ridge"),
        "{nina}"
    );
}

#[tokio::test]
async fn a_chat_of_more_than_60_members_refreshes_60_and_offers_the_button_to_all() {
    let mut world = String::from("join_chat = [\"lead\"]\n");
    let keys: Vec<String> = (0..65).map(|n| format!("p{n:02}")).collect();
    for key in &keys {
        world.push_str(&format!(
            "[[users]]\nkey = \"{key}\"\nname = \"Person {key}\"\n"
        ));
    }
    world.push_str(
        "[[records]]\nentity = \"lead\"\nname = \"Big deal\"\nowner = \"p00\"\nwrite = [\"p64\"]\n\
         [[records]]\nentity = \"account\"\nname = \"Everyone\"\nowner = \"p00\"\n\
         [[chats]]\nid = \"19:big-room@thread.v2\"\ntopic = \"Big deal room\"\nmembers = [\"p00\"]\n\
         connected_to = [\"lead:Big deal\"]\n",
    );
    world.push_str(&format!(
        "[[chats]]\nid = \"{TEAM}\"\ntopic = \"Everyone\"\nmembers = [{}]\nconnected_to = [\"account:Everyone\"]\n",
        keys.iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let app = spawn_app_with(
        World::parse(&world, "big.toml").unwrap(),
        StoreKind::Memory,
        |_| {},
    )
    .await;
    let card = shared_card(&app, "p00", TEAM, "chats for lead Big deal").await;
    let user_ids = card["refresh"]["userIds"].as_array().expect("userIds");
    assert_eq!(
        user_ids.len(),
        60,
        "Teams refreshes a card for at most 60 users"
    );
    assert!(!card.to_string().contains("Big deal room"));
    // The 65th member is past the refresh list: the button gives their view.
    let (_, by_button) = own_views(&app, "p64", &card).await;
    assert!(
        by_button.contains("Hover over to join this chat"),
        "{by_button}"
    );
}

#[tokio::test]
async fn without_the_roster_the_shared_card_still_offers_each_viewer_their_view() {
    let app = spawn(StoreKind::Memory).await;
    // The roster read (the first connector call) is refused once.
    app.fault(json!({"service": "connector", "status": 403, "count": 1}))
        .await;
    let card = shared_card(&app, "omar", TEAM, "chats for lead Hazel Ridge").await;
    assert!(card["refresh"]["userIds"].is_null(), "{card}");
    assert!(!card.to_string().contains("deal room"), "{card}");
    let (_, wes) = own_views(&app, "wes", &card).await;
    assert!(wes.contains("Hover over to join this chat"), "{wes}");
}
