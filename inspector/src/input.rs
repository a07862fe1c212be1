//! Keys → actions, from one table. The help screen renders the same table,
//! so a key bound here is documented there and nowhere else.
//!
//! While the `/` filter is being typed, printable keys edit it instead
//! (Enter keeps it, Esc clears it); that mode has no table of its own.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::model::timeline::Seek;
use crate::model::{Action, Model, View};

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys, with the modifiers that must be held (Shift is ignored:
    /// `?` and `+` are shifted on most layouts).
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the help screen names the keys.
    pub label: &'static str,
    /// What it does.
    pub help: &'static str,
    /// The action.
    pub action: Action,
}

const NONE: KeyModifiers = KeyModifiers::NONE;

const fn key(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

/// Every key `ringline-top` understands, in help-screen order.
pub const KEYS: &[Binding] = &[
    Binding {
        keys: &[key('q'), (KeyCode::Char('c'), KeyModifiers::CONTROL)],
        label: "q, Ctrl-C",
        help: "quit",
        action: Action::Quit,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        help: "next view",
        action: Action::NextView,
    },
    Binding {
        keys: &[(KeyCode::BackTab, NONE)],
        label: "Shift-Tab",
        help: "previous view",
        action: Action::PrevView,
    },
    Binding {
        keys: &[key('1')],
        label: "1",
        help: "Overview: one row per worker",
        action: Action::Show(View::Overview),
    },
    Binding {
        keys: &[key('2')],
        label: "2",
        help: "Ops: rate and latency per op kind",
        action: Action::Show(View::Ops),
    },
    Binding {
        keys: &[key('3')],
        label: "3",
        help: "Slabs: pool usage per worker",
        action: Action::Show(View::Slabs),
    },
    Binding {
        keys: &[key('4')],
        label: "4",
        help: "Stuck: ops in flight and tasks stuck longer than the threshold",
        action: Action::Show(View::Stuck),
    },
    Binding {
        keys: &[key('5')],
        label: "5",
        help: "Worker: everything about one worker",
        action: Action::Show(View::Worker),
    },
    Binding {
        keys: &[key('6')],
        label: "6",
        help: "Tasks: every task, its wait and verdict",
        action: Action::Show(View::Tasks),
    },
    Binding {
        keys: &[key('7')],
        label: "7",
        help: "Connections: every connection and its task",
        action: Action::Show(View::Connections),
    },
    Binding {
        keys: &[key('8')],
        label: "8",
        help: "Kernel: the kernel's view from /proc (rings, threads, TCP queues)",
        action: Action::Show(View::Kernel),
    },
    Binding {
        keys: &[(KeyCode::Up, NONE), key('k')],
        label: "↑, k",
        help: "select the row above (Worker view: previous worker)",
        action: Action::Up,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), key('j')],
        label: "↓, j",
        help: "select the row below (Worker view: next worker)",
        action: Action::Down,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        help: "follow the selected row to its task, op, connection or worker",
        action: Action::Open,
    },
    Binding {
        keys: &[key('s')],
        label: "s",
        help: "next sort column",
        action: Action::CycleSort,
    },
    Binding {
        keys: &[key('/')],
        label: "/",
        help: "filter rows (Enter keeps, Esc clears; state:idle, verdict:deadlock …)",
        action: Action::StartFilter,
    },
    Binding {
        keys: &[key('+'), key('=')],
        label: "+",
        help: "raise the stuck threshold",
        action: Action::ThresholdUp,
    },
    Binding {
        keys: &[key('-')],
        label: "-",
        help: "lower the stuck threshold",
        action: Action::ThresholdDown,
    },
    Binding {
        keys: &[key('p')],
        label: "p",
        help: "pause / resume refreshing (live only)",
        action: Action::TogglePause,
    },
    Binding {
        keys: &[(KeyCode::Left, NONE)],
        label: "←",
        help: "replay: the frame before",
        action: Action::Seek(Seek::Prev),
    },
    Binding {
        keys: &[(KeyCode::Right, NONE)],
        label: "→",
        help: "replay: the frame after",
        action: Action::Seek(Seek::Next),
    },
    Binding {
        keys: &[(KeyCode::Home, NONE)],
        label: "Home",
        help: "replay: the first frame",
        action: Action::Seek(Seek::First),
    },
    Binding {
        keys: &[(KeyCode::End, NONE)],
        label: "End",
        help: "replay: the last frame",
        action: Action::Seek(Seek::Last),
    },
    Binding {
        keys: &[key('d')],
        label: "d",
        help: "replay: diff against this frame (mark it as the base; Esc clears)",
        action: Action::MarkDiffBase,
    },
    Binding {
        keys: &[key('?')],
        label: "?",
        help: "this help",
        action: Action::ToggleHelp,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        help: "close help or the diff, clear the filter, go back after Enter, leave the Worker view",
        action: Action::Back,
    },
];

/// The action for `key` in the model's current mode, if any.
pub fn action(model: &Model, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if model.editing_filter {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterDone),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::Quit)
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::FilterChar(c))
            }
            _ => None,
        };
    }
    let held = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    KEYS.iter()
        .find(|b| {
            b.keys
                .iter()
                .any(|&(code, m)| code == key.code && m == held)
        })
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn every_binding_maps_its_own_keys_and_no_key_is_bound_twice() {
        let m = Model::new("t", Duration::from_secs(1), Duration::from_secs(1));
        let mut seen = Vec::new();
        for b in KEYS {
            for &(code, mods) in b.keys {
                assert!(!seen.contains(&(code, mods)), "{code:?} bound twice");
                seen.push((code, mods));
                assert_eq!(action(&m, press(code, mods)), Some(b.action), "{}", b.label);
            }
        }
        assert_eq!(action(&m, press(KeyCode::Char('x'), NONE)), None);
    }

    #[test]
    fn shifted_symbols_match_and_control_does_not_leak() {
        let m = Model::new("t", Duration::from_secs(1), Duration::from_secs(1));
        let shift = KeyModifiers::SHIFT;
        assert_eq!(
            action(&m, press(KeyCode::Char('?'), shift)),
            Some(Action::ToggleHelp)
        );
        assert_eq!(
            action(&m, press(KeyCode::Char('+'), shift)),
            Some(Action::ThresholdUp)
        );
        assert_eq!(
            action(&m, press(KeyCode::BackTab, shift)),
            Some(Action::PrevView)
        );
        let ctrl = KeyModifiers::CONTROL;
        assert_eq!(action(&m, press(KeyCode::Char('s'), ctrl)), None);
        assert_eq!(
            action(&m, press(KeyCode::Char('c'), ctrl)),
            Some(Action::Quit)
        );
    }

    #[test]
    fn typing_a_filter_captures_letters_that_are_otherwise_keys() {
        let mut m = Model::new("t", Duration::from_secs(1), Duration::from_secs(1));
        m.editing_filter = true;
        assert_eq!(
            action(&m, press(KeyCode::Char('q'), NONE)),
            Some(Action::FilterChar('q'))
        );
        assert_eq!(
            action(&m, press(KeyCode::Enter, NONE)),
            Some(Action::FilterDone)
        );
        assert_eq!(
            action(&m, press(KeyCode::Esc, NONE)),
            Some(Action::FilterCancel)
        );
        assert_eq!(
            action(&m, press(KeyCode::Backspace, NONE)),
            Some(Action::FilterBackspace)
        );
        let ctrl_c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(&m, ctrl_c), Some(Action::Quit));
    }
}
