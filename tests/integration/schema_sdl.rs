//! `graphql/schema.graphql` is the committed contract: this test fails when the code's schema
//! differs. Run with `UPDATE_SCHEMA=1` to rewrite the file after an intended change.

#[test]
fn committed_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../graphql/schema.graphql");
    let sdl = graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "graphql/schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test -p tests schema` and commit it"
    );
}
