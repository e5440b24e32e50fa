//! The expansion bound: how many field selections a document stands for once every fragment
//! spread is replaced by its fragment, computed in time linear in the document's size and
//! checked before async-graphql validates it.
//!
//! Why: a fragment that spreads the next one twice doubles the work at each level. 30 levels
//! are 2 KB of text standing for a billion selections, and async-graphql's depth and
//! complexity checks walk every one of them (synchronously: no timeout can stop it). Each
//! fragment's size is computed once (memoized, iteratively over the fragment graph, so a chain
//! of thousands of fragments does not recurse), with saturating sums.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Name;

use crate::error::ApiError;

/// The most field selections a document may stand for after fragment expansion. GraphiQL's
/// introspection query stands for a few hundred; an admin page for a few dozen.
pub const MAX_EXPANDED_SELECTIONS: u64 = 10_000;

/// Refuses a document whose operations, expanded, select more than
/// [`MAX_EXPANDED_SELECTIONS`] fields.
pub fn check(document: &ExecutableDocument) -> Result<(), ApiError> {
    let fragments = fragment_sizes(document);
    let total = document
        .operations
        .iter()
        .map(|(_, op)| size_of(&op.node.selection_set.node, &fragments))
        .fold(0u64, u64::saturating_add);
    if total > MAX_EXPANDED_SELECTIONS {
        return Err(ApiError::Refused {
            code: "GRAPHQL_VALIDATION_FAILED",
            message: format!(
                "the document selects more than {MAX_EXPANDED_SELECTIONS} fields once its fragments are expanded"
            ),
        });
    }
    Ok(())
}

/// Fields selected by `set`, with fragment spreads counted at their fragment's size (0 for an
/// unknown fragment or one on a cycle: validation refuses those). Recurses only into nested
/// selection sets, whose depth the nesting bound has already limited.
fn size_of(set: &SelectionSet, fragments: &HashMap<&Name, u64>) -> u64 {
    set.items.iter().fold(0u64, |sum, selection| {
        let size = match &selection.node {
            Selection::Field(field) => 1u64.saturating_add(size_of(&field.node.selection_set.node, fragments)),
            Selection::InlineFragment(inline) => size_of(&inline.node.selection_set.node, fragments),
            Selection::FragmentSpread(spread) => fragments.get(&spread.node.fragment_name.node).copied().unwrap_or(0),
        };
        sum.saturating_add(size)
    })
}

/// The names of the fragments `set` spreads, at any depth.
fn spreads<'a>(set: &'a SelectionSet, out: &mut Vec<&'a Name>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => spreads(&field.node.selection_set.node, out),
            Selection::InlineFragment(inline) => spreads(&inline.node.selection_set.node, out),
            Selection::FragmentSpread(spread) => out.push(&spread.node.fragment_name.node),
        }
    }
}

/// Every fragment's expanded size, each computed once, dependencies first (an explicit stack,
/// not recursion over the fragment graph).
fn fragment_sizes(document: &ExecutableDocument) -> HashMap<&Name, u64> {
    let mut sizes: HashMap<&Name, u64> = HashMap::with_capacity(document.fragments.len());
    let mut on_stack: std::collections::HashSet<&Name> = std::collections::HashSet::new();
    for root in document.fragments.keys() {
        if sizes.contains_key(root) {
            continue;
        }
        let mut stack = vec![root];
        on_stack.insert(root);
        while let Some(&name) = stack.last() {
            let Some(fragment) = document.fragments.get(name) else {
                sizes.insert(name, 0);
                on_stack.remove(name);
                stack.pop();
                continue;
            };
            let mut deps = Vec::new();
            spreads(&fragment.node.selection_set.node, &mut deps);
            // A dependency still on the stack is a cycle: it counts as 0 (validation refuses it).
            let pending = deps.into_iter().find(|d| !sizes.contains_key(d) && !on_stack.contains(d));
            match pending {
                Some(dep) => {
                    on_stack.insert(dep);
                    stack.push(dep);
                }
                None => {
                    let size = size_of(&fragment.node.selection_set.node, &sizes);
                    sizes.insert(name, size);
                    on_stack.remove(name);
                    stack.pop();
                }
            }
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(doc: &str) -> Result<(), ApiError> {
        check(&async_graphql::parser::parse_query(doc).unwrap())
    }

    fn doubling(levels: usize) -> String {
        let mut doc = String::from("query { ...F0 }\n");
        for i in 0..levels {
            doc.push_str(&format!("fragment F{i} on QueryRoot {{ __typename ...F{n} ...F{n} }}\n", n = i + 1));
        }
        doc.push_str(&format!("fragment F{levels} on QueryRoot {{ __typename }}\n"));
        doc
    }

    #[test]
    fn doubling_fragments_are_refused_quickly_however_deep() {
        assert!(expanded(&doubling(10)).is_ok(), "2^11 selections");
        let started = std::time::Instant::now();
        assert!(expanded(&doubling(20)).is_err());
        assert!(expanded(&doubling(200)).is_err(), "saturates instead of overflowing");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn long_chains_and_cycles_end() {
        let mut chain = String::from("query { ...F0 }\n");
        for i in 0..5_000 {
            chain.push_str(&format!("fragment F{i} on QueryRoot {{ __typename ...F{} }}\n", i + 1));
        }
        chain.push_str("fragment F5000 on QueryRoot { __typename }\n");
        assert!(expanded(&chain).is_ok(), "5,001 selections in a chain");
        assert!(expanded(
            "query { ...A } fragment A on QueryRoot { ...B __typename } fragment B on QueryRoot { ...A }"
        )
        .is_ok());
    }

    #[test]
    fn plain_documents_count_their_fields() {
        let doc = async_graphql::parser::parse_query("{ a { b c } d }").unwrap();
        assert_eq!(size_of(&doc.operations.iter().next().unwrap().1.node.selection_set.node, &HashMap::new()), 4);
    }
}
