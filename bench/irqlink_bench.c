/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench: what each interrupt path costs, irqlink's beside raw
 * KVM's, measured in one run; and what setting interrupts up costs as the
 * work grows. bench/bench.h names the parts; docs/PERFORMANCE.md has the
 * results and the command that made them.
 */
#include "bench.h"

int main(int argc, char **argv)
{
	return bench_main(argc, argv);
}
