#!/usr/bin/python3
"""The GEMM's register tiles keep their accumulators in registers.

runtime/gemm_kernel.inc's `tile<NV, mode>` holds an MR x NV-vector block of C
in registers across its k loop (`tile_tall` a 2MR x 1-vector block,
`tile_column<NV>` one such block per sliver of its run). Whether
it does is up to the compiler's register allocator: with 12-row AVX-512
tiles, or with the tile inlined into the block loops, GCC 12 kept the
accumulators on the stack, so every FMA also loaded and stored one and the
convolutions ran at half speed, with every result still right. This test reads the compiled object (objdump) and fails
when an innermost loop of a tile function that does FMAs touches the stack.

  gemm_registers_test.py path/to/gemm.cpp.o
"""

import re
import subprocess
import sys

STACK = re.compile(r"\(%r[sb]p\)")  # a memory operand on the stack frame
BRANCH = re.compile(r"\tj\w+\s+([0-9a-f]+) <")


def functions(disassembly):
    """(header, [(address, instruction line)]) per function."""
    for chunk in re.split(r"\n(?=[0-9a-f]+ <)", disassembly):
        head, _, body = chunk.partition("\n")
        lines = [l for l in body.split("\n") if re.match(r"\s+[0-9a-f]+:", l)]
        yield head, [(int(l.split(":")[0], 16), l) for l in lines]


def innermost_loops(code):
    """The instruction lines of each loop (a backward branch's span) that contains no other loop."""
    loops = []
    for addr, line in code:
        m = BRANCH.search(line)
        if m and int(m.group(1), 16) < addr:
            loops.append((int(m.group(1), 16), addr))
    for a, b in loops:
        if not any((c, d) != (a, b) and a <= c and d <= b for c, d in loops):
            yield [line for addr, line in code if a <= addr <= b]


def main():
    obj = sys.argv[1]
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", obj], check=True, capture_output=True,
                         text=True).stdout
    tiles = bad = 0
    for head, code in functions(dis):
        if not re.search(r"isa_(avx512|avx2)::tile(<|_tall\(|_column<)", head):
            continue
        tiles += 1
        fma_loops = [body for body in innermost_loops(code) if any("vfmadd" in l for l in body)]
        if not fma_loops:
            print(f"no FMA loop found in {head}")
            bad += 1
        for body in fma_loops:
            spills = [l.strip() for l in body if STACK.search(l)]
            if spills:
                print(f"{head}\n  its k loop touches the stack {len(spills)} times, e.g. {spills[0]}")
                bad += 1
    if tiles < 30:  # (2 widths x (5 A-read modes + 2 kinds of column) + the tall tile) x 2 instruction sets
        print(f"found {tiles} tile functions in {obj}, expected 30 (renamed? inlined?)")
        bad += 1
    print(f"{tiles} tile functions checked, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
