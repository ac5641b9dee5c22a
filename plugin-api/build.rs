//! Stamps the ABI contract's version, not the crate's, into every type
//! layout abi_stable derives.
//!
//! abi_stable writes `CARGO_PKG_VERSION` into each `#[derive(StableAbi)]`
//! layout and refuses a plugin whose layouts name another major version. The
//! crate's version follows semver over its *source* API (2.x since the
//! structs became `#[non_exhaustive]`), while the binary contract is still
//! 1.x: a plugin built against plugin-api 1.0.0 must keep loading. So the
//! layouts carry [`CONTRACT`], which changes major only when the ABI does.

/// The contract version: major = the ABI (frozen at 1), minor = the JSON
/// additions (see `CONTRACT_VERSION` in `src/lib.rs` for its changelog).
const CONTRACT: &str = "1.4.0";

fn main() {
    println!("cargo:rustc-env=CARGO_PKG_VERSION={CONTRACT}");
    println!("cargo:rustc-env=PLUGIN_API_CONTRACT={CONTRACT}");
    println!("cargo:rerun-if-changed=build.rs");
}
