//! Console levels as a real isolate records them: `console.info` is its own level, apart from
//! `console.log` (as workerd reports them).
mod common;

use common::*;
use stockade_isolate::LogLevel;

#[test]
fn console_info_is_recorded_as_info_and_log_as_log() {
    let inv = run("export default () => {
        console.debug('d'); console.log('l'); console.info('i'); console.warn('w'); console.error('e');
        console.dir({ a: 1 }); console.count(); console.timeLog('none');
        return null;
      };");
    let levels: Vec<(LogLevel, String)> =
        inv.logs.iter().map(|l| (l.level, l.text.clone())).collect();
    assert_eq!(
        levels,
        [
            (LogLevel::Debug, "d".to_string()),
            (LogLevel::Log, "l".to_string()),
            (LogLevel::Info, "i".to_string()),
            (LogLevel::Warn, "w".to_string()),
            (LogLevel::Error, "e".to_string()),
            (LogLevel::Log, "{ a: 1 }".to_string()),
            (LogLevel::Log, "default: 1".to_string()),
            (LogLevel::Warn, "Timer 'none' does not exist".to_string()),
        ]
    );
}

/// An error is logged as workerd and Node show one: its stack, then its own properties in
/// braces; nested, its stack lines indented to where it stands. A `stack` getter the code put
/// on an error is not called by the console (name and message instead).
#[test]
fn an_error_is_logged_with_its_stack_and_own_properties() {
    let inv = run("export default () => {
        const e = new TypeError('bad thing');
        e.extra = 1;
        console.log(e);
        console.log('wrapped', { err: new Error('inner') });
        const odd = new RangeError('odd');
        let called = false;
        Object.defineProperty(odd, 'stack', { get() { called = true; return 'tenant text'; } });
        console.log(odd);
        return called;
      };");
    let lines: Vec<String> = inv.logs.iter().map(|l| l.text.clone()).collect();
    assert_eq!(ok(inv), serde_json::json!(false));
    assert!(
        lines[0].starts_with("TypeError: bad thing\n    at default (main.js:2:"),
        "{lines:?}"
    );
    assert!(lines[0].ends_with(" {\n  extra: 1\n}"), "{lines:?}");
    assert!(
        lines[1].starts_with("wrapped {\n  err: Error: inner\n      at default (main.js:5:"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("\n}"), "{lines:?}");
    // Name and message, with no frames: in brackets, as Node prints an error without frames.
    assert_eq!(lines[2], "[RangeError: odd]");
}
