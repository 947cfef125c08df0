//! Derive macro for `apikey_core::ApiKeyModel`. Use it through `apikey-core`,
//! which re-exports it next to the trait.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

use proc_macro::TokenStream;

/// Derives `apikey_core::ApiKeyModel` for a key model struct.
///
/// Not implemented yet: the custom-model work completes it. For now it
/// reports a compile error pointing at the struct.
#[proc_macro_derive(ApiKeyModel, attributes(apikey))]
pub fn derive_api_key_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    syn::Error::new_spanned(
        &input.ident,
        "#[derive(ApiKeyModel)] is not implemented yet in this version of apikey-rs",
    )
    .into_compile_error()
    .into()
}
