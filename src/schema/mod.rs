//! `tributary schema`: the schema as the live database has it, read from pg_catalog (schemas,
//! tables and views, columns with types and nullability, primary and foreign keys, comments),
//! rendered as Markdown (`markdown`) or as a dbt `sources.yml` (`dbt`). It only reads: the
//! command checks the migrations first and never applies them.

mod catalog;
mod dbt;
mod markdown;

pub use catalog::{Column, ForeignKey, LOADED_AT, Relation, Schema, read, schemas};
pub use dbt::dbt;
pub use markdown::markdown;

/// What `tributary schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown: a section per schema, a table of columns per table or view.
    Markdown,
    /// A dbt `sources.yml` (version 2): one source per schema.
    Dbt,
}
