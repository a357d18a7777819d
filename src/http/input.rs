//! Typed inputs: a route's parameters read into its input struct with serde, over what
//! `params` decoded (form, multipart, JSON, query and PHP arrays alike), then checked
//! with `validator`.
//!
//! What a field may be: `String` (one value; a list is refused), an integer (a JSON
//! number or a string of digits, see `params::parse_int`), `Vec<String>` or a `Vec` of
//! integers (an array in any spelling, or a comma-separated string), `Option` of any of
//! them. An empty string counts as absent. Errors name the field: a missing one is code
//! 1 `缺少参数 <name>`, a malformed one `参数 <name> 无效`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;
use validator::Validate;

use super::params::{parse_int, Params, Value};
use crate::error::{ApiError, ApiResult, Invalid};

impl Params {
    /// The route's input, decoded and validated.
    pub fn parse<T: DeserializeOwned + Validate>(&self) -> ApiResult<T> {
        let input = T::deserialize(ParamsDe(self)).map_err(ApiError::from)?;
        input.validate().map_err(super::validation_error)?;
        Ok(input)
    }
}

/// Why a field could not be read.
#[derive(Debug)]
pub enum InputError {
    Missing(Cow<'static, str>),
    /// `None` until the field is known (errors raised inside a visitor).
    Malformed(Option<Cow<'static, str>>),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Missing(n) => write!(f, "missing {n}"),
            InputError::Malformed(n) => write!(f, "malformed {}", n.as_deref().unwrap_or("?")),
        }
    }
}

impl std::error::Error for InputError {}

impl de::Error for InputError {
    fn custom<M: fmt::Display>(_msg: M) -> Self {
        InputError::Malformed(None)
    }

    fn missing_field(field: &'static str) -> Self {
        InputError::Missing(field.into())
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Missing(n) => ApiError::Invalid(Invalid::Missing(n)),
            InputError::Malformed(Some(n)) => ApiError::Invalid(Invalid::Param(n)),
            InputError::Malformed(None) => ApiError::Invalid(Invalid::Body),
        }
    }
}

fn malformed(name: &'static str) -> InputError {
    InputError::Malformed(Some(name.into()))
}

/// The parameters as a map of the struct's fields, in the order the struct declares
/// them (so value errors come in that order), present and non-empty ones only.
struct ParamsDe<'p>(&'p Params);

impl<'de, 'p> de::Deserializer<'de> for ParamsDe<'p> {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, InputError> {
        Err(InputError::Malformed(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        let present = fields
            .iter()
            .filter_map(|f| {
                let v = self.0.get(f)?;
                (!matches!(v, Value::Scalar(s) if s.is_empty())).then_some((*f, v))
            })
            .collect::<Vec<_>>();
        visitor.visit_map(Fields {
            fields: present.into_iter(),
            current: None,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct Fields<'p, I: Iterator<Item = (&'static str, &'p Value)>> {
    fields: I,
    current: Option<(&'static str, &'p Value)>,
}

impl<'de, 'p, I> MapAccess<'de> for Fields<'p, I>
where
    I: Iterator<Item = (&'static str, &'p Value)>,
{
    type Error = InputError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, InputError> {
        match self.fields.next() {
            Some(field) => {
                self.current = Some(field);
                seed.deserialize(field.0.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, InputError> {
        let (name, value) = self.current.take().ok_or(InputError::Malformed(None))?;
        seed.deserialize(ValueDe { name, value })
            .map_err(|e| match e {
                InputError::Malformed(None) => malformed(name),
                e => e,
            })
    }
}

/// One parameter's value.
struct ValueDe<'p> {
    name: &'static str,
    value: &'p Value,
}

impl<'p> ValueDe<'p> {
    fn scalar(&self) -> Result<&'p str, InputError> {
        match self.value {
            Value::Scalar(s) => Ok(s),
            Value::List(_) => Err(malformed(self.name)),
        }
    }

    fn items(&self) -> Vec<&'p str> {
        match self.value {
            Value::List(v) => v.iter().map(|s| s.trim()).collect(),
            Value::Scalar(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// The integer methods of a value deserializer, for the integer types inputs use.
macro_rules! integers {
    () => {
        integers! {
            deserialize_i64 => visit_i64 as i64,
            deserialize_i32 => visit_i32 as i32,
            deserialize_u64 => visit_u64 as u64,
            deserialize_u32 => visit_u32 as u32,
        }
    };
    ($($method:ident => $visit:ident as $t:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
                let n = parse_int(self.text()?)
                    .and_then(|n| <$t>::try_from(n).ok())
                    .ok_or_else(|| malformed(self.name()))?;
                visitor.$visit(n)
            }
        )*
    };
}

/// What a value deserializer reads its text from: a whole parameter or a list item.
trait Text<'p> {
    fn name(&self) -> &'static str;
    fn text(&self) -> Result<&'p str, InputError>;
}

impl<'p> Text<'p> for ValueDe<'p> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn text(&self) -> Result<&'p str, InputError> {
        self.scalar()
    }
}

impl<'de, 'p> de::Deserializer<'de> for ValueDe<'p> {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.value {
            Value::Scalar(s) => visitor.visit_str(s),
            Value::List(_) => self.deserialize_seq(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        // Absent and empty values never reach here.
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let name = self.name;
        let items = self
            .items()
            .into_iter()
            .map(move |text| ItemDe { name, text });
        visitor.visit_seq(de::value::SeqDeserializer::new(items))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_str(self.scalar()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_str(self.scalar()?)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant by its name (`type=follow`), surrounding spaces ignored.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_enum(self.scalar()?.trim().into_deserializer())
    }

    integers!();

    forward_to_deserialize_any! {
        bool i8 i16 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct map struct identifier ignored_any
    }
}

/// One item of a list parameter.
struct ItemDe<'p> {
    name: &'static str,
    text: &'p str,
}

impl<'p> Text<'p> for ItemDe<'p> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn text(&self) -> Result<&'p str, InputError> {
        Ok(self.text)
    }
}

impl<'de, 'p> IntoDeserializer<'de, InputError> for ItemDe<'p> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, 'p> de::Deserializer<'de> for ItemDe<'p> {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_str(self.text)
    }

    integers!();

    forward_to_deserialize_any! {
        bool i8 i16 i128 u8 u16 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::http::params::{parse_json, parse_urlencoded};

    #[derive(Debug, Deserialize, Validate, PartialEq)]
    struct Sample {
        name: String,
        id: i64,
        page: Option<u64>,
        #[validate(length(max = 3))]
        members: Option<Vec<i64>>,
        tags: Option<Vec<String>>,
    }

    fn err(p: &Params) -> ApiError {
        p.parse::<Sample>().unwrap_err()
    }

    #[test]
    fn every_spelling_reads_into_the_struct() {
        let want = Sample {
            name: "ivan".into(),
            id: 12,
            page: Some(2),
            members: Some(vec![6, 7]),
            tags: Some(vec!["a".into(), "b".into()]),
        };
        let form = parse_urlencoded(b"name=ivan&id=12&page=2&members[]=6&members[]=7&tags=a,b");
        assert_eq!(form.parse::<Sample>().unwrap(), want);
        let json = parse_json(
            br#"{"name": "ivan", "id": "12", "page": 2, "members": ["6", 7], "tags": ["a", "b"]}"#,
        )
        .unwrap();
        assert_eq!(json.parse::<Sample>().unwrap(), want);
        let bare = parse_urlencoded(b"name=ivan&id=%2B12&page=");
        assert_eq!(
            bare.parse::<Sample>().unwrap(),
            Sample {
                page: None,
                members: None,
                tags: None,
                ..want
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let missing = parse_urlencoded(b"id=1");
        assert!(matches!(err(&missing), ApiError::Invalid(Invalid::Missing(n)) if n == "name"));
        let empty = parse_urlencoded(b"id=1&name=");
        assert!(matches!(err(&empty), ApiError::Invalid(Invalid::Missing(n)) if n == "name"));
        let bad = parse_urlencoded(b"name=a&id=1x");
        assert!(matches!(err(&bad), ApiError::Invalid(Invalid::Param(n)) if n == "id"));
        let list = parse_urlencoded(b"name[]=a&name[]=b&id=1");
        assert!(matches!(err(&list), ApiError::Invalid(Invalid::Param(n)) if n == "name"));
        let item = parse_urlencoded(b"name=a&id=1&members[]=x");
        assert!(matches!(err(&item), ApiError::Invalid(Invalid::Param(n)) if n == "members"));
        let negative = parse_urlencoded(b"name=a&id=1&page=-1");
        assert!(matches!(err(&negative), ApiError::Invalid(Invalid::Param(n)) if n == "page"));
        let long = parse_urlencoded(b"name=a&id=1&members=1,2,3,4");
        assert!(
            matches!(err(&long), ApiError::Invalid(Invalid::TooManyItems(n)) if n == "members")
        );
    }
}
