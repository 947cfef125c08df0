//! Which database and which key table a command works on: `--database-url`,
//! `--model`, `--table`, accepted before the command (`apikey --table T
//! list`) and after it (`apikey list --table T`); `scaffold`, which uses no
//! database, has none of them.

use crate::failure::Failure;
use crate::model::Model;

/// The database and key table options of the key commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Target {
    /// Database URL: sqlite://PATH, a file path, or postgres://... [default:
    /// $DATABASE_URL, else apikeys.db]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// A key table this command knows: `builtin` (apikey-rs's api_keys,
    /// the default) or `django` (the djangorestframework-api-key table,
    /// owned by Django)
    #[arg(long, value_enum, conflicts_with = "table")]
    pub model: Option<Model>,

    /// Any key table, by name: an application's derived model
    /// (`project_api_keys`). Its own columns are read from the database:
    /// `list` shows them, `create --set COLUMN=VALUE` sets them. A table
    /// without the base columns is refused.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
}

impl Target {
    /// True when no option is given.
    pub fn is_empty(&self) -> bool {
        self.database_url.is_none() && self.model.is_none() && self.table.is_none()
    }

    /// The options given after the command, completed by those given
    /// before it; the same option in both places must agree.
    pub fn merge(self, before: Target) -> Result<Target, Failure> {
        fn one<T: PartialEq>(a: Option<T>, b: Option<T>, name: &str) -> Result<Option<T>, Failure> {
            match (a, b) {
                (Some(a), Some(b)) if a != b => Err(Failure::Usage(format!(
                    "--{name} is given twice, with different values"
                ))),
                (a, b) => Ok(a.or(b)),
            }
        }
        let merged = Target {
            database_url: one(self.database_url, before.database_url, "database-url")?,
            model: one(self.model, before.model, "model")?,
            table: one(self.table, before.table, "table")?,
        };
        if merged.model.is_some() && merged.table.is_some() {
            return Err(Failure::Usage(
                "--model and --table name the key table both: give one".into(),
            ));
        }
        Ok(merged)
    }
}
