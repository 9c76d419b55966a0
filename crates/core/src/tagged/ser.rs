//! Writing tagged values.

use serde::ser::{self, Serialize};

use super::{
    fill_count, put_unsigned, reserve_count, TaggedError, FALSE, FLOAT, MAP, NEGATIVE, NULL,
    SEQUENCE, STRING, TRUE,
};

/// `value` as tagged bytes.
pub fn to_vec(value: &impl Serialize) -> Result<Vec<u8>, TaggedError> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut Writer { out: &mut out })?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn number(&mut self, tag: u8, value: u64) {
        self.out.push(tag);
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    fn signed(&mut self, value: i64) {
        match u64::try_from(value) {
            Ok(unsigned) => put_unsigned(self.out, unsigned),
            Err(_) => self.number(NEGATIVE, !(value as u64)),
        }
    }

    fn string(&mut self, text: &str) -> Result<(), TaggedError> {
        let at = reserve_count(self.out, STRING);
        self.out.extend_from_slice(text.as_bytes());
        fill_count(self.out, at, text.len())
    }

    fn open(&mut self, tag: u8) -> Compound<'_> {
        let at = reserve_count(self.out, tag);
        Compound {
            out: self.out,
            at,
            count: 0,
        }
    }

    /// A one-entry map `{variant: …}`, as JSON holds an enum variant with data.
    fn variant(&mut self, variant: &'static str, tag: u8) -> Result<Compound<'_>, TaggedError> {
        self.variant_key(variant)?;
        Ok(self.open(tag))
    }

    fn variant_key(&mut self, variant: &'static str) -> Result<(), TaggedError> {
        let outer = reserve_count(self.out, MAP);
        fill_count(self.out, outer, 1)?;
        self.string(variant)
    }
}

/// A sequence or map being written; its count is filled in at the end.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    at: usize,
    count: usize,
}

impl Compound<'_> {
    fn element(&mut self, value: &(impl Serialize + ?Sized)) -> Result<(), TaggedError> {
        value.serialize(&mut Writer { out: self.out })
    }

    fn entry(&mut self, key: &str, value: &(impl Serialize + ?Sized)) -> Result<(), TaggedError> {
        Writer { out: self.out }.string(key)?;
        self.count += 1;
        self.element(value)
    }

    fn close(self) -> Result<(), TaggedError> {
        fill_count(self.out, self.at, self.count)
    }
}

impl<'a> ser::Serializer for &'a mut Writer<'_> {
    type Ok = ();
    type Error = TaggedError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), TaggedError> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), TaggedError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), TaggedError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), TaggedError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), TaggedError> {
        self.signed(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), TaggedError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), TaggedError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), TaggedError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), TaggedError> {
        put_unsigned(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), TaggedError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), TaggedError> {
        self.number(FLOAT, v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), TaggedError> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), TaggedError> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), TaggedError> {
        let mut seq = self.open(SEQUENCE);
        for byte in v {
            seq.element(byte)?;
            seq.count += 1;
        }
        seq.close()
    }
    fn serialize_none(self) -> Result<(), TaggedError> {
        self.out.push(NULL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), TaggedError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), TaggedError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), TaggedError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), TaggedError> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), TaggedError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), TaggedError> {
        self.variant_key(variant)?;
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, TaggedError> {
        Ok(self.open(SEQUENCE))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, TaggedError> {
        Ok(self.open(SEQUENCE))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, TaggedError> {
        Ok(self.open(SEQUENCE))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, TaggedError> {
        self.variant(variant, SEQUENCE)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, TaggedError> {
        Ok(self.open(MAP))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, TaggedError> {
        Ok(self.open(MAP))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, TaggedError> {
        self.variant(variant, MAP)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TaggedError> {
        self.count += 1;
        self.element(value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TaggedError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TaggedError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TaggedError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), TaggedError> {
        self.count += 1;
        key.serialize(MapKey { out: self.out })
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TaggedError> {
        self.element(value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TaggedError> {
        self.entry(key, value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = TaggedError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TaggedError> {
        self.entry(key, value)
    }
    fn end(self) -> Result<(), TaggedError> {
        self.close()
    }
}

/// A map key, written as a string as JSON writes it: integers as their decimal digits.
struct MapKey<'a> {
    out: &'a mut Vec<u8>,
}

impl MapKey<'_> {
    fn text(self, text: &str) -> Result<(), TaggedError> {
        Writer { out: self.out }.string(text)
    }
}

macro_rules! integer_keys {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<(), TaggedError> {
            self.text(&v.to_string())
        })*
    };
}

macro_rules! refused_keys {
    ($($method:ident($($arg:ty),*) -> $ret:ty),*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, TaggedError> {
            Err(TaggedError::Refused("a map key must be a string or an integer".into()))
        })*
    };
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = TaggedError;
    type SerializeSeq = ser::Impossible<(), TaggedError>;
    type SerializeTuple = ser::Impossible<(), TaggedError>;
    type SerializeTupleStruct = ser::Impossible<(), TaggedError>;
    type SerializeTupleVariant = ser::Impossible<(), TaggedError>;
    type SerializeMap = ser::Impossible<(), TaggedError>;
    type SerializeStruct = ser::Impossible<(), TaggedError>;
    type SerializeStructVariant = ser::Impossible<(), TaggedError>;

    integer_keys!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);

    fn serialize_str(self, v: &str) -> Result<(), TaggedError> {
        self.text(v)
    }
    fn serialize_char(self, v: char) -> Result<(), TaggedError> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), TaggedError> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), TaggedError> {
        value.serialize(self)
    }

    refused_keys!(serialize_bool(bool) -> (), serialize_f32(f32) -> (), serialize_f64(f64) -> (),
        serialize_bytes(&[u8]) -> (), serialize_none() -> (), serialize_unit() -> (),
        serialize_unit_struct(&'static str) -> (),
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant);

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), TaggedError> {
        Err(TaggedError::Refused(
            "a map key must be a string or an integer".into(),
        ))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), TaggedError> {
        Err(TaggedError::Refused(
            "a map key must be a string or an integer".into(),
        ))
    }
}
