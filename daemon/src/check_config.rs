//! `stockade check-config FILE`: loads and checks FILE as `serve` would (the same `Config::load`),
//! prints a one-line summary; exit status 2 and the reason when it does not check.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

/// `stockade check-config FILE`: loads and checks FILE as `serve` would, prints a summary.
pub fn check_config(args: CheckConfigArgs) -> ExitCode {
    crate::config::keep_generated_token_quiet();
    match Config::load(Some(&args.file)) {
        Ok(config) => {
            let operators: Vec<&str> = config
                .tenants
                .iter()
                .filter(|t| t.operator)
                .map(|t| t.id.as_str())
                .collect();
            let operator = match (&config.operator_token, operators.is_empty()) {
                (Some(_), true) => "operator_token".to_string(),
                (Some(_), false) => {
                    format!("operator_token and tenant(s) {}", operators.join(", "))
                }
                (None, _) => format!("tenant(s) {}", operators.join(", ")),
            };
            println!(
                "{}: ok: listen {}, {} tenant(s), operator: {operator}",
                args.file.display(),
                config.listen,
                config.tenants.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stockade: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {
    /// The TOML configuration to check.
    pub file: PathBuf,
}
