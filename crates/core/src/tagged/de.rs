//! Reading tagged values.

use serde::de::{self, Deserialize, DeserializeSeed, IntoDeserializer, Visitor};

use super::{
    TaggedError, Token, FALSE, FIXED_INTEGERS, FLOAT, MAP, MAX_DEPTH, NEGATIVE, NULL, SEQUENCE,
    STRING, TRUE, U32, U64, U8,
};

/// A `T` read from tagged bytes, all of them.
pub fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, TaggedError> {
    let mut reader = Reader {
        bytes,
        at: 0,
        depth: 0,
    };
    let value = T::deserialize(&mut reader)?;
    if reader.at == bytes.len() {
        Ok(value)
    } else {
        Err(TaggedError::TrailingBytes)
    }
}

/// Tagged bytes read one token at a time, for a caller that builds values of its own (the
/// facade's JS objects) instead of Rust types.
pub struct Tokens<'de>(Reader<'de>);

impl<'de> Tokens<'de> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'de [u8]) -> Self {
        Self(Reader {
            bytes,
            at: 0,
            depth: 0,
        })
    }

    /// The next token; a sequence's or map's elements follow it, a map's as key, value.
    pub fn next_token(&mut self) -> Result<Token<'de>, TaggedError> {
        self.0.token()
    }
}

struct Reader<'de> {
    bytes: &'de [u8],
    at: usize,
    depth: usize,
}

impl<'de> Reader<'de> {
    fn take(&mut self, len: usize) -> Result<&'de [u8], TaggedError> {
        let end = self.at.checked_add(len).ok_or(TaggedError::Truncated)?;
        let taken = self.bytes.get(self.at..end).ok_or(TaggedError::Truncated)?;
        self.at = end;
        Ok(taken)
    }

    fn peek(&self) -> Result<u8, TaggedError> {
        self.bytes
            .get(self.at)
            .copied()
            .ok_or(TaggedError::Truncated)
    }

    fn u32(&mut self) -> Result<u32, TaggedError> {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64, TaggedError> {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(bytes))
    }

    /// A count of values, each at least one byte, so never more than the bytes left.
    fn count(&mut self) -> Result<usize, TaggedError> {
        let count = self.u32()? as usize;
        if count > self.bytes.len() - self.at {
            return Err(TaggedError::Truncated);
        }
        Ok(count)
    }

    fn token(&mut self) -> Result<Token<'de>, TaggedError> {
        let at = self.at;
        Ok(match self.take(1)? {
            [NULL] => Token::Null,
            [FALSE] => Token::Bool(false),
            [TRUE] => Token::Bool(true),
            [small] if *small < FIXED_INTEGERS => Token::Unsigned((*small).into()),
            [U8] => Token::Unsigned(self.take(1)?.first().copied().unwrap_or_default().into()),
            [U32] => Token::Unsigned(self.u32()?.into()),
            [U64] => Token::Unsigned(self.u64()?),
            [NEGATIVE] => {
                let stored = self.u64()?;
                if stored >> 63 != 0 {
                    return Err(TaggedError::Malformed(at));
                }
                Token::Negative(!stored as i64)
            }
            [FLOAT] => Token::Float(f64::from_bits(self.u64()?)),
            [STRING] => {
                let len = self.u32()? as usize;
                Token::String(
                    std::str::from_utf8(self.take(len)?).map_err(|_| TaggedError::Malformed(at))?,
                )
            }
            [SEQUENCE] => Token::Sequence(self.count()?),
            [MAP] => Token::Map(self.count()?),
            _ => return Err(TaggedError::Malformed(at)),
        })
    }

    fn string(&mut self) -> Result<&'de str, TaggedError> {
        let at = self.at;
        match self.token()? {
            Token::String(text) => Ok(text),
            _ => Err(TaggedError::Malformed(at)),
        }
    }

    fn nested<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, TaggedError>,
    ) -> Result<T, TaggedError> {
        if self.depth == MAX_DEPTH {
            return Err(TaggedError::TooDeep);
        }
        self.depth += 1;
        let value = read(self);
        self.depth -= 1;
        value
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = TaggedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TaggedError> {
        match self.token()? {
            Token::Null => visitor.visit_unit(),
            Token::Bool(value) => visitor.visit_bool(value),
            Token::Unsigned(value) => visitor.visit_u64(value),
            Token::Negative(value) => visitor.visit_i64(value),
            Token::Float(value) => visitor.visit_f64(value),
            Token::String(text) => visitor.visit_borrowed_str(text),
            Token::Sequence(left) => {
                self.nested(|reader| visitor.visit_seq(Elements { reader, left }))
            }
            Token::Map(left) => self.nested(|reader| visitor.visit_map(Elements { reader, left })),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TaggedError> {
        if self.peek()? == NULL {
            self.at += 1;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, TaggedError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TaggedError> {
        let at = self.at;
        match self.token()? {
            Token::String(variant) => visitor.visit_enum(variant.into_deserializer()),
            Token::Map(1) => self.nested(|reader| visitor.visit_enum(reader)),
            _ => Err(TaggedError::Malformed(at)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The elements of a sequence, or the entries of a map, not yet read.
struct Elements<'a, 'de> {
    reader: &'a mut Reader<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = TaggedError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TaggedError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = TaggedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TaggedError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(MapKey(&mut *self.reader)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TaggedError> {
        seed.deserialize(&mut *self.reader)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Reader<'de> {
    type Error = TaggedError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), TaggedError> {
        let variant = seed.deserialize(self.string()?.into_deserializer())?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Reader<'de> {
    type Error = TaggedError;

    fn unit_variant(self) -> Result<(), TaggedError> {
        <()>::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, TaggedError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, TaggedError> {
        de::Deserializer::deserialize_any(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TaggedError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// A map key: a string, which an integer key is read back from, as JSON keeps them.
struct MapKey<'a, 'de>(&'a mut Reader<'de>);

impl MapKey<'_, '_> {
    fn integer<T: core::str::FromStr>(self) -> Result<T, TaggedError> {
        let at = self.0.at;
        self.0
            .string()?
            .parse()
            .map_err(|_| TaggedError::Malformed(at))
    }
}

macro_rules! integer_keys {
    ($($method:ident => $visit:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TaggedError> {
            visitor.$visit(self.integer()?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for MapKey<'_, 'de> {
    type Error = TaggedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TaggedError> {
        de::Deserializer::deserialize_any(self.0, visitor)
    }

    integer_keys!(deserialize_i8 => visit_i8, deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32, deserialize_i64 => visit_i64,
        deserialize_u8 => visit_u8, deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32, deserialize_u64 => visit_u64);

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, TaggedError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char str string bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}
