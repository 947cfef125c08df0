//! The typed model: the struct, its fields and its settings.

use proc_macro2::Span;
use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, Type, Visibility};

use crate::attr::{self, ModelAttrs};
use crate::ctxt::Ctxt;

/// A key model struct.
pub(crate) struct Model<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: ModelAttrs,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) ty: &'a Type,
    /// The field's `#[doc]` attributes, copied to the generated fields struct.
    pub(crate) docs: Vec<&'a Attribute>,
    /// The column: `#[diesel(column_name = ...)]`, or the field's name.
    pub(crate) column: Ident,
}

impl<'a> Model<'a> {
    /// The model of a struct with named fields; `None` (and an error in `cx`)
    /// for anything else.
    pub(crate) fn from_input(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        const FORM: &str = "ApiKeyModel can only be derived for a struct with named fields: \
             `struct OrganizationApiKey { id: i64, prefix: String, ... }`";
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => &named.named,
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(unnamed, FORM);
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(&input.ident, FORM);
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.syn_error(syn::Error::new(data.enum_token.span, FORM));
                return None;
            }
            Data::Union(data) => {
                cx.syn_error(syn::Error::new(data.union_token.span, FORM));
                return None;
            }
        };
        let attrs = attr::model_attrs(cx, &input.attrs);
        let fields = fields
            .iter()
            .filter_map(|f| {
                let ident = f.ident.as_ref()?;
                attr::reject_field_attrs(cx, &f.attrs);
                Some(Field {
                    ident,
                    vis: &f.vis,
                    ty: &f.ty,
                    docs: f
                        .attrs
                        .iter()
                        .filter(|a| a.path().is_ident("doc"))
                        .collect(),
                    column: attr::column_name(&f.attrs).unwrap_or_else(|| ident.clone()),
                })
            })
            .collect();
        Some(Model {
            ident: &input.ident,
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            fields,
        })
    }

    /// The field called `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.ident == name)
    }

    /// The model's own fields: all but the base ones.
    pub(crate) fn extra_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| {
            !BASE_FIELDS.iter().any(|b| f.ident == b.name)
                && !OPTIONAL_FIELDS.iter().any(|b| f.ident == b.name)
        })
    }

    /// The diesel `table!` module of the model: `#[apikey(table = ...)]`,
    /// else `#[diesel(table_name = ...)]`, else diesel's own default (the
    /// struct's name in snake case plus `s`: `ProjectApiKey` ->
    /// `project_api_keys`), spanned at the struct's name.
    pub(crate) fn table(&self) -> syn::Path {
        self.attrs
            .table
            .clone()
            .or_else(|| self.attrs.diesel_table_name.clone())
            .unwrap_or_else(|| {
                Ident::new(&infer_table_name(&self.ident.to_string()), self.span()).into()
            })
    }

    /// The table diesel's `Selectable` derive uses: `#[diesel(table_name)]`,
    /// else its default.
    pub(crate) fn diesel_table(&self) -> syn::Path {
        self.attrs.diesel_table_name.clone().unwrap_or_else(|| {
            Ident::new(&infer_table_name(&self.ident.to_string()), self.span()).into()
        })
    }

    /// Where to point errors about the struct as a whole.
    pub(crate) fn span(&self) -> Span {
        self.ident.span()
    }
}

/// A base field: its name, the types it may have, and its correct form.
pub(crate) struct BaseField {
    pub(crate) name: &'static str,
    pub(crate) accepted: &'static [&'static str],
    pub(crate) form: &'static str,
}

/// The base fields every key model has (the columns of `AbstractAPIKey`).
pub(crate) const BASE_FIELDS: &[BaseField] = &[
    BaseField {
        name: "id",
        accepted: &["i32", "i64", "String"],
        form: "pub id: i64",
    },
    BaseField {
        name: "prefix",
        accepted: &["String"],
        form: "pub prefix: String",
    },
    BaseField {
        name: "hashed_key",
        accepted: &["String"],
        form: "pub hashed_key: String",
    },
    BaseField {
        name: "created",
        accepted: &["NaiveDateTime"],
        form: "pub created: NaiveDateTime",
    },
    BaseField {
        name: "name",
        accepted: &["String"],
        form: "pub name: String",
    },
    BaseField {
        name: "revoked",
        accepted: &["bool"],
        form: "pub revoked: bool",
    },
    BaseField {
        name: "expiry_date",
        accepted: &["Option<NaiveDateTime>"],
        form: "pub expiry_date: Option<NaiveDateTime>",
    },
];

/// Fields the library knows when a model has them (its opt-in features),
/// not part of the model's own fields.
pub(crate) const OPTIONAL_FIELDS: &[BaseField] = &[
    BaseField {
        name: "rotated_from",
        accepted: &["Option<String>"],
        form: "pub rotated_from: Option<String>",
    },
    BaseField {
        name: "scopes",
        accepted: &["String"],
        form: "pub scopes: String",
    },
    BaseField {
        name: "last_used_at",
        accepted: &["Option<NaiveDateTime>"],
        form: "pub last_used_at: Option<NaiveDateTime>",
    },
    BaseField {
        name: "rate_limit",
        accepted: &["Option<String>"],
        form: "pub rate_limit: Option<String>",
    },
    BaseField {
        name: "remaining_uses",
        accepted: &["Option<i64>"],
        form: "pub remaining_uses: Option<i64>",
    },
    BaseField {
        name: "uses_refill",
        accepted: &["Option<String>"],
        form: "pub uses_refill: Option<String>",
    },
    BaseField {
        name: "uses_refill_period",
        accepted: &["Option<i64>"],
        form: "pub uses_refill_period: Option<i64>",
    },
];

/// diesel's default table name for a struct (diesel_derives'
/// `infer_table_name`, kept identical so both derives agree): a `_` before
/// every upper-case letter but the first, lower-cased, plus `s`.
/// `ProjectApiKey` -> `project_api_keys`, `APIKey` -> `a_p_i_keys`.
pub(crate) fn infer_table_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if i > 0 && c.is_uppercase() {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::infer_table_name;

    #[test]
    fn table_name_defaults_like_diesel() {
        assert_eq!(infer_table_name("ProjectApiKey"), "project_api_keys");
        assert_eq!(infer_table_name("TeamKey"), "team_keys");
        assert_eq!(infer_table_name("Key"), "keys");
        assert_eq!(infer_table_name("APIKey"), "a_p_i_keys");
        assert_eq!(infer_table_name("Org_Key"), "org__keys");
    }
}
