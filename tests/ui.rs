//! The compile-fail suite: each file in `ui-tests/fail/` is one class of illegal lifecycle code, and
//! its `.stderr` is the reviewed compiler error. The snapshots depend on rustc's wording, which is
//! why `rust-toolchain.toml` pins the toolchain.
//!
//! trybuild builds the crate again, in its own target directory, with the features of the test
//! run: under `--all-features` that is SQLite and PostgreSQL's client once more, for
//! code whose typestate does not depend on any feature. So the suite runs under default features
//! (`cargo test`, which `.ci/run` runs too) and says it is ignored under any other.

#[test]
#[cfg_attr(
    any(feature = "serde", feature = "sqlite", feature = "postgres"),
    ignore = "trybuild rebuilds the crate with the run's features: run under default features"
)]
fn illegal_lifecycle_code_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui-tests/fail/*.rs");
}

#[test]
#[cfg_attr(
    any(feature = "serde", feature = "sqlite", feature = "postgres"),
    ignore = "trybuild rebuilds the crate with the run's features: run under default features"
)]
fn legal_lifecycle_code_compiles() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui-tests/pass/*.rs");
}
