//! The README opens with the example application, word for word.

#[test]
fn the_readme_shows_the_example_application() {
    let readme = include_str!("../README.md");
    let app = include_str!("../examples/axum_login.rs");
    assert!(
        readme.contains(app),
        "README.md must hold examples/axum_login.rs as it is"
    );
}
