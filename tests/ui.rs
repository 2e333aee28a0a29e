//! The compile-fail suite: each file in `ui-tests/fail/` is one class of illegal lifecycle code, and
//! its `.stderr` is the reviewed compiler error. The snapshots depend on rustc's wording, which is
//! why `rust-toolchain.toml` pins the toolchain.

#[test]
fn illegal_lifecycle_code_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui-tests/fail/*.rs");
}

#[test]
fn legal_lifecycle_code_compiles() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui-tests/pass/*.rs");
}
