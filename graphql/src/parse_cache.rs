//! Parsed documents of recently seen queries, so a client that sends the same operation
//! again (every admin portal and worker does) skips parsing it.
//!
//! Parsing is the costliest step of a small mutation before the database is reached. Only
//! parsing is cached: validation still runs on every request, because complexity and the
//! variables' types depend on each request's variables. Documents that do not parse are not
//! cached, so their errors come from async-graphql as usual.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;

/// Queries longer than this are parsed every time (bounds the cache's memory).
pub const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;
/// How many distinct documents are kept.
pub const CAPACITY: usize = 1_000;

/// A bounded cache from query text to its parsed document.
#[derive(Clone)]
pub struct ParseCache {
    documents: Arc<quick_cache::sync::Cache<String, Arc<ExecutableDocument>>>,
}

impl Default for ParseCache {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl ParseCache {
    /// A cache of at most `capacity` documents.
    pub fn new(capacity: usize) -> Self {
        Self { documents: Arc::new(quick_cache::sync::Cache::new(capacity.max(1))) }
    }

    /// Attaches the parsed document of `request.query` to `request`, parsing (and, unless it
    /// is oversized, remembering) it on a miss. Returns whether the query parsed; one that
    /// does not is left for async-graphql to report.
    pub fn attach(&self, mut request: async_graphql::Request) -> (async_graphql::Request, bool) {
        let cacheable = request.query.len() <= MAX_CACHED_QUERY_BYTES;
        if cacheable {
            if let Some(document) = self.documents.get(request.query.as_str()) {
                request.set_parsed_query(ExecutableDocument::clone(&document));
                return (request, true);
            }
        }
        match async_graphql::parser::parse_query(&request.query) {
            Ok(document) => {
                if cacheable {
                    self.documents.insert(request.query.clone(), Arc::new(document.clone()));
                }
                request.set_parsed_query(document);
                (request, true)
            }
            Err(_) => (request, false),
        }
    }

    /// How many documents are cached.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_query_is_parsed_once_and_a_broken_one_never_cached() {
        let cache = ParseCache::new(10);
        let (_, parsed) = cache.attach(async_graphql::Request::new("{ __typename }"));
        assert!(parsed);
        assert_eq!(cache.len(), 1);
        let (mut again, parsed) = cache.attach(async_graphql::Request::new("{ __typename }"));
        assert!(parsed);
        assert_eq!(cache.len(), 1);
        assert!(again.parsed_query().is_ok());
        let (_, parsed) = cache.attach(async_graphql::Request::new("{ broken"));
        assert!(!parsed);
        assert_eq!(cache.len(), 1, "a document that does not parse is not cached");
        let big = format!("{{ __typename {} }}", " ".repeat(MAX_CACHED_QUERY_BYTES));
        let (_, parsed) = cache.attach(async_graphql::Request::new(big));
        assert!(parsed, "an oversized document is still parsed");
        assert_eq!(cache.len(), 1, "oversized documents are not cached");
    }
}
