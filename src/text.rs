//! Text as platforms write it, shared by connectors and importers.

/// Decodes `&amp;`, `&#8217;`, `&#x2019;` and the named entities feeds really use (Reddit
/// writes only `&amp;`, `&lt;`, `&gt;` and the odd numeric one). Anything
/// else, a lone `&` included, is kept as written.
pub(crate) fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entity names are short; looking further would make long texts of bare `&` slow.
        let decoded = rest[1..]
            .bytes()
            .take(12)
            .position(|b| b == b';')
            .and_then(|end| Some((entity(&rest[1..=end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "euro" => '€',
        "pound" => '£',
        _ => return None,
    })
}

/// The attributes of every `<name ...>` tag, names lowercased, values entity-decoded. A scan,
/// not a parser: enough for `<link>` in a page head and `<img>` in feed content, which is all
/// Lifeboat reads from HTML.
pub(crate) fn tags(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(at) = lower[pos..].find(&open) {
        pos += at + open.len();
        // `<linkage>` or `<image>` are other tags.
        if lower[pos..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        {
            let (attrs, consumed) = attributes(&html[pos..]);
            found.push(attrs);
            pos += consumed;
        }
    }
    found
}

/// Reads attributes up to the closing `>`; returns them and the bytes consumed. Quoted with
/// `"` or `'`, or unquoted, in any order, as real pages write them.
fn attributes(tag: &str) -> (Vec<(String, String)>, usize) {
    let bytes = tag.as_bytes();
    let skip = |mut i: usize, stop: &dyn Fn(u8) -> bool| {
        while i < bytes.len() && !stop(bytes[i]) {
            i += 1;
        }
        i
    };
    let mut attrs = Vec::new();
    let mut i = 0;
    loop {
        i = skip(i, &|b| !b.is_ascii_whitespace() && b != b'/');
        match bytes.get(i) {
            None => return (attrs, i),
            Some(b'>') => return (attrs, i + 1),
            Some(_) => {}
        }
        let name_start = i;
        i = skip(i, &|b| {
            b.is_ascii_whitespace() || matches!(b, b'=' | b'>' | b'/')
        });
        let name = tag[name_start..i].to_ascii_lowercase();
        i = skip(i, &|b| !b.is_ascii_whitespace());
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i = skip(i + 1, &|b| !b.is_ascii_whitespace());
            match bytes.get(i) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let end = skip(i + 1, &|b| b == quote);
                    value = decode_entities(&tag[i + 1..end]);
                    i = (end + 1).min(bytes.len());
                }
                _ => {
                    let end = skip(i, &|b| b.is_ascii_whitespace() || b == b'>');
                    value = decode_entities(&tag[i..end]);
                    i = end;
                }
            }
        }
        attrs.push((name, value));
    }
}

pub(crate) fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Tags that sit inside a line of text; any other tag breaks words apart.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i", "ins",
    "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
];

/// The plain text of an HTML fragment, for search and the timeline: tags dropped, scripts
/// and styles with their contents, entities decoded, whitespace collapsed.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            continue;
        }
        let starts_tag = rest[1..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'!');
        let Some(gt) = rest.find('>').filter(|_| starts_tag) else {
            // A bare "<" in text ("a < b"), kept as written.
            text.push('<');
            rest = &rest[1..];
            continue;
        };
        let name: String = rest[1..gt]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &rest[gt + 1..];
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            rest = rest
                .to_ascii_lowercase()
                .find(&close)
                .and_then(|end| rest[end..].find('>').map(|gt| &rest[end + gt + 1..]))
                .unwrap_or("");
        } else if !INLINE_TAGS.contains(&name.as_str()) {
            text.push(' ');
        }
    }
    text.push_str(&decode_entities(rest));
    collapse_whitespace(&text)
}

pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("&gt; quoted &amp; &lt;b&gt; &#x200B;x & y &bogus; &#8217;&rsquo;"),
            "> quoted & <b> \u{200B}x & y &bogus; ’’"
        );
    }
}
