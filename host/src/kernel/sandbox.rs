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
    /// Whether the worker holds no capability at all (and, started as
    /// root, has no privilege over the machine: it runs in a user
    /// namespace of its own).
    pub no_privileges: bool,
    /// The private folder: a size-capped tmpfs of its own, or why not.
    pub private_folder: String,
    /// How the worker's threads are bounded, or why they are not.
    pub threads: String,
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
        if !self.private_folder.is_empty() {
            parts.push(
                if self.no_privileges { "no capabilities" } else { "capabilities kept" }.into(),
            );
            parts.push(format!("private folder {}", self.private_folder));
            parts.push(format!("threads {}", self.threads));
        }
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

/// Most threads (tasks) one worker may run.
pub const MAX_THREADS: u64 = 1024;

/// Most bytes the worker's private folder may hold.
pub const PRIVATE_FOLDER_BYTES: u64 = 256 << 20;

/// A pids cgroup held by the host for one worker, capped at
/// [`MAX_THREADS`] tasks: the one thread bound that holds for root too
/// (RLIMIT_NPROC does not bind root). Creating a cgroup costs the kernel
/// about 10 ms, so slots are made once and reused: each is a folder under
/// `agent-host-workers/` beside the host's own cgroup, claimed by an
/// exclusive `flock` on it for as long as its worker lives (other hosts'
/// workers take other slots).
pub struct CgroupSlot {
    dir: std::path::PathBuf,
    _lock: std::fs::File,
}

impl CgroupSlot {
    /// A free slot, or `None` where this user cannot make pids cgroups.
    pub fn claim() -> Option<CgroupSlot> {
        #[cfg(target_os = "linux")]
        {
            imp::claim_slot()
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Its folder, which the worker joins.
    pub fn path(&self) -> &Path {
        &self.dir
    }
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

    use super::{Protections, SandboxSpec, MAX_THREADS, PRIVATE_FOLDER_BYTES};

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
        // What a worker will get, as far as can be told without starting
        // one (each run's log says what it got).
        let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .is_ok_and(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0));
        let cgroup = slots_dir().and_then(|d| {
            let parent = std::ffi::CString::new(d.parent()?.as_os_str().as_encoded_bytes()).ok()?;
            // SAFETY: a NUL-terminated path.
            (unsafe { libc::access(parent.as_ptr(), libc::W_OK) } == 0).then_some(())
        });
        let cgroup = cgroup.ok_or_else(|| "no pids cgroup this user can create".to_string());
        let threads = thread_bound(cgroup, userns && !is_root());
        let private_folder = if userns {
            format!("capped at {} MiB", PRIVATE_FOLDER_BYTES >> 20)
        } else {
            "not capped (no user namespaces)".to_string()
        };
        Protections {
            complete: abi >= 6 && seccomp && userns && threads.starts_with("at most"),
            landlock,
            seccomp,
            limits: true,
            no_privileges: userns || !is_root(),
            private_folder,
            threads,
        }
    }

    pub fn apply(
        spec: &SandboxSpec,
        plugin: &std::fs::File,
        workdir: Option<&Path>,
    ) -> Protections {
        // The cgroup is joined while the worker still has the host's
        // rights; everything after gives rights away.
        let cgroup = join_pids_cgroup(spec.cgroup.as_deref());
        let (namespaces, private_folder) = enter_namespaces(workdir);
        let limits = set_limits(spec);
        // RLIMIT_NPROC counts a user's tasks per user namespace: inside the
        // worker's own it bounds the worker's threads, for every user but
        // root (whom it never binds; the pids cgroup does that).
        let nproc = namespaces.is_ok() && !is_root() && {
            let l = libc::rlimit { rlim_cur: MAX_THREADS, rlim_max: MAX_THREADS };
            // SAFETY: a plain struct passed by pointer.
            unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &l) == 0 }
        };
        let threads = thread_bound(cgroup, nproc);
        let no_privileges = drop_capabilities() && (namespaces.is_ok() || !is_root());
        let private_folder = match private_folder {
            Ok(()) => format!("capped at {} MiB", PRIVATE_FOLDER_BYTES >> 20),
            Err(why) => format!("not capped ({why})"),
        };
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
        let complete = limits
            && seccomp
            && no_privileges
            && landlock.ends_with("fully enforced")
            && private_folder.starts_with("capped")
            && threads.starts_with("at most");
        Protections { landlock, seccomp, limits, no_privileges, private_folder, threads, complete }
    }

    /// How a worker's threads are bounded: by its pids cgroup, else by
    /// RLIMIT_NPROC inside its user namespace, else not (and why).
    fn thread_bound(cgroup: Result<(), String>, nproc: bool) -> String {
        match cgroup {
            Ok(()) => format!("at most {MAX_THREADS} (pids cgroup)"),
            Err(_) if nproc => format!("at most {MAX_THREADS} (RLIMIT_NPROC)"),
            Err(why) => format!("not bounded ({why})"),
        }
    }

    fn is_root() -> bool {
        // SAFETY: no arguments.
        unsafe { libc::geteuid() == 0 }
    }

    /// Where the pids controller keeps the host's worker slots: a folder
    /// beside the cgroup this process runs in (v1's `pids` hierarchy, or v2
    /// where it has the controller).
    pub fn slots_dir() -> Option<std::path::PathBuf> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let (mount, path) = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            if controllers.split(',').any(|c| c == "pids") {
                return Some(("/sys/fs/cgroup/pids".to_string(), path.to_string()));
            }
            let v2 = "/sys/fs/cgroup";
            let has_pids = std::fs::read_to_string(format!("{v2}{path}/cgroup.subtree_control"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids"));
            (controllers.is_empty() && has_pids).then(|| (v2.to_string(), path.to_string()))
        })?;
        Some(Path::new(&mount).join(path.trim_start_matches('/')).join("agent-host-workers"))
    }

    /// Claims the first free slot (making it if there is none), capped at
    /// [`MAX_THREADS`].
    pub fn claim_slot() -> Option<super::CgroupSlot> {
        use std::os::fd::AsRawFd;
        let base = slots_dir()?;
        if std::fs::create_dir(&base).is_err() && !base.is_dir() {
            return None;
        }
        for i in 0..256 {
            let dir = base.join(format!("slot-{i}"));
            if std::fs::create_dir(&dir).is_err() && !dir.is_dir() {
                return None;
            }
            let Ok(lock) = std::fs::File::open(&dir) else { return None };
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                continue;
            }
            std::fs::write(dir.join("pids.max"), MAX_THREADS.to_string()).ok()?;
            return Some(super::CgroupSlot { dir, _lock: lock });
        }
        None
    }

    /// Moves the worker into the slot the host claimed for it.
    fn join_pids_cgroup(slot: Option<&str>) -> Result<(), String> {
        let dir = slot.ok_or("no pids cgroup this user can create")?;
        std::fs::write(Path::new(dir).join("cgroup.procs"), "0")
            .map_err(|e| format!("cannot join the pids cgroup: {e}"))
    }

    /// A user namespace of the worker's own (its uid and gid mapped to
    /// themselves, so files keep their owners, but no right over anything
    /// outside it) and a mount namespace in which the private folder
    /// becomes a tmpfs capped at [`PRIVATE_FOLDER_BYTES`].
    /// The first result says whether the namespaces exist, the second
    /// whether the folder is capped.
    fn enter_namespaces(workdir: Option<&Path>) -> (Result<(), String>, Result<(), String>) {
        let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        // SAFETY: plain system calls on this (still single-threaded) process.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        // SAFETY: see above.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
            let why = os("no user namespace");
            return (Err(why.clone()), Err(why));
        }
        let maps = std::fs::write("/proc/self/setgroups", "deny")
            .and_then(|()| std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1")))
            .and_then(|()| std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1")));
        if let Err(e) = maps {
            return (Err(format!("cannot map the user: {e}")), Err("no user mapping".into()));
        }
        let Some(dir) = workdir else { return (Ok(()), Err("no private folder".into())) };
        let Ok(target) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
            return (Ok(()), Err("a private folder path with a NUL".into()));
        };
        let options = std::ffi::CString::new(format!(
            "size={PRIVATE_FOLDER_BYTES},nr_inodes=65536,mode=0700"
        ))
        .unwrap_or_default();
        // SAFETY: NUL-terminated strings that outlive the calls.
        let mounted = unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
                && libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    options.as_ptr().cast(),
                ) == 0
                // The old folder is under the mount now: step onto it.
                && libc::chdir(target.as_ptr()) == 0
        };
        (Ok(()), if mounted { Ok(()) } else { Err(os("no tmpfs")) })
    }

    /// Gives up every capability: the bounding and ambient sets, then the
    /// effective, permitted and inheritable ones. True when none is left.
    fn drop_capabilities() -> bool {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Default, Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        // SAFETY: prctl with integer arguments; capset/capget with a header
        // and two data structs, as the kernel's version 3 interface expects.
        unsafe {
            for cap in 0..64 {
                // Fails (EINVAL) past the last capability, or (EPERM) for a
                // process that holds none to drop: either way nothing is left.
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
            libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
            let mut header = Header { version: VERSION_3, pid: 0 };
            let none = [Data::default(); 2];
            libc::syscall(libc::SYS_capset, &mut header, none.as_ptr());
            let mut now = [Data { effective: 1, permitted: 1, inheritable: 1 }; 2];
            let mut header = Header { version: VERSION_3, pid: 0 };
            libc::syscall(libc::SYS_capget, &mut header, now.as_mut_ptr()) == 0
                && now.iter().all(|d| d.effective == 0 && d.permitted == 0 && d.inheritable == 0)
        }
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
            // Leaving the worker's process group or session would escape
            // the kill that ends it.
            libc::SYS_setpgid,
            libc::SYS_setsid,
            // What only an administrator does; a worker has no capability
            // for them, and the filter says no before the kernel is asked.
            libc::SYS_reboot,
            libc::SYS_sethostname,
            libc::SYS_setdomainname,
            libc::SYS_swapon,
            libc::SYS_swapoff,
            libc::SYS_syslog,
            libc::SYS_mknod,
            libc::SYS_mknodat,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_fsopen,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fspick,
            libc::SYS_mount_setattr,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_kexec_load,
            libc::SYS_kexec_file_load,
            libc::SYS_acct,
            libc::SYS_settimeofday,
            libc::SYS_clock_settime,
            libc::SYS_clock_adjtime,
            libc::SYS_adjtimex,
            libc::SYS_quotactl,
            libc::SYS_vhangup,
            libc::SYS_setuid,
            libc::SYS_setgid,
            libc::SYS_setreuid,
            libc::SYS_setregid,
            libc::SYS_setresuid,
            libc::SYS_setresgid,
            libc::SYS_setgroups,
            libc::SYS_setfsuid,
            libc::SYS_setfsgid,
            libc::SYS_capset,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_iopl,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_ioperm,
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
        // Priorities of the worker itself only: `which` must name a process
        // (PRIO_USER with who = 0 would mean every process of the user) and
        // `who` must be 0 or the worker.
        let own_priority = |which_process: u64| -> Result<Vec<SeccompRule>, String> {
            Ok(vec![
                rule(vec![cond(0, SeccompCmpOp::Ne, which_process)?])?,
                rule(vec![cond(1, SeccompCmpOp::Ne, 0)?, cond(1, SeccompCmpOp::Ne, me)?])?,
            ])
        };
        denied.insert(libc::SYS_setpriority, own_priority(libc::PRIO_PROCESS as u64)?);
        // IOPRIO_WHO_PROCESS.
        denied.insert(libc::SYS_ioprio_set, own_priority(1)?);
        // The parent-death signal, once set, stays: a worker that cleared it
        // would outlive a host that dies.
        denied.insert(
            libc::SYS_prctl,
            vec![rule(vec![cond(0, SeccompCmpOp::Eq, libc::PR_SET_PDEATHSIG as u64)?])?],
        );
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
