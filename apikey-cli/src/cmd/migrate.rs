//! `apikey migrate`: apply the pending built-in migrations.

use super::{eprintln_quiet, print_stdout, KeyStore};
use crate::failure::Failure;
use crate::model::Model;
use crate::target::Target;

/// Apply the pending migrations of the built-in table `api_keys` (creates
/// the database file if needed).
///
/// Prints the applied migration versions on stdout, one a line. An
/// application's own key table is created by the application's migrations
/// (`apikey scaffold` writes them), Django's by Django.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
}

/// Refuses `--model django` and `--table`: their tables belong to Django or
/// to the application. Called before the database is opened, which would
/// create a SQLite file.
pub fn check_target(model: Model, table: Option<&str>) -> Result<(), Failure> {
    if let Some(table) = table {
        return Err(Failure::Usage(format!(
            "`migrate` applies the built-in table's migrations only; `{}` is created by the \
             application's own migrations (`apikey scaffold --table {}` writes them)",
            crate::output::sanitize(table, 64),
            crate::output::sanitize(table, 64),
        )));
    }
    match model {
        Model::Builtin => Ok(()),
        Model::Django => Err(Failure::Usage(
            "the django model's table belongs to Django: create and migrate it with \
             `python manage.py migrate` in the Django project"
                .into(),
        )),
    }
}

/// Applies the migrations; prints the versions applied on stdout, the count
/// on stderr.
pub fn run(keys: &dyn KeyStore, Args { target: _ }: Args) -> Result<(), Failure> {
    let db = keys.database();
    let applied = db.migrate().map_err(|e| {
        Failure::from_core(
            e,
            &db.redacted_url(),
            &keys.table_name(),
            keys.missing_table_hint(),
        )
    })?;
    let mut text = String::new();
    for v in &applied {
        text.push_str(v);
        text.push('\n');
    }
    print_stdout(&text)?;
    eprintln_quiet(&match applied.len() {
        0 => "no pending migrations".to_owned(),
        n => format!("applied {n} migration(s)"),
    });
    Ok(())
}
