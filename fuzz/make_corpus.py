#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_vfio_user_server (fuzz/corpus/): one
well-formed exchange per command, so the fuzzer starts from messages the
server accepts. Byte 0 is the harness's control byte (bit 0: VERSION
first; bits 1-3: eventfds sent with the rest)."""
import os
import struct

out = os.path.join(os.path.dirname(__file__), "corpus", "vfio_user_server")


def msg(cmd, payload=b"", mid=2, flags=0):
    return struct.pack("<HHIII", mid, cmd, 16 + len(payload), flags, 0) + payload


def irq_set(index, flags, start, count, data=b""):
    return struct.pack("<IIIII", 20 + len(data), flags, index, start, count) + data


EVENTFD, BOOL, NONE = 1 << 2, 1 << 1, 1 << 0
MASK, UNMASK, TRIGGER = 1 << 3, 1 << 4, 1 << 5
seeds = {
    "version": bytes([0]) + msg(1, struct.pack("<HH", 0, 1) +
                                b'{"capabilities":{"max_msg_fds":8}}\0', 1),
    "get_info": bytes([1]) + msg(4, struct.pack("<IIII", 16, 0, 0, 0)),
    "region_info": bytes([1]) + msg(5, struct.pack("<IIIIQQ", 32, 0, 0, 0, 0, 0)),
    "io_fds": bytes([1]) + msg(6, struct.pack("<IIII", 4096, 0, 0, 0)),
    "irq_info": bytes([1]) + msg(7, struct.pack("<IIII", 16, 0, 2, 0)),
    "set_irqs_msix": bytes([1 | 4 << 1]) + msg(8, irq_set(2, EVENTFD | TRIGGER, 0, 4)),
    "set_irqs_bool": bytes([1]) + msg(8, irq_set(2, BOOL | MASK, 0, 4, b"\1\0\1\0")),
    "set_irqs_intx_unmask": bytes([1 | 1 << 1]) + msg(8, irq_set(0, EVENTFD | UNMASK, 0, 1)),
    "region_read": bytes([1]) + msg(9, struct.pack("<QII", 0x20, 0, 4)),
    "region_write": bytes([1]) + msg(10, struct.pack("<QII", 4, 0, 4) + b"\2\0\0\0"),
    "config_write": bytes([1]) + msg(10, struct.pack("<QII", 4, 7, 2) + b"\6\0"),
    "dma_map": bytes([1]) + msg(2, struct.pack("<IIQQQ", 32, 3, 0, 0x10000, 0x1000)),
    "dma_unmap": bytes([1]) + msg(3, struct.pack("<IIQQ", 24, 0, 0x10000, 0x1000)),
    "reset": bytes([1]) + msg(13),
    "split_pair": bytes([1]) + msg(9, struct.pack("<QII", 0, 0, 4), 2) +
                  msg(9, struct.pack("<QII", 0x24, 0, 4), 3),
}
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
