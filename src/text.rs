//! What user- and operator-written text that goes into logs and pages may
//! hold: the character classes that break a line, reorder it, or show
//! nothing.

/// Unicode's line and paragraph separators, which break a log line as a
/// newline does.
pub(crate) fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// The bidirectional controls (Unicode's Bidi_Control property), which
/// can make a log line read as other than what it holds.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A character that shows: neither white space nor an invisible format
/// character.
pub(crate) fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !is_invisible_format(c)
}

/// The format characters that show nothing: zero-width spaces and joiners,
/// the word joiner and invisible operators, the byte-order mark, soft
/// hyphen, Mongolian vowel separator, the Hangul fillers.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(
            c,
            '\u{AD}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{FEFF}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{3164}'
            | '\u{FFA0}'
    )
}
