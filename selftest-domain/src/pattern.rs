//! The page contents the two halves of the grant exchange agree on.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

/// Byte `i` of the page the offering side grants read-only.
pub fn offered(i: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ 0x5a ^ ((i >> 8) as u8)
}

/// Byte `i` of the answer the accepting side copies back.
pub fn answer(i: usize) -> u8 {
    !offered(i)
}

/// Strict decimal parse of a xenstore value: digits only, no sign or space.
pub fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_numbers() {
        assert_eq!(parse_u32("42"), Some(42));
        for bad in [
            "",
            "-1",
            " 1",
            "1 ",
            "+1",
            "0x10",
            "99999999999",
            "4294967296",
        ] {
            assert_eq!(parse_u32(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answer_differs_from_offer_everywhere() {
        assert!((0..4096).all(|i| offered(i) != answer(i)));
    }
}
