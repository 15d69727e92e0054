//! A linear-time estimate of how deeply a YAML or JSON text nests.
//!
//! The YAML parser needs minutes to reject a document of many thousand
//! nested `[`, so the input is measured first. The estimate counts open
//! flow collections (`[`, `{`) and block levels (a deeper indentation, each
//! `- ` at the start of a line's content). It skips quoted scalars,
//! comments and block scalars (`|`, `>`), and counts a bracket only where a
//! flow collection can start, so `image: repo[1]` opens nothing.
// NOTE: the estimate may exceed the true depth by one level per block
// collection, because a `- ` entry and the mapping inside it both count;
// the limit leaves room for that.

/// Position of the first place a text nests deeper than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// 1-based YAML document, counted as the YAML parser counts them.
    pub document: usize,
    /// 1-based line.
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Scanner state carried from line to line.
struct Scanner {
    max_depth: usize,
    document: usize,
    started: bool,
    /// Columns of the open block collections.
    blocks: Vec<usize>,
    flow_depth: usize,
    quote: Quote,
    /// Indentation of the line that opened the current block scalar.
    block_scalar_parent: Option<usize>,
}

/// Returns where `text` first nests deeper than `max_depth` levels, or
/// `None` when it does not.
pub fn find_too_deep(text: &str, max_depth: usize) -> Option<TooDeep> {
    let mut scanner = Scanner {
        max_depth,
        document: 1,
        started: false,
        blocks: Vec::new(),
        flow_depth: 0,
        quote: Quote::None,
        block_scalar_parent: None,
    };
    for (index, line) in text.split('\n').enumerate() {
        if scanner.scan_line(line.trim_end_matches('\r')) {
            return Some(TooDeep {
                document: scanner.document,
                line: index + 1,
            });
        }
    }
    None
}

impl Scanner {
    /// Scans one line; returns true when the depth exceeds the limit.
    fn scan_line(&mut self, line: &str) -> bool {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        let content = &bytes[indent..];

        if let Some(parent) = self.block_scalar_parent {
            if content.is_empty() || indent > parent {
                return false;
            }
            self.block_scalar_parent = None;
        }

        let mut start = indent;
        if self.quote == Quote::None && self.flow_depth == 0 {
            if is_document_marker(bytes) {
                if self.started {
                    self.document += 1;
                }
                self.started = true;
                self.blocks.clear();
                start = 3;
            } else if content.is_empty() || content[0] == b'#' {
                return false;
            } else {
                self.started = true;
                while self.blocks.last().is_some_and(|&column| column > indent) {
                    self.blocks.pop();
                }
                if self.blocks.last() != Some(&indent) {
                    self.blocks.push(indent);
                }
                while matches!(
                    bytes.get(start..).unwrap_or_default(),
                    [b'-' | b'?', b' ', ..] | [b'-']
                ) {
                    start += 2;
                    self.blocks.push(start);
                }
                if self.depth() > self.max_depth {
                    return true;
                }
            }
        }
        self.scan_flow(&bytes[start.min(bytes.len())..], indent)
    }

    fn depth(&self) -> usize {
        self.blocks.len() + self.flow_depth
    }

    /// Scans the rest of a line for quotes, comments and brackets.
    fn scan_flow(&mut self, bytes: &[u8], indent: usize) -> bool {
        // The previous significant byte; a line start can open a collection.
        let mut previous = b'\n';
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            match self.quote {
                Quote::Double => {
                    if byte == b'\\' {
                        i += 1;
                    } else if byte == b'"' {
                        self.quote = Quote::None;
                        previous = b'"';
                    }
                }
                Quote::Single => {
                    if byte == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            self.quote = Quote::None;
                            previous = b'\'';
                        }
                    }
                }
                Quote::None => {
                    let at_value_start =
                        matches!(previous, b'\n' | b'[' | b'{' | b',' | b':' | b'-' | b'?');
                    match byte {
                        b' ' | b'\t' => {}
                        b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t') => break,
                        b'"' if at_value_start => self.quote = Quote::Double,
                        b'\'' if at_value_start => self.quote = Quote::Single,
                        b'[' | b'{' if at_value_start => {
                            self.flow_depth += 1;
                            if self.depth() > self.max_depth {
                                return true;
                            }
                            previous = byte;
                        }
                        b']' | b'}' if self.flow_depth > 0 => {
                            self.flow_depth -= 1;
                            previous = byte;
                        }
                        _ => previous = byte,
                    }
                }
            }
            i += 1;
        }
        if self.quote == Quote::None && self.flow_depth == 0 && opens_block_scalar(bytes) {
            self.block_scalar_parent = Some(indent);
        }
        false
    }
}

/// Returns true for a `---` line, with or without content after it.
fn is_document_marker(line: &[u8]) -> bool {
    line.starts_with(b"---") && line.get(3).is_none_or(|b| matches!(b, b' ' | b'\t'))
}

/// Returns true when the line ends in a block scalar indicator such as
/// `|`, `>-` or `|2`, before any comment.
fn opens_block_scalar(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let code = match text.find(" #") {
        Some(at) => &text[..at],
        None => &text,
    };
    let Some(last_word) = code.split_whitespace().last() else {
        return false;
    };
    let mut chars = last_word.chars();
    matches!(chars.next(), Some('|' | '>')) && chars.all(|c| matches!(c, '-' | '+' | '1'..='9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_exceeds(text: &str, max_depth: usize) -> bool {
        find_too_deep(text, max_depth).is_some()
    }

    #[test]
    fn kubernetes_object_stays_within_limit() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    a: b\ndata:\n  key: value\n";
        assert!(!depth_exceeds(text, 4));
        assert!(depth_exceeds(text, 2));
    }

    #[test]
    fn flow_brackets_count_per_level() {
        let text = format!("a: {}{}", "[".repeat(10), "]".repeat(10));
        assert!(!depth_exceeds(&text, 11));
        assert!(depth_exceeds(&text, 10));
    }

    #[test]
    fn json_brackets_count_per_level() {
        // The line itself counts as one block level.
        let text = format!("{}1{}", "[".repeat(50), "]".repeat(50));
        assert!(!depth_exceeds(&text, 51));
        assert!(depth_exceeds(&text, 50));
    }

    #[test]
    fn brackets_inside_scalars_are_ignored() {
        let cases = [
            "image: repo[1][2][3]\n",
            "name: \"[[[[[[\"\n",
            "name: '[[[[[[ it''s'\n",
            "a: b # [[[[[[\n",
            "script: |\n  [[[[[[\n    {{{{{{\n      [[[[\nnext: x\n",
        ];
        for text in cases {
            assert!(!depth_exceeds(text, 3), "{text:?}");
        }
    }

    #[test]
    fn compact_sequences_count_per_dash() {
        let text = format!("{}x\n", "- ".repeat(20));
        assert!(!depth_exceeds(&text, 21));
        assert!(depth_exceeds(&text, 19));
    }

    #[test]
    fn error_names_document_and_line() {
        let text = format!("a: 1\n---\nb: 2\n---\nc:\n  {}\n", "[".repeat(40));
        let found = find_too_deep(&text, 30);
        assert_eq!(
            found,
            Some(TooDeep {
                document: 3,
                line: 6
            })
        );
    }

    #[test]
    fn leading_marker_does_not_start_second_document() {
        let text = format!("---\nc: {}\n", "[".repeat(40));
        let found = find_too_deep(&text, 30).map(|t| t.document);
        assert_eq!(found, Some(1));
    }
}
