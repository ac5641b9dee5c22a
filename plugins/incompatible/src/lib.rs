//! A plugin built against `plugin-api-old`, whose layout differs from the
//! real contract: the host must refuse to load it and say why.

use abi_stable::{
    export_root_module,
    prefix_type::PrefixTypeTrait,
    std_types::{RStr, RString},
};
use plugin_api_old::{PluginMod, PluginMod_Ref, PluginResult};

extern "C" fn manifest() -> RString {
    r#"{"name":"incompatible","version":"0.1.0"}"#.into()
}

extern "C" fn run(_params: RStr<'_>) -> PluginResult {
    PluginResult { status: 0, error: RString::new() }
}

/// Exports the (incompatible) root module.
#[export_root_module]
pub fn root_module() -> PluginMod_Ref {
    PluginMod { manifest, run }.leak_into_prefix()
}
