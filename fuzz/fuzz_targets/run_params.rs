//! The run parameters of `/ping` (SPEC §10: `state`, `exit_code`, `rid`, `max_runtime`,
//! `failure_tolerance`) and the POST body as a run's output, fed arbitrary query
//! strings and bodies.
//!
//! Properties: no panic; a query the parsers accept has each value within its bounds
//! (checked again here with the domain parsers); a refusal is one line naming what it
//! refuses.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overdue::domain::{
    parse_failure_tolerance, parse_max_runtime, ExitCode, Output, RunId, Signal,
    MAX_OUTPUT_BYTES,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    query: &'a str,
    body: &'a [u8],
    /// Values put behind the parameter names, so that most inputs reach the parsers.
    state: Option<&'a str>,
    exit_code: Option<&'a str>,
    rid: Option<&'a str>,
    max_runtime: Option<&'a str>,
    failure_tolerance: Option<&'a str>,
}

fuzz_target!(|input: Input<'_>| {
    let mut query = input.query.to_owned();
    for (key, value) in [
        ("state", input.state),
        ("exit_code", input.exit_code),
        ("rid", input.rid),
        ("max_runtime", input.max_runtime),
        ("failure_tolerance", input.failure_tolerance),
    ] {
        if let Some(value) = value {
            query.push('&');
            query.push_str(key);
            query.push('=');
            query.push_str(value);
        }
    }
    match overdue::fuzzing::parse_run(&query, input.body) {
        Ok(()) => {}
        Err(message) => assert!(
            !message.is_empty() && !message.contains('\n'),
            "a refusal is one line: {message:?}"
        ),
    }

    // The domain parsers on the raw values: bounded whenever they accept.
    if let Some(raw) = input.exit_code {
        let code = ExitCode::parse(raw);
        if let Some(state) = input.state {
            let _ = Signal::parse(Some(state), code.ok());
        }
    }
    if let Some(Ok(rid)) = input.rid.map(RunId::parse) {
        let text = rid.as_str();
        assert!((1..=64).contains(&text.len()));
        assert!(text.bytes().all(|b| (0x20..0x7f).contains(&b)));
    }
    if let Some(Ok(Some(secs))) = input.max_runtime.map(parse_max_runtime) {
        assert!((1..=366 * 86_400).contains(&secs), "{secs}");
    }
    if let Some(Ok(n)) = input.failure_tolerance.map(parse_failure_tolerance) {
        assert!(n <= 100);
    }
    if let Some(output) = Output::from_body(input.body) {
        assert!(output.as_str().len() <= MAX_OUTPUT_BYTES);
        assert!(output.tail(1_000).len() <= 1_000);
    }
});
