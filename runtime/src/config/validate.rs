//! [`Config::validate`]: the range of every field, each bound with the
//! reason it has (a kernel limit, a completion's width, memory allocated at
//! launch), so the message can say what to change.

use super::Config;
use crate::error::Error;

/// The kernel's limit on ring sizes: `IORING_MAX_ENTRIES` for the
/// submission queue, and the largest power of two a provided-buffer ring
/// accepts (`IORING_REGISTER_PBUF_RING` refuses 65536 entries or more).
const MAX_RING_ENTRIES: u32 = 32_768;

/// Most slots of a connection, task or timer table. Not an encoding limit:
/// a slot's index travels in 32 bits of the `user_data` and waker words
/// (see `op::UserData` and `executor::waker`). Every table is allocated
/// whole at launch, one entry per slot (a connection entry is about 290
/// bytes), so 2^24 connection slots are already some 5 GB per worker; a
/// larger value is taken for a typo rather than tried.
const MAX_INDEXED_SLOTS: u32 = 1 << 24;

/// A completion reports its byte count in the CQE's 32-bit signed `res`, so
/// one buffer can never be larger than `i32::MAX`; 1 GiB is the round limit
/// below that, and also caps per-connection allocations at something a
/// machine can actually back.
const MAX_BUFFER_BYTES: u32 = 1 << 30;

/// Bytes of each UDP receive buffer taken by multishot `recvmsg` metadata
/// before the payload: the 16-byte `io_uring_recvmsg_out` header and the
/// 128-byte `sockaddr_storage` the source address is written to.
const UDP_RECVMSG_OVERHEAD: u32 = 16 + 128;

/// Sanity bound on worker threads: far beyond any machine's core count, so
/// a larger value is almost certainly a typo that would spawn threads until
/// the system runs out.
const MAX_WORKER_THREADS: usize = 1024;

impl Config {
    /// Checks every field against the range the runtime can honour.
    ///
    /// # Errors
    ///
    /// [`Error::RingSetup`] (message `invalid config: …`) for the first field out of range; the message
    /// names the field, the valid range and the value found.
    pub fn validate(&self) -> Result<(), Error> {
        check_ring_entries("sq_entries", self.sq_entries)?;

        check_ring_entries("recv_buffer.ring_size", self.recv_buffer.ring_size.into())?;
        check_buffer_size("recv_buffer.buffer_size", self.recv_buffer.buffer_size)?;
        // Checked even without UDP: the values are cheap to fix, and a bad
        // one would otherwise surface only once someone adds a UDP bind.
        check_ring_entries(
            "udp_recv_buffer.ring_size",
            self.udp_recv_buffer.ring_size.into(),
        )?;
        check_buffer_size(
            "udp_recv_buffer.buffer_size",
            self.udp_recv_buffer.buffer_size,
        )?;
        if !self.udp_bind.is_empty() {
            self.validate_udp()?;
        }

        if self.max_connections == 0 || self.max_connections > MAX_INDEXED_SLOTS {
            return invalid(format!(
                "max_connections must be between 1 and {MAX_INDEXED_SLOTS} \
                 (2^24: the table is allocated whole for every worker at launch), \
                 got {}",
                self.max_connections
            ));
        }
        check_index_capacity("standalone_task_capacity", self.standalone_task_capacity)?;
        check_index_capacity("timer_slots", self.timer_slots)?;

        if self.send_copy_count == 0 {
            return invalid(
                "send_copy_count must be at least 1 (each in-flight send holds one slot), got 0",
            );
        }
        if self.send_copy_slot_size == 0 {
            return invalid(
                "send_copy_slot_size must be at least 1 byte (it bounds the largest single send), got 0",
            );
        }
        if self.recv_accumulator_capacity > MAX_BUFFER_BYTES as usize {
            return invalid(format!(
                "recv_accumulator_capacity must be at most {MAX_BUFFER_BYTES} bytes (1 GiB): \
                 it is allocated for every connection, got {}",
                self.recv_accumulator_capacity
            ));
        }
        if self.recv_buffer_limit == 0 || self.recv_buffer_limit > MAX_BUFFER_BYTES as usize {
            return invalid(format!(
                "recv_buffer_limit must be between 1 and {MAX_BUFFER_BYTES} bytes (1 GiB): \
                 it bounds what one connection may buffer unconsumed, got {}",
                self.recv_buffer_limit
            ));
        }
        if self.worker.threads > MAX_WORKER_THREADS {
            return invalid(format!(
                "worker.threads must be at most {MAX_WORKER_THREADS} (0 = one per core), got {}",
                self.worker.threads
            ));
        }
        if self.backlog <= 0 {
            return invalid(format!(
                "backlog must be positive (the listen(2) queue length; the default is 1024), got {}",
                self.backlog
            ));
        }
        if let Some(fs) = &self.fs {
            if fs.max_files == 0 {
                return invalid(
                    "fs.max_files must be at least 1 (set fs to None to disable filesystem i/o), got 0",
                );
            }
            if fs.max_commands_in_flight == 0 {
                return invalid(
                    "fs.max_commands_in_flight must be at least 1 (set fs to None to disable filesystem i/o), got 0",
                );
            }
        }
        if self.blocking_threads > 0 && self.blocking_queue_capacity == 0 {
            return invalid(
                "blocking_queue_capacity must be at least 1 while blocking_threads > 0 (set blocking_threads to 0 to disable spawn_blocking), got 0",
            );
        }
        Ok(())
    }

    /// The UDP rules, which matter only once a UDP address is bound.
    fn validate_udp(&self) -> Result<(), Error> {
        if self.udp_recv_buffer.bgid == self.recv_buffer.bgid {
            return invalid(format!(
                "udp_recv_buffer.bgid must differ from recv_buffer.bgid when UDP is used \
                 (each provided-buffer ring needs its own group id), both are {}",
                self.recv_buffer.bgid
            ));
        }
        let min_size = UDP_RECVMSG_OVERHEAD + 1;
        if self.udp_recv_buffer.buffer_size < min_size {
            return invalid(format!(
                "udp_recv_buffer.buffer_size must be at least {min_size} bytes when UDP is used \
                 (16-byte recvmsg header + 128-byte sockaddr_storage + 1 byte of payload), got {}",
                self.udp_recv_buffer.buffer_size
            ));
        }
        if self.udp_send_slots == 0 {
            return invalid("udp_send_slots must be at least 1 when UDP is used, got 0");
        }
        Ok(())
    }
}

fn invalid<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Error::RingSetup(format!(
        "invalid config: {}",
        message.into()
    )))
}

fn check_ring_entries(field: &str, entries: u32) -> Result<(), Error> {
    if entries == 0 || !entries.is_power_of_two() || entries > MAX_RING_ENTRIES {
        return invalid(format!(
            "{field} must be a power of two between 1 and {MAX_RING_ENTRIES} \
             (the kernel's limit for ring sizes), got {entries}"
        ));
    }
    Ok(())
}

fn check_buffer_size(field: &str, bytes: u32) -> Result<(), Error> {
    if bytes == 0 || bytes > MAX_BUFFER_BYTES {
        return invalid(format!(
            "{field} must be between 1 and {MAX_BUFFER_BYTES} bytes \
             (a completion reports at most i32::MAX bytes; 1 GiB is the round limit below that), \
             got {bytes}"
        ));
    }
    Ok(())
}

fn check_index_capacity(field: &str, slots: u32) -> Result<(), Error> {
    if slots > MAX_INDEXED_SLOTS {
        return invalid(format!(
            "{field} must be at most {MAX_INDEXED_SLOTS} \
             (2^24: the table is allocated whole for every worker at launch), got {slots}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::with;
    use super::*;
    use crate::config::BackendChoice;
    use crate::fs::FsConfig;
    use std::time::Duration;

    fn with_udp(change: impl FnOnce(&mut Config)) -> Config {
        with(|c| {
            c.udp_bind
                .push("127.0.0.1:0".parse().expect("literal address"));
            change(c);
        })
    }

    /// One test per rule: the config is rejected with `RingSetup("invalid config: …")`, and
    /// the message names the field (so users know what to change).
    macro_rules! rejects {
        ($($name:ident: $config:expr => $field:literal;)*) => {$(
            #[test]
            fn $name() {
                match $config.validate() {
                    Err(Error::RingSetup(message)) if message.starts_with("invalid config: ") => assert!(
                        message.contains($field),
                        "message should name {}: {message}",
                        $field
                    ),
                    other => panic!("expected an invalid-config RingSetup naming {}, got {other:?}", $field),
                }
            }
        )*};
    }

    /// Boundary values on the valid side of each rule.
    macro_rules! accepts {
        ($($name:ident: $config:expr;)*) => {$(
            #[test]
            fn $name() {
                if let Err(err) = $config.validate() {
                    panic!("expected a valid config, got {err}");
                }
            }
        )*};
    }

    rejects! {
        sq_entries_zero: with(|c| c.sq_entries = 0) => "sq_entries";
        sq_entries_not_power_of_two: with(|c| c.sq_entries = 384) => "sq_entries";
        sq_entries_above_kernel_limit: with(|c| c.sq_entries = 65_536) => "sq_entries";
        recv_ring_size_zero: with(|c| c.recv_buffer.ring_size = 0) => "recv_buffer.ring_size";
        recv_ring_size_not_power_of_two: with(|c| c.recv_buffer.ring_size = 3) => "recv_buffer.ring_size";
        udp_ring_size_zero: with(|c| c.udp_recv_buffer.ring_size = 0) => "udp_recv_buffer.ring_size";
        udp_ring_size_not_power_of_two: with(|c| c.udp_recv_buffer.ring_size = 100) => "udp_recv_buffer.ring_size";
        recv_buffer_size_zero: with(|c| c.recv_buffer.buffer_size = 0) => "recv_buffer.buffer_size";
        recv_buffer_size_too_large: with(|c| c.recv_buffer.buffer_size = (1 << 30) + 1) => "recv_buffer.buffer_size";
        udp_buffer_size_zero: with(|c| c.udp_recv_buffer.buffer_size = 0) => "udp_recv_buffer.buffer_size";
        udp_buffer_size_too_large: with(|c| c.udp_recv_buffer.buffer_size = u32::MAX) => "udp_recv_buffer.buffer_size";
        udp_bgid_clash: with_udp(|c| c.udp_recv_buffer.bgid = c.recv_buffer.bgid) => "udp_recv_buffer.bgid";
        udp_buffer_too_small_for_header: with_udp(|c| c.udp_recv_buffer.buffer_size = 144) => "udp_recv_buffer.buffer_size";
        udp_send_slots_zero: with_udp(|c| c.udp_send_slots = 0) => "udp_send_slots";
        max_connections_zero: with(|c| c.max_connections = 0) => "max_connections";
        max_connections_beyond_the_bound: with(|c| c.max_connections = (1 << 24) + 1) => "max_connections";
        send_copy_count_zero: with(|c| c.send_copy_count = 0) => "send_copy_count";
        send_copy_slot_size_zero: with(|c| c.send_copy_slot_size = 0) => "send_copy_slot_size";
        timer_slots_beyond_the_bound: with(|c| c.timer_slots = (1 << 24) + 1) => "timer_slots";
        task_capacity_beyond_the_bound: with(|c| c.standalone_task_capacity = (1 << 24) + 1) => "standalone_task_capacity";
        worker_threads_too_many: with(|c| c.worker.threads = 1025) => "worker.threads";
        backlog_zero: with(|c| c.backlog = 0) => "backlog";
        backlog_negative: with(|c| c.backlog = -1) => "backlog";
        fs_max_files_zero: with(|c| c.fs = Some(FsConfig { max_files: 0, max_commands_in_flight: 8 })) => "fs.max_files";
        fs_commands_zero: with(|c| c.fs = Some(FsConfig { max_files: 8, max_commands_in_flight: 0 })) => "fs.max_commands_in_flight";
        accumulator_too_large: with(|c| c.recv_accumulator_capacity = (1 << 30) + 1) => "recv_accumulator_capacity";
        blocking_queue_zero_with_threads: with(|c| c.blocking_queue_capacity = 0) => "blocking_queue_capacity";
        recv_buffer_limit_zero: with(|c| c.recv_buffer_limit = 0) => "recv_buffer_limit";
        recv_buffer_limit_too_large: with(|c| c.recv_buffer_limit = (1 << 30) + 1) => "recv_buffer_limit";
    }

    accepts! {
        default_config: Config::default();
        default_config_with_udp: with_udp(|_| {});
        largest_rings: with(|c| {
            c.sq_entries = 32_768;
            c.recv_buffer.ring_size = 32_768;
            c.udp_recv_buffer.ring_size = 32_768;
        });
        smallest_rings: with(|c| {
            c.sq_entries = 1;
            c.recv_buffer.ring_size = 1;
        });
        largest_buffers: with(|c| {
            c.recv_buffer.buffer_size = 1 << 30;
            c.recv_accumulator_capacity = 1 << 30;
        });
        smallest_udp_buffer: with_udp(|c| c.udp_recv_buffer.buffer_size = 145);
        udp_rules_skipped_without_udp: with(|c| {
            c.udp_recv_buffer.bgid = c.recv_buffer.bgid;
            c.udp_recv_buffer.buffer_size = 16;
            c.udp_send_slots = 0;
        });
        largest_tables: with(|c| {
            c.max_connections = 1 << 24;
            c.timer_slots = 1 << 24;
            c.standalone_task_capacity = 1 << 24;
        });
        zero_timers_and_tasks: with(|c| {
            c.timer_slots = 0;
            c.standalone_task_capacity = 0;
        });
        most_workers: with(|c| c.worker.threads = 1024);
        fs_disabled: with(|c| c.fs = None);
        blocking_disabled_with_zero_queue: with(|c| {
            c.blocking_threads = 0;
            c.blocking_queue_capacity = 0;
        });
        mio_backend: with(|c| c.backend = BackendChoice::Mio);
        recv_buffer_limit_edges: with(|c| c.recv_buffer_limit = 1);
        largest_recv_buffer_limit: with(|c| c.recv_buffer_limit = 1 << 30);
        zero_linger_resets_at_once: with(|c| c.close_linger_timeout = Duration::ZERO);
    }
}
