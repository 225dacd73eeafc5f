#![no_main]
//! The server's TOML files: `smdp.toml` (settings, resolved as `smdp serve` does), a scenario
//! file of scripted faults, and a fixture file. Byte 0 picks the file kind; the rest is the text.
//!
//! Checked: never a panic; a settings file either resolves or is refused with a message; a
//! fixture file that parses is checked (its orders' options validated). Paths in a
//! settings file are cleared before resolving, so that a fuzzed path never reads a device
//! (those files are fuzzed here directly).
use libfuzzer_sys::fuzz_target;
use smdp_server::serve::{Config, Settings};

fuzz_target!(|data: &[u8]| {
    let Some((kind, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(mut s) = toml::from_str::<Settings>(text) {
                s.callback_ca = None;
                s.scenario = None;
                if s.fixtures.as_deref() != Some("sgp23") {
                    s.fixtures = None;
                }
                if let Err(e) = Config::from_settings(s) {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        1 => {
            let _ = toml::from_str::<smdp_core::faults::Scenario>(text);
        }
        _ => {
            if let Ok(file) = toml::from_str::<smdp_core::fixtures::FixtureFile>(text) {
                let _ = file.check();
            }
        }
    }
});
