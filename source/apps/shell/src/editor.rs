//! A line editor for a serial terminal: insert at the cursor, backspace,
//! delete, left/right, home/end, Ctrl-U (erase the line), Ctrl-C (drop the
//! line), up/down through a bounded history.
//!
//! It takes raw bytes as the terminal sends them (VT100/xterm escape
//! sequences for the arrows) and writes the echo and cursor movements to an
//! output buffer; the caller sends that buffer to the console. Only printable
//! ASCII enters a line; the line and the history are bounded, so no input can
//! make the editor grow without limit. Both `\r` (a terminal's Enter) and
//! `\n` (piped input) end a line; `\r\n` counts once.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

/// Longest line in bytes; further input is refused with a bell.
pub const LINE_MAX: usize = 160;
/// Lines kept in the history.
pub const HISTORY_MAX: usize = 32;

/// What a byte completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Enter: the line (also added to the history when not blank).
    Line(String),
    /// Ctrl-C: the line was dropped.
    Cancel,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Esc {
    None,
    /// Saw ESC.
    Start,
    /// Inside `ESC [` (CSI) or `ESC O` (SS3), parameters so far.
    Seq {
        param: u16,
    },
}

/// The editor state.
#[derive(Clone, Debug)]
pub struct Editor {
    line: Vec<u8>,
    cursor: usize,
    history: VecDeque<Vec<u8>>,
    /// Position while browsing the history (`None` = editing a new line).
    browsing: Option<usize>,
    /// The new line put aside while browsing.
    saved: Vec<u8>,
    esc: Esc,
    last_cr: bool,
}

impl Default for Editor {
    fn default() -> Self {
        Self::new()
    }
}

impl Editor {
    /// An empty editor with no history.
    pub fn new() -> Self {
        Self {
            line: Vec::with_capacity(LINE_MAX),
            cursor: 0,
            history: VecDeque::with_capacity(HISTORY_MAX),
            browsing: None,
            saved: Vec::new(),
            esc: Esc::None,
            last_cr: false,
        }
    }

    /// The line being edited.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The cursor position in the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &[u8]> {
        self.history.iter().map(|l| l.as_slice())
    }

    /// Feeds one input byte; echo and cursor movement go to `out`.
    pub fn feed(&mut self, b: u8, out: &mut Vec<u8>) -> Option<Action> {
        let after_cr = core::mem::replace(&mut self.last_cr, false);
        match self.esc {
            Esc::Start => {
                self.esc = match b {
                    b'[' | b'O' => Esc::Seq { param: 0 },
                    _ => Esc::None,
                };
                return None;
            }
            Esc::Seq { param } => {
                match b {
                    b'0'..=b'9' => {
                        let p = param.saturating_mul(10).saturating_add((b - b'0') as u16);
                        self.esc = Esc::Seq { param: p };
                    }
                    b';' => self.esc = Esc::Seq { param: 0 },
                    0x40..=0x7e => {
                        self.esc = Esc::None;
                        self.csi(b, param, out);
                    }
                    _ => self.esc = Esc::None,
                }
                return None;
            }
            Esc::None => {}
        }
        match b {
            b'\r' => {
                self.last_cr = true;
                return Some(self.enter(out));
            }
            b'\n' if after_cr => {}
            b'\n' => return Some(self.enter(out)),
            0x1b => self.esc = Esc::Start,
            0x03 => {
                out.extend_from_slice(b"^C\n");
                self.reset();
                return Some(Action::Cancel);
            }
            0x7f | 0x08 => self.backspace(out),
            0x15 => self.replace(Vec::new(), out),
            0x01 => self.home(out),
            0x05 => self.end(out),
            0x20..=0x7e => self.insert(b, out),
            _ => {}
        }
        None
    }

    fn csi(&mut self, fin: u8, param: u16, out: &mut Vec<u8>) {
        match (fin, param) {
            (b'A', _) => self.history_up(out),
            (b'B', _) => self.history_down(out),
            (b'C', _) if self.cursor < self.line.len() => {
                self.cursor += 1;
                out.extend_from_slice(b"\x1b[C");
            }
            (b'D', _) if self.cursor > 0 => {
                self.cursor -= 1;
                out.extend_from_slice(b"\x1b[D");
            }
            (b'H', _) | (b'~', 1) | (b'~', 7) => self.home(out),
            (b'F', _) | (b'~', 4) | (b'~', 8) => self.end(out),
            (b'~', 3) => self.delete(out),
            _ => {}
        }
    }

    fn reset(&mut self) {
        self.line.clear();
        self.cursor = 0;
        self.browsing = None;
        self.saved.clear();
    }

    fn enter(&mut self, out: &mut Vec<u8>) -> Action {
        out.push(b'\n');
        let line = core::mem::take(&mut self.line);
        self.reset();
        let blank = line.iter().all(|&c| c == b' ');
        if !blank && self.history.back() != Some(&line) {
            if self.history.len() == HISTORY_MAX {
                self.history.pop_front();
            }
            self.history.push_back(line.clone());
        }
        // Only printable ASCII ever enters `line`.
        Action::Line(line.into_iter().map(char::from).collect())
    }

    fn left(out: &mut Vec<u8>, n: usize) {
        if n > 0 {
            let _ = write!(Sink(out), "\x1b[{}D", n);
        }
    }

    fn insert(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.line.len() >= LINE_MAX {
            out.push(0x07);
            return;
        }
        self.line.insert(self.cursor, b);
        out.extend_from_slice(&self.line[self.cursor..]);
        self.cursor += 1;
        Self::left(out, self.line.len() - self.cursor);
    }

    fn backspace(&mut self, out: &mut Vec<u8>) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        self.line.remove(self.cursor);
        out.push(0x08);
        out.extend_from_slice(&self.line[self.cursor..]);
        out.push(b' ');
        Self::left(out, self.line.len() - self.cursor + 1);
    }

    fn delete(&mut self, out: &mut Vec<u8>) {
        if self.cursor == self.line.len() {
            return;
        }
        self.line.remove(self.cursor);
        out.extend_from_slice(&self.line[self.cursor..]);
        out.push(b' ');
        Self::left(out, self.line.len() - self.cursor + 1);
    }

    fn home(&mut self, out: &mut Vec<u8>) {
        Self::left(out, self.cursor);
        self.cursor = 0;
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if self.cursor < self.line.len() {
            let _ = write!(Sink(out), "\x1b[{}C", self.line.len() - self.cursor);
            self.cursor = self.line.len();
        }
    }

    /// Replaces the whole line with `new` (cursor at its end) and redraws.
    fn replace(&mut self, new: Vec<u8>, out: &mut Vec<u8>) {
        Self::left(out, self.cursor);
        out.extend_from_slice(&new);
        out.extend_from_slice(b"\x1b[K");
        self.cursor = new.len();
        self.line = new;
    }

    fn history_up(&mut self, out: &mut Vec<u8>) {
        let pos = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.saved = self.line.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(p) => p - 1,
        };
        self.browsing = Some(pos);
        let l = self.history[pos].clone();
        self.replace(l, out);
    }

    fn history_down(&mut self, out: &mut Vec<u8>) {
        let Some(p) = self.browsing else {
            return;
        };
        if p + 1 < self.history.len() {
            self.browsing = Some(p + 1);
            let l = self.history[p + 1].clone();
            self.replace(l, out);
        } else {
            self.browsing = None;
            let l = core::mem::take(&mut self.saved);
            self.replace(l, out);
        }
    }
}

struct Sink<'a>(&'a mut Vec<u8>);

impl core::fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input`; returns the actions and what a VT100 would show as the
    /// current line (replaying the echo on a one-line screen model).
    fn run(ed: &mut Editor, input: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        input.iter().filter_map(|&b| ed.feed(b, &mut out)).collect()
    }

    fn line(s: &str) -> Action {
        Action::Line(s.into())
    }

    /// A minimal terminal: applies printable bytes, BS, `ESC[nD`, `ESC[nC`,
    /// `ESC[K` to one row; returns the row (trailing spaces trimmed).
    fn screen(out: &[u8]) -> String {
        let mut row: Vec<u8> = Vec::new();
        let mut col = 0usize;
        let mut i = 0;
        while i < out.len() {
            match out[i] {
                0x1b => {
                    let mut n = 0usize;
                    let mut j = i + 2;
                    while out[j].is_ascii_digit() {
                        n = n * 10 + (out[j] - b'0') as usize;
                        j += 1;
                    }
                    let n = n.max(1);
                    match out[j] {
                        b'D' => col -= n,
                        b'C' => col += n,
                        b'K' => row.truncate(col),
                        _ => panic!("unexpected sequence"),
                    }
                    i = j;
                }
                0x08 => col -= 1,
                b'\n' => {
                    row.clear();
                    col = 0;
                }
                0x07 => {}
                c => {
                    if col == row.len() {
                        row.push(c);
                    } else {
                        row[col] = c;
                    }
                    col += 1;
                }
            }
            i += 1;
        }
        String::from_utf8(row).unwrap().trim_end().into()
    }

    fn shown(input: &[u8]) -> (String, Editor) {
        let mut ed = Editor::new();
        let mut out = Vec::new();
        for &b in input {
            ed.feed(b, &mut out);
        }
        (screen(&out), ed)
    }

    #[test]
    fn enter_in_every_form_ends_a_line_once() {
        let mut ed = Editor::new();
        assert_eq!(
            run(&mut ed, b"ps\nifconfig\r\nhelp\r"),
            [line("ps"), line("ifconfig"), line("help")]
        );
        // The `\n` right after that `\r` is the same Enter; the next is not.
        assert_eq!(run(&mut ed, b"\n\n"), [line("")]);
    }

    #[test]
    fn backspace_ctrl_u_and_ctrl_c() {
        let mut ed = Editor::new();
        assert_eq!(run(&mut ed, b"pz\x7fs\n"), [line("ps")]);
        assert_eq!(run(&mut ed, b"\x08\x08x\x08\n"), [line("")]);
        assert_eq!(run(&mut ed, b"garbage\x15help\n"), [line("help")]);
        assert_eq!(run(&mut ed, b"half\x03ps\n"), [Action::Cancel, line("ps")]);
    }

    #[test]
    fn cursor_moves_and_inserts_in_the_middle() {
        let mut ed = Editor::new();
        // "pig 1", left x4, right, "n": "ping 1".
        assert_eq!(
            run(&mut ed, b"pig 1\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Cn\n"),
            [line("ping 1")]
        );
        // Home, then delete key, end.
        assert_eq!(run(&mut ed, b"xps\x1b[H\x1b[3~\x1b[F!\n"), [line("ps!")]);
        // Ctrl-A / Ctrl-E.
        assert_eq!(run(&mut ed, b"s\x01p\x05 x\n"), [line("ps x")]);
        // Backspace in the middle.
        assert_eq!(run(&mut ed, b"pxs\x1b[D\x7f\n"), [line("ps")]);
        // Left at the start and right at the end do nothing.
        assert_eq!(run(&mut ed, b"\x1b[Da\x1b[C\x1b[Cb\n"), [line("ab")]);
    }

    #[test]
    fn the_echo_shows_the_edited_line() {
        assert_eq!(shown(b"pig 1\x1b[D\x1b[D\x1b[Dn").0, "ping 1");
        assert_eq!(shown(b"pxs\x1b[D\x7f").0, "ps");
        assert_eq!(shown(b"xps\x1b[H\x1b[3~").0, "ps");
        assert_eq!(shown(b"garbage\x15he").0, "he");
        assert_eq!(shown(b"ps\nifconfig\n\x1b[A\x1b[A").0, "ps");
        assert_eq!(shown(b"ps\nifconfig\n\x1b[A\x1b[A\x1b[B").0, "ifconfig");
    }

    #[test]
    fn history_up_down_restores_the_new_line() {
        let mut ed = Editor::new();
        run(&mut ed, b"one\ntwo\n\n  \ntwo\n");
        // Blank lines and an immediate repeat are not kept.
        assert_eq!(ed.history().collect::<Vec<_>>(), [b"one" as &[u8], b"two"]);
        assert_eq!(run(&mut ed, b"\x1b[A\n"), [line("two")]);
        assert_eq!(run(&mut ed, b"\x1b[A\x1b[A\x1b[A\n"), [line("one")]);
        assert_eq!(run(&mut ed, b"new\x1b[A\x1b[B\n"), [line("new")]);
        // SS3 arrows (application cursor mode) work as well.
        assert_eq!(run(&mut ed, b"\x1bOA\n"), [line("new")]);
        // Down with no browsing does nothing.
        assert_eq!(run(&mut ed, b"\x1b[Bx\n"), [line("x")]);
    }

    #[test]
    fn bounded_against_any_input() {
        let mut ed = Editor::new();
        let mut out = Vec::new();
        for i in 0..10_000u32 {
            ed.feed((i % 97) as u8 + 0x20, &mut out);
        }
        assert_eq!(ed.line().len(), LINE_MAX);
        for n in 0..100 {
            run(&mut ed, format!("c{n}\n").as_bytes());
        }
        assert_eq!(ed.history().count(), HISTORY_MAX);
        // Arbitrary bytes (escape fragments, high bytes) never panic and
        // never put a non-printable byte into a line.
        let mut x: u32 = 1;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if let Some(Action::Line(l)) = ed.feed(x as u8, &mut out) {
                assert!(l.bytes().all(|c| (0x20..0x7f).contains(&c)));
            }
            out.clear();
        }
        // A huge CSI parameter saturates.
        run(&mut ed, b"\x1b[99999999999999D");
    }
}
