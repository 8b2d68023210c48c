"""A pure-Python reader of minidump files (``.dmp``): exception, modules, threads, system info.

The layout is Microsoft's documented ``MINIDUMP_*`` structures (little-endian, packed):
a 32-byte header (``MDMP``, version, stream count, directory RVA), a directory of 12-byte
entries (stream type, size, RVA), and the streams this reader uses: ThreadList (3),
ModuleList (4), Exception (6), SystemInfo (7), MiscInfo (15), ThreadNameList (24) and
Breakpad's info stream (``0x47670001``). Module names are ``MINIDUMP_STRING`` (UTF-16LE);
each module's CodeView record gives its debug file and debug id (``RSDS``: PDB GUID + age;
``NB10``: timestamp + age; Breakpad's ``BpEL``: the ELF build id).

Without a stackwalker the only frame a dump offers cheaply is the crashing instruction:
:func:`to_report` maps it to module + offset and lists the modules that have no symbols.
Anything malformed raises :class:`~crashpilot.errors.ParseError`, never another exception.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from crashpilot.errors import ParseError
from crashpilot.formats._linux_common import SIGNAL_NUMBERS
from crashpilot.formats._windows_common import KIND_BY_CODE, first_unsymbolized_app_frame
from crashpilot.models import CrashReport, Frame, Thread

NAME = "minidump"
MAGIC = b"MDMP"

_THREAD_LIST, _MODULE_LIST, _EXCEPTION, _SYSTEM_INFO, _MISC_INFO, _THREAD_NAMES = 3, 4, 6, 7, 15, 24
_BREAKPAD_INFO = 0x47670001
_MAX_ITEMS = 100_000  # more threads / modules than this is a corrupted count

ARCH_NAMES = {
    0: "x86",
    1: "mips",
    3: "ppc",
    5: "arm",
    6: "ia64",
    9: "amd64",
    10: "x86_win64",
    12: "arm64",
    0x8001: "sparc",
    0x8002: "ppc64",
    0x8003: "arm64",
    0x8004: "mips64",
    0x8005: "riscv",
    0x8006: "riscv64",
}
OS_NAMES = {
    0: "Windows",
    1: "Windows",
    2: "Windows",
    3: "Windows CE",
    0x8000: "Unix",
    0x8101: "macOS",
    0x8102: "iOS",
    0x8201: "Linux",
    0x8202: "Solaris",
    0x8203: "Android",
    0x8205: "NaCl",
    0x8206: "Fuchsia",
}
# Offset and size of the instruction pointer in each CPU's thread context.
_IP_IN_CONTEXT = {"x86": (0xB8, 4), "amd64": (0xF8, 8), "arm64": (0x108, 8), "arm": (0x40, 4)}
_SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR"}
_DUMP_REQUESTED = 0xFFFFFFFF


@dataclass(frozen=True)
class Module:
    base: int
    size: int
    name: str
    debug_file: str | None = None
    debug_id: str | None = None

    @property
    def basename(self) -> str:
        return self.name.replace("\\", "/").rsplit("/", 1)[-1]

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + self.size


@dataclass(frozen=True)
class DumpThread:
    thread_id: int
    stack_start: int
    stack_size: int
    instruction_pointer: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class MinidumpInfo:
    """What :func:`read_minidump` found. Addresses are ints; ``exception_code`` is the raw code."""

    os: str | None = None
    cpu: str | None = None
    exception_code: int | None = None
    exception_flags: int = 0
    exception_address: int | None = None
    exception_parameters: tuple[int, ...] = ()
    crashing_thread_id: int | None = None
    crash_instruction: int | None = None
    modules: tuple[Module, ...] = ()
    threads: tuple[DumpThread, ...] = ()
    process_id: int | None = None
    dump_thread_id: int | None = None
    stream_types: tuple[int, ...] = field(default=())

    @property
    def exception_name(self) -> str | None:
        return exception_name(self)

    def module_at(self, address: int) -> Module | None:
        return next((m for m in self.modules if m.contains(address)), None)


class _Buf:
    """Bounds-checked little-endian reads; every failure is a ParseError."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        size = struct.calcsize("<" + fmt)
        if offset < 0 or offset + size > len(self.data):
            raise ParseError(
                f"minidump truncated: {size} bytes at {offset:#x} past the end ({len(self.data)} bytes)"
            )
        return struct.unpack_from("<" + fmt, self.data, offset)

    def bytes_at(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise ParseError(f"minidump truncated: {size} bytes at {offset:#x} past the end")
        return self.data[offset : offset + size]

    def string(self, rva: int) -> str:
        (length,) = self.unpack("I", rva)
        if length % 2 or length > 65536:
            raise ParseError(f"minidump string at {rva:#x} has a bad length {length}")
        return self.bytes_at(rva + 4, length).decode("utf-16-le", errors="replace")


def read_minidump(data: bytes) -> MinidumpInfo:
    """Read the header, directory and the streams named in the module docstring."""
    buf = _Buf(data)
    if data[:4] != MAGIC:
        raise ParseError("not a minidump: no MDMP signature")
    _sig, version, count, dir_rva = buf.unpack("4I", 0)
    if version & 0xFFFF != 0xA793:
        raise ParseError(f"minidump version {version & 0xFFFF:#x} is not 0xa793")
    if count > 4096:
        raise ParseError(f"minidump claims {count} streams")
    streams: dict[int, tuple[int, int]] = {}
    for i in range(count):
        kind, size, rva = buf.unpack("3I", dir_rva + 12 * i)
        buf.bytes_at(rva, size)  # the stream must lie inside the file
        streams.setdefault(kind, (rva, size))
    info: dict[str, object] = {"stream_types": tuple(sorted(streams))}
    if _SYSTEM_INFO in streams:
        arch, platform = (
            buf.unpack("H", streams[_SYSTEM_INFO][0])[0],
            buf.unpack("I", streams[_SYSTEM_INFO][0] + 20)[0],
        )
        info["cpu"] = ARCH_NAMES.get(arch, f"cpu-{arch:#x}")
        info["os"] = OS_NAMES.get(platform, f"os-{platform:#x}")
    cpu = info.get("cpu")
    if _MODULE_LIST in streams:
        info["modules"] = tuple(_modules(buf, streams[_MODULE_LIST][0]))
    names = _thread_names(buf, streams[_THREAD_NAMES][0]) if _THREAD_NAMES in streams else {}
    if _THREAD_LIST in streams:
        info["threads"] = tuple(_threads(buf, streams[_THREAD_LIST][0], cpu, names))
    if _EXCEPTION in streams:
        rva = streams[_EXCEPTION][0]
        tid, _align, code, flags, _rec, address, nparams, _pad = buf.unpack("IIIIQQII", rva)
        params = buf.unpack("15Q", rva + 40)[: min(nparams, 15)]
        ctx_size, ctx_rva = buf.unpack("II", rva + 160)
        info.update(
            crashing_thread_id=tid,
            exception_code=code,
            exception_flags=flags,
            exception_address=address,
            exception_parameters=params,
            crash_instruction=_context_ip(buf, ctx_rva, ctx_size, cpu),
        )
    if _MISC_INFO in streams and streams[_MISC_INFO][1] >= 12:
        _size, flags1, pid = buf.unpack("3I", streams[_MISC_INFO][0])
        if flags1 & 1:
            info["process_id"] = pid
    if _BREAKPAD_INFO in streams and streams[_BREAKPAD_INFO][1] >= 12:
        validity, dump_tid, _req = buf.unpack("3I", streams[_BREAKPAD_INFO][0])
        if validity & 1:
            info["dump_thread_id"] = dump_tid
    return MinidumpInfo(**info)  # type: ignore[arg-type]


def _modules(buf: _Buf, rva: int) -> Iterable[Module]:
    """Each ``MINIDUMP_MODULE`` (108 bytes): base, size, checksum, stamp, name RVA, version, CodeView."""
    (count,) = buf.unpack("I", rva)
    if count > _MAX_ITEMS:
        raise ParseError(f"minidump claims {count} modules")
    for i in range(count):
        at = rva + 4 + 108 * i
        base, size, _sum, _stamp, name_rva = buf.unpack("QIIII", at)
        cv_size, cv_rva = buf.unpack("II", at + 24 + 52)
        debug_file, debug_id = _codeview(buf, cv_rva, cv_size) if cv_size else (None, None)
        name = buf.string(name_rva)
        if debug_id and debug_file is None:  # ELF: Breakpad names the debug file after the module
            debug_file = name.replace("\\", "/").rsplit("/", 1)[-1]
        yield Module(base, size, name, debug_file, debug_id)


def _codeview(buf: _Buf, rva: int, size: int) -> tuple[str | None, str | None]:
    record = buf.bytes_at(rva, size)
    if size < 4:
        return None, None
    sig = record[:4]
    if sig == b"RSDS" and size >= 24:
        d1, d2, d3 = struct.unpack_from("<IHH", record, 4)
        (age,) = struct.unpack_from("<I", record, 20)
        guid = f"{d1:08X}{d2:04X}{d3:04X}{record[12:20].hex().upper()}"
        return _cstr(record[24:]), f"{guid}{age:X}"
    if sig == b"NB10" and size >= 16:
        stamp, age = struct.unpack_from("<II", record, 8)
        return _cstr(record[16:]), f"{stamp:08X}{age:X}"
    if sig == b"LEpB" and size > 4:  # Breakpad ELF: the build id, shown the way Breakpad shows it
        return None, elf_debug_id(record[4:])
    return None, None


def elf_debug_id(build_id: bytes) -> str:
    """Breakpad's debug id for an ELF build id: its first 16 bytes read as a GUID, age 0."""
    raw = (build_id + bytes(16))[:16]
    d1, d2, d3 = struct.unpack_from("<IHH", raw, 0)
    return f"{d1:08X}{d2:04X}{d3:04X}{raw[8:16].hex().upper()}0"


def _cstr(raw: bytes) -> str | None:
    text = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return text or None


def _thread_names(buf: _Buf, rva: int) -> dict[int, str]:
    (count,) = buf.unpack("I", rva)
    if count > _MAX_ITEMS:
        raise ParseError(f"minidump claims {count} thread names")
    out = {}
    for i in range(count):
        tid, name_rva = buf.unpack("IQ", rva + 4 + 12 * i)
        out[tid] = buf.string(name_rva)
    return out


def _threads(buf: _Buf, rva: int, cpu: object, names: dict[int, str]) -> Iterable[DumpThread]:
    (count,) = buf.unpack("I", rva)
    if count > _MAX_ITEMS:
        raise ParseError(f"minidump claims {count} threads")
    for i in range(count):
        at = rva + 4 + 48 * i
        tid, _suspend, _prio_class, _prio, _teb, stack_start, stack_size, _srva, ctx_size, ctx_rva = (
            buf.unpack("IIIIQQIIII", at)
        )
        yield DumpThread(
            tid, stack_start, stack_size, _context_ip(buf, ctx_rva, ctx_size, cpu), names.get(tid)
        )


def _context_ip(buf: _Buf, rva: int, size: int, cpu: object) -> int | None:
    where = _IP_IN_CONTEXT.get(str(cpu))
    if where is None or size < where[0] + where[1]:
        return None
    return buf.unpack("Q" if where[1] == 8 else "I", rva + where[0])[0]


def exception_name(info: MinidumpInfo) -> str | None:
    """``SIGSEGV`` (Linux/macOS/Android dumps, whose code is the signal) or ``EXCEPTION_ACCESS_VIOLATION``."""
    code = info.exception_code
    if code is None:
        return None
    if info.os not in (None, "Windows", "Windows CE"):
        if code == _DUMP_REQUESTED:
            return "DUMP_REQUESTED"
        return SIGNAL_NUMBERS.get(code, f"signal {code}")
    kind = KIND_BY_CODE.get(f"{code:08X}")
    if kind is None:
        return f"0x{code:08x}"
    return kind if kind == "assertion" else f"EXCEPTION_{kind}"


def crash_address(info: MinidumpInfo) -> int | None:
    """The faulting data address for a Windows access violation, else the exception address."""
    if info.os == "Windows" and info.exception_code == 0xC0000005 and len(info.exception_parameters) >= 2:
        return info.exception_parameters[1]
    return info.exception_address


def frame_at(info: MinidumpInfo, address: int) -> Frame:
    """A frame for ``address``: module + offset when a module holds it, else the bare address."""
    module = info.module_at(address)
    if module is None:
        return Frame(address=f"0x{address:x}", raw=f"0x{address:x}")
    offset = f"0x{address - module.base:x}"
    return Frame(
        module=module.basename,
        module_offset=offset,
        address=f"0x{address:x}",
        raw=f"{module.basename} + {offset}",
    )


def to_report(info: MinidumpInfo, *, symbolized: Iterable[str] = ()) -> CrashReport:
    """The report a dump gives without a stackwalker: the crashing instruction as module + offset.

    ``symbolized`` names modules (basenames) whose symbols are known to exist; every other
    module is listed in ``extra["missing_symbols"]``.
    """
    have = set(symbolized)
    ip = info.crash_instruction
    if ip is None and info.os in ("Windows", "Windows CE"):
        ip = info.exception_address  # on Windows the exception address is the faulting instruction
    frames = (frame_at(info, ip),) if ip is not None else ()
    names = {t.thread_id: t.name for t in info.threads}
    tid = info.crashing_thread_id
    crashed = Thread(index=tid, name=names.get(tid) if tid is not None else None, frames=frames)
    others = tuple(
        Thread(t.thread_id, t.name, (frame_at(info, t.instruction_pointer),) if t.instruction_pointer else ())
        for t in info.threads
        if t.thread_id != tid
    )
    name = exception_name(info)
    kind = name
    if name and name.startswith("EXCEPTION_"):
        kind = name[len("EXCEPTION_") :]
    code = f"{info.exception_code:08X}" if info.exception_code is not None and info.os == "Windows" else None
    addr = crash_address(info)
    reason = name
    if name == "SIGSEGV" and info.exception_flags in _SEGV_CODES:
        reason = f"SIGSEGV /{_SEGV_CODES[info.exception_flags]}"
    missing = [module_json(m) for m in info.modules if m.basename not in have]
    extra: dict[str, object] = {
        "os": info.os,
        "cpu": info.cpu,
        "modules": [module_json(m) for m in info.modules],
        "needs_symbols": True,
        "missing_symbols": missing,
        "symbolized_by": None,
    }
    if reason:
        extra["crash_reason"] = reason
    if addr is not None:
        extra["crash_address"] = f"0x{addr:x}"
    if info.process_id is not None:
        extra["process_id"] = info.process_id
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        exception_code=code,
        message=f"{reason} at 0x{addr:x}" if reason and addr is not None else reason,
        crashing_thread=crashed,
        threads=others,
        first_app_frame=first_unsymbolized_app_frame(frames),
        extra=extra,
    )


def module_json(m: Module) -> dict[str, object]:
    return {
        "name": m.basename,
        "path": m.name,
        "base": f"0x{m.base:x}",
        "size": m.size,
        "debug_file": m.debug_file,
        "debug_id": m.debug_id,
    }
