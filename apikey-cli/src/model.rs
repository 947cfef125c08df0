//! `--model`: which key table the commands work on.

use clap::ValueEnum;

/// A key table the CLI knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// apikey-core's built-in table `api_keys`.
    Builtin,
    /// Django's table `rest_framework_api_key_apikey`.
    Django,
}

impl Model {
    /// What creates the table, for the message when it is missing.
    pub fn missing_table_hint(self) -> &'static str {
        match self {
            Model::Builtin => "run `apikey migrate` first",
            Model::Django => "run `python manage.py migrate` in the Django project first",
        }
    }
}
