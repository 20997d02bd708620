//! The world file: the demo, generated values, and errors that name the line.

use joinchat_sandbox::{Access, Entity, World};

const MINIMAL: &str = r#"
join_chat = ["lead"]

[[users]]
key = "sam"
name = "Sam Rivera"

[[users]]
key = "alex"
name = "Alex Wu"

[[records]]
entity = "lead"
name = "Contoso Coffee expansion"
owner = "sam"
write = ["alex"]

[[chats]]
topic = "Deal room"
members = ["sam"]
connected_to = ["lead:Contoso Coffee expansion"]
"#;

#[test]
fn the_demo_world_has_someone_for_every_row_of_the_behaviour_table() {
    let world = World::demo();
    let lead = |name: &str| {
        world
            .records()
            .iter()
            .find(|r| r.entity == Entity::Lead && r.name == name)
            .unwrap_or_else(|| panic!("no lead {name}"))
    };
    let expansion = lead("Contoso Coffee expansion");
    assert!(lead("Contoso Coffee renewal")
        .name
        .starts_with("Contoso Coffee"));
    assert_eq!(expansion.access("alex"), Access::Write);
    assert_eq!(expansion.access("jo"), Access::Read);
    assert_eq!(expansion.access("lee"), Access::None);
    assert_eq!(expansion.access("priya"), Access::None);
    assert!(world.user("priya").unwrap().admin);
    assert!(!world.join_chat().contains(&Entity::Account));
    assert!(world.join_chat().contains(&Entity::Lead));

    let chats_of = |record_id: &str| {
        world
            .chats()
            .iter()
            .filter(|chat| chat.connected_to.iter().any(|c| c.record_id == record_id))
            .count()
    };
    let no_chats = world
        .records()
        .iter()
        .filter(|r| chats_of(&r.id) == 0)
        .count();
    let several_chats = world
        .records()
        .iter()
        .filter(|r| chats_of(&r.id) > 2)
        .count();
    assert!(no_chats >= 1, "a record with no chats");
    assert!(several_chats >= 1, "a record with several chats");
    assert!(world
        .chats()
        .iter()
        .any(|chat| chat.connected_to.len() == 2));
    assert!(world.chats().iter().any(|chat| !chat.bot_installed));
    let sam_member = world.chats().iter().any(|chat| {
        chat.members.contains(&"sam".to_owned())
            && chat
                .connected_to
                .iter()
                .any(|c| c.record_id == expansion.id)
    });
    assert!(sam_member, "an existing member");
    let account_chat = world.chats().iter().any(|chat| {
        chat.connected_to
            .iter()
            .any(|c| c.entity == Entity::Account)
    });
    assert!(account_chat, "a chat on a record type that is not enabled");
}

#[test]
fn values_the_file_leaves_out_are_generated_in_their_real_formats() {
    let world = World::parse(MINIMAL, "world.toml").expect("a valid world");
    uuid::Uuid::parse_str(world.tenant_id()).expect("a GUID tenant");
    let record = &world.records()[0];
    uuid::Uuid::parse_str(&record.id).expect("a GUID record id");
    let chat_id = &world.chats()[0].id;
    let hex = chat_id
        .strip_prefix("19:")
        .and_then(|rest| rest.strip_suffix("@thread.v2"))
        .expect("19:…@thread.v2");
    assert_eq!(hex.len(), 32);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    let user = world.user("alex").unwrap();
    let aad = uuid::Uuid::parse_str(&user.aad_object_id).expect("a GUID object id");
    assert_eq!(aad.get_version_num(), 4);
    assert!(user.mri.starts_with("29:"));
    assert!(user.conversation_id.starts_with("a:"));
    assert_eq!(user.email, "alex@sandbox.test");
    assert!(world.chats()[0].bot_installed);
    assert_ne!(world.user("sam").unwrap().aad_object_id, user.aad_object_id);
}

#[test]
fn a_record_reference_may_use_the_record_id() {
    let text = MINIMAL
        .replace(
            "name = \"Contoso Coffee expansion\"",
            "id = \"8F14E45F-CEEA-467F-A0C5-1B2D3E4F5A6B\"\nname = \"Contoso Coffee expansion\"",
        )
        .replace(
            "lead:Contoso Coffee expansion",
            "lead:8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b",
        );
    let world = World::parse(&text, "world.toml").expect("a valid world");
    assert_eq!(
        world.records()[0].id,
        "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b"
    );
    assert_eq!(
        world.chats()[0].connected_to[0].record_id,
        world.records()[0].id
    );
}

#[test]
fn a_bad_world_file_is_refused_with_its_line_and_problem() {
    // (what to change in MINIMAL, expected line, expected words)
    #[rustfmt::skip]
    let table: &[(&str, &str, usize, &str)] = &[
        ("join_chat = [\"lead\"]", "join_chat = [\"lead\"]\ncolour = \"blue\"", 3, "unknown field `colour`"),
        ("name = \"Alex Wu\"", "name = \"Alex Wu\"\nage = 3", 11, "unknown field `age`"),
        ("owner = \"sam\"", "owner = \"bob\"", 15, "records[0].owner: no user \"bob\" (users: \"sam\", \"alex\")"),
        ("connected_to = [\"lead:Contoso Coffee expansion\"]", "connected_to = [\"lead:Contso\"]", 21,
            "chats[0].connected_to[0]: no record \"lead:Contso\" (records of type lead: \"Contoso Coffee expansion\")"),
        ("connected_to = [\"lead:Contoso Coffee expansion\"]", "connected_to = [\"Contoso\"]", 21, "expected \"<record type>:<record name or id>\""),
        ("connected_to = [\"lead:Contoso Coffee expansion\"]", "connected_to = [\"deal:Contoso\"]", 21, "unsupported record type \"deal\""),
        ("join_chat = [\"lead\"]", "join_chat = [\"lead\"]\n[app]\ngraph_permissions = []\nsecret = \"x\"", 5, "unknown field `secret`"),
        ("join_chat = [\"lead\"]", "join_chat = [\"lead\"]\n[app]\ngraph_permissions = [\"Chat ReadBasic\"]", 4, "app.graph_permissions[0]: \"Chat ReadBasic\" is not a permission name"),
        ("join_chat = [\"lead\"]", "join_chat = [\"lead\"]\n[app]\ngraph_permissions = [\"Chat.Manage.Chat\"]", 4, "app.graph_permissions[0]: \"Chat.Manage.Chat\" is a resource-specific permission"),
        ("join_chat = [\"lead\"]", "join_chat = [\"lead\"]\n[app]\ngraph_permissions = [\"Chat.Read.All\", \"Chat.Read.All\"]", 4, "app.graph_permissions[1]: \"Chat.Read.All\" is listed twice"),
        ("entity = \"lead\"", "entity = \"deal\"", 13, "records[0].entity: unsupported record type \"deal\" (supported: lead, opportunity, account, contact, incident)"),
        ("key = \"alex\"", "key = \"sam\"", 9, "users[1].key: duplicate user \"sam\""),
        ("key = \"alex\"", "key = \"Alex Wu\"", 9, "is not a valid key"),
        ("join_chat = [\"lead\"]", "join_chat = [\"lead\", \"deals\"]", 2, "join_chat[1]: unsupported record type \"deals\""),
        ("join_chat = [\"lead\"]", "tenant_id = \"contoso/tenant\"\njoin_chat = [\"lead\"]", 2, "tenant_id: \"contoso/tenant\" is not a tenant id"),
        ("write = [\"alex\"]", "write = [\"alex\", \"alex\"]", 16, "records[0].write[1]: \"alex\" is listed twice"),
        ("members = [\"sam\"]", "members = [\"sam\", \"jo\"]", 20, "chats[0].members[1]: no user \"jo\""),
        ("members = [\"sam\"]", "members = [\"sam\"]\nmessages = [{ from = \"kim\", text = \"hi\" }]", 21, "chats[0].messages[0].from: no user \"kim\""),
        ("topic = \"Deal room\"", "id = \"contoso-room\"\ntopic = \"Deal room\"", 19, "chats[0].id: \"contoso-room\" is not a Teams chat id"),
        ("topic = \"Deal room\"", "topic = \"Deal room", 19, ""),
        ("entity = \"lead\"", "entity = \"lead\"\nid = \"12\"", 14, "records[0].id: \"12\" is not a GUID"),
    ];
    for (find, replace, line, words) in table {
        assert!(MINIMAL.contains(find), "{find}");
        let text = MINIMAL.replacen(find, replace, 1);
        let error = World::parse(&text, "world.toml").expect_err(replace);
        assert_eq!(error.line, Some(*line), "{replace}: {error}");
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("world.toml:{line}: ")),
            "{shown}"
        );
        assert!(shown.contains(words), "{replace}: {shown}");
    }
}

#[test]
fn duplicate_chats_and_records_are_refused() {
    let twice = format!("{MINIMAL}\n[[records]]\nentity = \"lead\"\nname = \"Contoso Coffee expansion\"\nowner = \"sam\"\n");
    let error = World::parse(&twice, "w.toml").unwrap_err();
    assert!(
        error.message.contains(
            "records[1].name: duplicate lead \"Contoso Coffee expansion\" (also records[0])"
        ),
        "{error}"
    );

    let chat = "\n[[chats]]\nid = \"19:a@thread.v2\"\ntopic = \"t\"\nconnected_to = [\"lead:Contoso Coffee expansion\"]\n";
    let error = World::parse(&format!("{MINIMAL}{chat}{chat}"), "w.toml").unwrap_err();
    assert!(
        error
            .message
            .contains("chats[2].id: duplicate chat id \"19:a@thread.v2\" (also chats[1])"),
        "{error}"
    );
}

#[test]
fn a_tenant_may_be_a_domain_as_well_as_a_guid() {
    let world = World::parse(
        &MINIMAL.replacen("join_chat", "tenant_id = \"contoso.test\"\njoin_chat", 1),
        "world.toml",
    )
    .expect("a domain tenant");
    assert_eq!(world.tenant_id(), "contoso.test");
    let world = World::parse(
        &MINIMAL.replacen(
            "join_chat",
            "tenant_id = \"8F14E45F-CEEA-467F-A0C5-1B2D3E4F5A6B\"\njoin_chat",
            1,
        ),
        "world.toml",
    )
    .expect("a GUID tenant");
    assert_eq!(
        world.tenant_id(),
        "8f14e45f-ceea-467f-a0c5-1b2d3e4f5a6b",
        "normalised"
    );
}

#[test]
fn chats_connected_to_no_record_and_disabled_users_are_part_of_a_world() {
    let text = MINIMAL
        .replacen(
            "connected_to = [\"lead:Contoso Coffee expansion\"]",
            "connected_to = []",
            1,
        )
        .replacen(
            "name = \"Alex Wu\"",
            "name = \"Alex Wu\"\ndisabled = true",
            1,
        )
        + "\n[[chats]]\ntopic = \"Lunch\"\nmembers = [\"sam\"]\n";
    let world = World::parse(&text, "world.toml").expect("a valid world");
    assert_eq!(world.chats().len(), 2);
    assert!(world
        .chats()
        .iter()
        .all(|chat| chat.connected_to.is_empty()));
    assert!(world.user("alex").unwrap().disabled);
    assert!(!world.user("sam").unwrap().disabled);
}

#[test]
fn the_apps_graph_permissions_default_to_the_documented_set() {
    let world = World::parse(MINIMAL, "world.toml").unwrap();
    assert_eq!(
        world.app().graph_permissions,
        joinchat_sandbox::DEFAULT_GRAPH_PERMISSIONS
    );
    let none = format!("{MINIMAL}\n[app]\ngraph_permissions = []\n");
    let world = World::parse(&none, "world.toml").unwrap();
    assert!(world.app().graph_permissions.is_empty());
    let some = format!("{MINIMAL}\n[app]\ngraph_permissions = [\"Chat.Read.All\"]\n");
    let world = World::parse(&some, "world.toml").unwrap();
    assert_eq!(world.app().graph_permissions, ["Chat.Read.All"]);
}
