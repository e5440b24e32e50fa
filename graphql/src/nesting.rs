//! The nesting bound, checked on the raw document text before anything recursive runs.
//!
//! async-graphql's parser (pest, then a recursive walk) bounds the depth of selection sets but
//! not of list and object literals or of list types: `{ __type(name: [[[[...]]]]) { name } }`
//! nested 2,000 deep (a 4 KB request) overflowed a tokio worker's stack in the release build
//! and aborted the whole process. Depth and complexity limits run after parsing, too late.
//! So the brackets of every kind are counted in one linear pass that never recurses, skipping
//! what GraphQL's lexer skips (strings, block strings, comments), and a document nested deeper
//! than [`MAX_NESTING`] is refused before the parser sees it. Unbalanced brackets are left for
//! the parser to report.

/// The deepest nesting of `{`, `[` and `(` (all kinds counted together) a document may have.
/// The selection depth limit is 16 (`crate::MAX_DEPTH`); GraphiQL's introspection query nests
/// about 30 brackets deep; 64 leaves room for arguments with nested input objects.
pub const MAX_NESTING: usize = 64;

/// The deepest bracket nesting of `document`, stopping (and returning `limit + 1`) as soon as
/// it passes `limit`.
pub fn nesting_depth(document: &str, limit: usize) -> usize {
    let bytes = document.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                // A comment runs to the end of the line.
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // A block string ends at the next unescaped `"""`.
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                // A string ends at the next unescaped `"` (or the line's end: then it is
                // malformed and the parser says so).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > deepest {
                    deepest = depth;
                    if deepest > limit {
                        return deepest;
                    }
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Refuses a document nested deeper than [`MAX_NESTING`].
pub fn check(document: &str) -> Result<(), crate::error::ApiError> {
    if nesting_depth(document, MAX_NESTING) > MAX_NESTING {
        return Err(crate::error::ApiError::Refused {
            code: "GRAPHQL_VALIDATION_FAILED",
            message: format!("the document is nested more than {MAX_NESTING} brackets deep"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_kind_of_bracket_together() {
        assert_eq!(nesting_depth("{ a }", 100), 1);
        assert_eq!(nesting_depth("{ a(x: [{ y: [1] }]) { b } }", 100), 5);
        assert_eq!(nesting_depth("query($v: [[Int]]) { a }", 100), 3);
    }

    #[test]
    fn ignores_brackets_in_strings_block_strings_and_comments() {
        assert_eq!(nesting_depth(r#"{ a(s: "[[[[{{{") }"#, 100), 2);
        assert_eq!(nesting_depth(r#"{ a(s: "\"[[[") }"#, 100), 2);
        assert_eq!(nesting_depth("{ a(s: \"\"\"[[[ \\\"\"\" [[[ \"\"\") }", 100), 2);
        assert_eq!(nesting_depth("# [[[[[\n{ a }", 100), 1);
    }

    #[test]
    fn stops_at_the_limit_on_huge_nesting() {
        let deep = format!("{{ __type(name: {}) {{ name }} }}", "[".repeat(100_000));
        assert_eq!(nesting_depth(&deep, MAX_NESTING), MAX_NESTING + 1);
        assert!(check(&deep).is_err());
        let shallow = format!("{{ a(x: {}1{}) }}", "[".repeat(60), "]".repeat(60));
        assert!(check(&shallow).is_ok());
    }

    #[test]
    fn unterminated_strings_do_not_hide_brackets_forever() {
        // The string ends at the newline; the brackets after it count.
        let doc = format!("{{ a(s: \"open\n{}) }}", "[".repeat(70));
        assert!(check(&doc).is_err());
    }
}
