//! The framing of an op's input (and of answers made of several parts): a list of fields, each a
//! little-endian u32 length followed by that many bytes. Numbers travel as 4-byte little-endian
//! fields, text as UTF-8. The prelude's `packFields`/`unpackFields` (js/prelude.js) speak it.
//!
//! Guarantees: decoding never reads past the input, refuses trailing bytes and more than
//! [`MAX_FIELDS`] fields, and never allocates more than the list of slices.

use super::{OpError, OpResult};

/// The most fields one input may have.
pub const MAX_FIELDS: usize = 16;

/// The fields of `input`, borrowed.
pub struct Fields<'a> {
    items: Vec<&'a [u8]>,
}

impl<'a> Fields<'a> {
    pub fn parse(input: &'a [u8]) -> OpResult<Self> {
        let mut items = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            if items.len() == MAX_FIELDS {
                return Err(OpError::type_error("too many fields in an op's input"));
            }
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| OpError::type_error("a truncated field length"))?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > tail.len() {
                return Err(OpError::type_error("a field runs past the input"));
            }
            let (field, tail) = tail.split_at(len);
            items.push(field);
            rest = tail;
        }
        Ok(Fields { items })
    }

    /// Field `i`; a missing field is a TypeError (the prelude always sends every field).
    pub fn bytes(&self, i: usize) -> OpResult<&'a [u8]> {
        self.items
            .get(i)
            .copied()
            .ok_or_else(|| OpError::type_error(format!("the op's input lacks field {i}")))
    }

    pub fn u32(&self, i: usize) -> OpResult<u32> {
        let b = self.bytes(i)?;
        let arr: [u8; 4] = b
            .try_into()
            .map_err(|_| OpError::type_error(format!("field {i} is not a 4-byte number")))?;
        Ok(u32::from_le_bytes(arr))
    }
}

/// Reads fields one after another, without [`MAX_FIELDS`] (for lists whose length the input's
/// size already bounds: HTMLRewriter's selectors, a callback's mutations).
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn bytes(&mut self) -> OpResult<&'a [u8]> {
        let (len, tail) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| OpError::type_error("a truncated field length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(OpError::type_error("a field runs past the input"));
        }
        let (field, tail) = tail.split_at(len);
        self.rest = tail;
        Ok(field)
    }

    pub fn u32(&mut self) -> OpResult<u32> {
        let arr: [u8; 4] = self
            .bytes()?
            .try_into()
            .map_err(|_| OpError::type_error("a field is not a 4-byte number"))?;
        Ok(u32::from_le_bytes(arr))
    }

    pub fn str(&mut self) -> OpResult<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| OpError::type_error("a field is not UTF-8"))
    }
}

/// Frames `parts` as a list of fields.
pub fn encode(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let framed = encode(&[b"ab", b"", &7u32.to_le_bytes()]);
        let f = Fields::parse(&framed).expect("parses");
        assert_eq!(f.bytes(0).expect("0"), b"ab");
        assert_eq!(f.bytes(1).expect("1"), b"");
        assert_eq!(f.u32(2).expect("2"), 7);
        assert!(f.bytes(3).is_err());
        assert!(f.u32(0).is_err());
        // A length past the end, a truncated length.
        assert!(Fields::parse(&[5, 0, 0, 0, 1]).is_err());
        assert!(Fields::parse(&[1, 0]).is_err());
        let many: Vec<&[u8]> = vec![b"x"; MAX_FIELDS + 1];
        assert!(Fields::parse(&encode(&many)).is_err());
    }
}
