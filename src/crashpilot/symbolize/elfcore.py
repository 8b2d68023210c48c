"""What a Linux ELF core file says by itself (no binary, no gdb): signal, command, mappings.

Read with :mod:`struct` from the program headers' ``PT_NOTE`` segments:

- ``NT_PRSTATUS`` (1): ``pr_cursig`` (the signal) and the registers of each thread; the first
  one is the thread that received the signal; its instruction pointer (x86-64, AArch64) is
  the crashing instruction;
- ``NT_PRPSINFO`` (3): ``pr_fname`` (the command, cut to 15 characters) and ``pr_psargs``;
- ``NT_SIGINFO`` (``SIGI``): ``si_signo``, ``si_code`` and, for memory faults, ``si_addr``;
- ``NT_FILE`` (``FILE``): the mapped files (start, end, page offset, path), which name the
  executable and let an address become module + offset.

Anything malformed raises :class:`~crashpilot.errors.ParseError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from crashpilot.errors import ParseError

ELF_MAGIC = b"\x7fELF"
ET_CORE = 4
PT_NOTE = 4
NT_PRSTATUS, NT_PRPSINFO = 1, 3
NT_SIGINFO, NT_FILE = 0x53494749, 0x46494C45
EM_X86_64, EM_AARCH64, EM_386 = 62, 183, 3
_MAX_NOTES = 10_000
_MAX_FILES = 100_000


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    offset: int  # in bytes into the file
    path: str


@dataclass(frozen=True)
class CoreInfo:
    machine: int
    signal: int | None = None
    si_code: int | None = None
    fault_address: int | None = None
    pid: int | None = None
    command: str | None = None
    arguments: str | None = None
    instruction_pointer: int | None = None
    thread_count: int = 0
    mappings: tuple[Mapping, ...] = ()

    @property
    def executable(self) -> str | None:
        """The executable's path: the mapped file whose name the command starts, else the first."""
        paths = list(dict.fromkeys(m.path for m in self.mappings))
        if self.command:
            for path in paths:
                if path.rsplit("/", 1)[-1].startswith(self.command):
                    return path
        if self.arguments:
            first = self.arguments.split()[0] if self.arguments.split() else ""
            if first in paths:
                return first
        return paths[0] if paths else None

    def mapping_at(self, address: int) -> Mapping | None:
        return next((m for m in self.mappings if m.start <= address < m.end), None)


def is_core(head: bytes) -> bool:
    """True for an ELF file whose type is ET_CORE (either endianness)."""
    if len(head) < 18 or head[:4] != ELF_MAGIC or head[5] not in (1, 2):
        return False
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big") == ET_CORE


def read_core(data: bytes) -> CoreInfo:
    if not is_core(data):
        raise ParseError("not an ELF core file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    try:
        return _read(data, is64, end)
    except struct.error as exc:
        raise ParseError(f"ELF core truncated or corrupted: {exc}") from exc


def _read(data: bytes, is64: bool, end: str) -> CoreInfo:
    (machine,) = struct.unpack_from(end + "H", data, 18)
    if is64:
        (phoff,) = struct.unpack_from(end + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        (phoff,) = struct.unpack_from(end + "I", data, 28)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
    if phnum > 65000 or phentsize < (56 if is64 else 32):
        raise ParseError("ELF core has a bad program header table")
    facts: dict[str, object] = {"machine": machine}
    threads = 0
    for i in range(phnum):
        at = phoff + i * phentsize
        if is64:
            p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(end + "IIQQQQ", data, at)
        else:
            p_type, p_offset, _va, _pa, p_filesz = struct.unpack_from(end + "IIIII", data, at)
        if p_type != PT_NOTE:
            continue
        if p_offset + p_filesz > len(data):
            raise ParseError("ELF core note segment runs past the end of the file")
        for ntype, desc in _notes(data[p_offset : p_offset + p_filesz], end):
            if ntype == NT_PRSTATUS:
                threads += 1
                if threads == 1:
                    facts.update(_prstatus(desc, is64, end, machine))
            elif ntype == NT_PRPSINFO:
                facts.update(_prpsinfo(desc, is64, end))
            elif ntype == NT_SIGINFO and len(desc) >= 12:
                signo, _errno, code = struct.unpack_from(end + "iii", desc, 0)
                facts["signal"], facts["si_code"] = signo, code
                if signo in (4, 7, 8, 11) and len(desc) >= (24 if is64 else 16):
                    facts["fault_address"] = struct.unpack_from(
                        end + ("Q" if is64 else "I"), desc, 16 if is64 else 12
                    )[0]
            elif ntype == NT_FILE:
                facts["mappings"] = _files(desc, is64, end)
    facts["thread_count"] = threads
    return CoreInfo(**facts)  # type: ignore[arg-type]


def _notes(seg: bytes, end: str) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    at = 0
    while at + 12 <= len(seg) and len(out) < _MAX_NOTES:
        namesz, descsz, ntype = struct.unpack_from(end + "III", seg, at)
        at += 12 + ((namesz + 3) & ~3)
        if at + descsz > len(seg):
            raise ParseError("ELF core note runs past its segment")
        out.append((ntype, seg[at : at + descsz]))
        at += (descsz + 3) & ~3
    return out


def _prstatus(desc: bytes, is64: bool, end: str, machine: int) -> dict[str, object]:
    out: dict[str, object] = {}
    if len(desc) >= 14:
        (cursig,) = struct.unpack_from(end + "h", desc, 12)
        out["signal"] = cursig or None
    pid_at = 32 if is64 else 24
    if len(desc) >= pid_at + 4:
        out["pid"] = struct.unpack_from(end + "i", desc, pid_at)[0]
    regs_at = 112 if is64 else 72
    ip_index = {EM_X86_64: 16, EM_AARCH64: 32, EM_386: 12}.get(machine)
    width = 8 if is64 else 4
    if ip_index is not None and len(desc) >= regs_at + (ip_index + 1) * width:
        out["instruction_pointer"] = struct.unpack_from(
            end + ("Q" if is64 else "I"), desc, regs_at + ip_index * width
        )[0]
    return out


def _prpsinfo(desc: bytes, is64: bool, end: str) -> dict[str, object]:
    fname_at = 40 if is64 else 28
    if len(desc) < fname_at + 16 + 80:
        return {}

    def text(raw: bytes) -> str | None:
        return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip() or None

    return {
        "command": text(desc[fname_at : fname_at + 16]),
        "arguments": text(desc[fname_at + 16 : fname_at + 96]),
    }


def _files(desc: bytes, is64: bool, end: str) -> tuple[Mapping, ...]:
    word = "Q" if is64 else "I"
    size = 8 if is64 else 4
    count, page = struct.unpack_from(end + word * 2, desc, 0)
    if count > _MAX_FILES:
        raise ParseError(f"ELF core NT_FILE claims {count} mappings")
    triples = [struct.unpack_from(end + word * 3, desc, 2 * size + i * 3 * size) for i in range(count)]
    names = desc[2 * size + count * 3 * size :].split(b"\0")
    if len(names) < count:
        raise ParseError("ELF core NT_FILE has fewer names than mappings")
    return tuple(
        Mapping(s, e, off * page, n.decode("utf-8", errors="replace"))
        for (s, e, off), n in zip(triples, names, strict=False)
    )
