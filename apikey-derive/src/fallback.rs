//! What the derive emits next to its errors (thiserror's `fallback.rs`): a
//! minimal `impl AbstractApiKey` (and the hidden storage impl, `Display`
//! and the `<Name>Fields` struct), with bodies that never run because the
//! crate does not compile anyway. The user sees the one real mistake, not a
//! "trait not implemented" wherever the type is used.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::DeriveInput;

use crate::ast::{Model, BASE_FIELDS};
use crate::expand::{fields_struct, query_type};
use crate::valid::type_is;

/// The fallback of `input` (nothing when it is not a struct with named
/// fields, or is generic: no impl could stand for it).
pub(crate) fn expand(input: &DeriveInput, model: Option<&Model<'_>>) -> TokenStream {
    // A generic model is itself the mistake: an impl without its
    // parameters would only add errors.
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return TokenStream::new();
    }
    // Not a struct with named fields: no key model to stand in for.
    let Some(model) = model else {
        return TokenStream::new();
    };
    let ident = &input.ident;
    let (fields_struct, extra_ty) = fields_struct(model);
    // The declared type of `id` when it is an accepted one, else `i64`.
    let id_ty = BASE_FIELDS
        .iter()
        .find(|b| b.name == "id")
        .zip(model.field("id"))
        .filter(|(base, field)| base.accepted.iter().any(|t| type_is(field.ty, t)))
        .map_or_else(
            || quote!(i64),
            |(_, field)| {
                let ty = field.ty;
                quote!(#ty)
            },
        );
    // diesel's `Selectable` is derived for diesel's table, whatever ours says.
    let query_ty = query_type(ident, &model.diesel_table());
    let fields_ident = format_ident!("{}Fields", ident);
    let form_fields = if fields_struct.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            #[automatically_derived]
            impl ::apikey_core::FormFields for #fields_ident {
                const FIELDS: &'static [::apikey_core::FormField] = &[];
                fn from_form(
                    _: &dyn ::core::ops::Fn(&str) -> ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<Self, ::std::vec::Vec<(&'static str, ::std::string::String)>> {
                    ::core::unreachable!()
                }
            }
        }
    };
    let private = quote!(::apikey_core::__private);
    quote! {
        #fields_struct

        #[allow(unused_variables, unreachable_code)]
        const _: () = {
            #[automatically_derived]
            impl ::core::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl ::apikey_core::AbstractApiKey for #ident {
                type Id = #id_ty;
                type Extra = #extra_ty;
                type Query = #query_ty;
                const VERBOSE_NAME: &'static str = "";
                const VERBOSE_NAME_PLURAL: &'static str = "";
                const TABLE_NAME: &'static str = "";
                fn id(&self) -> &Self::Id { ::core::unreachable!() }
                fn prefix(&self) -> &str { ::core::unreachable!() }
                fn hashed_key(&self) -> &str { ::core::unreachable!() }
                fn name(&self) -> &str { ::core::unreachable!() }
                fn created_naive(&self) -> #private::NaiveDateTime { ::core::unreachable!() }
                fn revoked(&self) -> bool { ::core::unreachable!() }
                fn expiry_date_naive(&self) -> ::core::option::Option<#private::NaiveDateTime> {
                    ::core::unreachable!()
                }
                fn usable_keys(now: #private::NaiveDateTime) -> Self::Query { ::core::unreachable!() }
            }

            #[automatically_derived]
            impl #private::KeyStorage for #ident {
                fn first_by_prefix(
                    conn: &mut #private::DbConnection,
                    query: <Self as ::apikey_core::AbstractApiKey>::Query,
                    prefix: &str,
                ) -> #private::QueryResult<::core::option::Option<Self>> {
                    ::core::unreachable!()
                }
                fn rows_among(
                    conn: &mut #private::DbConnection,
                    query: <Self as ::apikey_core::AbstractApiKey>::Query,
                    prefixes: &[&str],
                ) -> #private::QueryResult<::std::vec::Vec<Self>> {
                    ::core::unreachable!()
                }
                fn find_usable_by_prefix(
                    conn: &mut #private::DbConnection,
                    now: #private::NaiveDateTime,
                    prefix: &str,
                ) -> #private::QueryResult<::core::option::Option<Self>> {
                    ::core::unreachable!()
                }
                fn find_by_prefix(
                    conn: &mut #private::DbConnection,
                    prefix: &str,
                ) -> #private::QueryResult<::core::option::Option<Self>> {
                    ::core::unreachable!()
                }
                fn insert(
                    conn: &mut #private::DbConnection,
                    row: &#private::NewKeyRow<'_>,
                    extra: &<Self as ::apikey_core::AbstractApiKey>::Extra,
                ) -> #private::QueryResult<Self> {
                    ::core::unreachable!()
                }
                fn replace_hashed_key(
                    conn: &mut #private::DbConnection,
                    prefix: &str,
                    old_hash: &str,
                    new_hash: &str,
                ) -> #private::QueryResult<usize> {
                    ::core::unreachable!()
                }
                fn revoke_by_prefix(
                    conn: &mut #private::DbConnection,
                    prefix: &str,
                ) -> #private::QueryResult<usize> {
                    ::core::unreachable!()
                }
                fn update_details(
                    conn: &mut #private::DbConnection,
                    prefix: &str,
                    name: &str,
                    expiry_date: ::core::option::Option<#private::NaiveDateTime>,
                ) -> #private::QueryResult<usize> {
                    ::core::unreachable!()
                }
                fn list(
                    conn: &mut #private::DbConnection,
                    filter: &::apikey_core::KeyFilter,
                ) -> #private::QueryResult<::std::vec::Vec<Self>> {
                    ::core::unreachable!()
                }
                fn count(
                    conn: &mut #private::DbConnection,
                    filter: &::apikey_core::KeyFilter,
                ) -> #private::QueryResult<i64> {
                    ::core::unreachable!()
                }
                fn own_fields(&self) -> <Self as ::apikey_core::AbstractApiKey>::Extra {
                    ::core::unreachable!()
                }
            }

            #form_fields
        };
    }
}
