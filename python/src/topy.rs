//! Events straight into Python dicts, through their serde `Serialize`:
//! the values `json.loads` would give of their JSON, with no JSON (nor
//! `serde_json::Value`) in between, and the event's kind flattened into
//! the dict (`{"at_us": …, "kind": "ColdStart", "host": 0, …}`). This is
//! the step API's hot path: `Provider.apply` returns every event so.
//!
//! Field and variant names are `&'static str`s; each becomes a Python str
//! once per thread (a cache keyed by the name's address).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;
use serde::ser::{self, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;

/// Why a value could not be made (a Python error, or a shape with no
/// Python form, such as a map keyed by something other than a str).
#[derive(Debug)]
pub(crate) struct ConvertError(String);

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

impl ser::Error for ConvertError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        ConvertError(message.to_string())
    }
}

impl From<PyErr> for ConvertError {
    fn from(error: PyErr) -> Self {
        ConvertError(error.to_string())
    }
}

impl From<ConvertError> for PyErr {
    fn from(error: ConvertError) -> Self {
        crate::Error::new_err(error.0)
    }
}

thread_local! {
    /// The names made so far on this thread, by address and length. Each
    /// holds one reference to its str forever (never released: a handful
    /// of names, and none released after the interpreter has gone).
    static NAMES: RefCell<HashMap<(usize, usize), NonNull<pyo3::ffi::PyObject>, BuildAddress>> =
        RefCell::new(HashMap::with_hasher(BuildAddress::default()));
}

/// Hashes an address: it is unique already, so one multiply mixes it.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, value: usize) {
        self.0 = (self.0 ^ value as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type BuildAddress = BuildHasherDefault<AddressHasher>;

/// A static name as a Python str, made once per thread.
fn name<'py>(py: Python<'py>, text: &'static str) -> Bound<'py, PyString> {
    let key = (text.as_ptr() as usize, text.len());
    let pointer = NAMES.with(|names| {
        *names.borrow_mut().entry(key).or_insert_with(|| {
            let made = PyString::intern(py, text).unbind();
            NonNull::new(made.into_ptr()).expect("a made str is not null")
        })
    });
    // SAFETY: the pointer is a str this cache holds a reference to for
    // ever; borrowing it adds one for the Bound.
    unsafe { Bound::from_borrowed_ptr(py, pointer.as_ptr()).cast_into_unchecked::<PyString>() }
}

/// `event` as a flat dict.
pub(crate) fn event<'py>(py: Python<'py>, event: &coldstart::Event) -> PyResult<Bound<'py, PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item(name(py, "at_us"), event.at_us)?;
    event.kind.serialize(Flat {
        dict: &dict,
        tag: "kind",
    })?;
    Ok(dict.into_any())
}

/// Any serializable value, as Python values.
#[derive(Clone, Copy)]
pub(crate) struct ToPy<'py> {
    pub(crate) py: Python<'py>,
}

type Done<'py> = Result<Bound<'py, PyAny>, ConvertError>;

impl<'py> ToPy<'py> {
    fn int(self, value: impl IntoPyObject<'py>) -> Done<'py> {
        value
            .into_bound_py_any(self.py)
            .map_err(|error| ConvertError(error.to_string()))
    }
}

impl<'py> ser::Serializer for ToPy<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    type SerializeSeq = Items<'py>;
    type SerializeTuple = Items<'py>;
    type SerializeTupleStruct = Items<'py>;
    type SerializeTupleVariant = Tagged<Items<'py>>;
    type SerializeMap = Entries<'py>;
    type SerializeStruct = Fields<'py>;
    type SerializeStructVariant = Tagged<Fields<'py>>;

    fn serialize_bool(self, value: bool) -> Done<'py> {
        self.int(value)
    }
    fn serialize_i8(self, value: i8) -> Done<'py> {
        self.int(value)
    }
    fn serialize_i16(self, value: i16) -> Done<'py> {
        self.int(value)
    }
    fn serialize_i32(self, value: i32) -> Done<'py> {
        self.int(value)
    }
    fn serialize_i64(self, value: i64) -> Done<'py> {
        self.int(value)
    }
    fn serialize_u8(self, value: u8) -> Done<'py> {
        self.int(value)
    }
    fn serialize_u16(self, value: u16) -> Done<'py> {
        self.int(value)
    }
    fn serialize_u32(self, value: u32) -> Done<'py> {
        self.int(value)
    }
    fn serialize_u64(self, value: u64) -> Done<'py> {
        self.int(value)
    }
    fn serialize_f32(self, value: f32) -> Done<'py> {
        self.int(f64::from(value))
    }
    fn serialize_f64(self, value: f64) -> Done<'py> {
        self.int(value)
    }
    fn serialize_char(self, value: char) -> Done<'py> {
        self.int(value.to_string())
    }
    fn serialize_str(self, value: &str) -> Done<'py> {
        Ok(PyString::new(self.py, value).into_any())
    }
    fn serialize_bytes(self, value: &[u8]) -> Done<'py> {
        self.int(value.to_vec())
    }
    fn serialize_none(self) -> Done<'py> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Done<'py> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done<'py> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done<'py> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Done<'py> {
        Ok(name(self.py, variant).into_any())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Done<'py> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Done<'py> {
        let dict = PyDict::new(self.py);
        dict.set_item(name(self.py, variant), value.serialize(self)?)?;
        Ok(dict.into_any())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Items<'py>, ConvertError> {
        Ok(Items {
            to: self,
            items: Vec::new(),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Items<'py>, ConvertError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Items<'py>, ConvertError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Tagged<Items<'py>>, ConvertError> {
        Ok(Tagged {
            variant,
            inner: self.serialize_seq(Some(len))?,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Entries<'py>, ConvertError> {
        Ok(Entries {
            to: self,
            dict: PyDict::new(self.py),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Fields<'py>, ConvertError> {
        Ok(Fields {
            to: self,
            dict: PyDict::new(self.py),
        })
    }
    fn serialize_struct_variant(
        self,
        name_: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Tagged<Fields<'py>>, ConvertError> {
        Ok(Tagged {
            variant,
            inner: self.serialize_struct(name_, len)?,
        })
    }
}

pub(crate) struct Items<'py> {
    to: ToPy<'py>,
    items: Vec<Bound<'py, PyAny>>,
}

impl<'py> Items<'py> {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.items.push(value.serialize(self.to)?);
        Ok(())
    }
    fn list(self) -> Done<'py> {
        Ok(PyList::new(self.to.py, self.items)?.into_any())
    }
}

impl<'py> ser::SerializeSeq for Items<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Done<'py> {
        self.list()
    }
}

impl<'py> ser::SerializeTuple for Items<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Done<'py> {
        self.list()
    }
}

impl<'py> ser::SerializeTupleStruct for Items<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.push(value)
    }
    fn end(self) -> Done<'py> {
        self.list()
    }
}

pub(crate) struct Entries<'py> {
    to: ToPy<'py>,
    dict: Bound<'py, PyDict>,
    key: Option<Bound<'py, PyAny>>,
}

impl<'py> ser::SerializeMap for Entries<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), ConvertError> {
        // JSON keys are strings: a number key becomes its digits, as
        // serde_json writes it.
        let key = key.serialize(self.to)?;
        self.key = Some(if key.cast::<PyString>().is_ok() {
            key
        } else {
            key.str()?.into_any()
        });
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ConvertError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ConvertError("a map value without its key".into()))?;
        self.dict.set_item(key, value.serialize(self.to)?)?;
        Ok(())
    }
    fn end(self) -> Done<'py> {
        Ok(self.dict.into_any())
    }
}

pub(crate) struct Fields<'py> {
    to: ToPy<'py>,
    dict: Bound<'py, PyDict>,
}

impl<'py> ser::SerializeStruct for Fields<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.dict
            .set_item(name(self.to.py, key), value.serialize(self.to)?)?;
        Ok(())
    }
    fn end(self) -> Done<'py> {
        Ok(self.dict.into_any())
    }
}

/// A variant with data: `{variant: data}`, serde's external tagging.
pub(crate) struct Tagged<Inner> {
    variant: &'static str,
    inner: Inner,
}

/// `{variant: data}`.
fn wrap<'py>(py: Python<'py>, variant: &'static str, data: Bound<'py, PyAny>) -> Done<'py> {
    let dict = PyDict::new(py);
    dict.set_item(name(py, variant), data)?;
    Ok(dict.into_any())
}

impl<'py> ser::SerializeTupleVariant for Tagged<Items<'py>> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.inner.push(value)
    }
    fn end(self) -> Done<'py> {
        let py = self.inner.to.py;
        let data = self.inner.list()?;
        wrap(py, self.variant, data)
    }
}

impl<'py> ser::SerializeStructVariant for Tagged<Fields<'py>> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Done<'py> {
        let py = self.inner.to.py;
        wrap(py, self.variant, self.inner.dict.into_any())
    }
}

/// An enum flattened into `dict`: the variant's name under `tag`, its
/// fields beside it (a newtype variant's value under `value`).
struct Flat<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
    tag: &'static str,
}

impl<'py> Flat<'_, 'py> {
    fn tagged(&self, variant: &'static str) -> Result<(), ConvertError> {
        let py = self.dict.py();
        self.dict.set_item(name(py, self.tag), name(py, variant))?;
        Ok(())
    }

    fn not_an_enum<T>(&self) -> Result<T, ConvertError> {
        Err(ConvertError(format!("`{}` is not an enum", self.tag)))
    }
}

/// The fields of a flattened struct variant, set into the dict.
struct FlatFields<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
}

impl<'py> ser::SerializeStructVariant for FlatFields<'_, 'py> {
    type Ok = ();
    type Error = ConvertError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        let py = self.dict.py();
        self.dict
            .set_item(name(py, key), value.serialize(ToPy { py })?)?;
        Ok(())
    }
    fn end(self) -> Result<(), ConvertError> {
        Ok(())
    }
}

impl<'a, 'py> ser::Serializer for Flat<'a, 'py> {
    type Ok = ();
    type Error = ConvertError;
    type SerializeSeq = ser::Impossible<(), ConvertError>;
    type SerializeTuple = ser::Impossible<(), ConvertError>;
    type SerializeTupleStruct = ser::Impossible<(), ConvertError>;
    type SerializeTupleVariant = ser::Impossible<(), ConvertError>;
    type SerializeMap = ser::Impossible<(), ConvertError>;
    type SerializeStruct = ser::Impossible<(), ConvertError>;
    type SerializeStructVariant = FlatFields<'a, 'py>;

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), ConvertError> {
        self.tagged(variant)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.tagged(variant)?;
        let py = self.dict.py();
        self.dict
            .set_item(name(py, "value"), value.serialize(ToPy { py })?)?;
        Ok(())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<FlatFields<'a, 'py>, ConvertError> {
        self.tagged(variant)?;
        Ok(FlatFields { dict: self.dict })
    }

    fn serialize_bool(self, _: bool) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_i8(self, _: i8) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_i16(self, _: i16) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_i32(self, _: i32) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_i64(self, _: i64) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_u8(self, _: u8) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_u16(self, _: u16) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_u32(self, _: u32) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_u64(self, _: u64) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_f32(self, _: f32) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_f64(self, _: f64) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_char(self, _: char) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_str(self, _: &str) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_none(self) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_unit(self) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), ConvertError> {
        self.not_an_enum()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ConvertError> {
        self.not_an_enum()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ConvertError> {
        self.not_an_enum()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ConvertError> {
        self.not_an_enum()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ConvertError> {
        self.not_an_enum()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ConvertError> {
        self.not_an_enum()
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ConvertError> {
        self.not_an_enum()
    }
}
