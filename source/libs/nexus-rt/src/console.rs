//! Console output (`print!`/`println!`) and the `log` backend over it.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

/// Line-buffered console writer; flushes on newline and when full, so a line
/// reaches the console in one syscall and is not interleaved with others.
pub struct Console {
    buf: [u8; 256],
    len: usize,
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Console {
    /// An empty writer.
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            let _ = crate::sys::console_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut c = $crate::console::Console::new();
        let _ = write!(c, $($arg)*);
    }};
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut c = $crate::console::Console::new();
        let _ = writeln!(c, $($arg)*);
    }};
}

/// The `log` backend: a record is printed when its level is within the
/// system-wide level the kernel holds (`ConsoleLevel`, set by the shell's
/// `log <level>`). `log`'s own filter is left wide open (`Trace`) so that a
/// level raised at run time reaches every task; the backend keeps the
/// kernel's level in a cache that it reads again (one syscall) at the first
/// record after the task blocked — any wait in IPC, sleep, interrupt or
/// console input, which is how a message sent after a change reaches it —
/// and at least every [`LEVEL_REFRESH_TICKS`]. So a record costs at most one
/// syscall per wake-up, and a burst of filtered records (smoltcp's per-segment
/// traces) costs a counter read each.
struct Logger;

/// The level last read from the kernel (`log::LevelFilter`'s numbers).
static LEVEL: AtomicU8 = AtomicU8::new(nexus_abi::LOG_LEVEL_DEFAULT);
/// Set by every blocking syscall: the cached level may be stale.
static LEVEL_STALE: AtomicBool = AtomicBool::new(true);
/// `time` ticks when the level was last read.
static LEVEL_AT: AtomicU64 = AtomicU64::new(0);
/// Longest use of a cached level by a task that does not block: 2^19 ticks
/// (52 ms at QEMU `virt`'s 10 MHz timebase).
pub const LEVEL_REFRESH_TICKS: u64 = 1 << 19;

/// Marks the cached level stale (called after every blocking syscall).
pub(crate) fn level_may_have_changed() {
    LEVEL_STALE.store(true, Ordering::Relaxed);
}

/// The system-wide level, from the cache or the kernel.
fn system_level() -> Result<u8, nexus_abi::Error> {
    let now = crate::sys::time_ticks();
    let stale = LEVEL_STALE.swap(false, Ordering::Relaxed)
        || now.wrapping_sub(LEVEL_AT.load(Ordering::Relaxed)) >= LEVEL_REFRESH_TICKS;
    if stale {
        LEVEL_AT.store(now, Ordering::Relaxed);
        let l = crate::sys::log_level()?;
        LEVEL.store(l, Ordering::Relaxed);
    }
    Ok(LEVEL.load(Ordering::Relaxed))
}

/// Whether a record at `level` passes the system-wide level `system`
/// (`log::LevelFilter`'s numbers; an unreadable level counts as info).
fn passes(level: log::Level, system: Result<u8, nexus_abi::Error>) -> bool {
    let system = system.unwrap_or(nexus_abi::LOG_LEVEL_DEFAULT);
    (level as usize) <= usize::from(system)
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        passes(m.level(), system_level())
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let mut c = Console::new();
            let _ = writeln!(c, "[{} {}] {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Installs the console as the `log` backend, filtered by the system-wide
/// level (info until a holder of the console-input capability changes it).
pub fn init_logger() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pass_up_to_the_system_level() {
        use log::Level::*;
        assert!(passes(Error, Ok(1)));
        assert!(!passes(Warn, Ok(1)));
        assert!(!passes(Error, Ok(0)), "off hides everything");
        assert!(passes(Info, Ok(3)) && !passes(Debug, Ok(3)));
        assert!(passes(Trace, Ok(5)));
        assert!(passes(Info, Err(nexus_abi::Error::InvalidSyscall)));
        assert!(!passes(Debug, Err(nexus_abi::Error::InvalidSyscall)));
    }
}
