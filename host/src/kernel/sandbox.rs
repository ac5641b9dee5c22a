//! The worker's sandbox, applied by the worker to itself before any plugin
//! code is mapped: no new privileges, not dumpable, killed with its parent,
//! resource limits, a Landlock ruleset (read-only system libraries, the
//! plugin file and the paths its manifest declares, the private working
//! folder; no TCP, no abstract sockets or signals outside the sandbox) and a
//! seccomp filter (no sockets, no ptrace or other processes' memory, no
//! fork or exec, no io_uring). Where a mechanism is missing the worker goes
//! on with the rest and says which protections are active.

use std::path::Path;

use super::protocol::SandboxSpec;

/// Which protections are in force (or would be, for [`probe`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Protections {
    /// Landlock's state: `"ABI n, fully enforced"`, or why it is not.
    pub landlock: String,
    /// Whether the seccomp filter is installed.
    pub seccomp: bool,
    /// Whether resource limits, no-new-privileges and the parent-death
    /// signal are set.
    pub limits: bool,
    /// Whether everything above is fully in force.
    pub complete: bool,
}

impl Protections {
    /// One line for `plugins list`, `doctor` and a run's log.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("landlock {}", self.landlock)];
        parts.push(if self.seccomp { "seccomp filter on" } else { "no seccomp filter" }.into());
        parts.push(
            if self.limits { "resource limits on" } else { "no resource limits" }.to_string(),
        );
        parts.join("; ")
    }
}

/// The host's part: not dumpable, so no process of the same user can read
/// its memory (and the secrets in it) through `/proc` or ptrace.
pub fn harden_host() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// What this machine offers, without applying anything.
pub fn probe() -> Protections {
    imp::probe()
}

/// Applies the sandbox to the calling process. `plugin` is the plugin file's
/// descriptor, the only file of the plugins folder it may read; `workdir` is
/// its private working folder. Must run before any thread is started.
pub fn apply(spec: &SandboxSpec, plugin: &std::fs::File, workdir: Option<&Path>) -> Protections {
    imp::apply(spec, plugin, workdir)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::BTreeMap;
    use std::path::Path;

    use landlock::{
        Access, AccessFs, AccessNet, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, Scope, ABI,
    };
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };

    use super::{Protections, SandboxSpec};

    /// The Landlock ABI whose rights we ask for; newer kernels enforce them
    /// all, older ones as many as they know (best effort, reported).
    const TARGET: ABI = ABI::V6;

    /// System folders with the shared libraries a plugin links against.
    const LIBRARY_DIRS: &[&str] =
        &["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache"];

    /// Harmless device files a runtime may open.
    const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

    pub fn probe() -> Protections {
        // SAFETY: the documented version query: no attribute, size 0.
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        // SAFETY: prctl with integer arguments only.
        let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
        let landlock = if abi >= 6 {
            format!("ABI {abi}, fully enforced")
        } else if abi >= 1 {
            format!("ABI {abi}, partly enforced (ABI 6 needed for network and scopes)")
        } else {
            "unavailable (kernel without Landlock): files and network are not confined".into()
        };
        Protections { complete: abi >= 6 && seccomp, landlock, seccomp, limits: true }
    }

    pub fn apply(
        spec: &SandboxSpec,
        plugin: &std::fs::File,
        workdir: Option<&Path>,
    ) -> Protections {
        let limits = set_limits(spec);
        let landlock = match landlock_rules(spec, plugin, workdir) {
            Ok(RulesetStatus::FullyEnforced) => format!("ABI {}, fully enforced", kernel_abi()),
            Ok(RulesetStatus::PartiallyEnforced) => {
                format!("ABI {}, partly enforced", kernel_abi())
            }
            Ok(RulesetStatus::NotEnforced) => {
                "unavailable (kernel without Landlock): files and network are not confined".into()
            }
            Err(e) => format!("failed ({e}): files and network are not confined"),
        };
        let seccomp = install_seccomp().is_ok();
        let complete = limits && seccomp && landlock.ends_with("fully enforced");
        Protections { landlock, seccomp, limits, complete }
    }

    fn kernel_abi() -> i64 {
        // SAFETY: see `probe`.
        unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32,
            )
        }
    }

    /// No new privileges, not dumpable, dies with its parent, no core files,
    /// bounded memory, file size and CPU time.
    fn set_limits(spec: &SandboxSpec) -> bool {
        let limit = |res, value: u64| {
            let l = libc::rlimit { rlim_cur: value, rlim_max: value };
            // SAFETY: a plain struct passed by pointer.
            unsafe { libc::setrlimit(res, &l) == 0 }
        };
        // SAFETY: prctl/getppid with integer arguments only.
        let prctls = unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                && libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
                && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == 0
        };
        // The host may have died before PDEATHSIG was armed.
        // SAFETY: no arguments.
        let parent = unsafe { libc::getppid() } as u32;
        if spec.host_pid != 0 && parent != spec.host_pid {
            std::process::exit(70);
        }
        let mut ok = prctls;
        ok &= limit(libc::RLIMIT_CORE, 0);
        ok &= limit(libc::RLIMIT_FSIZE, 64 << 20);
        if spec.memory_bytes > 0 {
            ok &= limit(libc::RLIMIT_AS, spec.memory_bytes);
        }
        if spec.cpu_secs > 0 {
            ok &= limit(libc::RLIMIT_CPU, spec.cpu_secs);
        }
        ok
    }

    fn landlock_rules(
        spec: &SandboxSpec,
        plugin: &std::fs::File,
        workdir: Option<&Path>,
    ) -> Result<RulesetStatus, landlock::RulesetError> {
        let read_exec = AccessFs::from_read(TARGET) | AccessFs::Execute;
        let file_read = AccessFs::ReadFile | AccessFs::Execute;
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(TARGET))?
            .handle_access(AccessNet::from_all(TARGET))?
            .scope(Scope::from_all(TARGET))?
            .create()?
            .add_rule(PathBeneath::new(plugin, file_read))?;
        let open = |p: &str| PathFd::new(p).ok().map(|fd| (fd, Path::new(p).is_dir()));
        for (fd, is_dir) in LIBRARY_DIRS.iter().filter_map(|p| open(p)) {
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, if is_dir { read_exec } else { file_read }))?;
        }
        for (fd, _) in DEVICES.iter().filter_map(|p| open(p)) {
            ruleset = ruleset.add_rule(PathBeneath::new(fd, AccessFs::ReadFile))?;
        }
        for (fd, is_dir) in spec.read_paths.iter().filter_map(|p| open(p)) {
            let access =
                if is_dir { AccessFs::from_read(TARGET) } else { AccessFs::ReadFile.into() };
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
        }
        if let Some(fd) = workdir.and_then(|w| PathFd::new(w).ok()) {
            ruleset = ruleset.add_rule(PathBeneath::new(
                fd,
                AccessFs::from_all(TARGET) & !AccessFs::Execute & !AccessFs::MakeSock,
            ))?;
        }
        Ok(ruleset.restrict_self()?.ruleset)
    }

    /// Denies what no collector needs and every escape route: sockets,
    /// reading or tracing other processes, new processes and programs,
    /// io_uring (which would bypass this filter), namespaces and mounts.
    fn install_seccomp() -> Result<(), String> {
        let arch: seccompiler::TargetArch =
            std::env::consts::ARCH.try_into().map_err(|e| format!("{e:?}"))?;
        let mut denied: BTreeMap<i64, Vec<SeccompRule>> = [
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_listen,
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_pidfd_open,
            libc::SYS_pidfd_getfd,
            libc::SYS_kcmp,
            libc::SYS_perf_event_open,
            libc::SYS_bpf,
            libc::SYS_userfaultfd,
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_chroot,
            libc::SYS_pivot_root,
            libc::SYS_execve,
            libc::SYS_execveat,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_fork,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_vfork,
        ]
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
        let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
                .map_err(|e| e.to_string())
        };
        let rule =
            |conds: Vec<SeccompCondition>| SeccompRule::new(conds).map_err(|e| e.to_string());
        // clone() is how threads start too: only a clone without CLONE_THREAD
        // (a new process) is denied.
        let new_process = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )
        .map_err(|e| e.to_string())?;
        denied.insert(libc::SYS_clone, vec![rule(vec![new_process])?]);
        // Signals, resource limits and scheduling reach only the worker
        // itself (argument 0 or its own pid), never the host or another
        // process of the user.
        // SAFETY: no arguments.
        let me = u64::from(unsafe { libc::getpid() } as u32);
        let not_self = |arg: u8| -> Result<Vec<SeccompRule>, String> {
            Ok(vec![rule(vec![cond(arg, SeccompCmpOp::Ne, 0)?, cond(arg, SeccompCmpOp::Ne, me)?])?])
        };
        for nr in [
            libc::SYS_kill,
            libc::SYS_prlimit64,
            libc::SYS_sched_setaffinity,
            libc::SYS_sched_setattr,
            libc::SYS_sched_setscheduler,
            libc::SYS_sched_setparam,
        ] {
            denied.insert(nr, not_self(0)?);
        }
        for nr in [libc::SYS_tgkill, libc::SYS_rt_sigqueueinfo, libc::SYS_rt_tgsigqueueinfo] {
            denied.insert(nr, vec![rule(vec![cond(0, SeccompCmpOp::Ne, me)?])?]);
        }
        for nr in [libc::SYS_setpriority, libc::SYS_ioprio_set] {
            denied.insert(nr, vec![rule(vec![cond(1, SeccompCmpOp::Ne, 0)?])?]);
        }
        for nr in [libc::SYS_tkill, libc::SYS_pidfd_send_signal] {
            denied.insert(nr, Vec::new());
        }
        let deny = SeccompFilter::new(
            denied,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(|e| e.to_string())?;
        // clone3's flags sit behind a pointer a filter cannot read: answer
        // "not implemented", and the C library falls back to clone().
        let clone3 = SeccompFilter::new(
            [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )
        .map_err(|e| e.to_string())?;
        #[cfg(target_arch = "x86_64")]
        seccompiler::apply_filter(&no_x32()).map_err(|e| e.to_string())?;
        for filter in [deny, clone3] {
            let program: seccompiler::BpfProgram = filter.try_into().map_err(|e| format!("{e}"))?;
            seccompiler::apply_filter(&program).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// x32 system calls (numbers with bit 30 set) pass an x86-64 filter's
    /// architecture check with numbers it does not list: deny them all.
    #[cfg(target_arch = "x86_64")]
    fn no_x32() -> seccompiler::BpfProgram {
        use seccompiler::sock_filter;
        const LD_W_ABS: u16 = 0x20;
        const JEQ_K: u16 = 0x15;
        const JGE_K: u16 = 0x35;
        const RET_K: u16 = 0x06;
        const ARCH_OFFSET: u32 = 4;
        const NR_OFFSET: u32 = 0;
        const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
        const X32_BIT: u32 = 0x4000_0000;
        const RET_ERRNO: u32 = 0x0005_0000;
        const RET_ALLOW: u32 = 0x7fff_0000;
        let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
        vec![
            op(LD_W_ABS, 0, 0, ARCH_OFFSET),
            op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
            op(LD_W_ABS, 0, 0, NR_OFFSET),
            op(JGE_K, 0, 1, X32_BIT),
            op(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32),
            op(RET_K, 0, 0, RET_ALLOW),
        ]
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::path::Path;

    use super::{Protections, SandboxSpec};

    pub fn probe() -> Protections {
        Protections {
            landlock: "unavailable on this system: files and network are not confined".into(),
            seccomp: false,
            limits: false,
            complete: false,
        }
    }

    pub fn apply(_: &SandboxSpec, _: &std::fs::File, _: Option<&Path>) -> Protections {
        probe()
    }
}
