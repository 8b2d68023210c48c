"""Generated crash texts for the bench: gdb backtraces and ASan reports shaped like real ones
(TrinityCore-style names and paths), with addresses, arguments, pids and lines that vary."""

from __future__ import annotations

import random

CLASSES = [
    "Player",
    "Unit",
    "Creature",
    "GameObject",
    "Spell",
    "SpellAura",
    "Map",
    "InstanceMap",
    "Group",
    "Guild",
    "WorldSession",
    "ObjectAccessor",
    "MotionMaster",
    "ThreatManager",
    "LootStore",
    "Battleground",
    "AuctionHouseMgr",
    "CharacterDatabase",
    "PetAI",
    "SmartScript",
    "Vehicle",
    "Transport",
    "Item",
    "Bag",
]
METHODS = [
    "Update",
    "HandleEffect",
    "RemoveFromWorld",
    "AddToWorld",
    "GetHealth",
    "SetTarget",
    "CastSpell",
    "DealDamage",
    "Relocate",
    "LoadFromDB",
    "SaveToDB",
    "SendPacket",
    "HandleOpcode",
    "EvadeToHome",
    "ApplyAura",
    "RemoveAura",
    "AddThreat",
    "SelectTarget",
    "ProcessEvent",
    "MoveChase",
    "Despawn",
    "GetLootFor",
    "ResetInstance",
    "Teleport",
    "CombatStop",
    "KillSelf",
    "InitStats",
]
ASAN_KINDS = [
    "heap-use-after-free",
    "heap-buffer-overflow",
    "stack-buffer-overflow",
    "global-buffer-overflow",
]
SIGNALS = [("SIGSEGV", "Segmentation fault"), ("SIGABRT", "Aborted"), ("SIGFPE", "Arithmetic exception")]


def frames_for(bug: int, depth: int) -> list[tuple[str, str]]:
    """The (function, file) stack of bug number ``bug``: the same bug always has the same stack."""
    rng = random.Random(bug * 7919 + 17)
    out = []
    for _ in range(depth):
        cls = rng.choice(CLASSES)
        out.append((f"{cls}::{rng.choice(METHODS)}", f"server/game/Entities/{cls}/{cls}.cpp"))
    return out


def gdb_text(bug: int, rng: random.Random) -> str:
    sig, desc = SIGNALS[bug % len(SIGNALS)]
    stack = frames_for(bug, 6) + [
        ("World::Update", "server/game/World/World.cpp"),
        ("WorldUpdateLoop", "server/worldserver/Main.cpp"),
    ]
    lines = [
        "[Thread debugging using libthread_db enabled]",
        'Using host libthread_db library "/lib/x86_64-linux-gnu/libthread_db.so.1".',
        f"[New Thread 0x{rng.randrange(0x7F0000000000, 0x7FFFFFFFFFFF):x} (LWP {rng.randrange(1000, 99999)})]",
        "",
        f'Thread 1 "worldserver" received signal {sig}, {desc}.',
    ]
    for i, (fn, path) in enumerate(stack):
        addr = rng.randrange(0x400000, 0x3FFFFFF)
        args = f"this=0x{rng.randrange(0x7F0000000000, 0x7FFFFFFFFFFF):x}, diff={rng.randrange(1, 1000)}"
        lines.append(
            f"#{i}  0x{addr:016x} in {fn} ({args}) at /home/build/TrinityCore/src/{path}:{rng.randrange(20, 5000)}"
        )
        if rng.random() < 0.4:
            lines.append(
                f"        guid = {{_low = {rng.randrange(1, 10**9)}, _high = {rng.randrange(0, 2**16)}}}"
            )
    lines.append(
        f"#{len(stack)}  0x00007ffff7a2e6db in start_thread (arg=0x{rng.randrange(0x7F0000000000, 0x7FFFFFFFFFFF):x}) at pthread_create.c:463"
    )
    return "\n".join(lines) + "\n"


def asan_text(bug: int, rng: random.Random) -> str:
    kind = ASAN_KINDS[bug % len(ASAN_KINDS)]
    pid = rng.randrange(1000, 99999)
    addr = rng.randrange(0x602000000000, 0x631000000000)
    stack = frames_for(bug, 5)
    lines = [
        "=================================================================",
        f"=={pid}==ERROR: AddressSanitizer: {kind} on address 0x{addr:x} at pc 0x{rng.randrange(0x550000000000, 0x56FFFFFFFFFF):x} "
        f"bp 0x7ffc{rng.randrange(0, 16**8):08x} sp 0x7ffc{rng.randrange(0, 16**8):08x}",
        f"{rng.choice(['READ', 'WRITE'])} of size {rng.choice([1, 2, 4, 8, 16])} at 0x{addr:x} thread T{rng.randrange(0, 8)}",
    ]
    for i, (fn, path) in enumerate(stack):
        lines.append(
            f"    #{i} 0x{rng.randrange(0x550000000000, 0x56FFFFFFFFFF):x} in {fn}() /src/{path}:{rng.randrange(20, 5000)}"
        )
    lines.append(
        f"    #{len(stack)} 0x7f3a2b1c0b96 in __libc_start_main (/lib/x86_64-linux-gnu/libc.so.6+0x21b96)"
    )
    lines += ["", f"0x{addr:x} is located 0 bytes inside of 16-byte region", "freed by thread T0 here:"]
    lines.append(
        "    #0 0x7f3a2c5e47a8 in operator delete(void*) (/usr/lib/x86_64-linux-gnu/libasan.so.5+0xe07a8)"
    )
    lines.append(
        f"    #1 0x{rng.randrange(0x550000000000, 0x56FFFFFFFFFF):x} in Map::RemoveFromMap(Unit*) /src/server/game/Maps/Map.cpp:920"
    )
    lines += [
        "",
        f"SUMMARY: AddressSanitizer: {kind} /src/{stack[0][1]}:1 in {stack[0][0]}()",
        f"=={pid}==ABORTING",
    ]
    return "\n".join(lines) + "\n"


def crash_text(bug: int, rng: random.Random) -> str:
    """A report of ``bug``: even bugs crash under gdb, odd ones under ASan."""
    return gdb_text(bug, rng) if bug % 2 == 0 else asan_text(bug, rng)
