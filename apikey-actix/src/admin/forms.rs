//! Values as typed in the forms: reading them back, and showing them in inputs.

use std::collections::HashMap;

use apikey_core::{validate_expiry_date, validate_name};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A time as an `<input type="datetime-local">` value ("" for none).
pub(crate) fn input_time(t: Option<NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The form's `name`, trimmed, and its `expiry`, as typed ("" when absent).
pub(crate) fn name_and_expiry(form: &HashMap<String, String>) -> (String, String) {
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let expiry = form.get("expiry").cloned().unwrap_or_default();
    (name, expiry)
}

/// Checks a key's name and reads its expiry (create and edit forms); the
/// problems go to `errors`.
pub(crate) fn check_name_and_expiry(
    name: &str,
    expiry: &str,
    errors: &mut Vec<String>,
) -> Option<DateTime<Utc>> {
    if let Err(e) = validate_name(name) {
        errors.push(e.to_string());
    }
    let expiry = parse_expiry(expiry).unwrap_or_else(|e| {
        errors.push(format!("invalid expiry: {e}"));
        None
    });
    if let Err(e) = validate_expiry_date(expiry) {
        errors.push(e.to_string());
        return None;
    }
    expiry
}

/// An expiry typed in a form (UTC): empty is none.
pub(crate) fn parse_expiry(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bare = t
        .strip_suffix("UTC")
        .or_else(|| t.strip_suffix('Z'))
        .unwrap_or(t)
        .trim();
    const FORMATS: [&str; 6] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ];
    let parsed = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(bare, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(bare, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match parsed {
        Some(t) => Ok(Some(t.and_utc())),
        None => Err(format!(
            "“{t}” is not a date and time; write it as YYYY-MM-DD HH:MM (UTC), or leave it empty"
        )),
    }
}

/// A date filter (`YYYY-MM-DD`); empty is none, anything else goes to `errors`.
pub(crate) fn parse_date(label: &str, text: &str, errors: &mut Vec<String>) -> Option<NaiveDate> {
    if text.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(format!("{label}: “{text}” is not a date (YYYY-MM-DD)"));
            None
        }
    }
}

/// A yes/no/all filter; anything else goes to `errors` and is cleared.
pub(crate) fn parse_choice(
    label: &str,
    text: &mut String,
    errors: &mut Vec<String>,
) -> Option<bool> {
    match text.as_str() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            errors.push(format!("{label}: choose All, Yes or No"));
            text.clear();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("  "), Ok(None));
        let want = NaiveDate::from_ymd_opt(2030, 1, 31)
            .and_then(|d| d.and_hms_opt(18, 0, 0))
            .map(|t| t.and_utc());
        for text in [
            "2030-01-31T18:00",
            "2030-01-31T18:00:00",
            "2030-01-31 18:00",
            "2030-01-31 18:00:00 UTC",
            "2030-01-31T18:00:00Z",
        ] {
            assert_eq!(parse_expiry(text), Ok(want), "{text}");
        }
        assert!(parse_expiry("2030-02-30").is_err());
        assert!(parse_expiry("tomorrow").is_err());
    }
}
