//! Console text from a domain, made safe for the operator's terminal.
//!
//! A guest (or a compromised driver domain) writes whatever bytes it likes to
//! its console, and `xenconsoled` logs them verbatim. Printed raw, an escape
//! sequence could retitle the terminal, rewrite earlier lines (hiding an
//! error), or on some terminals answer back as if typed (ECMA-48 §5.4 CSI,
//! §5.6 OSC/DCS). `banana log` therefore passes printable text, newlines and
//! tabs, and drops every other control: C0 and C1 controls, DEL, and whole
//! escape sequences (CSI up to its final byte, OSC/DCS/SOS/PM/APC strings up
//! to BEL or ST). Invalid UTF-8 becomes U+FFFD.

/// `bytes` as text holding no terminal control.
pub fn printable(bytes: &[u8]) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Text,
        /// After ESC.
        Esc,
        /// In a CSI sequence: parameters until a final byte 0x40..=0x7e.
        Csi,
        /// In a control string (OSC, DCS, ...): until BEL, ST or ESC \.
        Str,
        /// ESC seen inside a control string.
        StrEsc,
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut st = St::Text;
    for c in text.chars() {
        st = match (st, c) {
            (St::Text, '\n' | '\t') => {
                out.push(c);
                St::Text
            }
            (St::Text, '\u{1b}') => St::Esc,
            (St::Text, '\u{9b}') => St::Csi,
            (St::Text, '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}') => St::Str,
            (St::Text, c) if c.is_control() => St::Text,
            (St::Text, c) => {
                out.push(c);
                St::Text
            }
            (St::Esc, '[') => St::Csi,
            (St::Esc, ']' | 'P' | 'X' | '^' | '_') => St::Str,
            // Two-byte sequences (ESC c, ESC 7, ...) end here; intermediates
            // (0x20..=0x2f) continue them.
            (St::Esc, ' '..='/') => St::Esc,
            (St::Esc, _) => St::Text,
            (St::Csi, '\u{40}'..='\u{7e}') => St::Text,
            (St::Csi, _) => St::Csi,
            (St::Str, '\u{7}' | '\u{9c}') => St::Text,
            (St::Str, '\u{1b}') => St::StrEsc,
            (St::Str, _) => St::Str,
            (St::StrEsc, '\\') => St::Text,
            (St::StrEsc, _) => St::Str,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn text_newlines_and_tabs_pass() {
        assert_eq!(
            printable("SPIKE-BOOT\n\tok ü\n".as_bytes()),
            "SPIKE-BOOT\n\tok ü\n"
        );
    }

    #[test]
    fn escape_sequences_and_controls_are_dropped() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x1b[31mred\x1b[0m\r\n", "red\n"),
            (b"a\x1b]0;owned\x07b", "ab"),
            (b"a\x1b]52;c;ZXZpbA==\x1b\\b", "ab"),
            (b"a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),
            (b"a\x1bcb\x1b(Bc", "abc"),
            (b"hide\x1b[2K\x1b[1Aline", "hideline"),
            (b"bell\x07\x08\x7f!", "bell!"),
            ("c1\u{9b}31mx\u{9d}t\u{9c}y".as_bytes(), "c1xy"),
            (b"bad\xffutf8", "bad\u{fffd}utf8"),
            // An unterminated sequence swallows the rest, never leaks it.
            (b"end\x1b]0;never", "end"),
        ];
        for (raw, want) in cases {
            assert_eq!(printable(raw), *want, "{raw:?}");
        }
    }
}
