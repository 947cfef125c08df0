//! Checks of the model: base fields with the right types, a table, no
//! generics, and a diesel table name that agrees with ours.

use syn::{GenericArgument, PathArguments, Type};

use crate::ast::{infer_table_name, Model, BASE_FIELDS, OPTIONAL_FIELDS};
use crate::ctxt::Ctxt;

/// Records every problem of `model` in `cx`.
pub(crate) fn validate(cx: &mut Ctxt, model: &Model<'_>) {
    if !model.generics.params.is_empty() || model.generics.where_clause.is_some() {
        cx.error_spanned_by(
            model.generics,
            "a key model cannot be generic: one struct per key table",
        );
    }

    for base in BASE_FIELDS {
        match model.field(base.name) {
            None => cx.syn_error(syn::Error::new(
                model.span(),
                format!(
                    "missing base field `{}`: every key model has it, add `{}`",
                    base.name, base.form
                ),
            )),
            Some(field) => {
                if !base.accepted.iter().any(|t| type_is(field.ty, t)) {
                    let expected = if base.accepted.len() > 1 {
                        format!(
                            "`{}` must be one of {}: `{}`",
                            base.name,
                            base.accepted
                                .iter()
                                .map(|t| format!("`{t}`"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            base.form
                        )
                    } else {
                        format!(
                            "`{}` must be `{}`: `{}`",
                            base.name, base.accepted[0], base.form
                        )
                    };
                    cx.error_spanned_by(field.ty, expected);
                }
                if field.column != base.name {
                    cx.error_spanned_by(
                        &field.column,
                        format!(
                            "the base column `{}` cannot be renamed; remove its `column_name`",
                            base.name
                        ),
                    );
                }
            }
        }
    }

    // A quota refill needs both of its columns, and the quota.
    let refill = model.field("uses_refill");
    let period = model.field("uses_refill_period");
    match (refill, period) {
        (Some(f), None) => cx.error_spanned_by(
            f.ty,
            "`uses_refill` needs `pub uses_refill_period: Option<i64>` too",
        ),
        (None, Some(f)) => cx.error_spanned_by(
            f.ty,
            "`uses_refill_period` needs `pub uses_refill: Option<String>` too",
        ),
        (Some(f), Some(_)) if model.field("remaining_uses").is_none() => cx.error_spanned_by(
            f.ty,
            "`uses_refill` refills a quota: add `pub remaining_uses: Option<i64>`",
        ),
        _ => {}
    }

    for optional in OPTIONAL_FIELDS {
        let Some(field) = model.field(optional.name) else {
            continue;
        };
        if !optional.accepted.iter().any(|t| type_is(field.ty, t)) {
            cx.error_spanned_by(
                field.ty,
                format!(
                    "`{}` is a column the library fills; it must be `{}`: `{}`",
                    optional.name, optional.accepted[0], optional.form
                ),
            );
        }
        if field.column != optional.name {
            cx.error_spanned_by(
                &field.column,
                format!(
                    "the column `{}` cannot be renamed; remove its `column_name`",
                    optional.name
                ),
            );
        }
    }

    let attrs = &model.attrs;
    let last = |p: &syn::Path| p.segments.last().map(|s| s.ident.to_string());
    match (&attrs.table, &attrs.diesel_table_name) {
        // Both derives fall back to the same default, or ours follows diesel's.
        (None, _) => {}
        (Some(table), None) => {
            // diesel's derives default to the struct's name in snake case + `s`.
            let inferred = infer_table_name(&model.ident.to_string());
            if last(table).as_deref() != Some(inferred.as_str()) {
                let name = path_string(table);
                cx.error_spanned_by(
                    table,
                    format!(
                        "`#[apikey(table = {name})]` is not the table diesel's derives assume for \
                         `{}` (`{inferred}`): add `#[diesel(table_name = {name})]` (then \
                         `#[apikey(table)]` can go)",
                        model.ident
                    ),
                );
            }
        }
        (Some(table), Some(diesel)) => {
            if last(table) != last(diesel) {
                cx.error_spanned_by(
                    table,
                    format!(
                        "`#[apikey(table = {})]` and `#[diesel(table_name = {})]` name different \
                         tables; they must be the same (or give only `#[diesel(table_name)]`)",
                        path_string(table),
                        path_string(diesel)
                    ),
                );
            }
        }
    }
}

/// True when `ty` is written as `expected` (`String`, `i64`, `NaiveDateTime`,
/// `Option<NaiveDateTime>`), with or without a leading path such as
/// `chrono::` or `std::string::`.
pub(crate) fn type_is(ty: &Type, expected: &str) -> bool {
    let Type::Path(p) = ty else { return false };
    if p.qself.is_some() {
        return false;
    }
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    match expected.split_once('<') {
        None => last.ident == expected && last.arguments.is_none(),
        Some((outer, inner)) => {
            let inner = inner.trim_end_matches('>');
            if last.ident != outer {
                return false;
            }
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            match args.args.first() {
                Some(GenericArgument::Type(t)) if args.args.len() == 1 => type_is(t, inner),
                _ => false,
            }
        }
    }
}

fn path_string(path: &syn::Path) -> String {
    let mut s = String::new();
    if path.leading_colon.is_some() {
        s.push_str("::");
    }
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    s.push_str(&segments.join("::"));
    s
}
