//! CEL glue: compiling conditions, moving values between JSON and CEL, and the one function
//! posture adds to CEL's standard library.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::traits::{Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{CelList, CelMap, CelMapKey, Type};
use cel::common::value::{Builtin, BuiltinRef, Val};
use cel::objects::{Key, Map};
use cel::{Context, ExecutionError, Program, Value};
use chrono::{DateTime, Utc};

/// A CEL expression, compiled (or, for the built-in standards, compiled on first use) and its
/// source.
#[derive(Debug)]
pub(crate) struct Expr {
    pub source: String,
    program: std::sync::OnceLock<Result<Program, String>>,
}

/// Compile `source`, or say what CEL's parser objected to.
fn compile_program(source: &str) -> Result<Program, String> {
    Program::compile(source).map_err(|e| {
        let text = e.to_string();
        let text = text.trim();
        format!("does not compile as CEL: {text}")
    })
}

impl Expr {
    /// Compile `source` now, or say what CEL's parser objected to.
    pub fn compile(source: &str) -> Result<Expr, String> {
        let program = std::sync::OnceLock::new();
        let _ = program.set(Ok(compile_program(source)?));
        Ok(Expr {
            source: source.to_owned(),
            program,
        })
    }

    /// `source`, compiled when first run: for the built-in standards, which the test suite
    /// compiles whole (`policy lint`), so a scan compiles only the checks it runs (CEL's
    /// parser is most of a short scan's start-up).
    pub fn deferred(source: &str) -> Expr {
        Expr {
            source: source.to_owned(),
            program: std::sync::OnceLock::new(),
        }
    }

    /// Run it.
    pub fn execute(&self, context: &Context) -> Result<Value, ExecutionError> {
        match self.program.get_or_init(|| compile_program(&self.source)) {
            Ok(program) => program.execute(context),
            Err(e) => Err(ExecutionError::function_error("compile", e)),
        }
    }

    /// Run it and require a boolean.
    pub fn test(&self, context: &Context) -> Result<bool, String> {
        match self.execute(context) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "`{}` gave {}, not a bool",
                self.source,
                describe(&other)
            )),
            Err(e) => Err(format!("`{}` failed: {e}", self.source)),
        }
    }

    /// The names used as `params.NAME` in the source.
    pub fn params_used(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.source.as_str();
        while let Some(i) = rest.find("params.") {
            let preceded_by_ident = rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
            rest = &rest[i + "params.".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !preceded_by_ident && !name.is_empty() {
                out.push(name);
            }
        }
        out
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("the string {s:?}"),
        other => format!("{:?}", other.type_of()),
    }
}

/// JSON to CEL. Keys whose value is `null` are dropped, so `has(x.y)` means "the probe
/// established y"; integers become CEL `int` so they compare with literals.
pub(crate) fn json_to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// JSON to a CEL value for a context variable, as `json_to_cel` converts it, except that
/// maps are shared, not copied: a comprehension binds each element of a list to its variable
/// by cloning it, and `tls.protocols.exists(p, ...)` would otherwise copy every protocol with
/// all its cipher suites, for each of the checks that ask.
pub(crate) fn json_to_val(v: &serde_json::Value) -> Box<dyn Val> {
    match v {
        serde_json::Value::Array(items) => Box::new(CelList::from(
            items.iter().map(json_to_val).collect::<Vec<_>>(),
        )),
        serde_json::Value::Object(fields) => {
            let map: HashMap<CelMapKey<'static>, Box<dyn Val>> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (CelMapKey::from(k.clone()), json_to_val(v)))
                .collect();
            Box::new(SharedMap(Arc::new(CelMap::from(map))))
        }
        // Scalars have a CEL representation, so the conversion cannot fail.
        scalar => Box::<dyn Val>::try_from(json_to_cel(scalar))
            .unwrap_or_else(|_| Box::new(CelList::from(Vec::new()))),
    }
}

/// A CEL map whose clones share its entries. It is a CEL map in every other respect: each
/// operation is the built-in map's.
#[derive(Debug, Clone)]
struct SharedMap(Arc<CelMap<'static>>);

impl Val for SharedMap {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        <CelMap as Val>::cel_type()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        Some(Box::new(self.into_map()))
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    // The interpreter recognises maps by these two: it reads this one's entries as the
    // built-in map it holds, and takes them out (a copy, if shared) where it owns the value.
    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        self.0.as_builtin()
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        Some(Builtin::Map(self.into_map()))
    }
}

impl SharedMap {
    /// The built-in map: taken out if this is its last holder, copied otherwise.
    fn into_map(self) -> CelMap<'static> {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }
}

/// CEL to JSON, for evidence.
pub(crate) fn cel_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Value::List(items) => J::Array(items.iter().map(cel_to_json).collect()),
        Value::Map(m) => {
            let mut out = serde_json::Map::new();
            let mut entries: Vec<_> = m.map.iter().collect();
            entries.sort_by_key(|(k, _)| key_string(k));
            for (k, v) in entries {
                out.insert(key_string(k), cel_to_json(v));
            }
            J::Object(out)
        }
        Value::Timestamp(t) => J::String(t.to_rfc3339()),
        Value::Duration(d) => J::String(format!("{}s", d.num_seconds())),
        other => J::String(format!("{other:?}")),
    }
}

fn key_string(k: &Key) -> String {
    match k {
        Key::String(s) => s.to_string(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}

/// A root context with CEL's standard library, posture's functions and `now`.
///
/// `days_until(ts)` is the whole days from `now` until the RFC 3339 time `ts` (negative when
/// it is past), and `days_between(a, b)` the whole days from `a` to `b`: how policies compare
/// dates with day thresholds.
pub(crate) fn root_context(now: DateTime<Utc>) -> Context<'static, 'static> {
    let mut context = Context::default();
    context.add_variable_from_value("now", Value::Timestamp(now.fixed_offset()));
    let days_until = move |ts: Arc<String>| -> Result<Value, ExecutionError> {
        let then = DateTime::parse_from_rfc3339(&ts)
            .map_err(|e| ExecutionError::function_error("days_until", format!("{ts:?}: {e}")))?;
        let seconds = then
            .with_timezone(&Utc)
            .signed_duration_since(now)
            .num_seconds();
        Ok(Value::Int(seconds.div_euclid(86_400)))
    };
    let days_between = |from: Arc<String>, to: Arc<String>| -> Result<Value, ExecutionError> {
        let parse = |ts: &str| {
            DateTime::parse_from_rfc3339(ts)
                .map_err(|e| ExecutionError::function_error("days_between", format!("{ts:?}: {e}")))
        };
        let seconds = parse(&to)?
            .signed_duration_since(parse(&from)?)
            .num_seconds();
        Ok(Value::Int(seconds.div_euclid(86_400)))
    };
    // Neither name is in CEL's standard library, so these cannot conflict.
    let _ = context.add_function("days_until", days_until);
    let _ = context.add_function("days_between", days_between);
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_absent_and_ints_compare() {
        let mut ctx = root_context(DateTime::UNIX_EPOCH);
        let v = serde_json::json!({"a": null, "b": 3, "c": [1, 2]});
        ctx.add_variable_from_value("x", json_to_cel(&v));
        let t = |s: &str| Expr::compile(s).unwrap().test(&ctx).unwrap();
        assert!(!t("has(x.a)"));
        assert!(t("has(x.b) && x.b > 2 && x.b < 4"));
        assert!(t("x.c.exists(i, i == 2)"));
    }

    #[test]
    fn shared_maps_behave_as_copied_maps() {
        // Every map operation policies use, on the same facts bound both ways: copied
        // (`json_to_cel`) and shared (`json_to_val`).
        let facts = serde_json::json!({
            "protocols": [
                {"name": "TLSv1.0", "offered": true, "suites": [{"id": 5, "weak": true}]},
                {"name": "TLSv1.3", "offered": true, "suites": [{"id": 4865, "weak": false}]},
                {"name": "SSLv3", "offered": false, "suites": [], "note": null}
            ],
            "certificate": {"days": 12, "chain": [{"subject": "a"}, {"subject": "b"}]},
            "empty": {}
        });
        let mut copied = root_context(DateTime::UNIX_EPOCH);
        copied.add_variable_from_value("tls", json_to_cel(&facts));
        let mut shared = root_context(DateTime::UNIX_EPOCH);
        shared.add_variable_as_val("tls", json_to_val(&facts));
        let expressions = [
            "tls.protocols.exists(p, p.offered && p.suites.exists(s, s.weak))",
            "tls.protocols.filter(p, p.offered).map(p, p.name)",
            "tls.protocols.map(p, p.suites.filter(s, !s.weak).map(s, s.id))",
            "tls.protocols.all(p, has(p.note))",
            "tls.protocols.exists(p, has(p.note))",
            "tls.protocols[0] == {'name': 'TLSv1.0', 'offered': true, 'suites': [{'id': 5, 'weak': true}]}",
            "{'days': 12, 'chain': [{'subject': 'a'}, {'subject': 'b'}]} == tls.certificate",
            "tls.protocols[1] != tls.protocols[0]",
            "'days' in tls.certificate && !('x' in tls.certificate)",
            "size(tls.certificate) == 2 && size(tls.empty) == 0 && tls.certificate.size() == 2",
            "tls.certificate.chain.map(c, c.subject)",
            "tls.certificate['days'] + 1",
            "tls.certificate.exists(k, k == 'chain')",
            "[tls.certificate][0].days",
            "tls.protocols.filter(p, p.name == 'SSLv3')[0]",
            "tls.certificate",
            "tls.missing",
        ];
        for e in expressions {
            let program = Expr::compile(e).unwrap();
            let (a, b) = (program.execute(&copied), program.execute(&shared));
            // Maps compared as JSON: their entries have no order.
            let json = |r: &Result<Value, ExecutionError>| match r {
                Ok(v) => cel_to_json(v).to_string(),
                Err(e) => format!("{e:?}"),
            };
            assert_eq!(json(&a), json(&b), "{e}");
            assert!(a.is_ok() || e == "tls.missing", "{e}: {a:?}");
        }
    }

    #[test]
    fn days_until_counts_whole_days_from_now() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ctx = root_context(now);
        let run = |s: &str| Expr::compile(s).unwrap().execute(&ctx).unwrap();
        assert_eq!(run("days_until('2026-01-11T12:00:00Z')"), Value::Int(10));
        assert_eq!(run("days_until('2025-12-31T12:00:00Z')"), Value::Int(-1));
        assert!(
            Expr::compile("days_until('yesterday')")
                .unwrap()
                .test(&ctx)
                .is_err()
        );
        assert_eq!(
            run("days_between('2026-01-01T00:00:00Z', '2027-02-03T00:00:00Z')"),
            Value::Int(398)
        );
    }

    #[test]
    fn params_used_finds_names_not_lookalikes() {
        let e = Expr::compile("params.a > x.params.b && params.c_d == 1").unwrap();
        assert_eq!(e.params_used(), vec!["a".to_string(), "c_d".to_string()]);
    }

    #[test]
    fn compile_errors_are_reported() {
        assert!(Expr::compile("tls.protocols.exists(p, ").is_err());
    }
}
