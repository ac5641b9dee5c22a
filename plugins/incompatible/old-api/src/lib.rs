//! An incompatible contract: the root module has the same name as the real
//! `plugin-api` 1.0, but `run` returns a differently laid-out result. The
//! host must reject a plugin built against it with abi_stable's layout error.
#![allow(non_camel_case_types, non_local_definitions, missing_docs)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RStr, RString},
    StableAbi,
};

#[repr(C)]
#[derive(StableAbi)]
pub struct PluginResult {
    pub status: u32,
    pub error: RString,
}

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginMod_Ref)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    pub manifest: extern "C" fn() -> RString,
    #[sabi(last_prefix_field)]
    pub run: extern "C" fn(params_json: RStr<'_>) -> PluginResult,
}

impl RootModule for PluginMod_Ref {
    declare_root_module_statics! {PluginMod_Ref}
    const BASE_NAME: &'static str = "agent_plugin";
    const NAME: &'static str = "agent plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
