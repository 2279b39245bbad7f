"""posix_spawn with the GIL let go.

Python 3.11's os.posix_spawn holds the GIL while the C library clones and the child execs: the
parent of a vfork sleeps until the exec, 0.5–2 ms on a loaded machine. jbuild spawns one stager
child per action (sandbox_zygote._Direct), so every other thread — the other workers waking to
finish their builds, the scheduler — stood still that long per action. A foreign call through
ctypes lets go of the GIL; the child (a vfork, on the C library's own stack) never touches it.
The same arguments as os.posix_spawn's, the few we use; where the C library lacks a function,
os.posix_spawn itself.
"""

from __future__ import annotations

import ctypes
import os

# glibc's and musl's values (spawn.h); both take SETSID since glibc 2.26.
_SETSIGDEF = 0x04
_SETSID = 0x80
# Opaque to us: sizes above glibc's (80, 336 and 128 bytes on x86-64) and musl's.
_ACTIONS_SIZE, _ATTR_SIZE, _SIGSET_SIZE = 512, 1024, 256


def _bind():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fns = {name: getattr(libc, name) for name in (
            "posix_spawn", "posix_spawn_file_actions_init", "posix_spawn_file_actions_destroy",
            "posix_spawn_file_actions_addopen", "posix_spawn_file_actions_adddup2", "posix_spawnattr_init",
            "posix_spawnattr_destroy", "posix_spawnattr_setflags", "posix_spawnattr_setsigdefault",
            "sigemptyset", "sigaddset")}
    except (OSError, AttributeError):
        return None
    fns["posix_spawnattr_setflags"].argtypes = (ctypes.c_void_p, ctypes.c_short)
    fns["posix_spawn_file_actions_addopen"].argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                                        ctypes.c_int, ctypes.c_uint)
    return fns


_C = _bind()


def posix_spawn(path: str, argv: list[str], env: dict[str, str], *, setsid: bool = False,
                setsigdef: tuple = (), file_actions: list = ()) -> int:
    """os.posix_spawn(path, argv, env, setsid=, setsigdef=, file_actions=) without the GIL held
    during the spawn (file actions: POSIX_SPAWN_OPEN and POSIX_SPAWN_DUP2 only)."""
    if _C is None:
        return os.posix_spawn(path, argv, env, setsid=setsid, setsigdef=setsigdef, file_actions=file_actions)
    c = _C
    actions, attr = ctypes.create_string_buffer(_ACTIONS_SIZE), ctypes.create_string_buffer(_ATTR_SIZE)
    _check(c["posix_spawn_file_actions_init"](actions), path)
    try:
        _check(c["posix_spawnattr_init"](attr), path)
        try:
            for action in file_actions:
                if action[0] == os.POSIX_SPAWN_OPEN:
                    _, fd, name, flags, mode = action
                    _check(c["posix_spawn_file_actions_addopen"](actions, fd, os.fsencode(name), flags, mode), path)
                elif action[0] == os.POSIX_SPAWN_DUP2:
                    _check(c["posix_spawn_file_actions_adddup2"](actions, action[1], action[2]), path)
                else:
                    raise ValueError(f"unsupported file action {action!r}")
            flags = _SETSID if setsid else 0
            if setsigdef:
                sigset = ctypes.create_string_buffer(_SIGSET_SIZE)
                c["sigemptyset"](sigset)
                for sig in setsigdef:
                    c["sigaddset"](sigset, int(sig))
                _check(c["posix_spawnattr_setsigdefault"](attr, sigset), path)
                flags |= _SETSIGDEF
            _check(c["posix_spawnattr_setflags"](attr, flags), path)
            args = [os.fsencode(a) for a in argv]
            envs = [os.fsencode(f"{k}={v}") for k, v in env.items()]
            c_argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
            c_env = (ctypes.c_char_p * (len(envs) + 1))(*envs, None)
            pid = ctypes.c_int()
            _check(c["posix_spawn"](ctypes.byref(pid), os.fsencode(path), actions, attr, c_argv, c_env), path)
            return pid.value
        finally:
            c["posix_spawnattr_destroy"](attr)
    finally:
        c["posix_spawn_file_actions_destroy"](actions)


def _check(code: int, path: str) -> None:
    """posix_spawn's functions return an error number (not -1 and errno)."""
    if code:
        raise OSError(code, os.strerror(code), path)
