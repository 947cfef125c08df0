//! Derive macro implementing `apikey_core::AbstractApiKey`. Use it through `apikey-core`,
//! which re-exports it next to the trait and documents it there.
//!
//! The pipeline follows thiserror's: `attr` parses the `#[apikey(...)]` and
//! `#[diesel(...)]` attributes, `ast` builds the typed model, `valid`
//! checks it, `expand` writes the code. Every mistake found on the way is
//! collected in a `ctxt::Ctxt` and reported together, next to a `fallback`
//! impl (as thiserror does) so that each mistake is reported once.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

use proc_macro::TokenStream;

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod valid;

/// Derives `apikey_core::AbstractApiKey` for a key model struct (see the
/// documentation of `apikey_core::AbstractApiKey`).
#[proc_macro_derive(ApiKeyModel, attributes(apikey))]
pub fn derive_api_key_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
