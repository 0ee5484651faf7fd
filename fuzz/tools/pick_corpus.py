#!/usr/bin/env python3
"""Keeps at most N files of a cmin-minimized corpus: the greedy choice of
files that together reach the most coverage edges, by a libFuzzer merge
control file. `cargo fuzz cmin` keeps every file that adds a feature,
which for a parser means hundreds; a committed seed corpus should stay
small enough to read and to replay in `cargo test` in a second or two.

usage: pick_corpus.py CONTROL_FILE CORPUS_DIR OUT_DIR N

Make CONTROL_FILE with the target's binary:
  <binary> -merge=1 -use_counters=0 -merge_control_file=CONTROL_FILE EMPTY_DIR CORPUS_DIR
"""
import os
import shutil
import sys


def read_control(path):
    with open(path) as f:
        lines = f.read().splitlines()
    file_count = int(lines[0])
    files = lines[2 : 2 + file_count]
    edges = {}
    for line in lines[2 + file_count :]:
        parts = line.split()
        if parts and parts[0] == "COV":
            edges[int(parts[1])] = set(parts[2:])
    return files, edges


def greedy_cover(edges, files_max):
    covered, chosen = set(), []
    while len(chosen) < files_max:
        best = max(edges, key=lambda i: len(edges[i] - covered), default=None)
        if best is None or not edges[best] - covered:
            break
        chosen.append(best)
        covered |= edges.pop(best)
    return chosen, covered


def main():
    control, _corpus, out_dir, files_max = sys.argv[1:5]
    files, edges = read_control(control)
    total = set().union(*edges.values()) if edges else set()
    chosen, covered = greedy_cover(edges, int(files_max))
    os.makedirs(out_dir, exist_ok=True)
    for i in chosen:
        shutil.copy(files[i], out_dir)
    print(f"kept {len(chosen)} of {len(files)} files: {len(covered)} of {len(total)} edges")


main()
