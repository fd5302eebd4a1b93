//! Primitive encodings shared by every message: little-endian integers, `u32`-length-prefixed
//! byte strings, `u32` list counts, one-byte discriminants.
//!
//! Guarantees of [`Reader`]: it never reads outside its slice and never panics; a length prefix
//! is checked against its [`Field`] cap *before* it is checked against the bytes remaining, and
//! both checks happen before anything is allocated, so an allocation is never larger than the
//! bytes actually present. List capacity is reserved from the bytes remaining, never from the
//! claimed count alone. [`Writer`] applies the same caps, so what it writes, `Reader` accepts.
//!
//! Trusts: nothing about the input slice.

use crate::error::{DecodeError, LimitExceeded};
use crate::limits::{Field, Tag};

/// A field-less enum with an explicit one-byte wire code per variant.
pub trait WireEnum: Sized + Copy {
    /// The discriminant named in [`DecodeError::InvalidTag`].
    const TAG: Tag;
    /// The wire code of `self`.
    fn code(self) -> u8;
    /// The variant with wire code `code`, if any.
    fn from_code(code: u8) -> Option<Self>;
}

/// Defines a field-less enum with explicit wire codes, its `code`/`from_code`/`ALL`, and its
/// [`WireEnum`] impl (its [`Tag`] is the variant named like the enum). Code 0 is never used, so zeroed memory never decodes as a variant.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $code, )+
        }

        impl $name {
            /// Every variant, in wire-code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire code of this variant.
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// The variant with wire code `code`, if any.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl $crate::wire::WireEnum for $name {
            const TAG: $crate::limits::Tag = $crate::limits::Tag::$name;
            fn code(self) -> u8 {
                $name::code(self)
            }
            fn from_code(code: u8) -> Option<Self> {
                $name::from_code(code)
            }
        }
    };
}
pub(crate) use wire_enum;

/// Encoded size of a length-prefixed field holding at most `max` bytes.
pub(crate) const fn prefixed(max: usize) -> usize {
    4 + max
}

/// The larger of two sizes, usable in constants.
pub(crate) const fn max_of(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

fn check(field: Field, actual: usize) -> Result<(), LimitExceeded> {
    let max = field.max();
    if actual > max {
        return Err(LimitExceeded { field, actual, max });
    }
    Ok(())
}

/// A running sum of bytes checked against a `Total` cap such as [`Field::TotalCode`].
pub(crate) struct Budget {
    field: Field,
    spent: usize,
}

impl Budget {
    pub(crate) const fn new(field: Field) -> Self {
        Budget { field, spent: 0 }
    }

    pub(crate) fn spend(&mut self, bytes: usize) -> Result<(), LimitExceeded> {
        self.spent = self.spent.saturating_add(bytes);
        check(self.field, self.spent)
    }
}

/// Appends encoded values to a buffer, enforcing field caps.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn array(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    pub(crate) fn tag<E: WireEnum>(&mut self, v: E) {
        self.out.push(v.code());
    }

    /// A `u32` length followed by the bytes; fails if `v` exceeds `field`'s cap.
    pub(crate) fn bytes(&mut self, field: Field, v: &[u8]) -> Result<(), LimitExceeded> {
        self.count(field, v.len())?;
        self.out.extend_from_slice(v);
        Ok(())
    }

    /// A UTF-8 string, encoded like [`Writer::bytes`].
    pub(crate) fn str(&mut self, field: Field, v: &str) -> Result<(), LimitExceeded> {
        self.bytes(field, v.as_bytes())
    }

    /// Like [`Writer::bytes`], also charging the length to `budget` (after the field cap, the
    /// order [`Reader::slice_in`] checks in).
    pub(crate) fn bytes_in(
        &mut self,
        field: Field,
        v: &[u8],
        budget: &mut Budget,
    ) -> Result<(), LimitExceeded> {
        check(field, v.len())?;
        budget.spend(v.len())?;
        self.bytes(field, v)
    }

    /// Like [`Writer::str`], also charging the length to `budget`.
    pub(crate) fn str_in(
        &mut self,
        field: Field,
        v: &str,
        budget: &mut Budget,
    ) -> Result<(), LimitExceeded> {
        self.bytes_in(field, v.as_bytes(), budget)
    }

    /// A `u32` list count (or byte length); fails if `n` exceeds `field`'s cap.
    pub(crate) fn count(&mut self, field: Field, n: usize) -> Result<(), LimitExceeded> {
        check(field, n)?;
        // Every cap is far below u32::MAX, so after `check` this conversion cannot fail.
        let n = u32::try_from(n).map_err(|_| LimitExceeded {
            field,
            actual: n,
            max: field.max(),
        })?;
        self.u32(n);
        Ok(())
    }
}

fn utf8(field: Field, bytes: &[u8]) -> Result<String, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })?;
    Ok(text.to_owned())
}

/// Reads encoded values from a payload slice. Every method fails instead of panicking.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let truncated = DecodeError::Truncated { offset: self.pos };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A discriminant byte that must be a valid code of `E`.
    pub(crate) fn tag<E: WireEnum>(&mut self) -> Result<E, DecodeError> {
        let value = self.u8()?;
        E::from_code(value).ok_or(DecodeError::InvalidTag { tag: E::TAG, value })
    }

    /// A raw discriminant byte, for enums that carry data.
    pub(crate) fn raw_tag(&mut self) -> Result<u8, DecodeError> {
        self.u8()
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidTag {
                tag: Tag::Bool,
                value,
            }),
        }
    }

    /// A `u32` count (or byte length), checked against `field`'s cap. Nothing is allocated.
    pub(crate) fn count(&mut self, field: Field) -> Result<usize, DecodeError> {
        let claimed = self.u32()?;
        // u32 always fits in usize on the 32- and 64-bit targets this crate builds for; if it
        // did not, saturating keeps the cap check below correct.
        let claimed = usize::try_from(claimed).unwrap_or(usize::MAX);
        check(field, claimed)?;
        Ok(claimed)
    }

    /// Capacity to reserve for a list of `count` items, each at least `min_item_len` bytes on
    /// the wire: never more items than the remaining payload could hold.
    pub(crate) fn list_capacity(&self, count: usize, min_item_len: usize) -> usize {
        count.min(self.remaining() / min_item_len.max(1))
    }

    /// A length-prefixed byte string, borrowed from the payload.
    pub(crate) fn slice(&mut self, field: Field) -> Result<&'a [u8], DecodeError> {
        let len = self.count(field)?;
        self.take(len)
    }

    /// Like [`Reader::slice`], also charging the claimed length to `budget` before the bytes
    /// are taken.
    pub(crate) fn slice_in(
        &mut self,
        field: Field,
        budget: &mut Budget,
    ) -> Result<&'a [u8], DecodeError> {
        let len = self.count(field)?;
        budget.spend(len)?;
        self.take(len)
    }

    pub(crate) fn byte_vec(&mut self, field: Field) -> Result<Vec<u8>, DecodeError> {
        Ok(self.slice(field)?.to_vec())
    }

    pub(crate) fn byte_vec_in(
        &mut self,
        field: Field,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, DecodeError> {
        Ok(self.slice_in(field, budget)?.to_vec())
    }

    pub(crate) fn string(&mut self, field: Field) -> Result<String, DecodeError> {
        let bytes = self.slice(field)?;
        utf8(field, bytes)
    }

    pub(crate) fn string_in(
        &mut self,
        field: Field,
        budget: &mut Budget,
    ) -> Result<String, DecodeError> {
        let bytes = self.slice_in(field, budget)?;
        utf8(field, bytes)
    }

    /// Succeeds only if the whole payload was consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}
