//! The schema as Markdown: per schema its comment, per table or view its comment, a table of
//! its columns (type, nullability, key, comment) and its foreign keys.

use std::fmt::Write;

use super::catalog::{Relation, Schema};

/// The whole description.
pub fn markdown(schemas: &[Schema]) -> String {
    let mut out = String::from("# Database schema\n");
    for schema in schemas {
        let _ = write!(out, "\n## {}\n\n", schema.name);
        if let Some(comment) = &schema.comment {
            let _ = writeln!(out, "{}\n", comment.trim());
        }
        for relation in &schema.relations {
            write_relation(&mut out, &schema.name, relation);
        }
    }
    out
}

fn write_relation(out: &mut String, schema: &str, relation: &Relation) {
    let _ = write!(
        out,
        "### {schema}.{} ({})\n\n",
        relation.name, relation.kind
    );
    if let Some(comment) = &relation.comment {
        let _ = writeln!(out, "{}\n", comment.trim());
    }
    out.push_str("| column | type | null | key | description |\n|---|---|---|---|---|\n");
    for column in &relation.columns {
        let mut key = Vec::new();
        if relation.primary_key.contains(&column.name) {
            key.push("PK".to_string());
        }
        for fk in &relation.foreign_keys {
            if let Some(i) = fk.columns.iter().position(|c| *c == column.name) {
                key.push(format!(
                    "FK → {}.{}",
                    fk.references, fk.referenced_columns[i]
                ));
            }
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            column.name,
            column.data_type,
            if column.not_null { "not null" } else { "null" },
            key.join(", "),
            cell(column.comment.as_deref().unwrap_or(""))
        );
    }
    if !relation.primary_key.is_empty() {
        let _ = write!(
            out,
            "\nPrimary key: ({})\n",
            relation.primary_key.join(", ")
        );
    }
    if !relation.foreign_keys.is_empty() {
        out.push_str("\nForeign keys:\n\n");
        for fk in &relation.foreign_keys {
            let _ = write!(
                out,
                "- `{}`: ({}) → {} ({})",
                fk.name,
                fk.columns.join(", "),
                fk.references,
                fk.referenced_columns.join(", ")
            );
            if let Some(comment) = &fk.comment {
                let _ = write!(out, ": {}", comment.trim());
            }
            out.push('\n');
        }
    }
    out.push('\n');
}

/// A comment as one table cell: pipes escaped, line breaks as spaces.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
