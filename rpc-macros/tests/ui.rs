//! Compile-fail tests: each kind of mistake in a `#[service]` trait is a compile error on
//! the offending code (never a panic). Update the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p rpc-macros --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
