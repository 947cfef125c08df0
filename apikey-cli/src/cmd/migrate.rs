//! `apikey migrate`: apply the pending built-in migrations.

use apikey_core::AbstractApiKey;

use super::{eprintln_quiet, print_stdout, Keys};
use crate::failure::Failure;
use crate::model::Model;

/// Apply the pending migrations (creates the database file if needed).
///
/// Prints the applied migration versions on stdout, one a line.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Refuses `--model django`: Django owns that table and its migrations. Called
/// before the database is opened, which would create a SQLite file.
pub fn check_model(model: Model) -> Result<(), Failure> {
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
pub fn run<M: AbstractApiKey>(keys: &Keys<M>, Args {}: Args) -> Result<(), Failure> {
    let applied = keys
        .manager()
        .database()
        .migrate()
        .map_err(|e| keys.failure(e))?;
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
