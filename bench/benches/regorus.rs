//! The Rego side of the decision-logic comparison: regorus evaluating the
//! threshold rules the bench policy's `rules` check judges (20 metric
//! values, each below its limit), with the input set anew each time as a
//! new decision would. The policy side is `rules/gate` in
//! `host/benches/check.rs`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const POLICY: &str = r#"
package gate

over contains name if {
    some name, limit in input.limits
    not within(name, limit)
}

# A missing or non-numeric value is never within its limit: fail closed,
# as the policy does.
within(name, limit) if {
    value := input.metrics[name]
    is_number(value)
    value < limit
}

allow if count(over) == 0
"#;

fn input() -> String {
    let mut metrics = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    for i in 0..20 {
        metrics.insert(format!("m{i}"), (10.0 + f64::from(i)).into());
        limits.insert(format!("m{i}"), (100.0 + f64::from(i)).into());
    }
    serde_json::json!({ "metrics": metrics, "limits": limits }).to_string()
}

fn rules(c: &mut Criterion) {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("gate.rego".into(), POLICY.into())
        .expect("the policy parses");
    let input = input();
    let mut group = c.benchmark_group("rules");
    group.bench_function("regorus", |b| {
        b.iter(|| {
            engine.set_input(regorus::Value::from_json_str(&input).unwrap());
            let allow = engine.eval_rule("data.gate.allow".into()).unwrap();
            assert_eq!(allow, regorus::Value::from(true));
            black_box(allow)
        })
    });
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
