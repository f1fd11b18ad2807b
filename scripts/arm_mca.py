#!/usr/bin/env python3
"""Static cycle estimates of bantam's and llama.cpp's aarch64 kernels with llvm-mca.

scripts/arm-mca.sh compiles the sources to assembly (one folder per instruction-set level) and
runs this on them. For every kernel in KERNELS it finds the function, takes its hot loop (the
innermost loop with the most multiply-accumulate work), runs llvm-mca on that loop for each core
in CORES and turns "cycles per iteration" into cycles per 256 weight x token MACs, counting the
MACs from the loop's own dot/mmla/fmla instructions (so unrolling and GEMM tiles need no per-kernel
bookkeeping). Static estimates only: see the caveats in bench/RESULTS.md.

`--self-check` runs the loop finder and MAC counter on a tiny known loop.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# ---- The one list to edit when kernels change ------------------------------------------------
# Instruction-set levels: the -march each is compiled with (same for bantam and llama.cpp).
LEVELS = {
    "dotprod": "armv8.2-a+dotprod",
    "i8mm": "armv8.6-a+i8mm",
}
# Cores, each with a real llvm-19 scheduling model (see bench/RESULTS.md for the aliased ones) and
# the level its code is compiled for.
CORES = [
    ("neoverse-n1", "dotprod", "big core, no i8mm (Cortex-A76 class: Raspberry Pi 5)"),
    ("cortex-a55", "dotprod", "little core"),
    ("neoverse-n2", "i8mm", "big core with i8mm"),
]
# (type, path, level, bantam kernel, llama.cpp kernel). A kernel is "file:function", the function
# named without namespaces, return type or parameters; its direct callees in the same file count as
# part of it (a tile kernel the compiler kept out of line). A core uses the row of its own level,
# else the "dotprod" row (an i8mm core runs dotprod code too). bantam None: no NEON kernel (scalar).
# bantam gemv rows: the driver quant::gemv installs (kernels_neon_common.hpp's tile_gemv), so the
# loop measured is the tile that runs for most rows (kGemvRows rows x one token). Gemm rows: the
# tile ops::matmul's prompts run: the int8 GEMM's run_tile<Level, L, mins> (int8_gemm_neon_impl.hpp;
# kept out of line, its hot loop the eight-token tile's k-loop), else quant::gemm's tile_gemm (F16, BF16).
# llama.cpp: repack.cpp kernels where llama.cpp repacks the type by default (CPU_REPACK), else
# ggml_vec_dot_* ("... mmla" takes its nrc == 2 smmla loop, which llama.cpp runs for prompts on
# i8mm cores). A gemv row never takes an mmla loop; a gemm row takes the loop with the most MACs.
# New bantam sources (src/quant/kernels_neon*.cpp, int8_gemm_neon*.cpp) are compiled by arm-mca.sh
# on their own; list their functions here.
def _neon(driver, kernel, file="kernels_neon_dotprod.cpp"):
    return f"{file}:{driver}<{kernel}>"


def _int8_tile(level, block, mins):
    """The int8 GEMM tile a prompt of this form runs at `level` (dotprod or i8mm)."""
    level_name = {"dotprod": "DotprodLevel", "i8mm": "I8mmLevel"}[level]
    return f"int8_gemm_neon_{level}.cpp:run_tile<{level_name}, {block}, {'true' if mins else 'false'}>"


def _rows(type_name, kernel, gemv, gemm, file="kernels_neon_dotprod.cpp", int8=None):
    """Rows of one type: gemv and gemm map each level to llama.cpp's kernel (a string for dotprod
    alone, or for both levels where the gemm is bantam's int8 GEMM). `file` may map levels to files
    too. int8=(block, mins): the gemm rows measure the int8 GEMM's tile of that form."""
    out = []
    for path, llama in (("gemv", gemv), ("gemm", gemm)):
        if isinstance(llama, dict):
            by_level = llama
        elif path == "gemm" and int8:
            by_level = {"dotprod": llama, "i8mm": llama}
        else:
            by_level = {"dotprod": llama}
        for level, llama_kernel in by_level.items():
            source = file[level] if isinstance(file, dict) else file
            bantam = _int8_tile(level, *int8) if path == "gemm" and int8 else _neon("tile_" + path, kernel, source)
            out.append((type_name, path, level, bantam, llama_kernel))
    return out


KERNELS = [
    *_rows("Q4_0", "Blocks32<Q4_0Levels>",
           {"dotprod": "repack.cpp:ggml_gemv_q4_0_4x4_q8_0", "i8mm": "repack.cpp:ggml_gemv_q4_0_4x8_q8_0"},
           {"dotprod": "repack.cpp:ggml_gemm_q4_0_4x4_q8_0", "i8mm": "repack.cpp:ggml_gemm_q4_0_4x8_q8_0"},
           int8=(32, False)),
    *_rows("Q4_1", "Blocks32<Q4_1Levels>", "quants.c:ggml_vec_dot_q4_1_q8_1",
           {"dotprod": "quants.c:ggml_vec_dot_q4_1_q8_1", "i8mm": "quants.c:ggml_vec_dot_q4_1_q8_1 mmla"},
           int8=(32, True)),
    *_rows("Q5_0", "Blocks32<Q5_0Levels>", "quants.c:ggml_vec_dot_q5_0_q8_0", "quants.c:ggml_vec_dot_q5_0_q8_0",
           int8=(32, False)),
    *_rows("Q5_1", "Blocks32<Q5_1Levels>", "quants.c:ggml_vec_dot_q5_1_q8_1", "quants.c:ggml_vec_dot_q5_1_q8_1",
           int8=(32, True)),
    *_rows("Q8_0", "Blocks32<Q8_0Levels>",
           {"dotprod": "repack.cpp:ggml_gemv_q8_0_4x4_q8_0", "i8mm": "repack.cpp:ggml_gemv_q8_0_4x8_q8_0"},
           {"dotprod": "repack.cpp:ggml_gemm_q8_0_4x4_q8_0", "i8mm": "repack.cpp:ggml_gemm_q8_0_4x8_q8_0"},
           int8=(32, False)),
    *_rows("Q2_K", "KQuants<Q2_KType>", "quants.c:ggml_vec_dot_q2_K_q8_K", "quants.c:ggml_vec_dot_q2_K_q8_K",
           int8=(16, True)),
    *_rows("Q3_K", "KQuants<Q3_KType>", "quants.c:ggml_vec_dot_q3_K_q8_K", "quants.c:ggml_vec_dot_q3_K_q8_K",
           int8=(16, False)),
    *_rows("Q4_K", "KQuants<Q4_KType>",
           {"dotprod": "repack.cpp:ggml_gemv_q4_K_8x4_q8_K", "i8mm": "repack.cpp:ggml_gemv_q4_K_8x8_q8_K"},
           {"dotprod": "repack.cpp:ggml_gemm_q4_K_8x4_q8_K", "i8mm": "repack.cpp:ggml_gemm_q4_K_8x8_q8_K"},
           int8=(32, True)),
    *_rows("Q5_K", "KQuants<Q5_KType>",
           {"dotprod": "repack.cpp:ggml_gemv_q5_K_8x4_q8_K", "i8mm": "repack.cpp:ggml_gemv_q5_K_8x8_q8_K"},
           {"dotprod": "repack.cpp:ggml_gemm_q5_K_8x4_q8_K", "i8mm": "repack.cpp:ggml_gemm_q5_K_8x8_q8_K"},
           int8=(32, True)),
    *_rows("Q6_K", "KQuants<Q6_KType>",
           {"dotprod": "repack.cpp:ggml_gemv_q6_K_8x4_q8_K", "i8mm": "repack.cpp:ggml_gemv_q6_K_8x8_q8_K"},
           {"dotprod": "repack.cpp:ggml_gemm_q6_K_8x4_q8_K", "i8mm": "repack.cpp:ggml_gemm_q6_K_8x8_q8_K"},
           int8=(16, False)),
    *_rows("IQ4_NL", "Blocks32<IQ4_NLLevels>", "repack.cpp:ggml_gemv_iq4_nl_4x4_q8_0",
           "repack.cpp:ggml_gemm_iq4_nl_4x4_q8_0",
           int8=(32, False)),
    *_rows("IQ4_XS", "KQuants<IQ4_XSType>", "quants.c:ggml_vec_dot_iq4_xs_q8_K", "quants.c:ggml_vec_dot_iq4_xs_q8_K",
           int8=(32, False)),
    # F16: fmlal (kernels_neon_fhm.cpp) where the core has FEAT_FHM (N2; not N1 or A55).
    *_rows("F16", "Floats<F16Math>", {"dotprod": "vec.cpp:ggml_vec_dot_f16", "i8mm": "vec.cpp:ggml_vec_dot_f16"},
           {"dotprod": "vec.cpp:ggml_vec_dot_f16", "i8mm": "vec.cpp:ggml_vec_dot_f16"},
           file={"dotprod": "kernels_neon.cpp", "i8mm": "kernels_neon_fhm.cpp"}),
    *_rows("BF16", "Floats<BF16Math>", "vec.cpp:ggml_vec_dot_bf16", "vec.cpp:ggml_vec_dot_bf16", file="kernels_neon.cpp"),
]
# -------------------------------------------------------------------------------------------------

# Weight x token multiply-accumulates per instruction, by mnemonic and arrangement of the
# destination. Integer dots count first: an integer kernel's fmla only scales finished sums.
INT_MACS = {("sdot", "4s"): 16, ("udot", "4s"): 16, ("usdot", "4s"): 16, ("sudot", "4s"): 16,
            ("sdot", "2s"): 8, ("udot", "2s"): 8, ("usdot", "2s"): 8, ("sudot", "2s"): 8,
            ("smmla", "4s"): 32, ("ummla", "4s"): 32, ("usmmla", "4s"): 32}
FLOAT_MACS = {("fmla", "4s"): 4, ("fmla", "8h"): 8, ("fmla", "4h"): 4, ("fmla", "2s"): 2,
              ("bfdot", "4s"): 8, ("fmlal", "4s"): 4, ("fmlal2", "4s"): 4,
              ("bfmmla", "4s"): 16, ("bfmlalb", "4s"): 4, ("bfmlalt", "4s"): 4}
FLOAT_TYPES = ("F32", "F16", "BF16")  # no 32-element blocks to check the MAC count against
# Last resort, for loops with no vector multiply-add at all (llama.cpp's BF16 dot on ARM is scalar C).
SCALAR_MACS = {("fmadd", ""): 1, ("fmul", ""): 1, ("madd", ""): 1}
MMLA = ("smmla", "ummla", "usmmla", "bfmmla")
# Conditional branches are b.ne in compiler output and bne in hand-written inline assembly.
BRANCHES = {"b", "cbz", "cbnz", "tbz", "tbnz"} | {"b" + cc for cc in (
    "eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")}

LABEL = re.compile(r"^([.\w$]+):")


class MCAError(Exception):
    pass


@dataclass
class Loop:
    lines: list  # label and instruction lines, comments stripped
    macs: int
    mmla: bool
    instructions: int = field(default=0)
    # Instructions of the nearest enclosing loop outside this one (0: not nested). Work there, such
    # as a super-block's scales when the compiler kept a sub-block loop, is not in the estimate.
    outer_instructions: int = field(default=0)


def instruction(line):
    """(mnemonic, operands) of an instruction line, or None for labels, directives, comments."""
    text = line.split("//")[0].strip()
    if not text or text.startswith(".") or LABEL.match(text):
        return None
    parts = text.split(None, 1)
    return parts[0].lower(), parts[1] if len(parts) > 1 else ""


def branch_target(line):
    ins = instruction(line)
    if ins is None:
        return None
    mnemonic, operands = ins
    if mnemonic.split(".")[0] not in BRANCHES:
        return None
    target = operands.split(",")[-1].strip()
    # Inline assembly's numeric local labels: "3b" is the nearest "3:" above.
    return re.sub(r"^(\d+)b$", r"\1", target)


def count_macs(lines):
    """(MACs, uses mmla) of straight-line code: integer dots if any, else vector float multiply-adds,
    else scalar ones."""
    int_macs = float_macs = scalar_macs = 0
    mmla = False
    for line in lines:
        ins = instruction(line)
        if ins is None:
            continue
        mnemonic, operands = ins
        arrangement = re.search(r"\.(\d+[bhsd])\b", operands)
        key = (mnemonic, arrangement.group(1) if arrangement else "")
        int_macs += INT_MACS.get(key, 0)
        float_macs += FLOAT_MACS.get(key, 0)
        scalar_macs += SCALAR_MACS.get(key, 0)
        mmla |= mnemonic in MMLA
    return (int_macs or float_macs or scalar_macs), mmla


def decode_inst_words(asm_text):
    """Replaces `.inst 0x...` lines (llama.cpp's inline assembly spells sdot/smmla as raw words so
    that it assembles without the extension) by the instructions they encode."""
    words = sorted(set(re.findall(r"^\s*\.inst\s+(0x[0-9a-fA-F]{8})\s*$", asm_text, re.M)))
    if not words:
        return asm_text
    # Little-endian bytes, one word per line, for the disassembler.
    encoded = "\n".join(",".join(f"0x{int(w, 16) >> shift & 0xFF:02x}" for shift in (0, 8, 16, 24)) for w in words)
    run = subprocess.run(["llvm-mc-19", "--disassemble", "-triple=aarch64", "-mattr=+dotprod,+i8mm,+bf16,+fullfp16"],
                         input=encoded + "\n", capture_output=True, text=True)
    decoded = [l.strip() for l in run.stdout.splitlines() if l.strip() and not l.strip().startswith(".")]
    if run.returncode != 0 or len(decoded) != len(words):
        raise MCAError(f"llvm-mc-19 could not decode the .inst words: {run.stderr.strip()[:300]}")
    by_word = dict(zip(words, decoded))
    return re.sub(r"^(\s*)\.inst\s+(0x[0-9a-fA-F]{8})\s*$", lambda m: m.group(1) + by_word[m.group(2)], asm_text,
                  flags=re.M)


def split_functions(asm_text):
    """{symbol: [lines]} of every function in clang's -S output."""
    symbols = set(re.findall(r"^\s*\.type\s+([^,\s]+),\s*@function", asm_text, re.M))
    functions, current = {}, None
    for line in asm_text.splitlines():
        label = LABEL.match(line)
        if label and label.group(1) in symbols:
            current = functions.setdefault(label.group(1), [])
            continue
        if label and label.group(1).startswith(".Lfunc_end"):
            current = None
            continue
        if current is not None:
            current.append(line.split("//")[0].rstrip())
    return functions


def loops(body):
    """Innermost loops of a function body: a label and the last backward branch to it, with no
    other such loop strictly inside."""
    labels = {}
    spans = []
    for index, line in enumerate(body):
        label = LABEL.match(line.strip())
        if label:
            labels[label.group(1)] = index
            continue
        target = branch_target(line)
        if target in labels:
            spans.append((labels[target], index))
    spans = {start: end for start, end in sorted(spans)}  # the outermost backward branch per label
    def count(first, last):
        return sum(instruction(l) is not None for l in body[first:last + 1])

    found = []
    for start, end in spans.items():
        if any(start <= s and e <= end and (s, e) != (start, end) for s, e in spans.items()):
            continue
        lines = [l for l in body[start:end + 1] if l.strip() and not l.strip().startswith(".p2align")]
        macs, mmla = count_macs(lines)
        enclosing = [(s, e) for s, e in spans.items() if s <= start and end <= e and (s, e) != (start, end)]
        outer = 0
        if enclosing:
            s, e = max(enclosing)  # the nearest: latest start
            outer = count(s, e) - count(start, end)
        found.append(Loop(lines, macs, mmla, count(start, end), outer))
    return found


def hot_loop(bodies, path, mode, where):
    """The innermost loop with the most MACs in any of the function bodies. A gemv loop never holds
    mmla instructions (llama.cpp's vec_dot has an nrc == 2 smmla loop beside its one-token loop);
    mode "mmla" asks for one."""
    candidates = [l for body in bodies for l in loops(body) if l.macs]
    if mode == "mmla":
        candidates = [l for l in candidates if l.mmla]
    elif path == "gemv":
        candidates = [l for l in candidates if not l.mmla]
    if not candidates:
        raise MCAError(f"{where}: no innermost {path} loop with {mode or 'dot/mmla/fmla'} instructions found")
    return max(candidates, key=lambda l: l.macs)


def short_name(demangled):
    """'float a::(anonymous namespace)::f<a::T>(long, ...)' -> 'f<T>'."""
    name = demangled.replace("(anonymous namespace)::", "")
    name = re.sub(r"\b\w+::", "", name)
    depth, cut = 0, len(name)
    for index, char in enumerate(name):  # parameters start at the first '(' outside <>
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "(" and depth == 0:
            cut = index
            break
    head = name[:cut]
    depth, start = 0, 0
    for index, char in enumerate(head):  # drop a return type: the last space outside <>
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == " " and depth == 0:
            start = index + 1
    return re.sub(r"\([^()]*\)", "", head[start:])


class AsmFolder:
    """Functions of the .s files in one level's folder, by (file, short name)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.cache = {}  # file -> ({short name: [bodies]}, {symbol: body})

    def parsed(self, file_name):
        if file_name not in self.cache:
            path = self.folder / (file_name + ".s")
            if not path.exists():
                raise MCAError(f"{path}: not compiled (is {file_name} in the source list of arm-mca.sh?)")
            functions = split_functions(decode_inst_words(path.read_text()))
            names = subprocess.run(["llvm-cxxfilt-19"], input="\n".join(functions), capture_output=True,
                                   text=True, check=True).stdout.splitlines()
            by_name = {}
            for symbol, demangled in zip(functions, names):
                by_name.setdefault(short_name(demangled), []).append(functions[symbol])
            self.cache[file_name] = (by_name, functions)
        return self.cache[file_name]

    def function(self, spec):
        """[bodies]: the function, then the functions of its file it calls directly (and those
        call), so that a driver whose tile kernel the compiler kept out of line is measured too."""
        file_name, function = spec.split(":", 1)
        by_name, by_symbol = self.parsed(file_name)
        matches = by_name.get(function, [])
        if len(matches) != 1:
            known = ", ".join(sorted(by_name))
            problem = "not found" if not matches else f"found {len(matches)} times"
            raise MCAError(f"{self.folder.name}/{file_name}: function {function} {problem}; functions there: {known}")
        bodies, seen = [matches[0]], set()
        for body in bodies:  # grows while it is walked
            for line in body:
                ins = instruction(line)
                if ins and ins[0] == "bl" and ins[1] in by_symbol and ins[1] not in seen:
                    seen.add(ins[1])
                    bodies.append(by_symbol[ins[1]])
        return bodies


def mca_cycles(loop, cpu, iterations=200):
    """Cycles per loop iteration by llvm-mca's steady-state simulation on `cpu`."""
    run = subprocess.run(["llvm-mca-19", "-mtriple=aarch64", f"-mcpu={cpu}", f"-iterations={iterations}"],
                         input="\n".join(loop.lines) + "\n", capture_output=True, text=True)
    if run.returncode != 0:
        raise MCAError(f"llvm-mca-19 -mcpu={cpu} failed: {run.stderr.strip()[:500]}")
    total = re.search(r"Total Cycles:\s+(\d+)", run.stdout)
    if not total:
        raise MCAError(f"llvm-mca-19 -mcpu={cpu}: no 'Total Cycles' in its output")
    return int(total.group(1)) / iterations


def kernel_row(type_name, path, level):
    """The KERNELS row for a core of `level`: its own level's, else dotprod's."""
    for wanted in (level, "dotprod"):
        for row in KERNELS:
            if row[0] == type_name and row[1] == path and row[2] == wanted:
                return row
    raise MCAError(f"KERNELS has no {type_name} {path} row for level {level} or dotprod")


def measure(folder, spec, cpu, type_name, path):
    """{kernel, cycles_per_256, macs_per_iteration, ...} of one kernel on one core."""
    function, mode = (spec[:-len(" mmla")], "mmla") if spec.endswith(" mmla") else (spec, "")  # names hold spaces
    level = folder.folder.name
    loop = hot_loop(folder.function(function), path, mode, f"{level}/{function}")
    if type_name not in FLOAT_TYPES and loop.macs % 32:
        raise MCAError(f"{level}/{function}: {loop.macs} MACs per loop iteration is not whole blocks of 32; "
                       "the loop finder took the wrong loop")
    cycles = mca_cycles(loop, cpu)
    return {"kernel": spec, "cycles_per_iteration": cycles, "macs_per_iteration": loop.macs,
            "instructions_per_iteration": loop.instructions, "enclosing_loop_instructions": loop.outer_instructions,
            "cycles_per_256": cycles * 256 / loop.macs}


def run_all(asm_root):
    folders = {level: AsmFolder(Path(asm_root) / level) for level in LEVELS}  # each .s parsed once
    measured = {}  # (kernel, core, path) -> measurement: rows share kernels
    results = []
    types = list(dict.fromkeys(row[0] for row in KERNELS))
    for type_name in types:
        for path in ("gemv", "gemm"):
            for cpu, level, _ in CORES:
                _, _, _, bantam, llama = kernel_row(type_name, path, level)
                entry = {"type": type_name, "path": path, "core": cpu, "level": level}
                for side, spec in (("bantam", bantam), ("llama_cpp", llama)):
                    if spec and (spec, cpu, path) not in measured:
                        measured[(spec, cpu, path)] = measure(folders[level], spec, cpu, type_name, path)
                    entry[side] = measured[(spec, cpu, path)] if spec else None
                results.append(entry)
    return results


def cell(kernel):
    """Cycles per 256 MACs; a dagger when the hot loop is nested (see the kernels table)."""
    return f"{kernel['cycles_per_256']:.1f}" + (" †" if kernel["enclosing_loop_instructions"] else "")


def markdown(results):
    cores = [cpu for cpu, _, _ in CORES]
    head = "| type | path | " + " | ".join(f"{c} bantam | {c} llama.cpp | ratio" for c in cores) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(cores))]
    by_key = {(r["type"], r["path"], r["core"]): r for r in results}
    for type_name, path in dict.fromkeys((r["type"], r["path"]) for r in results):
        cells = [type_name, path]
        for cpu in cores:
            r = by_key[(type_name, path, cpu)]
            b, l = r["bantam"], r["llama_cpp"]
            cells += [cell(b) if b else "scalar", cell(l),
                      f"{b['cycles_per_256'] / l['cycles_per_256']:.2f}" if b else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Kernels: hot loop's MACs / instructions per iteration, and (after +) the instructions of the "
              "enclosing loop outside it, which the estimate leaves out.", "",
              "| type | path | level | bantam | llama.cpp |", "|---|---|---|---|---|"]

    def described(kernel):
        if not kernel:
            return "scalar"
        outer = kernel["enclosing_loop_instructions"]
        return (f"`{kernel['kernel'].split(':', 1)[1]}` {kernel['macs_per_iteration']} / "
                f"{kernel['instructions_per_iteration']}" + (f" + {outer}" if outer else ""))

    rows = {}  # (type, path) -> {(bantam, llama.cpp): [levels]}: levels with the same kernels share a row
    for r in results:
        pair = (described(r["bantam"]), described(r["llama_cpp"]))
        levels = rows.setdefault((r["type"], r["path"]), {}).setdefault(pair, [])
        if r["level"] not in levels:
            levels.append(r["level"])
    for (type_name, path), pairs in rows.items():
        for (bantam, llama), levels in pairs.items():
            lines.append(f"| {type_name} | {path} | {', '.join(levels)} | {bantam} | {llama} |")
    return "\n".join(lines)


SELF_CHECK_ASM = """\
\t.type\tf,@function
f:
\tmovi\tv0.2d, #0
.LBB0_1:                                // loop over blocks
\tldr\tq1, [x0], #16
\tldr\tq2, [x1], #16
\tsdot\tv0.4s, v1.16b, v2.16b
\t.inst\t0x4f8ae3c9
\tsubs\tx2, x2, #1
\tb.ne\t.LBB0_1
\tfmla\tv3.4s, v4.4s, v5.4s
\tret
.Lfunc_end0:
"""


def self_check():
    """Fails, naming what is missing, when llvm-19 is not installed (scripts/deps.sh installs it)."""
    missing = [tool for tool in ("llvm-mca-19", "llvm-mc-19") if shutil.which(tool) is None]
    if missing:
        print(f"arm_mca self-check: {', '.join(missing)} missing: run scripts/deps.sh", file=sys.stderr)
        return 1
    body = split_functions(decode_inst_words(SELF_CHECK_ASM))["f"]
    loop = hot_loop([body], "gemv", "", "self-check")
    assert loop.instructions == 6, loop.instructions
    assert loop.macs == 32, loop.macs  # the second sdot is a .inst word
    assert loop.outer_instructions == 0
    assert short_name("float a::(anonymous namespace)::f<a::(anonymous namespace)::T>(long, void const*)") == "f<T>"
    assert short_name("ggml_vec_dot_q4_0_q8_0") == "ggml_vec_dot_q4_0_q8_0"
    assert mca_cycles(loop, "neoverse-n1") > 0
    print("arm_mca self-check passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("asm_root", nargs="?", help="folder with one subfolder of .s files per level")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--self-check", action="store_true")
    args = parser.parse_args()
    try:
        if args.self_check:
            return self_check()
        if not args.asm_root:
            parser.error("asm_root is required")
        results = run_all(args.asm_root)
    except MCAError as error:
        print(f"arm_mca: {error}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=1) if args.json else markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
