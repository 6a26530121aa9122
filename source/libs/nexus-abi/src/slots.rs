//! Init's own capability slots, as the kernel creates them.
//!
//! Every other task's slots are generated from the boot-profile manifests
//! (`nexus_slots::<image>`, see `docs/boot-profiles.md`). Slot 0 is init's
//! own control capability and is empty in every other task.

/// Init's own table, as created by the kernel.
pub mod init {
    /// The init-control capability.
    pub const CONTROL: u32 = 0;
    /// The DMA budget capability.
    pub const DMA: u32 = 1;
    /// First virtio-mmio device capability; one per device-tree slot follows.
    pub const MMIO_FIRST: u32 = 2;
    /// At most this many virtio-mmio slots are handed to init.
    pub const MMIO_MAX: u32 = 8;
    /// The console-input capability (`ConsoleRead`), which init grants only
    /// to the service a profile names (the shell).
    pub const CONSOLE_INPUT: u32 = 10;
}
