"""Diagnostics read out of real-looking gcc / clang / MSVC / ld / make / ninja / CMake logs."""

from __future__ import annotations

from pathlib import Path

from crashpilot.diagnostics import Diagnostic, extract, summarize

GCC_LOG = """\
[ 50%] Building CXX object src/CMakeFiles/game.dir/Spell.cpp.o
/work/slot0/src/game/Spell.cpp: In member function 'void Spell::Cast()':
\x1b[01m\x1b[K/work/slot0/src/game/Spell.cpp:42:11:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K'target' was not declared in this scope
   42 |   int x = target + 1;
      |           ^~~~~~
/work/slot0/src/game/Spell.cpp:50:3: warning: unused variable 'y' [-Wunused-variable]
/work/slot0/src/game/Spell.cpp:42:11: error: 'target' was not declared in this scope
/work/slot0/src/game/Spell.h:10:5: note: 'Target' declared here
cc1plus: fatal error: nope.cpp: No such file or directory
/usr/bin/ld: /tmp/ccMYiZyL.o: in function `main':
/work/slot0/src/main.cpp:3: undefined reference to `f()'
b.cpp:(.text+0x5): undefined reference to `g()'
collect2: error: ld returned 1 exit status
make[2]: *** [src/CMakeFiles/game.dir/build.make:76: src/CMakeFiles/game.dir/Spell.cpp.o] Error 1
make: *** [Makefile:3: all] Error 2
"""


def test_gcc_ld_make_log() -> None:
    diags = extract(GCC_LOG)
    assert diags == [
        Diagnostic(
            "/work/slot0/src/game/Spell.cpp", 42, 11, "error", "'target' was not declared in this scope"
        ),
        Diagnostic(
            "/work/slot0/src/game/Spell.cpp", 50, 3, "warning", "unused variable 'y' [-Wunused-variable]"
        ),
        Diagnostic(None, None, None, "error", "nope.cpp: No such file or directory"),
        Diagnostic(
            "/work/slot0/src/main.cpp", 3, None, "error", "undefined reference to `f()'", tool="linker"
        ),
        Diagnostic("b.cpp", None, None, "error", "undefined reference to `g()'", tool="linker"),
        Diagnostic(
            None,
            None,
            None,
            "error",
            "[src/CMakeFiles/game.dir/build.make:76: src/CMakeFiles/game.dir/Spell.cpp.o] Error 1",
            tool="make",
        ),
        Diagnostic(None, None, None, "error", "[Makefile:3: all] Error 2", tool="make"),
    ]


def test_notes_on_request_and_paths_made_relative(tmp_path: Path) -> None:
    root = tmp_path / "slot0"
    build = tmp_path / "build0"
    (root / "src").mkdir(parents=True)
    build.mkdir()
    log = f"{root}/src/a.cpp:3:1: error: boom\n../slot0/src/b.cpp:4:2: note: here\n/usr/include/x.h:1:1: error: sys\n"
    diags = extract(log, root=root, build_dir=build, include_notes=True)
    assert [(d.file, d.severity) for d in diags] == [
        ("src/a.cpp", "error"),
        ("src/b.cpp", "note"),
        ("/usr/include/x.h", "error"),
    ]
    assert [d.severity for d in extract(log)] == ["error", "error"]


def test_msvc_log() -> None:
    log = (
        "1>C:\\src\\game\\Spell.cpp(42,11): error C2065: 'target': undeclared identifier "
        "[C:\\build\\game.vcxproj]\r\n"
        "C:\\src\\game\\Spell.cpp(50): warning C4101: 'y': unreferenced local variable\r\n"
        'main.obj : error LNK2019: unresolved external symbol "int __cdecl f(void)" referenced in function main\r\n'
        "C:\\src\\x.h(3): fatal error C1083: Cannot open include file: 'y.h': No such file or directory\r\n"
    )
    diags = extract(log)
    assert diags == [
        Diagnostic("C:\\src\\game\\Spell.cpp", 42, 11, "error", "'target': undeclared identifier", "C2065"),
        Diagnostic(
            "C:\\src\\game\\Spell.cpp", 50, None, "warning", "'y': unreferenced local variable", "C4101"
        ),
        Diagnostic(
            "main.obj",
            None,
            None,
            "error",
            'unresolved external symbol "int __cdecl f(void)" referenced in function main',
            "LNK2019",
            "linker",
        ),
        Diagnostic(
            "C:\\src\\x.h",
            3,
            None,
            "error",
            "Cannot open include file: 'y.h': No such file or directory",
            "C1083",
        ),
    ]


def test_clang_lld_ninja_cmake() -> None:
    log = (
        "FAILED: src/CMakeFiles/game.dir/Spell.cpp.o\n"
        "/usr/bin/clang++ -c ../src/Spell.cpp\n"
        "../src/Spell.cpp:7:5: error: use of undeclared identifier 'foo'\n"
        "ld.lld: error: undefined symbol: bar()\n"
        "CMake Error at src/CMakeLists.txt:12 (add_executable):\n"
        "  Cannot find source file:\n"
        "ninja: build stopped: subcommand failed.\n"
    )
    got = [(d.tool, d.file, d.line, d.message) for d in extract(log)]
    assert got == [
        ("ninja", None, None, "FAILED: src/CMakeFiles/game.dir/Spell.cpp.o"),
        ("compiler", "../src/Spell.cpp", 7, "use of undeclared identifier 'foo'"),
        ("linker", None, None, "undefined symbol: bar()"),
        ("cmake", "src/CMakeLists.txt", 12, "Cannot find source file:"),
    ]


def test_cap_keeps_errors_first_and_summary_orders_them() -> None:
    log = "".join(f"a.cpp:{i}:1: warning: w{i}\n" for i in range(1, 6)) + "make: *** [all] Error 1\n"
    log += "a.cpp:99:1: error: real problem\n"
    diags = extract(log, max_items=3)
    assert [d.message for d in diags] == ["w1", "[all] Error 1", "real problem"]
    text = summarize(extract(log))
    lines = text.splitlines()
    assert lines[0] == "2 error(s), 5 warning(s)"
    assert lines[1] == "a.cpp:99:1: error: real problem"
    assert lines[2] == "make: error: [all] Error 1"
    short = summarize(extract(log), max_chars=80)
    assert short.endswith("more") and len(short) < 120
    assert summarize([]) == "no diagnostics found in the build output"


def test_untrusted_long_message_is_clipped() -> None:
    (d,) = extract("a.cpp:1:1: error: " + "x" * 5000 + "\n")
    assert len(d.message) == 400 and d.message.endswith("...")
