//! Parsing of `#[apikey(...)]` on the struct, and of the `#[diesel(...)]`
//! attributes the derive reads (`table_name` on the struct, `column_name` on
//! fields).

use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Path, Token};

use crate::ctxt::Ctxt;

const KNOWN: &str = "expected one of `table`, `verbose_name`, `verbose_name_plural`";

/// The struct's `#[apikey(...)]` settings.
#[derive(Default)]
pub(crate) struct ModelAttrs {
    /// `table = path::to::table_module`
    pub(crate) table: Option<Path>,
    /// `verbose_name = "..."`
    pub(crate) verbose_name: Option<LitStr>,
    /// `verbose_name_plural = "..."`
    pub(crate) verbose_name_plural: Option<LitStr>,
    /// `#[diesel(table_name = ...)]`, for the consistency check.
    pub(crate) diesel_table_name: Option<Path>,
}

/// Reads the struct's attributes; mistakes go to `cx`.
pub(crate) fn model_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> ModelAttrs {
    let mut out = ModelAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("apikey") {
            if !matches!(attr.meta, syn::Meta::List(_)) {
                cx.error_spanned_by(
                    attr,
                    "expected `#[apikey(table = ...)]`, for example \
                     `#[apikey(table = organization_api_keys, verbose_name = \"Organization API key\")]`",
                );
                continue;
            }
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("table") {
                    let value = parse_table(cx, &meta)?;
                    set_once(cx, &meta, &mut out.table, value);
                } else if meta.path.is_ident("verbose_name") {
                    let value = parse_string(cx, &meta, "verbose_name = \"Organization API key\"")?;
                    set_once(cx, &meta, &mut out.verbose_name, value);
                } else if meta.path.is_ident("verbose_name_plural") {
                    let value =
                        parse_string(cx, &meta, "verbose_name_plural = \"Organization API keys\"")?;
                    set_once(cx, &meta, &mut out.verbose_name_plural, value);
                } else {
                    let name = meta
                        .path
                        .get_ident()
                        .map_or_else(|| "?".to_owned(), ToString::to_string);
                    let hint = did_you_mean(&name)
                        .map_or_else(|| KNOWN.to_owned(), |k| format!("did you mean `{k}`?"));
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown apikey attribute `{name}`; {hint}"),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        } else if attr.path().is_ident("diesel") {
            // Only `table_name` matters here; anything else is diesel's business.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("table_name") {
                    out.diesel_table_name = Some(meta.value()?.parse()?);
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            });
        }
    }
    out
}

/// The known attribute closest to a misspelt one (at most two edits away).
fn did_you_mean(name: &str) -> Option<&'static str> {
    ["table", "verbose_name", "verbose_name_plural"]
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Reports `#[apikey(...)]` on a field (it belongs on the struct).
pub(crate) fn reject_field_attrs(cx: &mut Ctxt, attrs: &[Attribute]) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("apikey")) {
        cx.error_spanned_by(
            attr,
            "`#[apikey(...)]` goes on the struct, not on a field: \
             `#[apikey(table = organization_api_keys)]`",
        );
    }
}

/// The field's `#[diesel(column_name = ...)]`, if any.
pub(crate) fn column_name(attrs: &[Attribute]) -> Option<syn::Ident> {
    let mut column = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("diesel")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("column_name") {
                column = Some(meta.value()?.parse()?);
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
    }
    column
}

fn set_once<T>(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: Option<T>) {
    let Some(value) = value else { return };
    if slot.is_some() {
        let name = meta
            .path
            .get_ident()
            .map_or_else(String::new, ToString::to_string);
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate apikey attribute `{name}`: give it once"),
        );
    } else {
        *slot = Some(value);
    }
}

fn parse_table(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Path>> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            "expected `table = <diesel table module>`, for example `table = organization_api_keys`",
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(Some(p.path)),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            cx.error_spanned_by(
                &s,
                format!(
                    "expected the path of a diesel `table!` module, not a string: `table = {}`",
                    s.value()
                ),
            );
            Ok(None)
        }
        other => {
            cx.error_spanned_by(
                other,
                "expected the path of a diesel `table!` module, \
                 for example `table = organization_api_keys` or `table = schema::organization_api_keys`",
            );
            Ok(None)
        }
    }
}

fn parse_string(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(&meta.path, format!("expected `{example}`"));
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            if s.value().trim().is_empty() {
                cx.error_spanned_by(&s, format!("a display name cannot be empty: `{example}`"));
                Ok(None)
            } else {
                Ok(Some(s))
            }
        }
        other => {
            cx.error_spanned_by(other, format!("expected a string literal: `{example}`"));
            Ok(None)
        }
    }
}

/// Consumes whatever follows a nested meta's path (`= value` or `(...)`), so
/// that parsing goes on to the next item.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _: proc_macro2::Group = meta.input.parse()?;
    }
    Ok(())
}
