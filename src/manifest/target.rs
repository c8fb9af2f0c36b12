//! How steps name the groups and devices they act on.
//!
//! A single group is named by object id, display name or mail nickname. A *set*
//! of groups is either the id of a `filterGroups` step (the set it selects at run
//! time) or an explicit list of groups; device sets work the same way with
//! `filterDevices`. A step id in a set is also an implicit dependency in the plan.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The form of every step id; also used in `needs` and set references.
pub const STEP_ID_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_-]{0,63}$";

/// The form of a directory object id (a GUID).
pub const OBJECT_ID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// One group, by a property that identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum GroupTargetSpec {
    /// The group's object id.
    Id(#[schemars(regex(pattern = OBJECT_ID_PATTERN))] String),
    /// The group's display name; it must match exactly one group when the step runs.
    DisplayName(#[schemars(length(min = 1, max = 256))] String),
    /// The group's mail nickname.
    MailNickname(#[schemars(length(min = 1, max = 64))] String),
}

impl fmt::Display for GroupTargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "id {id}"),
            Self::DisplayName(name) => write!(f, "displayName {name:?}"),
            Self::MailNickname(nickname) => write!(f, "mailNickname {nickname:?}"),
        }
    }
}

/// One device, by a property that identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum DeviceTargetSpec {
    /// The device's object id in the directory.
    Id(#[schemars(regex(pattern = OBJECT_ID_PATTERN))] String),
    /// The device id set by the Device Registration Service (`deviceId`).
    DeviceId(#[schemars(regex(pattern = OBJECT_ID_PATTERN))] String),
    /// The device's display name; it must match exactly one device when the step runs.
    DisplayName(#[schemars(length(min = 1, max = 256))] String),
}

/// A set of objects: the result of a filter step, or an explicit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetSpec<T> {
    /// The id of a filter step whose result is the set.
    Step(String),
    /// The objects, listed one by one.
    List(Vec<T>),
}

/// A set of groups: a `filterGroups` step id, or a list of groups.
pub type GroupSetSpec = SetSpec<GroupTargetSpec>;

/// A set of devices: a `filterDevices` step id, or a list of devices.
pub type DeviceSetSpec = SetSpec<DeviceTargetSpec>;

impl<T: Serialize> Serialize for SetSpec<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Step(id) => serializer.serialize_str(id),
            Self::List(items) => items.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SetSpec<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SetVisitor(PhantomData))
    }
}

struct SetVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SetVisitor<T> {
    type Value = SetSpec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the id of a filter step, or a list of objects")
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<Self::Value, E> {
        Ok(SetSpec::Step(id.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(SetSpec::List(items))
    }
}

impl JsonSchema for SetSpec<GroupTargetSpec> {
    fn schema_name() -> Cow<'static, str> {
        "GroupSet".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        set_schema::<GroupTargetSpec>(generator, "filterGroups", "groups")
    }
}

impl JsonSchema for SetSpec<DeviceTargetSpec> {
    fn schema_name() -> Cow<'static, str> {
        "DeviceSet".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        set_schema::<DeviceTargetSpec>(generator, "filterDevices", "devices")
    }
}

/// A set: the id of a filter step of the given kind, or a list of objects.
fn set_schema<T: JsonSchema>(
    generator: &mut SchemaGenerator,
    filter: &str,
    objects: &str,
) -> Schema {
    let item = generator.subschema_for::<T>();
    json_schema!({
        "description": format!("The id of a `{filter}` step, whose selection is the set, or a list of {objects}."),
        "oneOf": [
            { "type": "string", "pattern": STEP_ID_PATTERN, "description": format!("The id of a `{filter}` step.") },
            { "type": "array", "items": item, "minItems": 1, "maxItems": 10000, "description": format!("The {objects}, listed one by one.") }
        ]
    })
}

/// One value or a list of values, for filters such as `type: security` or
/// `type: [security, microsoft365]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> OneOrMany<T> {
    /// The values, however they were written.
    pub fn values(&self) -> &[T] {
        &self.0
    }
}

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [only] => only.serialize(serializer),
            all => all.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}

struct OneOrManyVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or a list of values")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let one = T::deserialize(de::value::StrDeserializer::<E>::new(text))?;
        Ok(OneOrMany(vec![one]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OneOrMany(items))
    }
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<T>();
        json_schema!({
            "description": "One value, or a list of values of which any may match.",
            "anyOf": [
                item,
                { "type": "array", "items": item, "minItems": 1, "uniqueItems": true }
            ]
        })
    }
}
