//! The create page: the form, and the new key shown once in the POST's own
//! response.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use apikey_core::{AbstractApiKey, Error as CoreError, FormFields, NewKey};
use askama::Template;

use super::csrf;
use super::errors::{csrf_refused, failure};
use super::forms::{check_name_and_expiry, name_and_expiry};
use super::render::{humanize, key_href, render, show_time, Chrome, Session};
use super::state::{blocking, State};

/// An input for one of the model's own fields.
struct FieldInput {
    label: String,
    input: String,
    value: String,
    required: bool,
}

#[derive(Template)]
#[template(path = "admin/new.html")]
struct NewPage {
    c: Chrome,
    errors: Vec<String>,
    name: String,
    expiry: String,
    fields: Vec<FieldInput>,
}

/// The inputs of the model's own fields, with the values in `form`.
fn field_inputs<M: AbstractApiKey>(form: &HashMap<String, String>) -> Vec<FieldInput>
where
    M::Extra: FormFields,
{
    M::Extra::FIELDS
        .iter()
        .map(|f| {
            let input = format!("field_{}", f.name);
            FieldInput {
                label: humanize(f.name),
                value: form.get(&input).cloned().unwrap_or_default(),
                input,
                required: f.required,
            }
        })
        .collect()
}

/// `GET /new`: the create form.
pub(crate) async fn new_form<M>(req: HttpRequest, state: web::Data<State<M>>) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = Session::of(&req, &state);
    let page = NewPage {
        c,
        errors: Vec::new(),
        name: String::new(),
        expiry: String::new(),
        fields: field_inputs::<M>(&HashMap::new()),
    };
    render(StatusCode::OK, &page, new_cookie)
}

#[derive(Template)]
#[template(path = "admin/created.html")]
struct CreatedPage<'a> {
    c: Chrome,
    key: &'a str,
    prefix: String,
    name: String,
    expires: String,
    detail_href: String,
}

/// `POST /new`: creates the key and shows it, once, in this response.
pub(crate) async fn create<M>(
    req: HttpRequest,
    state: web::Data<State<M>>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse
where
    M: AbstractApiKey,
    M::Extra: FormFields,
{
    let Session { c, new_cookie } = Session::of(&req, &state);
    let form = form.into_inner();
    if !csrf::CsrfSettings::of(&req).check(&req, form.get(csrf::FIELD).map(String::as_str)) {
        return csrf_refused(&c);
    }
    let (name, expiry_text) = name_and_expiry(&form);
    let mut errors = Vec::new();
    let expiry = check_name_and_expiry(&name, &expiry_text, &mut errors);
    let extra = match M::Extra::from_form(&|f| form.get(&format!("field_{f}")).cloned()) {
        Ok(extra) => Some(extra),
        Err(field_errors) => {
            for (f, e) in field_errors {
                errors.push(format!("invalid {}: {e}", humanize(f).to_lowercase()));
            }
            None
        }
    };
    let refused = |c: Chrome, errors: Vec<String>| {
        let page = NewPage {
            c,
            errors,
            name: name.clone(),
            expiry: expiry_text.trim().to_owned(),
            fields: field_inputs::<M>(&form),
        };
        render(StatusCode::BAD_REQUEST, &page, new_cookie.clone())
    };
    let Some(extra) = extra.filter(|_| errors.is_empty()) else {
        return refused(c, errors);
    };

    let manager = state.manager.clone();
    // Scopes and limits are set on the key's page after creation.
    let new = NewKey::with_extra(name.clone(), extra).expiry(expiry);
    match blocking(move || manager.create_key(new)).await {
        Ok((row, key)) => {
            let page = CreatedPage {
                key: key.expose_secret(),
                prefix: row.prefix().to_owned(),
                name: row.name().to_owned(),
                expires: row.expiry_date_naive().map(show_time).unwrap_or_default(),
                detail_href: key_href(&c.base, row.prefix()),
                c,
            };
            render(StatusCode::CREATED, &page, None)
        }
        Err(e @ CoreError::Validation { .. }) => refused(c, vec![e.to_string()]),
        Err(CoreError::Database(e)) => {
            log::warn!("apikey admin: the database refused a new key: {e}");
            refused(
                c,
                vec![format!(
                    "the database refused the key; check the fields ({e})"
                )],
            )
        }
        Err(e) => failure(&c, &e),
    }
}
