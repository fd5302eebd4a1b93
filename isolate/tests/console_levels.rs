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
