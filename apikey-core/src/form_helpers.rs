//! Helpers that `#[derive(ApiKeyModel)]` expands to: showing a field as text
//! and parsing it from form text, choosing the best way the field's type
//! allows (autoref specialization on concrete types). Not public API.
#![allow(missing_docs)]

use std::fmt::{Debug, Display};
use std::marker::PhantomData;
use std::str::FromStr;

/// A field value to show: `(&&&Show(&value)).column_text()`.
#[derive(Debug)]
pub struct Show<'a, T: ?Sized>(pub &'a T);

/// `Option<T: Display>`: the value, or nothing.
pub trait ShowOptional {
    fn column_text(&self) -> String;
}

impl<T: Display> ShowOptional for &&Show<'_, Option<T>> {
    fn column_text(&self) -> String {
        self.0.as_ref().map(ToString::to_string).unwrap_or_default()
    }
}

/// `T: Display`.
pub trait ShowDisplay {
    fn column_text(&self) -> String;
}

impl<T: Display + ?Sized> ShowDisplay for &Show<'_, T> {
    fn column_text(&self) -> String {
        self.0.to_string()
    }
}

/// Anything else: `Debug`.
pub trait ShowDebug {
    fn column_text(&self) -> String;
}

impl<T: Debug + ?Sized> ShowDebug for Show<'_, T> {
    fn column_text(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A field type to parse: `(&&&ParseAs::<T>::new()).parse_form(text)`.
#[derive(Debug)]
pub struct ParseAs<T>(PhantomData<fn() -> T>);

impl<T> ParseAs<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ParseAs(PhantomData)
    }
}

fn given(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `Option<T: FromStr>`: empty is `None`.
pub trait ParseOptional {
    type Out;
    fn parse_form(&self, text: Option<String>) -> Result<Self::Out, String>;
}

impl<T: FromStr> ParseOptional for &&ParseAs<Option<T>>
where
    T::Err: Display,
{
    type Out = Option<T>;
    fn parse_form(&self, text: Option<String>) -> Result<Option<T>, String> {
        match given(text) {
            None => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|e: T::Err| e.to_string()),
        }
    }
}

/// `T: FromStr`: required.
pub trait ParseRequired {
    type Out;
    fn parse_form(&self, text: Option<String>) -> Result<Self::Out, String>;
}

impl<T: FromStr> ParseRequired for &ParseAs<T>
where
    T::Err: Display,
{
    type Out = T;
    fn parse_form(&self, text: Option<String>) -> Result<T, String> {
        match given(text) {
            None => Err("this field is required".to_owned()),
            Some(t) => t.parse().map_err(|e: T::Err| e.to_string()),
        }
    }
}

/// Anything else cannot come from a form.
pub trait ParseUnsupported {
    type Out;
    fn parse_form(&self, text: Option<String>) -> Result<Self::Out, String>;
}

impl<T> ParseUnsupported for ParseAs<T> {
    type Out = T;
    fn parse_form(&self, _text: Option<String>) -> Result<T, String> {
        Err("this field cannot be set from a form (its type has no FromStr)".to_owned())
    }
}
