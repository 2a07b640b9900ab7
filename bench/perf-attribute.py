"""Attributes workerd's CPU samples (`perf script` output) to what the runtime was doing.

    python3 bench/perf-attribute.py <hz> <name>=<perf-script.txt>:<requests> ...

Each sample goes to the runtime API nearest its leaf on the call stack (the object
call, fetch, timers, console.log, Headers and Response objects, garbage collection),
or else to what its leaf is (wasm and optimised JavaScript, V8's builtins, V8's
runtime, the kernel, malloc). Prints microseconds of workerd CPU per request for each
setup, side by side.
"""

import collections
import re
import sys

# Runtime APIs, matched against each frame from the leaf up; the first match wins.
APIS = [
    ("garbage collection", r"v8::internal::Heap::|MinorGCJob|Scavenger|MarkCompact|ConcurrentMarking"
     r"|Sweeper|HeapTracer|MinorMarkSweep|CppHeap|GarbageCollect"),
    ("console.log", r"handleLog|consoleDecorator"),
    ("object call: inside the Durable Object", r"JsRpcTargetBase"),
    ("object call: the caller's side", r"JsRpcProperty|JsRpcClientProvider|JsRpcStub|JsRpcPromise"
     r"|DurableObjectNamespace|DurableObjectId|rpc::JsRpcTarget"),
    ("fetch to the origin", r"fetchImpl|api::Fetcher"),
    ("timers (setTimeout, clearTimeout)", r"setTimeout|clearTimeout|TimeoutManager|TimeoutId"),
    ("Headers, Request and Response objects", r"api::Headers|api::Response::|api::Request::|api::Body"),
    ("SQLite storage", r"sqlite|SqliteDatabase|ActorSqlite|ActorCache"),
]
API_RES = [(name, re.compile(rx)) for name, rx in APIS]


# What a sample's leaf is, when no runtime API is on its stack: (marker, name).
LEAVES = [
    (("[JIT]", "[unknown]"), "JIT code: wasm and optimised JavaScript"),
    (("Builtins_",), "V8 builtins (interpreter, promises, calls)"),
    (("v8::",), "V8 runtime"),
    (("[kernel",), "kernel (system calls, loopback network)"),
    (("tcmalloc", "libc"), "malloc and memcpy"),
]
OTHER = "workerd and kj, other (I/O, event loop, HTTP)"


def leaf_kind(leaf):
    for markers, name in LEAVES:
        if any(m in leaf for m in markers):
            return name
    return OTHER


def classify(stack):
    for frame in stack:
        for name, rx in API_RES:
            if rx.search(frame):
                return name
    return leaf_kind(stack[0])


def attribute(path):
    counts, stack = collections.Counter(), []
    with open(path, errors="replace") as f:
        for line in f:
            if line.strip():
                stack.append(line.strip())
            elif stack:
                counts[classify(stack)] += 1
                stack = []
    if stack:
        counts[classify(stack)] += 1
    return counts


def main():
    hz = float(sys.argv[1])
    setups = []
    for arg in sys.argv[2:]:
        name, rest = arg.split("=", 1)
        path, requests = rest.rsplit(":", 1)
        setups.append((name, attribute(path), float(requests)))
    order = [n for n, _ in APIS] + [n for _, n in LEAVES] + [OTHER]
    print("| workerd CPU, µs per request | " + " | ".join(n for n, _, _ in setups) + " |")
    print("|---|" + "---|" * len(setups))
    for cat in order:
        cells = [f"{c[cat] / hz * 1e6 / r:.0f}" for _, c, r in setups]
        print(f"| {cat} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(c.values()) / hz * 1e6 / r:.0f}**" for _, c, r in setups]
    print("| **all** | " + " | ".join(totals) + " |")


if __name__ == "__main__":
    main()
