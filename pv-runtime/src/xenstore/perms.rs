//! Node permissions as carried by `GET_PERMS` / `SET_PERMS`.
//!
//! `docs/misc/xenstore.txt` ("GET_PERMS"/"SET_PERMS"): each permission is a
//! letter followed by a decimal domid, `n` (none), `r` (read), `w` (write) or
//! `b` (both). The first entry names the node's owner and the access every
//! domain not listed afterwards gets.

use core::fmt;

/// The access one permission entry grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `n`
    None,
    /// `r`
    Read,
    /// `w`
    Write,
    /// `b`
    Both,
}

impl Access {
    /// The wire letter.
    pub const fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }

    /// Parses a wire letter.
    pub const fn from_letter(c: u8) -> Option<Access> {
        match c {
            b'n' => Some(Access::None),
            b'r' => Some(Access::Read),
            b'w' => Some(Access::Write),
            b'b' => Some(Access::Both),
            _ => None,
        }
    }
}

/// One `<perm-as-string>`: a domain and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perm {
    /// The domain this entry is about (the owner, for the first entry).
    pub domid: u16,
    /// What it may do.
    pub access: Access,
}

/// A permission string that is not a letter `nrwb` followed by a domid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed xenstore permission")]
pub struct PermParseError;

impl Perm {
    /// Shorthand constructor.
    pub const fn new(domid: u16, access: Access) -> Perm {
        Perm { domid, access }
    }

    /// Parses `w0`, `r5`, …: a letter and 1–5 decimal digits in `0..=65535`.
    ///
    /// Stricter than xenstored ("parsing errors … generally go undetected"):
    /// a reply we cannot interpret exactly is reported, not guessed at.
    pub fn parse(s: &[u8]) -> Result<Perm, PermParseError> {
        let (&letter, digits) = s.split_first().ok_or(PermParseError)?;
        let access = Access::from_letter(letter).ok_or(PermParseError)?;
        Ok(Perm {
            domid: parse_u16(digits).ok_or(PermParseError)?,
            access,
        })
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.access.letter(), self.domid)
    }
}

/// Plain decimal `u16`: digits only, no sign, no leading zeros beyond "0".
fn parse_u16(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut v: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
    }
    u16::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parse_and_format() {
        assert_eq!(Perm::parse(b"w0"), Ok(Perm::new(0, Access::Write)));
        assert_eq!(Perm::parse(b"r5"), Ok(Perm::new(5, Access::Read)));
        assert_eq!(Perm::parse(b"b65535"), Ok(Perm::new(65535, Access::Both)));
        assert_eq!(Perm::parse(b"n12"), Ok(Perm::new(12, Access::None)));
        for bad in [
            &b""[..],
            b"w",
            b"x1",
            b"w65536",
            b"w-1",
            b"w01",
            b"w1 ",
            b"W1",
            b"w123456",
        ] {
            assert_eq!(Perm::parse(bad), Err(PermParseError), "{bad:?}");
        }
        assert_eq!(Perm::new(7, Access::Both).to_string(), "b7");
        for a in [Access::None, Access::Read, Access::Write, Access::Both] {
            let p = Perm::new(42, a);
            assert_eq!(Perm::parse(p.to_string().as_bytes()), Ok(p));
        }
    }
}
