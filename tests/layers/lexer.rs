//! Just enough of a Rust lexer to find paths: comments and literals blanked out, then
//! identifiers, `::` and punctuation with their line numbers.

/// Identifiers, `::` and single punctuation characters, with their line numbers.
pub fn tokens(text: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = vec![];
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((chars[start..i].iter().collect(), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(("::".into(), line));
            i += 2;
        } else {
            tokens.push((c.to_string(), line));
            i += 1;
        }
    }
    tokens
}

/// `text` with the insides of comments, strings and character literals blanked out
/// (newlines kept, so line numbers stay right).
pub fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, chars: &[char]| {
        out.extend(chars.iter().map(|c| if *c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let ident_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|c| *c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment_end(rest)
        } else if rest[0] == '"' {
            string_end(rest)
        } else if !ident_before && let Some(end) = raw_string_end(rest) {
            end
        } else if rest[0] == '\'' {
            char_literal_end(rest).unwrap_or(1)
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        blank(&mut out, &rest[..end]);
        i += end;
    }
    out
}

fn block_comment_end(rest: &[char]) -> usize {
    let (mut depth, mut i) = (0, 0);
    while i < rest.len() {
        if rest[i..].starts_with(&['/', '*']) {
            depth += 1;
            i += 2;
        } else if rest[i..].starts_with(&['*', '/']) {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    rest.len()
}

fn string_end(rest: &[char]) -> usize {
    let mut i = 1;
    while i < rest.len() {
        match rest[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    rest.len()
}

/// The end of a raw string (`r"…"`, `br#"…"#`) starting at `rest[0]`, if one does.
fn raw_string_end(rest: &[char]) -> Option<usize> {
    let prefix = if rest.starts_with(&['b', 'r']) {
        2
    } else {
        usize::from(rest[0] == 'r')
    };
    if prefix == 0 {
        return None;
    }
    let hashes = rest[prefix..].iter().take_while(|c| **c == '#').count();
    if rest.get(prefix + hashes) != Some(&'"') {
        return None;
    }
    let body = prefix + hashes + 1;
    let closing: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let end = (body..rest.len()).find(|&i| rest[i..].starts_with(&closing))?;
    Some(end + closing.len())
}

/// The end of a character literal at `rest[0]`; `None` for a lifetime.
fn char_literal_end(rest: &[char]) -> Option<usize> {
    if rest.get(1) == Some(&'\\') {
        // Skip the escaped character: it may be a quote.
        return rest.iter().skip(3).position(|c| *c == '\'').map(|p| p + 4);
    }
    (rest.get(2) == Some(&'\'')).then_some(3)
}
